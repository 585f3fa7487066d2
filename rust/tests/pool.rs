//! Where handlers run and how they answer: pooled handlers on worker
//! threads, inline ones on the dispatcher, async handlers whose futures
//! answer later from other threads (in any order) and are dropped when
//! the caller cancels, zero-copy input and replies filled in place, and a
//! client process killed while its calls wait in async handlers.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use ffb::{AsyncRequest, Client, Code, Reply, Server, ServerOptions};

fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn pooled_handlers_run_on_workers_and_inline_ones_on_the_dispatcher() {
    let server = Server::with_options(&ServerOptions::new().workers(2)).unwrap();
    let seen: Arc<Mutex<HashMap<&'static str, ThreadId>>> = Arc::default();
    for (name, inline) in [("where.pool", false), ("where.inline", true)] {
        let seen = Arc::clone(&seen);
        let f = move |_: &ffb::Request<'_>| {
            seen.lock()
                .unwrap()
                .insert(name, std::thread::current().id());
            Ok(Reply::empty())
        };
        if inline {
            server.register_inline(name, f).unwrap();
        } else {
            server.register(name, f).unwrap();
        }
    }
    server.start().unwrap();
    let client = server.connect_inproc().unwrap();
    client.invoke_empty("where.pool").unwrap();
    client.invoke_empty("where.inline").unwrap();
    let seen = seen.lock().unwrap();
    assert_ne!(seen["where.pool"], seen["where.inline"]);
    assert_ne!(seen["where.pool"], std::thread::current().id());
    let stats = server.stats().unwrap();
    assert_eq!(stats.pooled_calls, 1);
    drop(client);

    let bare = Server::with_options(&ServerOptions::new().workers(0)).unwrap();
    assert_eq!(
        bare.register("x", |_| Ok(Reply::empty()))
            .unwrap_err()
            .code(),
        Code::INVALID_ARGUMENT
    );
    bare.register_inline("x", |_| Ok(Reply::empty())).unwrap();
}

/// Async handlers parked on channels, answered by another thread in reverse
/// order: every answer reaches its own call.
#[test]
fn async_answers_come_from_another_thread_in_any_order() {
    let server = Server::with_options(&ServerOptions::new().workers(2)).unwrap();
    let (tx, rx) = mpsc::channel::<(Vec<u8>, tokio::sync::oneshot::Sender<Vec<u8>>)>();
    let tx = Mutex::new(tx);
    server
        .register_async("later.echo", move |req: AsyncRequest| {
            let (answer, wait) = tokio::sync::oneshot::channel();
            let input = req.to_vec();
            let sent = input.map(|v| tx.lock().unwrap().send((v, answer)));
            async move {
                sent?.map_err(|_| ffb::Error::new(Code::CLOSED))?;
                let bytes = wait.await.map_err(|_| ffb::Error::new(Code::CLOSED))?;
                Ok(Reply::bytes(bytes))
            }
        })
        .unwrap();
    server.start().unwrap();
    const N: usize = 64;
    let answerer = std::thread::spawn(move || {
        let mut held = Vec::new();
        for _ in 0..N {
            held.push(rx.recv().unwrap());
        }
        for (bytes, answer) in held.into_iter().rev() {
            answer.send(bytes).unwrap();
        }
    });
    let client = server.connect_inproc().unwrap();
    let bufs: Vec<_> = (0..N)
        .map(|i| {
            client
                .alloc_bytes(format!("call {i:03}").as_bytes())
                .unwrap()
        })
        .collect();
    let inputs: Vec<_> = bufs.iter().map(|b| (b, 8)).collect();
    let fn_id = client.resolve("later.echo").unwrap();
    for (i, r) in client.call_many(fn_id, &inputs).into_iter().enumerate() {
        assert_eq!(
            r.unwrap().to_vec().unwrap(),
            format!("call {i:03}").as_bytes()
        );
    }
    answerer.join().unwrap();
    let stats = server.stats().unwrap();
    assert_eq!(stats.deferred_calls, N as u64);
    assert_eq!(stats.calls_in_flight, 0);
}

/// Sets its flag when dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

#[test]
fn a_cancelled_call_drops_its_future_and_a_pooled_handler_sees_it() {
    let server = Server::with_options(&ServerOptions::new().workers(2)).unwrap();
    let dropped = Arc::new(AtomicBool::new(false));
    let d = Arc::clone(&dropped);
    server
        .register_async("later.never", move |_req| {
            let flag = DropFlag(Arc::clone(&d));
            async move {
                let _flag = flag;
                std::future::pending::<()>().await;
                Ok(Reply::empty())
            }
        })
        .unwrap();
    let saw_cancel = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&saw_cancel);
    server
        .register("slow.poll", move |req| {
            let end = Instant::now() + Duration::from_secs(5);
            while Instant::now() < end {
                if req.is_cancelled() {
                    s.store(true, Ordering::Release);
                    return Err(ffb::Error::new(Code::CANCELLED));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(Reply::empty())
        })
        .unwrap();
    server.start().unwrap();
    let client = server.connect_inproc().unwrap();
    client.set_timeout(Some(Duration::from_millis(50)));
    let t0 = Instant::now();
    assert_eq!(
        client.invoke_empty("later.never").unwrap_err().code(),
        Code::TIMEOUT
    );
    assert_eq!(
        client.invoke_empty("slow.poll").unwrap_err().code(),
        Code::TIMEOUT
    );
    wait_until("the async future's drop", Duration::from_secs(2), || {
        dropped.load(Ordering::Acquire)
    });
    wait_until(
        "the pooled handler to see cancel",
        Duration::from_secs(2),
        || saw_cancel.load(Ordering::Acquire),
    );
    assert!(t0.elapsed() < Duration::from_secs(2));
    wait_until("no call in flight", Duration::from_secs(2), || {
        server.stats().unwrap().calls_in_flight == 0
    });
    assert!(server.stats().unwrap().cancels >= 2);
    // The late answers came back and were reclaimed: nothing is pending.
    client.set_timeout(None);
    wait_until("the late answers", Duration::from_secs(2), || {
        client.invoke_empty("ffi.version").unwrap();
        client.stats().unwrap().pending == 0
    });
}

#[test]
fn an_async_handler_that_panics_answers_panic() {
    common::quiet_panics();
    let server = Server::new().unwrap();
    server
        .register_async("later.panic", |_req| async move {
            if true {
                panic!("test.panic: in a future");
            }
            Ok(Reply::empty())
        })
        .unwrap();
    server.start().unwrap();
    let client = server.connect_inproc().unwrap();
    let err = client.invoke_empty("later.panic").unwrap_err();
    assert_eq!(err.code(), Code::PANIC);
    assert_eq!(err.message(), Some("test.panic: in a future"));
    assert_eq!(client.invoke_bytes("ffi.echo", b"alive").unwrap(), b"alive");
}

/// FNV-1a over a slice: the checksum the handlers and the test agree on.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

#[test]
fn zero_copy_handlers_checksum_one_mib_and_fill_one_mib_in_place() {
    let server = Server::new().unwrap();
    // Reads the input in place twice: as a slice (the unsafe contract holds:
    // this client does not write a block it lent) and chunked (safe).
    server
        .register("zc.sum", |req| {
            // SAFETY: the client is this test's, which never writes a lent block.
            let direct = fnv(unsafe { req.input().as_slice() });
            let mut h = 0xcbf2_9ce4_8422_2325u64;
            req.input().for_each_chunk(&mut [0u8; 4096], |c| {
                h = c
                    .iter()
                    .fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
            });
            if h != direct {
                return Err(ffb::Error::with_message(
                    Code::UNKNOWN,
                    "two reads disagree",
                ));
            }
            Ok(Reply::bytes(direct.to_le_bytes().to_vec()))
        })
        .unwrap();
    // Input reversed into a new block, written in place.
    server
        .register("zc.reverse", |req| {
            Ok(Reply::with_capacity(req.len(), |input, out| {
                // SAFETY: the input as above; the new block is ours alone
                // until the answer publishes it.
                let (src, dst) = unsafe { (input.as_slice(), out.as_mut_slice()) };
                for (d, s) in dst.iter_mut().zip(src.iter().rev()) {
                    *d = *s;
                }
                Ok(src.len())
            }))
        })
        .unwrap();
    server
        .register("zc.overfill", |_req| {
            Ok(Reply::with_capacity(4, |_input, _out| Ok(5)))
        })
        .unwrap();
    server.start().unwrap();
    let client = server.connect_inproc().unwrap();
    let n = 1 << 20;
    let data: Vec<u8> = (0..n).map(|i| (i * 7 + i / 4096) as u8).collect();
    let buf = client.alloc_bytes(&data).unwrap();
    let sum = client.invoke("zc.sum", &buf, n).unwrap().to_vec().unwrap();
    assert_eq!(u64::from_le_bytes(sum.try_into().unwrap()), fnv(&data));
    let rev = client.invoke("zc.reverse", &buf, n).unwrap();
    assert!(!rev.is_zero_copy());
    let mut want = data.clone();
    want.reverse();
    assert_eq!(rev.to_vec().unwrap(), want);
    drop(rev);
    assert_eq!(
        client.invoke_empty("zc.overfill").unwrap_err().code(),
        Code::BUFFER_TOO_SMALL
    );
}

#[test]
fn async_requests_read_in_place_until_answered() {
    let server = Server::new().unwrap();
    let kept: Arc<Mutex<Option<AsyncRequest>>> = Arc::default();
    let k = Arc::clone(&kept);
    server
        .register_async("later.keep", move |req: AsyncRequest| {
            let sum = req.with_input(|v| v.to_vec().iter().map(|&b| u64::from(b)).sum::<u64>());
            *k.lock().unwrap() = Some(req); // kept past the answer, on purpose
            async move { Ok(Reply::bytes(sum?.to_le_bytes().to_vec())) }
        })
        .unwrap();
    server.start().unwrap();
    let client = server.connect_inproc().unwrap();
    let out = client.invoke_bytes("later.keep", &[1, 2, 3, 250]).unwrap();
    assert_eq!(u64::from_le_bytes(out.try_into().unwrap()), 256);
    let req = kept.lock().unwrap().take().unwrap();
    assert_eq!(req.len(), 4);
    // Answered: its input is not there any more, and says so.
    assert_eq!(req.to_vec().unwrap_err().code(), Code::CLOSED);
}

#[cfg(feature = "tokio")]
#[test]
fn async_handlers_on_tokio_wait_side_by_side() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = Server::new().unwrap();
    server.use_tokio(rt.handle().clone());
    server
        .register_async("tokio.nap", |_req| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(Reply::empty())
        })
        .unwrap();
    server.start().unwrap();
    let client = server.connect_inproc().unwrap();
    let fn_id = client.resolve("tokio.nap").unwrap();
    let bufs: Vec<_> = (0..64).map(|_| client.alloc(8).unwrap()).collect();
    let inputs: Vec<_> = bufs.iter().map(|b| (b, 0)).collect();
    let t0 = Instant::now();
    for r in client.call_many(fn_id, &inputs) {
        r.unwrap();
    }
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "64 naps of 20 ms took {:?}",
        t0.elapsed()
    );
}

const CHILD_ENV: &str = "FFB_TEST_POOL_CLIENT";

/// In a re-executed child: connect, start calls that wait forever in an
/// async handler, say so, and wait to be killed.
#[test]
fn child_client_waits_in_async_handlers() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return; // an ordinary test run: nothing to do
    };
    let client = Client::connect(&path).expect("connect");
    let fn_id = client.resolve("later.forever").expect("resolve");
    let bufs: Vec<_> = (0..8).map(|_| client.alloc(8).unwrap()).collect();
    let inputs: Vec<_> = bufs.iter().map(|b| (b, 0)).collect();
    println!("calling");
    std::io::stdout().flush().unwrap();
    let _ = client.call_many(fn_id, &inputs); // never returns: killed
}

#[test]
fn a_killed_client_drops_the_futures_of_its_calls() {
    let path = common::socket_path("pool-kill");
    let server = Server::bind(&path).unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicUsize::new(0));
    let (s, d) = (Arc::clone(&started), Arc::clone(&dropped));
    server
        .register_async("later.forever", move |_req| {
            s.fetch_add(1, Ordering::AcqRel);
            let d = Arc::clone(&d);
            async move {
                struct Count(Arc<AtomicUsize>);
                impl Drop for Count {
                    fn drop(&mut self) {
                        self.0.fetch_add(1, Ordering::AcqRel);
                    }
                }
                let _c = Count(d);
                std::future::pending::<()>().await;
                Ok(Reply::empty())
            }
        })
        .unwrap();
    server.start().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_client_waits_in_async_handlers",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while !lines.next().unwrap().unwrap().contains("calling") {}
    wait_until("8 calls in the handler", Duration::from_secs(5), || {
        started.load(Ordering::Acquire) == 8
    });
    child.kill().unwrap();
    child.wait().unwrap();
    wait_until("8 futures dropped", Duration::from_secs(5), || {
        dropped.load(Ordering::Acquire) == 8
    });
    // The session closes at once; its kept calls end as their futures go.
    wait_until("the session closed", Duration::from_secs(5), || {
        server.stats().unwrap().sessions_active == 0
    });
    wait_until("no call in flight", Duration::from_secs(5), || {
        server.stats().unwrap().calls_in_flight == 0
    });
}
