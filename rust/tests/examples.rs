//! The example programs work together: `examples/server.rs` serves,
//! `examples/client.rs` runs its whole tour against it, and the server shuts
//! down cleanly on SIGTERM.
//!
//! The test builds the examples itself (`cargo build --examples`, a no-op
//! when `cargo test` already did), so it never runs stale binaries.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn build_examples() {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let release = profile_dir().ends_with("release");
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--examples"])
            .args(release.then_some("--release"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build --examples");
        assert!(status.success(), "cargo build --examples failed");
    });
}

/// target/<profile>/ (this test runs as target/<profile>/deps/<exe>).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(|d| d.parent()).unwrap().to_path_buf()
}

fn example(name: &str) -> PathBuf {
    build_examples();
    let path = profile_dir().join("examples").join(name);
    assert!(path.exists(), "{} not built", path.display());
    path
}

/// Kills the child if the test fails before it exits on its own.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn example_client_against_example_server() {
    let sock = common::socket_path("examples");
    let mut guard = KillOnDrop(
        Command::new(example("server"))
            .arg("--socket")
            .arg(&sock)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the example server"),
    );
    let server = &mut guard.0;
    let mut out = BufReader::new(server.stdout.take().unwrap()).lines();
    let ready = out.next().expect("server printed nothing").unwrap();
    assert!(ready.starts_with("ready"), "first line: {ready}");

    let client = Command::new(example("client"))
        .arg("--socket")
        .arg(&sock)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&client.stdout);
    assert!(
        client.status.success(),
        "client failed: {text}\n{}",
        String::from_utf8_lossy(&client.stderr)
    );
    for want in [
        "echo 64 B: handle",
        "same_handle=true zero_copy=true bytes_ok=true",
        "echo 1048576 B: handle",
        r#"demo.json.sum [1..5] -> {"count":5,"sum":15}"#,
        "demo.upper -> HELLO, FFI-BRIDGE",
        "no.such.function: error NOT_FOUND",
        "demo.fail: error INVALID_ARGUMENT (demo.fail: failing on purpose)",
        "demo.panic: error PANIC (demo.panic: panicking on purpose)",
        "after panic: server version",
        "calls/s",
        "pipelined",
    ] {
        assert!(text.contains(want), "client output lacks {want:?}:\n{text}");
    }

    // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
    let rc = unsafe { libc::kill(server.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    let last = out.map_while(Result::ok).last().unwrap_or_default();
    let status = loop {
        if let Some(s) = server.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "server did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "server exit: {status}");
    assert!(
        last.starts_with("server: shut down cleanly, "),
        "last line: {last}"
    );
    assert!(last.ends_with(" calls served"), "last line: {last}");
    assert!(!sock.exists(), "socket file removed");
}
