//! The example server as a launcher (the Go package's `ffb.Start`) runs
//! it: SIGTERM and SIGINT stop `Server::run_until_signal` cleanly (exit 0,
//! the socket file gone), it serves a listening socket passed in
//! `FFB_LISTEN_FD`, and it refuses to start when the launcher named by
//! `FFB_PARENT_PID` is gone.

mod common;

use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The example server, built by this test (a no-op when `cargo test`
/// already built the examples), as tests/examples.rs does.
fn example_server() -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(|d| d.parent()).unwrap().to_path_buf();
    BUILT.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--examples"])
            .args(profile.ends_with("release").then_some("--release"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build --examples");
        assert!(status.success(), "cargo build --examples failed");
    });
    profile.join("examples").join("server")
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_ready(child: &mut Child) {
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = out.next().expect("server printed nothing").unwrap();
    assert!(ready.starts_with("ready"), "first line: {ready}");
    std::thread::spawn(move || out.for_each(drop)); // never block its stdout
}

fn signal_and_wait(child: &mut Child, sig: libc::c_int) -> ExitStatus {
    // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, sig) }, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "server did not exit after signal {sig}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn run_until_signal_stops_cleanly_on_sigterm_and_sigint() {
    for (tag, sig) in [("sigterm", libc::SIGTERM), ("sigint", libc::SIGINT)] {
        let sock = common::socket_path(tag);
        let mut g = KillOnDrop(
            Command::new(example_server())
                .arg("--socket")
                .arg(&sock)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        wait_ready(&mut g.0);
        assert!(sock.exists(), "socket file made");
        let client = ffb::Client::connect(&sock).unwrap();
        assert_eq!(client.invoke_bytes("demo.upper", b"up").unwrap(), b"UP");
        drop(client);
        let status = signal_and_wait(&mut g.0, sig);
        assert!(status.success(), "exit after {tag}: {status}");
        assert!(!sock.exists(), "socket file left after {tag}");
    }
}

#[test]
fn serves_the_listening_socket_of_ffb_listen_fd() {
    let sock = common::socket_path("listenfd");
    let ln = UnixListener::bind(&sock).unwrap(); // SOCK_STREAM: refused
    let mut bad = Command::new(example_server())
        .env("FFB_LISTEN_FD", ln.as_raw_fd().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let st = bad.wait().unwrap();
    assert!(!st.success(), "a stream socket was accepted");
    drop(ln);
    std::fs::remove_file(&sock).unwrap();

    // A listening SOCK_SEQPACKET socket, inheritable (no CLOEXEC).
    // SAFETY: plain socket calls on a fd this test owns; addr is a valid
    // sockaddr_un with the path copied in bounds.
    let fd = unsafe {
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET, 0);
        assert!(fd >= 0);
        let mut addr: libc::sockaddr_un = std::mem::zeroed();
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let p = sock.as_os_str().as_encoded_bytes();
        for (i, b) in p.iter().enumerate() {
            addr.sun_path[i] = *b as libc::c_char;
        }
        let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        assert_eq!(
            libc::bind(fd, (&addr as *const libc::sockaddr_un).cast(), len),
            0
        );
        assert_eq!(libc::listen(fd, 16), 0);
        fd
    };
    let mut g = KillOnDrop(
        Command::new(example_server())
            .env("FFB_LISTEN_FD", fd.to_string())
            .env("FFB_PARENT_PID", std::process::id().to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // SAFETY: the child has its copy; ours is no longer needed.
    unsafe { libc::close(fd) };
    wait_ready(&mut g.0);
    let client = ffb::Client::connect(&sock).unwrap();
    assert_eq!(client.invoke_bytes("demo.upper", b"fd").unwrap(), b"FD");
    drop(client);
    let status = signal_and_wait(&mut g.0, libc::SIGTERM);
    assert!(status.success(), "exit: {status}");
    let _ = std::fs::remove_file(&sock); // the launcher's file, not the server's
}

#[test]
fn refuses_to_start_when_the_launcher_is_gone() {
    let mut gone = Command::new("true").spawn().unwrap();
    gone.wait().unwrap(); // reaped: its pid names no process
    let out = Command::new(example_server())
        .env("FFB_LISTEN_FD", "0")
        .env("FFB_PARENT_PID", gone.id().to_string())
        .output()
        .unwrap();
    assert!(!out.status.success(), "started under a dead parent");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("PEER_GONE"), "stderr: {err}");
}
