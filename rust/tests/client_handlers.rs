//! A Rust `Client`'s handlers (`Client::register`, `register_stream`, over
//! the C client's `ffb_client_register`) called by a Rust server in this
//! process from its handlers: replies, errors with their messages, a
//! handler's panic as `PANIC` (the client lives on), unknown names, stream
//! items paced by credit, and many calls one after the other.

use std::time::Duration;

use ffb::{Code, Error, Reply, Server};

const WAIT: Option<Duration> = Some(Duration::from_secs(5));

/// A server whose handlers call the calling client back (pooled: they
/// wait for the answer on a worker, never on the dispatcher).
fn serving() -> Server {
    let server = Server::new().expect("create server");
    // "NAME\nBYTES" -> the client's handler NAME called with BYTES.
    server
        .register("rs.back", |req| {
            let input = req.to_vec();
            let nl = input
                .iter()
                .position(|&b| b == b'\n')
                .unwrap_or(input.len());
            let name = std::str::from_utf8(&input[..nl]).unwrap_or("").to_owned();
            let rest = input.get(nl + 1..).unwrap_or(&[]).to_vec();
            Ok(Reply::bytes(
                req.session().call_blocking(&name, rest, WAIT)?,
            ))
        })
        .unwrap();
    // "NAME" -> the client's stream NAME: the count and the sum of its u64 items.
    server
        .register("rs.sum", |req| {
            let name = req.text()?;
            let mut items = req.session().stream(&name, b"").blocking();
            let (mut n, mut sum) = (0u64, 0u64);
            for item in &mut items {
                let v = item?;
                n += 1;
                sum += u64::from_le_bytes(v.try_into().map_err(|_| Error::new(Code::PROTOCOL))?);
            }
            let mut out = n.to_le_bytes().to_vec();
            out.extend_from_slice(&sum.to_le_bytes());
            Ok(Reply::bytes(out))
        })
        .unwrap();
    // "NAME" -> the first 3 items of the client's stream NAME; then it is
    // dropped (cancelled).
    server
        .register("rs.first3", |req| {
            let name = req.text()?;
            let items: Vec<Vec<u8>> = req
                .session()
                .stream(&name, b"")
                .blocking()
                .take(3)
                .collect::<ffb::Result<_>>()?;
            Ok(Reply::bytes(items.concat()))
        })
        .unwrap();
    server.start().expect("start");
    server
}

#[test]
fn handlers_answer_the_servers_calls() {
    let server = serving();
    let client = server.connect_inproc().unwrap();
    client
        .register("c.upper", |call| {
            Ok(Reply::bytes(call.to_vec().to_ascii_uppercase()))
        })
        .unwrap();
    client
        .register("c.echo", |call| Ok(Reply::input(call.len())))
        .unwrap();
    client
        .register("c.fill", |_| {
            Ok(Reply::with_capacity(16, |_in, out| {
                Ok(out.copy_from(b"filled"))
            }))
        })
        .unwrap();
    client
        .register("c.fail", |_| {
            Err(Error::with_message(
                Code::INVALID_ARGUMENT,
                "c.fail: on purpose",
            ))
        })
        .unwrap();
    client
        .register("c.panic", |_| -> ffb::Result<Reply> {
            panic!("c.panic: panicking on purpose")
        })
        .unwrap();

    assert_eq!(
        client.invoke_bytes("rs.back", b"c.upper\nhello").unwrap(),
        b"HELLO"
    );
    assert_eq!(
        client
            .invoke_bytes("rs.back", b"c.echo\nsame block")
            .unwrap(),
        b"same block"
    );
    assert_eq!(
        client.invoke_bytes("rs.back", b"c.fill\nx").unwrap(),
        b"filled"
    );

    let e = client.invoke_bytes("rs.back", b"c.fail\nx").unwrap_err();
    assert_eq!(e.code(), Code::INVALID_ARGUMENT);
    assert_eq!(e.message(), Some("c.fail: on purpose"));

    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let e = client.invoke_bytes("rs.back", b"c.panic\nx").unwrap_err();
    std::panic::set_hook(prev);
    assert_eq!(e.code(), Code::PANIC);
    assert_eq!(e.message(), Some("c.panic: panicking on purpose"));
    // The client lives on.
    assert_eq!(
        client
            .invoke_bytes("rs.back", b"c.upper\nstill here")
            .unwrap(),
        b"STILL HERE"
    );

    let e = client.invoke_bytes("rs.back", b"c.nobody\nx").unwrap_err();
    assert_eq!(e.code(), Code::NOT_FOUND);
    client.unregister("c.upper").unwrap();
    assert_eq!(
        client.unregister("c.upper").unwrap_err().code(),
        Code::NOT_FOUND
    );
    let e = client.invoke_bytes("rs.back", b"c.upper\nx").unwrap_err();
    assert_eq!(e.code(), Code::NOT_FOUND);
    assert_eq!(client.stats().unwrap().served_calls, 6);
    assert!(!client.serve(Some(Duration::ZERO)).unwrap());
}

#[test]
fn stream_handler_items_reach_the_server_in_order() {
    let server = serving();
    let client = server.connect_inproc().unwrap();
    client
        .register_stream("c.count", |call| {
            assert!(call.is_stream());
            for i in 1u64..=1000 {
                call.send_item(&i.to_le_bytes())?;
            }
            Ok(())
        })
        .unwrap();
    let out = client.invoke_bytes("rs.sum", b"c.count").unwrap();
    assert_eq!(u64::from_le_bytes(out[..8].try_into().unwrap()), 1000);
    assert_eq!(
        u64::from_le_bytes(out[8..].try_into().unwrap()),
        1000 * 1001 / 2
    );
    // A plain handler called as a stream.
    client.register("c.plain", |_| Ok(Reply::empty())).unwrap();
    assert_eq!(
        client
            .invoke_bytes("rs.sum", b"c.plain")
            .unwrap_err()
            .code(),
        Code::NOT_FOUND
    );
}

#[test]
fn a_stream_the_server_drops_stops_its_handler() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let server = serving();
    let client = server.connect_inproc().unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let (counter, last) = (sent.clone(), Arc::new(std::sync::Mutex::new(None)));
    let last_err = last.clone();
    client
        .register_stream("c.forever", move |call| {
            for i in 0u64.. {
                if let Err(e) = call.send_item(&i.to_le_bytes()) {
                    *last_err.lock().unwrap() = Some(e.code());
                    return Err(e);
                }
                counter.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })
        .unwrap();
    let out = client.invoke_bytes("rs.first3", b"c.forever").unwrap();
    let want: Vec<u8> = (0u64..3).flat_map(|i| i.to_le_bytes()).collect();
    assert_eq!(out, want);
    // The handler may still be waiting for credit: serve until the
    // server's CANCEL ends it.
    let t0 = std::time::Instant::now();
    while last.lock().unwrap().is_none() && t0.elapsed() < Duration::from_secs(5) {
        client.serve(Some(Duration::from_millis(10))).unwrap();
    }
    assert_eq!(*last.lock().unwrap(), Some(Code::CANCELLED));
    let n = sent.load(Ordering::Relaxed);
    assert!(
        (3..=1024).contains(&n),
        "{n} items sent: credit bounds the producer"
    );
}

#[test]
fn many_reverse_calls_each_get_their_own_answer() {
    let server = serving();
    let client = server.connect_inproc().unwrap();
    client
        .register("c.copy", |call| Ok(Reply::bytes(call.to_vec())))
        .unwrap();
    for i in 0u32..5000 {
        let mut input = b"c.copy\n".to_vec();
        input.extend_from_slice(&i.to_le_bytes());
        assert_eq!(
            client.invoke_bytes("rs.back", &input).unwrap(),
            i.to_le_bytes()
        );
    }
}
