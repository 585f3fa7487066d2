//! Server and client in one process (the in-process pair): zero-copy echo,
//! named calls, errors, panics, stale handles, JSON, many threads.

mod common;

use std::sync::Arc;

use common::{quiet_panics, register_handlers, SumIn, SumOut, PANIC_MESSAGE};
use ffb::{Client, Code, Heap, Reply, Server};

fn serving() -> Server {
    quiet_panics();
    let server = Server::new().expect("create server");
    register_handlers(&server);
    server.start().expect("start");
    server
}

fn assert_send<T: Send>() {}
fn assert_sync<T: Sync>() {}

#[test]
fn server_is_send_and_sync_client_is_send() {
    assert_send::<Server>();
    assert_sync::<Server>();
    assert_send::<Client>();
    assert_send::<ffb::Error>();
    assert_sync::<ffb::Error>();
}

#[test]
fn echo_64_bytes_and_1_mib_returns_the_same_handle() {
    let server = serving();
    let client = server.connect_inproc().unwrap();
    for size in [64usize, 1 << 20] {
        let buf = client.alloc(size).unwrap();
        assert_eq!(buf.handle().heap(), Heap::Client);
        let pattern: Vec<u8> = (0..size).map(|i| (i * 7 % 256) as u8).collect();
        buf.write_at(0, &pattern).unwrap();
        let reply = client.echo(&buf, size).unwrap();
        assert_eq!(reply.handle(), Some(buf.handle()), "size {size}");
        assert!(reply.is_zero_copy());
        assert_eq!(reply.len(), size);
        assert_eq!(reply.to_vec().unwrap(), pattern);
        assert!(
            reply.into_buffer().is_none(),
            "a zero-copy reply owns no block"
        );
        // The buffer is ours again after the call.
        buf.write_at(0, b"again").unwrap();
        buf.free().unwrap();
    }
}

#[test]
fn version_matches_the_library() {
    let server = serving();
    let client = server.connect_inproc().unwrap();
    assert_eq!(client.version().unwrap(), ffb::version());
    assert_eq!(ffb::version(), "0.1.0");
}

#[test]
fn a_new_buffer_reply_is_a_server_block_the_client_frees() {
    let server = serving();
    let client = server.connect_inproc().unwrap();
    let buf = client.alloc_bytes(b"hello").unwrap();
    let reply = client.invoke("test.upper", &buf, 5).unwrap();
    assert!(!reply.is_zero_copy());
    assert_eq!(reply.handle().unwrap().heap(), Heap::Server);
    assert_eq!(reply.to_vec().unwrap(), b"HELLO");
    let block = reply.into_buffer().unwrap();
    assert_eq!(block.read_vec(5).unwrap(), b"HELLO");
    block.free().unwrap();
    // Many replies in a row: blocks go back to the server (RELEASE).
    for _ in 0..2000 {
        assert_eq!(client.invoke_bytes("test.upper", b"abc").unwrap(), b"ABC");
    }
}

#[test]
fn in_place_reply_returns_the_input_handle() {
    let server = serving();
    let client = server.connect_inproc().unwrap();
    let buf = client.alloc_bytes(b"abcdef").unwrap();
    let reply = client.invoke("test.reverse_in_place", &buf, 6).unwrap();
    assert_eq!(reply.handle(), Some(buf.handle()));
    assert_eq!(reply.to_vec().unwrap(), b"fedcba");
}

#[test]
fn empty_reply_and_empty_input() {
    let server = serving();
    let client = server.connect_inproc().unwrap();
    let r = client.invoke_empty("test.empty").unwrap();
    assert!(r.is_empty());
    assert_eq!(r.handle(), None);
    assert_eq!(r.to_vec().unwrap(), b"");
    let r = client.invoke_empty("ffi.echo").unwrap();
    assert!(r.is_empty());
}

#[test]
fn unknown_name_is_not_found() {
    let server = serving();
    let client = server.connect_inproc().unwrap();
    let err = client.invoke_empty("no.such.function").unwrap_err();
    assert_eq!(err.code(), Code::NOT_FOUND);
    assert_eq!(
        client.resolve("no.such.function").unwrap_err().code(),
        Code::NOT_FOUND
    );
    let buf = client.alloc(8).unwrap();
    assert_eq!(
        client.invoke("also.missing", &buf, 8).unwrap_err().code(),
        Code::NOT_FOUND
    );
    // The buffer is still ours.
    buf.free().unwrap();
}

#[test]
fn handler_error_carries_code_and_message() {
    let server = serving();
    let client = server.connect_inproc().unwrap();
    let err = client.invoke_empty("test.fail").unwrap_err();
    assert_eq!(err.code(), Code::INVALID_ARGUMENT);
    assert_eq!(err.message(), Some("test.fail: on purpose"));
}

#[test]
fn panicking_handler_answers_panic_with_its_message() {
    let server = serving();
    let client = server.connect_inproc().unwrap();
    let buf = client.alloc_bytes(b"x").unwrap();
    let err = client.invoke("test.panic", &buf, 1).unwrap_err();
    assert_eq!(err.code(), Code::PANIC);
    assert_eq!(err.message(), Some(PANIC_MESSAGE));
    // Input is ours again and the server still serves.
    assert_eq!(buf.read_vec(1).unwrap(), b"x");
    assert_eq!(client.invoke_bytes("test.upper", b"ok").unwrap(), b"OK");
}

#[test]
fn a_handler_panicking_many_times_leaves_the_server_serving() {
    let server = serving();
    let client = server.connect_inproc().unwrap();
    for i in 0..1000 {
        let err = client.invoke_empty("test.panic").unwrap_err();
        assert_eq!(err.code(), Code::PANIC, "call {i}");
        assert_eq!(err.message(), Some(PANIC_MESSAGE), "call {i}");
    }
    assert_eq!(client.version().unwrap(), ffb::version());
    assert_eq!(
        client.invoke_bytes("test.upper", b"still here").unwrap(),
        b"STILL HERE"
    );
    let stats = client.stats().unwrap();
    assert_eq!(stats.pending, 0);
    assert!(server.stats().unwrap().calls >= 1002);
}

#[test]
fn stale_handle_is_an_error_not_a_dangling_pointer() {
    let server = serving();
    let client = server.connect_inproc().unwrap();
    let buf = client.alloc(100).unwrap();
    let h = buf.handle();
    assert_eq!(client.lookup(h).unwrap(), 256);
    buf.free().unwrap();
    let code = client.lookup(h).unwrap_err().code();
    assert!(
        matches!(code, Code::STALE_HANDLE | Code::DOUBLE_FREE),
        "got {code:?}"
    );
    let code = client.adopt(h).unwrap_err().code();
    assert!(
        matches!(code, Code::STALE_HANDLE | Code::DOUBLE_FREE),
        "got {code:?}"
    );

    // The block is reused with a new generation: the old handle stays dead.
    let again = client.alloc(100).unwrap();
    if again.handle().index() == h.index() && again.handle().class() == h.class() {
        assert_ne!(again.handle().generation(), h.generation());
    }
    let code = client.lookup(h).unwrap_err().code();
    assert!(
        matches!(code, Code::STALE_HANDLE | Code::DOUBLE_FREE),
        "got {code:?}"
    );

    // Forged handles are refused too.
    let forged = ffb::Handle::from_raw(h.raw() ^ (0xFF << 24)).unwrap();
    assert!(matches!(
        client.lookup(forged).unwrap_err().code(),
        Code::FOREIGN_HANDLE | Code::INVALID_HANDLE
    ));
    let forged = ffb::Handle::from_raw(
        0xFFFF_FFFF_0000_0000 | u64::from(again.handle().arena_tag()) << 24 | 1 << 22 | 0x3FFFF,
    )
    .unwrap();
    assert!(client.lookup(forged).is_err());
}

#[test]
fn into_handle_and_adopt_round_trip() {
    let server = serving();
    let client = server.connect_inproc().unwrap();
    let h = client.alloc_bytes(b"kept").unwrap().into_handle();
    let buf = client.adopt(h).unwrap();
    assert_eq!(buf.read_vec(4).unwrap(), b"kept");
    buf.free().unwrap();
    assert!(client.lookup(h).is_err());
}

#[test]
fn buffer_bounds_are_checked() {
    let server = serving();
    let client = server.connect_inproc().unwrap();
    let buf = client.alloc(64).unwrap();
    assert_eq!(buf.capacity(), 64);
    buf.write_at(0, &[1u8; 64]).unwrap();
    assert_eq!(
        buf.write_at(1, &[1u8; 64]).unwrap_err().code(),
        Code::BUFFER_TOO_SMALL
    );
    assert_eq!(
        buf.write_at(usize::MAX, b"x").unwrap_err().code(),
        Code::BUFFER_TOO_SMALL
    );
    let mut out = [0u8; 65];
    assert_eq!(
        buf.read_at(0, &mut out).unwrap_err().code(),
        Code::BUFFER_TOO_SMALL
    );
    assert_eq!(
        client.echo(&buf, 65).unwrap_err().code(),
        Code::BUFFER_TOO_SMALL
    );
    assert_eq!(
        client.alloc((16 << 20) + 1).unwrap_err().code(),
        Code::BUFFER_TOO_SMALL
    );
}

#[test]
fn a_buffer_of_another_client_is_refused() {
    let server = serving();
    let a = server.connect_inproc().unwrap();
    let b = server.connect_inproc().unwrap();
    let buf = a.alloc(8).unwrap();
    assert_eq!(b.echo(&buf, 8).unwrap_err().code(), Code::FOREIGN_HANDLE);
}

#[test]
fn json_round_trip() {
    let server = serving();
    let client = server.connect_inproc().unwrap();
    let out: SumOut = client
        .invoke_json(
            "test.sum",
            &SumIn {
                values: vec![1, 2, 3, -10],
            },
        )
        .unwrap();
    assert_eq!(out, SumOut { sum: -4, count: 4 });
    let out: SumOut = client
        .invoke_json("test.sum", &SumIn { values: vec![] })
        .unwrap();
    assert_eq!(out, SumOut { sum: 0, count: 0 });
    // Bad input: the handler's decode fails with SERIALIZATION.
    let err = client.invoke_bytes("test.sum", b"{not json").unwrap_err();
    assert_eq!(err.code(), Code::SERIALIZATION);
    assert!(
        err.message().unwrap_or("").contains("key must be a string"),
        "{err}"
    );
    // Helpers alone.
    let bytes = ffb::to_json(&SumIn { values: vec![7] }).unwrap();
    assert_eq!(bytes, br#"{"values":[7]}"#);
    assert_eq!(
        ffb::from_json::<SumIn>(&bytes).unwrap(),
        SumIn { values: vec![7] }
    );
}

#[test]
fn register_unregister_and_reregister() {
    let server = serving();
    let client = server.connect_inproc().unwrap();
    let id1 = server
        .register("dyn.f", |_| Ok(Reply::bytes("one")))
        .unwrap();
    assert_eq!(server.lookup("dyn.f").unwrap(), id1);
    assert_eq!(
        client.invoke_empty("dyn.f").unwrap().to_vec().unwrap(),
        b"one"
    );
    assert_eq!(
        server
            .register("dyn.f", |_| Ok(Reply::empty()))
            .unwrap_err()
            .code(),
        Code::ALREADY_EXISTS
    );

    server.unregister("dyn.f").unwrap();
    assert_eq!(
        client.invoke_empty("dyn.f").unwrap_err().code(),
        Code::NOT_FOUND
    );
    assert_eq!(
        client.call(id1, None, 0).unwrap_err().code(),
        Code::NOT_FOUND
    );

    let id2 = server
        .register("dyn.f", |_| Ok(Reply::bytes("two")))
        .unwrap();
    assert_ne!(id1, id2, "a reused slot gets a new generation");
    // The client's cached id is stale: invoke re-resolves.
    assert_eq!(
        client.invoke_empty("dyn.f").unwrap().to_vec().unwrap(),
        b"two"
    );

    assert_eq!(
        server.unregister("ffi.echo").unwrap_err().code(),
        Code::INVALID_ARGUMENT
    );
    assert_eq!(
        server
            .register("", |_| Ok(Reply::empty()))
            .unwrap_err()
            .code(),
        Code::INVALID_ARGUMENT
    );
    assert_eq!(
        server
            .register(&"x".repeat(256), |_| Ok(Reply::empty()))
            .unwrap_err()
            .code(),
        Code::INVALID_ARGUMENT
    );
}

#[test]
fn closures_are_dropped_on_unregister_and_on_server_drop() {
    let token = Arc::new(());
    let server = serving();
    let t1 = Arc::clone(&token);
    server
        .register("hold.a", move |_| {
            Ok(Reply::bytes(format!("{}", Arc::strong_count(&t1))))
        })
        .unwrap();
    let t2 = Arc::clone(&token);
    server
        .register("hold.b", move |_| {
            Ok(Reply::bytes(format!("{}", Arc::strong_count(&t2))))
        })
        .unwrap();
    assert_eq!(Arc::strong_count(&token), 3);
    server.unregister("hold.a").unwrap();
    assert_eq!(Arc::strong_count(&token), 2);
    drop(server);
    assert_eq!(Arc::strong_count(&token), 1);
}

#[test]
fn registering_from_inside_a_callback_is_refused_not_deadlocked() {
    quiet_panics();
    let server = Arc::new(Server::new().unwrap());
    let weak = Arc::downgrade(&server);
    server
        .register("meta.register", move |_| {
            let s = weak.upgrade().expect("server alive");
            let code = s
                .register("meta.inner", |_| Ok(Reply::empty()))
                .unwrap_err()
                .code();
            let code2 = s.unregister("meta.register").unwrap_err().code();
            Ok(Reply::bytes(format!("{} {}", code.name(), code2.name())))
        })
        .unwrap();
    server.start().unwrap();
    let client = server.connect_inproc().unwrap();
    let out = client
        .invoke_empty("meta.register")
        .unwrap()
        .to_vec()
        .unwrap();
    assert_eq!(out, b"INVALID_ARGUMENT INVALID_ARGUMENT");
}

#[test]
fn many_threads_each_with_a_client() {
    let server = serving();
    let threads = 8;
    let calls = 500;
    std::thread::scope(|s| {
        for t in 0..threads {
            let server = &server;
            s.spawn(move || {
                let client = server.connect_inproc().unwrap();
                let buf = client.alloc(256).unwrap();
                for i in 0..calls {
                    let msg = format!("thread {t} call {i}");
                    buf.write_at(0, msg.as_bytes()).unwrap();
                    let r = client.echo(&buf, msg.len()).unwrap();
                    assert_eq!(r.handle(), Some(buf.handle()));
                    assert_eq!(r.to_vec().unwrap(), msg.as_bytes());
                    let up = client.invoke("test.upper", &buf, msg.len()).unwrap();
                    assert_eq!(up.to_vec().unwrap(), msg.to_ascii_uppercase().as_bytes());
                }
            });
        }
    });
    assert!(server.stats().unwrap().calls >= (threads * calls * 2) as u64);
}

#[test]
fn register_and_unregister_while_other_threads_call() {
    let server = serving();
    std::thread::scope(|s| {
        let server = &server;
        for _ in 0..3 {
            s.spawn(move || {
                let client = server.connect_inproc().unwrap();
                for _ in 0..2000 {
                    match client.invoke_empty("churn.f") {
                        Ok(r) => assert_eq!(r.to_vec().unwrap(), b"churn"),
                        Err(e) => assert_eq!(e.code(), Code::NOT_FOUND),
                    }
                }
            });
        }
        s.spawn(move || {
            for _ in 0..300 {
                server
                    .register("churn.f", |_| Ok(Reply::bytes("churn")))
                    .unwrap();
                std::thread::yield_now();
                server.unregister("churn.f").unwrap();
            }
        });
    });
}

#[test]
fn a_client_moves_to_another_thread() {
    let server = serving();
    let client = server.connect_inproc().unwrap();
    let client = std::thread::spawn(move || {
        assert_eq!(
            client.invoke_bytes("test.upper", b"moved").unwrap(),
            b"MOVED"
        );
        client
    })
    .join()
    .unwrap();
    assert_eq!(client.version().unwrap(), ffb::version());
}

#[test]
fn run_on_the_callers_thread_and_stop() {
    quiet_panics();
    let server = Arc::new(Server::new().unwrap());
    register_handlers(&server);
    let s = Arc::clone(&server);
    let loop_thread = std::thread::spawn(move || s.run());
    let client = server.connect_inproc().unwrap();
    assert_eq!(client.invoke_bytes("test.upper", b"run").unwrap(), b"RUN");
    // Only one loop at a time.
    assert_eq!(server.start().unwrap_err().code(), Code::INVALID_ARGUMENT);
    server.stop().unwrap();
    loop_thread.join().unwrap().unwrap();
    // The session got a goodbye: calls now fail instead of hanging.
    let code = client.version().unwrap_err().code();
    assert!(
        matches!(code, Code::CLOSED | Code::PEER_GONE),
        "got {code:?}"
    );
}

#[test]
fn shutdown_reports_calls_and_clients_see_the_end() {
    let server = serving();
    let client = server.connect_inproc().unwrap();
    for _ in 0..10 {
        client.version().unwrap();
    }
    let stats = server.shutdown().unwrap();
    assert!(stats.calls >= 10);
    let code = client.version().unwrap_err().code();
    assert!(
        matches!(code, Code::CLOSED | Code::PEER_GONE),
        "got {code:?}"
    );
}

#[test]
fn a_timed_out_call_gives_its_buffer_up_and_the_session_recovers() {
    let server = serving();
    server
        .register("test.sleep", |req| {
            std::thread::sleep(std::time::Duration::from_millis(300));
            Ok(Reply::input(req.len()))
        })
        .unwrap();
    let client = server.connect_inproc().unwrap();
    client.set_timeout(Some(std::time::Duration::from_millis(30)));
    let buf = client.alloc_bytes(b"slow").unwrap();
    let err = client.invoke("test.sleep", &buf, 4).unwrap_err();
    assert_eq!(err.code(), Code::TIMEOUT);
    assert!(buf.is_lost(), "the input block was given up");
    assert!(buf.write_at(0, b"x").is_err());
    assert!(buf.read_vec(1).is_err());
    drop(buf); // must not free a block the session owns now
    client.set_timeout(None);
    // The late answer is reclaimed; the session goes on.
    assert_eq!(
        client.invoke_bytes("test.upper", b"after").unwrap(),
        b"AFTER"
    );
    std::thread::sleep(std::time::Duration::from_millis(350));
    assert_eq!(
        client.invoke_bytes("test.upper", b"later").unwrap(),
        b"LATER"
    );
    assert_eq!(client.stats().unwrap().pending, 0);
}

#[test]
fn eventfd_doorbell_serves_the_same() {
    let server = Server::with_options(&ffb::ServerOptions::new().futex_doorbell(false)).unwrap();
    assert!(!server.uses_futex());
    register_handlers(&server);
    server.start().unwrap();
    let client = server.connect_inproc().unwrap();
    let buf = client.alloc(1 << 20).unwrap();
    for _ in 0..200 {
        assert_eq!(
            client.echo(&buf, 1 << 20).unwrap().handle(),
            Some(buf.handle())
        );
    }
    // Let the server park, then wake it with a call.
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(client.invoke_bytes("test.upper", b"wake").unwrap(), b"WAKE");
}

#[test]
fn spin_mode_client() {
    let server = serving();
    let client = server
        .connect_inproc_with(&ffb::ClientOptions::new().wait_mode(ffb::WaitMode::Spin))
        .unwrap();
    let buf = client.alloc(64).unwrap();
    for _ in 0..1000 {
        client.echo(&buf, 64).unwrap();
    }
    assert_eq!(client.stats().unwrap().parks, 0);
}

#[test]
fn options_are_checked_and_caps_enforced() {
    let err = Server::with_options(&ffb::ServerOptions::new().ring_entries(3)).unwrap_err();
    assert_eq!(err.code(), Code::INVALID_ARGUMENT);

    let server = Server::with_options(&ffb::ServerOptions::new().max_sessions(1)).unwrap();
    server.start().unwrap();
    let first = server.connect_inproc().unwrap();
    let err = server.connect_inproc().unwrap_err();
    assert_eq!(err.code(), Code::TOO_MANY_SESSIONS);
    assert_eq!(first.version().unwrap(), ffb::version());
}

#[test]
fn call_many_pipelines_past_the_ring_size() {
    let server = serving();
    let client = server.connect_inproc().unwrap();
    let n = 600; // more than the 256-slot ring: submit waits for answers
    let bufs: Vec<_> = (0..n)
        .map(|i| client.alloc_bytes(format!("msg {i}").as_bytes()).unwrap())
        .collect();
    let inputs: Vec<_> = bufs
        .iter()
        .enumerate()
        .map(|(i, b)| (b, format!("msg {i}").len()))
        .collect();
    let echo = client.resolve("ffi.echo").unwrap();
    let results = client.call_many(echo, &inputs);
    assert_eq!(results.len(), n);
    for (i, r) in results.iter().enumerate() {
        let r = r.as_ref().unwrap();
        assert_eq!(r.handle(), Some(bufs[i].handle()));
        assert_eq!(r.to_vec().unwrap(), format!("msg {i}").as_bytes());
    }
    drop(results);
    let upper = client.resolve("test.upper").unwrap();
    for (i, r) in client.call_many(upper, &inputs).into_iter().enumerate() {
        assert_eq!(r.unwrap().to_vec().unwrap(), format!("MSG {i}").as_bytes());
    }
    assert_eq!(client.stats().unwrap().pending, 0);
}

#[test]
fn call_many_reports_errors_per_call() {
    let server = serving();
    let client = server.connect_inproc().unwrap();
    let a = client.alloc(8).unwrap();
    let b = client.alloc(8).unwrap();
    let id = client.resolve("test.fail").unwrap();
    let rs = client.call_many(id, &[(&a, 8), (&b, 8), (&a, 8), (&b, 9000)]);
    assert_eq!(
        rs[0].as_ref().unwrap_err().message(),
        Some("test.fail: on purpose")
    );
    assert_eq!(rs[1].as_ref().unwrap_err().code(), Code::INVALID_ARGUMENT);
    assert_eq!(
        rs[2].as_ref().unwrap_err().code(),
        Code::BUSY,
        "a is lent to call 0"
    );
    assert_eq!(rs[3].as_ref().unwrap_err().code(), Code::BUFFER_TOO_SMALL);
    let rs = client.call_many(0xFFFF_0FFF, &[(&a, 1)]);
    assert_eq!(rs[0].as_ref().unwrap_err().code(), Code::NOT_FOUND);
}

#[test]
fn call_many_times_out_and_a_later_batch_reclaims_the_late_answers() {
    let server = serving();
    server
        .register("test.nap", |req| {
            std::thread::sleep(std::time::Duration::from_millis(60));
            Ok(Reply::input(req.len()))
        })
        .unwrap();
    let client = server.connect_inproc().unwrap();
    let nap = client.resolve("test.nap").unwrap();
    let bufs: Vec<_> = (0..4).map(|_| client.alloc(64).unwrap()).collect();
    let inputs: Vec<_> = bufs.iter().map(|b| (b, 64)).collect();
    client.set_timeout(Some(std::time::Duration::from_millis(30)));
    let rs = client.call_many(nap, &inputs);
    let timed_out = rs
        .iter()
        .filter(|r| matches!(r, Err(e) if e.code() == Code::TIMEOUT))
        .count();
    assert!(timed_out >= 3, "{rs:?}");
    drop(rs);
    let lost: Vec<_> = bufs
        .iter()
        .filter(|b| b.is_lost())
        .map(|b| b.handle())
        .collect();
    assert_eq!(lost.len(), timed_out);
    drop(bufs);
    std::thread::sleep(std::time::Duration::from_millis(300));
    client.set_timeout(None);
    // A later batch collects the late completions and frees their blocks.
    let fresh = client.alloc(64).unwrap();
    let echo = client.resolve("ffi.echo").unwrap();
    assert!(client.call_many(echo, &[(&fresh, 64)])[0].is_ok());
    for h in lost {
        let code = client.lookup(h).unwrap_err().code();
        assert!(
            matches!(code, Code::STALE_HANDLE | Code::DOUBLE_FREE),
            "got {code:?}"
        );
    }
    assert_eq!(client.stats().unwrap().pending, 0);
}

#[test]
fn replies_that_cannot_be_sent_become_errors() {
    let server = serving();
    server
        .register("test.too_big", |_| {
            Ok(Reply::bytes(vec![0u8; (16 << 20) + 1]))
        })
        .unwrap();
    server
        .register("test.past_capacity", |req| {
            Ok(Reply::input(req.capacity() + 1))
        })
        .unwrap();
    server
        .register("test.input_without_input", |_| Ok(Reply::input(1)))
        .unwrap();
    server
        .register("test.big", |_| Ok(Reply::bytes(vec![7u8; 16 << 20])))
        .unwrap();
    let client = server.connect_inproc().unwrap();
    let err = client.invoke_empty("test.too_big").unwrap_err();
    assert_eq!(err.code(), Code::BUFFER_TOO_SMALL, "{err}");
    assert!(err.message().is_some());
    let buf = client.alloc(64).unwrap();
    let err = client.invoke("test.past_capacity", &buf, 1).unwrap_err();
    assert_eq!(err.code(), Code::INVALID_ARGUMENT, "{err}");
    let err = client.invoke_empty("test.input_without_input").unwrap_err();
    assert_eq!(err.code(), Code::INVALID_ARGUMENT, "{err}");
    // The largest block works, and is copied out intact.
    let r = client.invoke_empty("test.big").unwrap();
    assert_eq!(r.len(), 16 << 20);
    let v = r.to_vec().unwrap();
    assert!(v.iter().all(|&b| b == 7));
}

#[test]
fn error_messages_with_nul_and_long_text_survive() {
    let server = serving();
    server
        .register("test.nul", |_| {
            Err(ffb::Error::with_message(Code::UNKNOWN, "before\0after"))
        })
        .unwrap();
    server
        .register("test.long", |_| {
            Err(ffb::Error::with_message(Code::TIMEOUT, "é".repeat(100_000)))
        })
        .unwrap();
    server
        .register("test.ok_code", |_| Err(ffb::Error::new(Code::OK)))
        .unwrap();
    let client = server.connect_inproc().unwrap();
    let err = client.invoke_empty("test.nul").unwrap_err();
    assert_eq!(err.message(), Some("before\u{FFFD}after"));
    let err = client.invoke_empty("test.long").unwrap_err();
    assert_eq!(err.code(), Code::TIMEOUT);
    let msg = err.message().unwrap();
    assert!(
        !msg.is_empty() && msg.chars().all(|c| c == 'é' || c == '?' || c == '\u{FFFD}'),
        "{msg:?}"
    );
    // An "error" with code OK must not read as success.
    assert_eq!(
        client.invoke_empty("test.ok_code").unwrap_err().code(),
        Code::UNKNOWN
    );
}

#[test]
fn a_live_socket_is_not_taken_over_a_stale_one_is() {
    let path = common::socket_path("bind");
    let first = Server::bind(&path).unwrap();
    first.start().unwrap();
    assert_eq!(Server::bind(&path).unwrap_err().code(), Code::SYSTEM);
    // A client over the socket works, then the server goes away.
    let client = Client::connect(&path).unwrap();
    assert_eq!(client.version().unwrap(), ffb::version());
    drop(client);
    drop(first);
    assert!(!path.exists(), "destroy unlinks the socket file");
    // A leftover socket file nobody listens on is replaced.
    let stale = std::os::unix::net::UnixListener::bind(&path).unwrap();
    drop(stale);
    assert!(path.exists());
    let second = Server::bind(&path).unwrap();
    second.start().unwrap();
    assert_eq!(
        Client::connect(&path).unwrap().version().unwrap(),
        ffb::version()
    );
}

#[test]
fn listen_only_before_serving() {
    let server = Server::new().unwrap();
    server.start().unwrap();
    let err = server.listen(common::socket_path("late")).unwrap_err();
    assert_eq!(err.code(), Code::INVALID_ARGUMENT);
}

#[test]
fn stats_count_the_calls_made_per_function_and_status() {
    let server = serving();
    let client = server.connect_inproc().unwrap();
    let buf = client.alloc(64).unwrap();
    for _ in 0..50 {
        client.echo(&buf, 64).unwrap();
    }
    for _ in 0..3 {
        assert_eq!(
            client.invoke_empty("test.fail").unwrap_err().code(),
            Code::INVALID_ARGUMENT
        );
    }
    let st = server.stats().unwrap();
    assert_eq!(st.calls, 53);
    assert_eq!(st.results[0], 50);
    assert_eq!(st.results[Code::INVALID_ARGUMENT.raw() as usize], 3);
    assert_eq!(st.sessions_active, 1);
    assert_eq!(st.functions_total as usize, st.functions.len());
    let echo = st.functions.iter().find(|f| f.name == "ffi.echo").unwrap();
    let fail = st.functions.iter().find(|f| f.name == "test.fail").unwrap();
    assert_eq!((echo.calls, echo.errors), (50, 0));
    assert_eq!((fail.calls, fail.errors), (3, 3));
    // A built-in is counted, not timed; a callback's every call is timed.
    assert_eq!(echo.latency.iter().sum::<u64>(), 0);
    assert_eq!(fail.latency.iter().sum::<u64>(), 3);
    assert!(fail.p50() > std::time::Duration::ZERO && fail.p50() <= fail.p99());
    assert!(st.uptime > std::time::Duration::ZERO);
}
