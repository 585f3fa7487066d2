//! The demo server: a Rust process serving ffi-bridge calls on a Unix
//! socket.
//!
//! ```text
//! cargo run --release --example server -- --socket "$XDG_RUNTIME_DIR/ffb-demo.sock"
//! ```
//!
//! Besides the built-ins `ffi.echo` and `ffi.version` it registers:
//!
//! | name | runs | does |
//! | --- | --- | --- |
//! | `demo.json.sum` | pool | `{"values":[i64...]}` → `{"sum":N,"count":M}` |
//! | `demo.upper` | pool | the input in ASCII upper case, written in place into a new block |
//! | `demo.checksum` | pool | FNV-1a of the input read in place (8 bytes, little-endian) |
//! | `demo.sleep` | async | 4-byte LE milliseconds (≤ 1000): answers after that long, holding no thread |
//! | `demo.fail` | inline | answers `INVALID_ARGUMENT` with a message |
//! | `demo.panic` | pool | panics on purpose: the client gets `PANIC`, the server goes on |
//!
//! It prints `ready ...` once listening, serves until SIGINT or SIGTERM
//! (`Server::run_until_signal`), then shuts down gracefully, removes its
//! socket file and prints how many calls it served.
//!
//! Started by a launcher (the Go package's `ffb.Start`), it needs no
//! `--socket`: it serves the socket passed in `FFB_LISTEN_FD` and exits if
//! its parent (`FFB_PARENT_PID`) is gone (`Server::listen_from_env`).

use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use ffb::{Code, Error, Reply, Server};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct SumIn {
    values: Vec<i64>,
}

#[derive(Serialize)]
struct SumOut {
    sum: i64,
    count: usize,
}

fn sum(input: SumIn) -> ffb::Result<SumOut> {
    let sum = input
        .values
        .iter()
        .try_fold(0i64, |acc, v| acc.checked_add(*v))
        .ok_or_else(|| {
            Error::with_message(
                Code::INVALID_ARGUMENT,
                "demo.json.sum: the sum overflows i64",
            )
        })?;
    Ok(SumOut {
        sum,
        count: input.values.len(),
    })
}

/// A future that is ready `d` from now: a thread of its own sleeps and
/// wakes it (an example needs no timer crate; real code would await its
/// runtime's timer, e.g. with `Server::use_tokio`).
fn sleep(d: Duration) -> Sleep {
    Sleep {
        until: Instant::now() + d,
        waker: Arc::new(Mutex::new(None)),
        started: false,
    }
}

struct Sleep {
    until: Instant,
    waker: Arc<Mutex<Option<Waker>>>,
    started: bool,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.until {
            return Poll::Ready(());
        }
        *self.waker.lock().unwrap() = Some(cx.waker().clone());
        if !self.started {
            self.started = true;
            let (until, waker) = (self.until, Arc::clone(&self.waker));
            std::thread::spawn(move || {
                std::thread::sleep(until.saturating_duration_since(Instant::now()));
                if let Some(w) = waker.lock().unwrap().take() {
                    w.wake();
                }
            });
        }
        Poll::Pending
    }
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: server --socket PATH (or with FFB_LISTEN_FD set by a launcher, no arguments)"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let socket = match args.as_slice() {
        [flag, path] if flag == "--socket" => Some(path.clone()),
        [] if std::env::var_os("FFB_LISTEN_FD").is_some() => None,
        _ => return usage(),
    };

    // The core's warnings (refused or misbehaving clients) go to stderr.
    let _ = ffb::set_log(ffb::LogLevel::Warn, |level, msg| {
        eprintln!("server: core {level:?}: {msg}")
    });

    // One line per caught panic instead of the default multi-line report.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("server: handler panicked ({msg}); answered PANIC, still serving");
    }));

    match serve(socket.as_deref()) {
        Ok(calls) => {
            println!("server: shut down cleanly, {calls} calls served");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(socket: Option<&str>) -> ffb::Result<u64> {
    let server = Server::new()?;
    // Before any thread of ours reads the environment.
    let socket = if server.listen_from_env()? {
        "FFB_LISTEN_FD"
    } else {
        let path = socket.unwrap_or_default();
        server.listen(path)?;
        path
    };
    server.register_json("demo.json.sum", sum)?;
    server.register("demo.upper", |req| {
        Ok(Reply::with_capacity(req.len(), |input, out| {
            let mut at = 0;
            input.for_each_chunk(&mut [0u8; 4096], |chunk| {
                for (i, b) in chunk.iter().enumerate() {
                    out.set(at + i, b.to_ascii_uppercase());
                }
                at += chunk.len();
            });
            Ok(at)
        }))
    })?;
    server.register("demo.checksum", |req| {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        req.input().for_each_chunk(&mut [0u8; 4096], |chunk| {
            for &b in chunk {
                h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
            }
        });
        Ok(Reply::bytes(h.to_le_bytes().to_vec()))
    })?;
    // A timer on a thread of its own wakes the future: no worker waits.
    server.register_async("demo.sleep", |req: ffb::AsyncRequest| {
        let ms = req
            .with_input(|v| v.read_array::<4>(0).map(u32::from_le_bytes))
            .and_then(|r| r);
        async move {
            let ms = ms.map_err(|_| {
                Error::with_message(
                    Code::INVALID_ARGUMENT,
                    "demo.sleep: want 4 bytes of milliseconds",
                )
            })?;
            sleep(Duration::from_millis(u64::from(ms.min(1000)))).await;
            Ok(Reply::empty())
        }
    })?;
    server.register_inline("demo.fail", |_| {
        Err(Error::with_message(
            Code::INVALID_ARGUMENT,
            "demo.fail: failing on purpose",
        ))
    })?;
    server.register("demo.panic", |_| -> ffb::Result<Reply> {
        panic!("demo.panic: panicking on purpose")
    })?;
    println!(
        "ready socket={socket} version={} futex_doorbell={} handlers=ffi.echo,ffi.version,demo.json.sum,demo.upper,demo.checksum,demo.sleep,demo.fail,demo.panic",
        ffb::version(),
        server.uses_futex()
    );
    let _ = std::io::stdout().flush();

    let stats = server.run_until_signal()?;
    eprintln!("server: stopped by a signal or stop()");
    Ok(stats.calls)
}
