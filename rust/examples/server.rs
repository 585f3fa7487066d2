//! The demo server: a Rust process serving ffi-bridge calls on a Unix
//! socket.
//!
//! ```text
//! cargo run --release --example server -- --socket "$XDG_RUNTIME_DIR/ffb-demo.sock"
//! ```
//!
//! Besides the built-ins `ffi.echo` and `ffi.version` it registers:
//!
//! | name | does |
//! | --- | --- |
//! | `demo.json.sum` | `{"values":[i64...]}` → `{"sum":N,"count":M}` |
//! | `demo.upper` | an ASCII-uppercased copy of the input, in a new buffer |
//! | `demo.fail` | answers `INVALID_ARGUMENT` with a message |
//! | `demo.panic` | panics on purpose: the client gets `PANIC`, the server goes on |
//!
//! It prints `ready ...` once listening, serves until SIGINT or SIGTERM,
//! then shuts down gracefully and prints how many calls it served.
//!
//! Signals: SIGINT and SIGTERM are blocked in every thread (the core's loop
//! thread inherits the mask) and the main thread takes them with
//! `sigwait`, so no code runs in signal-handler context at all.

use std::io::Write;
use std::process::ExitCode;

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

fn usage() -> ExitCode {
    eprintln!("usage: server --socket PATH");
    ExitCode::from(2)
}

/// Block SIGINT and SIGTERM in this thread (and every thread it starts
/// afterwards); returns the set to `sigwait` on.
fn block_stop_signals() -> std::io::Result<libc::sigset_t> {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: set is a valid sigset_t for these libc calls; pthread_sigmask
    // changes only this thread's mask (threads created later inherit it).
    let rc = unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut())
    };
    if rc != 0 {
        return Err(std::io::Error::from_raw_os_error(rc));
    }
    Ok(set)
}

fn wait_for_stop_signal(set: &libc::sigset_t) -> i32 {
    let mut sig = 0;
    loop {
        // SAFETY: set is initialised and sig is a valid out-pointer.
        let rc = unsafe { libc::sigwait(set, &mut sig) };
        if rc == 0 {
            return sig;
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let socket = match args.as_slice() {
        [flag, path] if flag == "--socket" => path.clone(),
        _ => return usage(),
    };

    // Before any thread exists, so all of them have the signals blocked.
    let signals = match block_stop_signals() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("server: cannot block signals: {e}");
            return ExitCode::FAILURE;
        }
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

    match serve(&socket, &signals) {
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

fn serve(socket: &str, signals: &libc::sigset_t) -> ffb::Result<u64> {
    let server = Server::bind(socket)?;
    server.register_json("demo.json.sum", sum)?;
    server.register("demo.upper", |req| {
        Ok(Reply::bytes(req.to_vec().to_ascii_uppercase()))
    })?;
    server.register("demo.fail", |_| {
        Err(Error::with_message(
            Code::INVALID_ARGUMENT,
            "demo.fail: failing on purpose",
        ))
    })?;
    server.register("demo.panic", |_| -> ffb::Result<Reply> {
        panic!("demo.panic: panicking on purpose")
    })?;
    server.start()?;

    println!(
        "ready socket={socket} version={} futex_doorbell={} handlers=ffi.echo,ffi.version,demo.json.sum,demo.upper,demo.fail,demo.panic",
        ffb::version(),
        server.uses_futex()
    );
    let _ = std::io::stdout().flush();

    let sig = wait_for_stop_signal(signals);
    let name = if sig == libc::SIGINT {
        "SIGINT"
    } else {
        "SIGTERM"
    };
    eprintln!("server: {name}, stopping");
    let stats = server.shutdown()?;
    Ok(stats.calls)
}
