//! The Rust client against the C server: the `ffb serve` tool of
//! `src/tool/`, compiled by this test from the sources next to the
//! crate (so nothing has to be built first), run as a separate process.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ffb::{Client, Code, Heap};

/// Compile `ffb` (tool + core) into the test scratch directory, once.
fn c_tool() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .unwrap()
                .to_path_buf();
            let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ffb-c-tool");
            let mut sources: Vec<PathBuf> = std::fs::read_dir(root.join("src"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "c"))
                .collect();
            sources.sort();
            let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
            let status = Command::new(cc)
                .args(["-std=gnu11", "-O2", "-D_GNU_SOURCE"])
                .arg("-I")
                .arg(root.join("include"))
                .arg("-I")
                .arg(root.join("ring"))
                .arg("-I")
                .arg(root.join("src"))
                .arg(root.join("src/tool/ffb.c"))
                .arg(root.join("src/tool/demo.c"))
                .arg(root.join("src/tool/stat.c"))
                .args(&sources)
                .args(["-luring", "-lpthread", "-o"])
                .arg(&out)
                .status()
                .expect("run the C compiler");
            assert!(status.success(), "compiling the ffb tool failed");
            out
        })
        .clone()
}

struct CServer {
    child: Child,
    out: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl CServer {
    fn start(sock: &Path) -> CServer {
        let mut child = Command::new(c_tool())
            .arg("serve")
            .arg("--socket")
            .arg(sock)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start ffb serve");
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = out.next().expect("ffb serve printed nothing").unwrap();
        assert!(ready.starts_with("ready"), "first line: {ready}");
        CServer { child, out }
    }

    fn stop(mut self) -> String {
        // SAFETY: kill(2) on the pid of our own unreaped child.
        assert_eq!(
            unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) },
            0
        );
        let rest: Vec<String> = self.out.by_ref().map_while(Result::ok).collect();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "ffb serve exited with {status}");
        rest.join("\n")
    }
}

impl Drop for CServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn rust_client_against_the_c_server() {
    let sock = common::socket_path("cserver");
    let server = CServer::start(&sock);
    {
        let client = Client::connect(&sock).unwrap();
        assert_eq!(client.version().unwrap(), ffb::version());

        for size in [0usize, 64, 1 << 20, 16 << 20] {
            let buf = client.alloc(size).unwrap();
            let pattern: Vec<u8> = (0..size).map(|i| (i % 241) as u8).collect();
            buf.write_at(0, &pattern).unwrap();
            let r = client.echo(&buf, size).unwrap();
            assert_eq!(r.handle(), Some(buf.handle()), "echo {size} B");
            assert_eq!(r.to_vec().unwrap(), pattern);
        }

        let buf = client.alloc_bytes(b"Hello, C").unwrap();
        let up = client.invoke("demo.upper", &buf, 8).unwrap();
        assert_eq!(up.handle().unwrap().heap(), Heap::Server);
        assert_eq!(up.to_vec().unwrap(), b"HELLO, C");
        drop(up);
        assert_eq!(
            client
                .invoke("demo.reverse", &buf, 8)
                .unwrap()
                .to_vec()
                .unwrap(),
            b"C ,olleH"
        );

        let e = client.invoke_empty("demo.fail").unwrap_err();
        assert_eq!(
            (e.code(), e.message()),
            (
                Code::INVALID_ARGUMENT,
                Some("demo.fail: failing on purpose")
            )
        );
        assert_eq!(
            client.invoke_empty("demo.nothing").unwrap_err().code(),
            Code::NOT_FOUND
        );

        // A call that outlives its deadline: the buffer is given up, the
        // session recovers and reclaims it when the late answer comes.
        let nap = client.alloc_bytes(&200u32.to_le_bytes()).unwrap();
        client.set_timeout(Some(Duration::from_millis(20)));
        assert_eq!(
            client.invoke("demo.sleep", &nap, 4).unwrap_err().code(),
            Code::TIMEOUT
        );
        assert!(nap.is_lost());
        client.set_timeout(None);
        assert_eq!(client.invoke_bytes("demo.upper", b"ok").unwrap(), b"OK");

        let bufs: Vec<_> = (0..300)
            .map(|i| client.alloc_bytes(format!("{i:04}").as_bytes()).unwrap())
            .collect();
        let inputs: Vec<_> = bufs.iter().map(|b| (b, 4)).collect();
        let rev = client.resolve("demo.reverse").unwrap();
        for (i, r) in client.call_many(rev, &inputs).into_iter().enumerate() {
            let want: Vec<u8> = format!("{i:04}").bytes().rev().collect();
            assert_eq!(r.unwrap().to_vec().unwrap(), want);
        }
        // demo.sleep runs on the server's pool, so the timed-out call's
        // late answer comes once its 200 ms are over: then nothing is left.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while client.stats().unwrap().pending != 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            client.invoke_empty("ffi.version").unwrap();
        }
        assert_eq!(client.stats().unwrap().pending, 0);
    }
    let tail = server.stop();
    assert!(tail.contains("stopped:"), "ffb serve said: {tail}");
}
