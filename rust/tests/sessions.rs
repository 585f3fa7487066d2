//! `Session` against an in-process client that has no handlers (the C
//! and Rust clients register none yet): what the server side does on its
//! own -- listing, bad names, timeouts, a dropped call, the client's end
//! (`PEER_GONE` for what is pending and what comes after), and nothing
//! left behind. The calls that reach real handlers are in bothways.rs.

use std::time::{Duration, Instant};

use ffb::{Code, Reply, Server, Session};

fn served(server: &Server) -> Session {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(s) = server.sessions().unwrap().pop() {
            return s;
        }
        assert!(Instant::now() < end, "the session was never listed");
        std::thread::yield_now();
    }
}

#[test]
fn session_calls_without_a_handler_time_out_and_end_with_the_client() {
    let server = Server::new().unwrap();
    server
        .register_inline("t.blocking_on_dispatcher", |req| {
            req.session()
                .call_blocking("x", b"", Some(Duration::from_millis(10)))
                .map(Reply::bytes)
        })
        .unwrap();
    server.start().unwrap();
    let client = server.connect_inproc().unwrap();
    let s = served(&server);
    assert_ne!(s.id(), 0);
    assert_eq!(s.clone().id(), s.id());

    // Names are checked before anything is sent.
    let e = s.call_blocking("", b"", None).unwrap_err();
    assert_eq!(e.code(), Code::INVALID_ARGUMENT);
    let e = s.call_blocking("a\0b", b"", None).unwrap_err();
    assert_eq!(e.code(), Code::INVALID_ARGUMENT);
    assert_eq!(
        s.notify("", b"").unwrap_err().code(),
        Code::INVALID_ARGUMENT
    );

    // Nobody answers: the deadline ends the call.
    let t0 = Instant::now();
    let e = s
        .call_blocking("shell.none", b"x", Some(Duration::from_millis(30)))
        .unwrap_err();
    assert_eq!(e.code(), Code::TIMEOUT);
    assert!(t0.elapsed() >= Duration::from_millis(30));
    // A blocking wait on a dispatcher is refused, not a hang.
    let e = client.invoke_empty("t.blocking_on_dispatcher").unwrap_err();
    assert_eq!(e.code(), Code::INVALID_ARGUMENT);

    // Dropped unanswered: cancelled, released.
    drop(s.call("shell.none", b"dropped"));
    let pending = s.call("shell.none", b"pending");
    assert_ne!(pending.id(), 0);
    let mut items = s.stream("shell.none", b"pending too");

    // The client goes: what is pending ends with PEER_GONE, and so does
    // every call after.
    drop(client);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(pending).unwrap_err().code(), Code::PEER_GONE);
    assert_eq!(
        items.next_blocking().unwrap().unwrap_err().code(),
        Code::PEER_GONE
    );
    assert!(items.next_blocking().is_none());
    assert_eq!(
        s.call_blocking("x", b"", None).unwrap_err().code(),
        Code::PEER_GONE
    );
    assert_eq!(s.notify("x", b"").unwrap_err().code(), Code::PEER_GONE);
    drop(items);

    let end = Instant::now() + Duration::from_secs(10);
    while ffb::live_client_calls() != 0 {
        assert!(Instant::now() < end, "calls to the client left behind");
        std::thread::sleep(Duration::from_millis(1));
    }
    // The handle outlives the session, and the server too.
    server.shutdown().unwrap();
    assert_eq!(
        s.call_blocking("x", b"", None).unwrap_err().code(),
        Code::PEER_GONE
    );
}
