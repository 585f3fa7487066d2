//! ice_echo — the iceoryx2 request-response peer of the ffi-bridge bench.
//!
//!   ffb-bench-peers run [--sizes 64,4096,...] [--time-ms 1000] [--min 200] [--max 1000000]
//!   ffb-bench-peers loop --size 64 --count 1000000
//!   ffb-bench-peers serve --tag TAG --max-len N     (started by run/loop on CPU 0)
//!
//! `run` pins itself to CPU 1, starts one echo server process per payload
//! size pinned to CPU 0, and prints one JSON line per size. Every reply is
//! compared byte for byte with its request, which carries the iteration
//! number; a wrong answer exits non-zero with checked=false.

mod echo;
mod pin;
mod stats;

use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const PLACEMENT: &str = "server process CPU0, client process CPU1 (both poll)";

fn arg(args: &[String], key: &str, def: &str) -> String {
    args.iter()
        .position(|a| a == key)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| def.to_string())
}

fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 131 + 7) as u8).collect()
}

fn stamp(b: &mut [u8], seq: u64) {
    let s = seq.to_le_bytes();
    let n = b.len();
    if n < 8 {
        if n > 0 {
            b[0] = seq as u8;
        }
        return;
    }
    b[..8].copy_from_slice(&s);
    let mid = (n / 2) & !7;
    b[mid..mid + 8].copy_from_slice(&s);
    b[n - 8..].copy_from_slice(&s);
}

struct Server {
    child: Child,
    client: echo::Client,
}

fn start_server(size: usize) -> Res<Server> {
    let tag = format!("{}-{}", std::process::id(), size);
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.args(["serve", "--tag", &tag, "--max-len", &size.max(1).to_string()]);
    // SAFETY: the closure only calls sched_setaffinity, which is
    // async-signal-safe, between fork and exec.
    unsafe {
        cmd.pre_exec(|| pin::pin_current(pin::SERVER_CPU));
    }
    let child = cmd.spawn()?;
    let client = echo::Client::connect(&tag, size.max(1))?;
    Ok(Server { child, client })
}

impl Server {
    /// Echo until a server answers (the request may race the server port).
    fn warm_up(&self, req: &[u8]) -> Res<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.client.echo(req, &mut |_| {})?.is_some() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("iceoryx2 server never connected".into());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn stop(mut self) {
        let _ = self.client.echo(&[], &mut |_| {});
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `iters` checked echo calls; returns per-call ns (if `timed`) and
/// whether every answer was right.
fn echo_loop(srv: &Server, req: &mut [u8], first: u64, min: usize, max: usize, budget: Duration) -> Res<(Vec<f64>, bool)> {
    let mut lat = Vec::with_capacity(max.min(1 << 20));
    let mut ok = true;
    let begin = Instant::now();
    for i in 0..max {
        if i >= min && begin.elapsed() > budget {
            break;
        }
        stamp(req, first + i as u64);
        let want: &[u8] = req;
        let d = srv
            .client
            .echo(want, &mut |got| ok &= got == want)?
            .ok_or("iceoryx2 server disconnected")?;
        lat.push(d.as_nanos() as f64);
        if !ok {
            break;
        }
    }
    Ok((lat, ok))
}

fn cmd_run(args: &[String]) -> Res<bool> {
    pin::pin_current(pin::CLIENT_CPU)?;
    let sizes: Vec<usize> = arg(args, "--sizes", "64,4096,65536,1048576,16777216")
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()?;
    let budget = Duration::from_millis(arg(args, "--time-ms", "1000").parse()?);
    let min: usize = arg(args, "--min", "200").parse()?;
    let max: usize = arg(args, "--max", "1000000").parse()?;
    let mut all_ok = true;
    for size in sizes {
        let srv = start_server(size)?;
        let mut req = payload(size);
        srv.warm_up(&req)?;
        let min_i = if size >= 1 << 20 { (min / 10).max(20) } else { min };
        let (_, ok_w) = echo_loop(&srv, &mut req, 1, min_i / 10 + 10, min_i / 10 + 10, Duration::ZERO)?;
        let (mut lat, ok) = echo_loop(&srv, &mut req, 1 << 32, min_i, max, budget)?;
        srv.stop();
        let busy: f64 = lat.iter().sum();
        let n = lat.len();
        let s = stats::summarize(&mut lat);
        stats::emit(
            &format!("iceoryx2_echo_{size}"),
            "iceoryx2",
            size,
            PLACEMENT,
            &s,
            n as f64 * 1e9 / busy,
            n,
            ok && ok_w,
            "iceoryx2 0.10 request-response, [u8] slices, copy in and out of its shm",
        );
        all_ok &= ok && ok_w;
    }
    Ok(all_ok)
}

fn cmd_loop(args: &[String]) -> Res<bool> {
    pin::pin_current(pin::CLIENT_CPU)?;
    let size: usize = arg(args, "--size", "64").parse()?;
    let count: usize = arg(args, "--count", "1000000").parse()?;
    let srv = start_server(size)?;
    let mut req = payload(size);
    srv.warm_up(&req)?;
    let (_, ok) = echo_loop(&srv, &mut req, 1, count, count, Duration::MAX)?;
    srv.stop();
    Ok(ok)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rest = &args[2.min(args.len())..];
    let result = match args.get(1).map(String::as_str) {
        Some("run") => cmd_run(rest),
        Some("loop") => cmd_loop(rest),
        Some("serve") => {
            let tag = arg(rest, "--tag", "default");
            let max_len: usize = arg(rest, "--max-len", "64").parse().unwrap_or(64);
            echo::serve(&tag, max_len).map(|_| true)
        }
        _ => Err("usage: ffb-bench-peers run|loop|serve [flags]".into()),
    };
    match result {
        Ok(true) => {}
        Ok(false) => {
            eprintln!("ffb-bench-peers: an echo answer was wrong");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("ffb-bench-peers: {e}");
            std::process::exit(2);
        }
    }
}
