//! Calls both ways and streams between a Rust server (in this process,
//! `Server::bind` on a temporary socket) and a real Go client process
//! (`go/examples/peer`, built by the test): the Rust server calls the Go
//! client's handlers from its handlers and from outside any call, streams
//! go both ways with credit, cancellation travels inward through nested
//! calls, and a killed Go client ends everything pending with `PEER_GONE`.
//!
//! The tests share the machine's cores with a Go process each, so they run
//! one at a time (a lock).

mod common;

use std::future::poll_fn;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ffb::{Code, ItemStream, Reply, Server, Session};
use futures_core::Stream;

const WAIT: Duration = Duration::from_secs(30);

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// The Go peer, built once per test run into cargo's temporary directory.
fn peer_binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ffb-go-peer");
            let go_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../go");
            let status = Command::new("go")
                .args(["build", "-o"])
                .arg(&out)
                .arg("./examples/peer")
                .env("CGO_ENABLED", "0")
                .current_dir(go_dir)
                .status()
                .expect("run go build (Go is needed for these tests)");
            assert!(status.success(), "go build ./examples/peer failed");
            out
        })
        .clone()
}

/// The lines a peer printed, and a condition variable for new ones.
type Lines = Arc<(Mutex<Vec<String>>, Condvar)>;

/// A running Go peer: commands go to its stdin, its lines are collected.
struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines,
    session: u64,
}

impl Peer {
    fn start(sock: &Path) -> Peer {
        let mut child = Command::new(peer_binary())
            .arg("-socket")
            .arg(sock)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the Go peer");
        let stdout = child.stdout.take().unwrap();
        let lines: Lines = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                sink.0.lock().unwrap().push(line);
                sink.1.notify_all();
            }
        });
        let stdin = child.stdin.take();
        let mut peer = Peer {
            child,
            stdin,
            lines,
            session: 0,
        };
        let ready = peer.take_line(|l| l.starts_with("ready") || l.starts_with("FAIL"));
        assert!(ready.starts_with("ready session "), "peer: {ready}");
        peer.session = ready["ready session ".len()..].parse().unwrap();
        peer
    }

    fn send(&mut self, command: &str) {
        let stdin = self.stdin.as_mut().expect("peer stdin");
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
    }

    /// Wait for (and remove) the first line that matches.
    fn take_line(&self, matches: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + WAIT;
        let mut lines = self.lines.0.lock().unwrap();
        loop {
            if let Some(i) = lines.iter().position(|l| matches(l)) {
                return lines.remove(i);
            }
            let now = Instant::now();
            assert!(
                now < end,
                "no such line from the peer; it printed: {lines:?}"
            );
            lines = self.lines.1.wait_timeout(lines, end - now).unwrap().0;
        }
    }

    /// The answer to command TAG: the rest of its line.
    fn answer(&self, tag: &str) -> String {
        let prefix = format!("{tag} ");
        self.take_line(|l| l.starts_with(&prefix))[prefix.len()..].to_owned()
    }

    /// Wait until `n` lines equal to `line` came (and take them).
    fn take_n(&self, line: &str, n: usize) {
        for _ in 0..n {
            self.take_line(|l| l == line);
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        drop(self.stdin.take()); // EOF: the peer ends by itself
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.kill();
    }
}

fn serve(tag: &str, register: impl FnOnce(&Server)) -> (Server, PathBuf) {
    common::quiet_panics();
    let sock = common::socket_path(tag);
    let server = Server::bind(&sock).unwrap();
    register(&server);
    server.start().unwrap();
    (server, sock)
}

fn the_session(server: &Server, peer: &Peer) -> Session {
    // The client has its hello a moment before a dispatcher serves (and
    // lists) the session.
    eventually("the session listed", || {
        server.sessions().unwrap().len() == 1
    });
    let all = server.sessions().unwrap();
    assert_eq!(all[0].id(), peer.session);
    all.into_iter().next().unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

async fn next(items: &mut ItemStream) -> Option<ffb::Result<Vec<u8>>> {
    poll_fn(|cx| Pin::new(&mut *items).poll_next(cx)).await
}

fn u64_of(b: &[u8]) -> u64 {
    u64::from_le_bytes(b.try_into().expect("an 8-byte item"))
}

/// Poll `cond` until it holds (or fail after `WAIT`, saying `what`).
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let end = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// rs.ask "NAME TEXT": the Go handler NAME called with TEXT, awaited; its
/// answer or error is the answer.
fn register_ask(server: &Server) {
    server
        .register_async("rs.ask", |req| async move {
            let text = req.text()?;
            let (name, arg) = text.split_once(' ').unwrap_or((text.as_str(), ""));
            let answer = req
                .session()
                .call_timeout(name, arg, Duration::from_secs(20))
                .await?;
            Ok(Reply::bytes(answer))
        })
        .unwrap();
}

#[test]
fn rust_calls_go_handlers_from_handlers_and_outside() {
    let _serial = serial();
    let (server, sock) = serve("bw-calls", |s| {
        register_ask(s);
        // A Go stream consumed inside an async handler: "N" -> "count sum".
        s.register_async("rs.sum", |req| async move {
            let n: u32 = req.text()?.parse().map_err(|_| Code::INVALID_ARGUMENT)?;
            let mut items = req.session().stream("go.count", n.to_le_bytes());
            let (mut count, mut sum) = (0u64, 0u64);
            while let Some(item) = next(&mut items).await {
                let v = u64_of(&item?);
                assert_eq!(v, count, "items in order");
                count += 1;
                sum += v;
            }
            Ok(Reply::bytes(format!("{count} {sum}")))
        })
        .unwrap();
        // A blocking wait on a dispatcher would never end: refused.
        s.register_inline("rs.inline_block", |req| {
            req.session()
                .call_blocking("go.upper", "x", None)
                .map(Reply::bytes)
        })
        .unwrap();
    });
    let mut peer = Peer::start(&sock);

    // From an async handler: answer, NOT_FOUND, a Go panic with its message.
    peer.send("a call rs.ask go.upper hello shell");
    assert_eq!(peer.answer("a"), "ok HELLO SHELL");
    peer.send("b call rs.ask go.nope x");
    assert!(peer.answer("b").starts_with("err NOT_FOUND"));
    peer.send("c call rs.ask go.panic x");
    assert_eq!(peer.answer("c"), "err PANIC go handler panicked on purpose");
    peer.send("d call rs.sum 1000");
    assert_eq!(peer.answer("d"), "ok 1000 499500");
    peer.send("e call rs.inline_block");
    assert!(peer.answer("e").starts_with("err INVALID_ARGUMENT"));

    // Outside any call, through Server::sessions().
    let s = the_session(&server, &peer);
    let t = Some(Duration::from_secs(10));
    assert_eq!(s.call_blocking("go.upper", "abc", t).unwrap(), b"ABC");
    let e = s.call_blocking("go.panic", "", t).unwrap_err();
    assert_eq!(e.code(), Code::PANIC);
    assert_eq!(e.message(), Some("go handler panicked on purpose"));
    assert_eq!(
        s.call_blocking("go.nope", "", t).unwrap_err().code(),
        Code::NOT_FOUND
    );
    // The kind must match: a stream handler called plainly, or the other way.
    assert_eq!(
        s.call_blocking("go.count", "", t).unwrap_err().code(),
        Code::NOT_FOUND
    );
    let wrong: Vec<_> = s.stream("go.upper", "x").blocking().collect();
    assert_eq!(wrong.len(), 1);
    assert_eq!(wrong[0].as_ref().unwrap_err().code(), Code::NOT_FOUND);

    let rt = runtime();
    // A deadline: TIMEOUT here, the Go handler's context cancelled.
    let e = rt
        .block_on(s.call_timeout("go.block", "", Duration::from_millis(100)))
        .unwrap_err();
    assert_eq!(e.code(), Code::TIMEOUT);
    peer.take_n("go.block: cancelled", 1);
    // Dropping the future cancels the call.
    let call = s.call("go.block", "");
    peer.take_n("go.block: started", 2);
    drop(call);
    peer.take_n("go.block: cancelled", 1);

    // A notification: no answer, the handler runs.
    s.notify("go.note", "hi there").unwrap();
    peer.take_line(|l| l == "go.note: hi there");

    // A Go stream, blocking and async; dropped half-way.
    let items: Vec<u64> = s
        .stream("go.count", 100u32.to_le_bytes())
        .blocking()
        .map(|i| u64_of(&i.unwrap()))
        .collect();
    assert_eq!(items, (0..100).collect::<Vec<_>>());
    rt.block_on(async {
        let mut items = s.stream("go.count", 10_000u32.to_le_bytes());
        let mut i = 0;
        while let Some(item) = next(&mut items).await {
            assert_eq!(u64_of(&item.unwrap()), i);
            i += 1;
        }
        assert_eq!(i, 10_000);
        let mut items = s.stream("go.count", 1_000_000u32.to_le_bytes());
        for want in 0..5 {
            assert_eq!(u64_of(&next(&mut items).await.unwrap().unwrap()), want);
        }
    });
    drop(peer);
    eventually("every call to a client answered and dropped", || {
        ffb::live_client_calls() == 0
    });
    let stats = server.shutdown().unwrap();
    assert_eq!(stats.calls_in_flight, 0);
}

#[test]
fn killed_go_client_ends_pending_calls_and_streams_with_peer_gone() {
    let _serial = serial();
    let (server, sock) = serve("bw-kill", register_ask);
    let mut peer = Peer::start(&sock);
    let s = the_session(&server, &peer);
    let calls: Vec<_> = (0..8).map(|_| s.call("go.block", "")).collect();
    let streams: Vec<_> = (0..2).map(|_| s.stream("go.stall", "")).collect();
    peer.send("h call rs.ask go.block from a handler"); // a Rust handler awaiting Go
    peer.take_n("go.block: started", 9);
    peer.take_n("go.stall: started", 2);
    peer.kill();

    let rt = runtime();
    rt.block_on(async {
        for call in calls {
            let got = tokio::time::timeout(WAIT, call).await.expect("an answer");
            assert_eq!(got.unwrap_err().code(), Code::PEER_GONE);
        }
        for mut items in streams {
            assert_eq!(next(&mut items).await.unwrap().unwrap(), b"first");
            let end = tokio::time::timeout(WAIT, next(&mut items)).await.unwrap();
            assert_eq!(end.unwrap().unwrap_err().code(), Code::PEER_GONE);
            assert!(next(&mut items).await.is_none());
        }
    });
    // A call made after the end fails at once.
    let e = s.call_blocking("go.upper", "x", None).unwrap_err();
    assert_eq!(e.code(), Code::PEER_GONE);
    eventually("the session and its kept calls gone", || {
        let st = server.stats().unwrap();
        st.sessions_active == 0 && st.calls_in_flight == 0
    });
    eventually("no call to a client left behind", || {
        ffb::live_client_calls() == 0
    });
    drop(s);
    server.shutdown().unwrap();
}

/// Counts a future dropped before it finished (cancelled).
struct Unfinished(&'static AtomicUsize, bool);

impl Unfinished {
    fn new(counter: &'static AtomicUsize) -> Unfinished {
        Unfinished(counter, false)
    }

    fn finished(mut self) {
        self.1 = true;
    }
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        if !self.1 {
            self.0.fetch_add(1, Ordering::AcqRel);
        }
    }
}

#[test]
fn nested_go_rust_go_rust_and_cancel_travels_inward() {
    static NEST_CANCELLED: AtomicUsize = AtomicUsize::new(0);
    static LEAF_CANCELLED: AtomicUsize = AtomicUsize::new(0);
    let _serial = serial();
    let (server, sock) = serve("bw-nest", |s| {
        // Go -> rs.nest -> go.nest -> rs.leaf.
        s.register_async("rs.nest", |req| async move {
            let guard = Unfinished::new(&NEST_CANCELLED);
            let inner = req
                .session()
                .call_timeout("go.nest", req.to_vec()?, Duration::from_secs(20))
                .await;
            guard.finished();
            Ok(Reply::bytes(format!(
                "rs({})",
                String::from_utf8_lossy(&inner?)
            )))
        })
        .unwrap();
        s.register_async("rs.leaf", |req| async move {
            let guard = Unfinished::new(&LEAF_CANCELLED);
            if req.text()? == "wait" {
                std::future::pending::<()>().await;
            }
            guard.finished();
            Ok(Reply::bytes("leaf"))
        })
        .unwrap();
    });
    let mut peer = Peer::start(&sock);
    peer.send("a call rs.nest ok");
    assert_eq!(peer.answer("a"), "ok rs(go(leaf))");
    assert_eq!(NEST_CANCELLED.load(Ordering::Acquire), 0);

    // The outer Go call gives up after 300 ms: every level is cancelled.
    peer.send("b call_timeout 300 rs.nest wait");
    let b = peer.answer("b");
    assert!(
        b.starts_with("err TIMEOUT") || b.starts_with("err CANCELLED"),
        "{b}"
    );
    peer.take_line(|l| l == "go.nest: cancelled");
    eventually("rs.nest's and rs.leaf's futures dropped", || {
        NEST_CANCELLED.load(Ordering::Acquire) == 1 && LEAF_CANCELLED.load(Ordering::Acquire) == 1
    });
    drop(peer);
    eventually("no call to a client left behind", || {
        ffb::live_client_calls() == 0
    });
    server.shutdown().unwrap();
}

static PRODUCED: AtomicU64 = AtomicU64::new(0);
static MAX_LEAD: AtomicU64 = AtomicU64::new(0);
static COUNTER_DROPPED: AtomicBool = AtomicBool::new(false);

/// rs.count's iterator: the u64s 0..n, counting what it made.
struct Counter {
    i: u64,
    n: u64,
}

impl Iterator for Counter {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        if self.i == self.n {
            return None;
        }
        PRODUCED.fetch_add(1, Ordering::AcqRel);
        self.i += 1;
        Some((self.i - 1).to_le_bytes().to_vec())
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        COUNTER_DROPPED.store(true, Ordering::Release);
    }
}

fn register_streams(s: &Server) {
    s.register_stream("rs.count", |req| {
        let mut n = [0u8; 8];
        req.read_at(0, &mut n)?;
        PRODUCED.store(0, Ordering::Release);
        COUNTER_DROPPED.store(false, Ordering::Release);
        Ok(Counter {
            i: 0,
            n: u64::from_le_bytes(n),
        })
    })
    .unwrap();
    // The Go consumer says how many items it took: how far ahead is the
    // producer?
    s.register_inline("rs.progress", |req| {
        let mut n = [0u8; 8];
        req.read_at(0, &mut n)?;
        let lead = PRODUCED
            .load(Ordering::Acquire)
            .saturating_sub(u64::from_le_bytes(n));
        MAX_LEAD.fetch_max(lead, Ordering::AcqRel);
        Ok(Reply::empty())
    })
    .unwrap();
}

#[test]
fn rust_stream_of_a_million_items_into_a_slow_go_consumer() {
    let _serial = serial();
    let (server, sock) = serve("bw-stream", register_streams);
    let mut peer = Peer::start(&sock);
    MAX_LEAD.store(0, Ordering::Release);
    let t0 = Instant::now();
    peer.send("s stream rs.count 1000000 0 1000");
    assert_eq!(peer.answer("s"), "stream ok items=1000000 in_order=true");
    let took = t0.elapsed();
    let lead = MAX_LEAD.load(Ordering::Acquire);
    eprintln!(
        "10^6 items (1 ms sleep every 1000) in {took:?}; producer at most {lead} items ahead"
    );
    // Credit bounds the producer: the Go consumer's window (at most 256
    // items) and the item it holds -- nowhere near the 10^6 an unpaced
    // producer would be ahead.
    assert!(
        lead <= 257,
        "the producer ran {lead} items ahead of the consumer"
    );
    assert!(COUNTER_DROPPED.load(Ordering::Acquire));
    // A plain call of a stream handler is refused.
    peer.send("p call rs.count x");
    assert!(peer.answer("p").starts_with("err INVALID_ARGUMENT"));
    drop(peer);
    server.shutdown().unwrap();
}

#[test]
fn go_break_stops_the_rust_producer() {
    static TICKS_CANCELLED: AtomicUsize = AtomicUsize::new(0);
    let _serial = serial();
    let (server, sock) = serve("bw-break", |s| {
        register_streams(s);
        s.register_stream_async("rs.ticks", |req, mut tx| async move {
            let guard = Unfinished::new(&TICKS_CANCELLED);
            let n = u64::from_le_bytes(req.with_input(|v| v.read_array::<8>(0))??);
            for i in 0..n {
                tx.send(&i.to_le_bytes()).await?;
            }
            guard.finished();
            Ok(())
        })
        .unwrap();
    });
    let mut peer = Peer::start(&sock);
    peer.send("b stream rs.count 1000000 10 0");
    assert_eq!(peer.answer("b"), "stream ok items=10 in_order=true");
    eventually("rs.count's iterator dropped", || {
        COUNTER_DROPPED.load(Ordering::Acquire)
    });
    let made = PRODUCED.load(Ordering::Acquire);
    // The first item taken opens the Go consumer's window (at most 256).
    assert!(
        made <= 10 + 257,
        "the iterator made {made} items for a consumer that took 10"
    );

    peer.send("t stream rs.ticks 5000 0 0");
    assert_eq!(peer.answer("t"), "stream ok items=5000 in_order=true");
    peer.send("u stream rs.ticks 1000000 10 0");
    assert_eq!(peer.answer("u"), "stream ok items=10 in_order=true");
    eventually("rs.ticks's future dropped", || {
        TICKS_CANCELLED.load(Ordering::Acquire) == 1
    });
    drop(peer);
    let stats = server.shutdown().unwrap();
    assert_eq!(stats.calls_in_flight, 0);
}
