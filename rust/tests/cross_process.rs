//! Server and client in different processes, sharing a real memfd arena.
//!
//! The server process is this very test binary, re-executed with
//! `FFB_TEST_CHILD_SOCKET` set so that only `child_server` runs and serves
//! until its stdin closes. Nothing else has to be built first.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{register_handlers, socket_path, SumIn, SumOut, PANIC_MESSAGE};
use ffb::{Client, Code, Heap, Server};

const CHILD_ENV: &str = "FFB_TEST_CHILD_SOCKET";

/// In a re-executed child: serve the test handlers on the socket until
/// stdin reaches EOF (the parent closed it or died), then shut down.
#[test]
fn child_server() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return; // an ordinary test run: nothing to do
    };
    common::quiet_panics();
    let server = Server::bind(&path).expect("bind");
    register_handlers(&server);
    server.start().expect("start");
    println!("ready pid={}", std::process::id());
    std::io::stdout().flush().unwrap();
    let mut sink = String::new();
    while std::io::stdin()
        .read_line(&mut sink)
        .map(|n| n > 0)
        .unwrap_or(false)
    {}
    let stats = server.shutdown().expect("shutdown");
    println!("child: shut down cleanly, {} calls served", stats.calls);
}

struct ChildServer {
    child: Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl ChildServer {
    fn spawn(path: &Path) -> ChildServer {
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new(exe)
            .args(["--exact", "child_server", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the server process");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let line = lines.next().expect("server exited before ready").unwrap();
            if line.contains("ready pid=") {
                break;
            }
            assert!(Instant::now() < deadline, "server not ready in time");
        }
        ChildServer { child, lines }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Close its stdin, wait for a clean exit; returns its remaining output.
    fn finish(mut self) -> String {
        drop(self.child.stdin.take());
        let rest: Vec<String> = self.lines.by_ref().map_while(Result::ok).collect();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "server exited with {status}");
        rest.join("\n")
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn cross_process_calls_share_the_arena() {
    let path = socket_path("xproc");
    let server = ChildServer::spawn(&path);
    assert_ne!(server.pid(), std::process::id());
    {
        let client = Client::connect(&path).expect("connect");
        assert_eq!(client.version().unwrap(), ffb::version());

        for size in [64usize, 1 << 20] {
            let buf = client.alloc(size).unwrap();
            let pattern: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
            buf.write_at(0, &pattern).unwrap();
            let r = client.echo(&buf, size).unwrap();
            assert_eq!(r.handle(), Some(buf.handle()), "zero-copy echo of {size} B");
            assert_eq!(r.to_vec().unwrap(), pattern);
        }

        let r = client
            .invoke_bytes("test.upper", b"across processes")
            .unwrap();
        assert_eq!(r, b"ACROSS PROCESSES");
        let buf = client.alloc_bytes(b"xyz").unwrap();
        let reply = client.invoke("test.upper", &buf, 3).unwrap();
        assert_eq!(reply.handle().unwrap().heap(), Heap::Server);
        drop(reply);

        let out: SumOut = client
            .invoke_json(
                "test.sum",
                &SumIn {
                    values: vec![40, 2],
                },
            )
            .unwrap();
        assert_eq!(out, SumOut { sum: 42, count: 2 });

        assert_eq!(
            client.invoke_empty("nope").unwrap_err().code(),
            Code::NOT_FOUND
        );
        let e = client.invoke_empty("test.fail").unwrap_err();
        assert_eq!(
            (e.code(), e.message()),
            (Code::INVALID_ARGUMENT, Some("test.fail: on purpose"))
        );
        for _ in 0..100 {
            let e = client.invoke_empty("test.panic").unwrap_err();
            assert_eq!((e.code(), e.message()), (Code::PANIC, Some(PANIC_MESSAGE)));
        }
        assert_eq!(
            client.invoke_bytes("test.upper", b"alive").unwrap(),
            b"ALIVE"
        );

        let stale = client.alloc(8).unwrap();
        let h = stale.handle();
        stale.free().unwrap();
        assert!(matches!(
            client.lookup(h).unwrap_err().code(),
            Code::STALE_HANDLE | Code::DOUBLE_FREE
        ));
    }
    let out = server.finish();
    assert!(
        out.contains("child: shut down cleanly"),
        "server said: {out}"
    );
    assert!(!path.exists(), "the socket file is removed on shutdown");
}

#[test]
fn cross_process_many_threads() {
    let path = socket_path("xthreads");
    let server = ChildServer::spawn(&path);
    std::thread::scope(|s| {
        for t in 0..6 {
            let path = &path;
            s.spawn(move || {
                let client = Client::connect(path).unwrap();
                let buf = client.alloc(4096).unwrap();
                for i in 0..300 {
                    let msg = format!("t{t} i{i} {}", "p".repeat(i % 97));
                    buf.write_at(0, msg.as_bytes()).unwrap();
                    let r = client.echo(&buf, msg.len()).unwrap();
                    assert_eq!(r.to_vec().unwrap(), msg.as_bytes());
                    let up = client.invoke("test.upper", &buf, msg.len()).unwrap();
                    assert_eq!(up.to_vec().unwrap(), msg.to_ascii_uppercase().as_bytes());
                }
            });
        }
    });
    server.finish();
}

#[test]
fn a_dying_server_fails_calls_with_peer_gone() {
    let path = socket_path("xdeath");
    let mut server = ChildServer::spawn(&path);
    let client = Client::connect(&path).unwrap();
    assert_eq!(client.version().unwrap(), ffb::version());
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    client.set_timeout(Some(Duration::from_secs(5)));
    let t = Instant::now();
    let code = client.version().unwrap_err().code();
    assert!(
        matches!(code, Code::PEER_GONE | Code::CLOSED),
        "got {code:?}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );
    // A killed server cannot unlink its socket file.
    let _ = std::fs::remove_file(&path);
}

#[test]
fn connecting_to_nothing_is_an_error() {
    let path = socket_path("nobody");
    let err = Client::connect(&path).unwrap_err();
    assert_eq!(err.code(), Code::SYSTEM);
}
