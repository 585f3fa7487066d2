//! ffb-work-server — the ffi-bridge side of the bench's second round: a
//! Rust server (the `ffb` crate) that registers exactly the functions of
//! `ffb-bench-work`, which the in-process peers call too.
//!
//!   ffb-work-server serve --socket PATH [--cpu N] [--spin-us N] [--quiet]
//!
//! The arguments are those of `ffb serve`, so the Go harness starts either
//! the same way. Prints `ready: ...` once listening; serves until killed
//! (SIGTERM's default action: nothing of this process outlives it but the
//! socket file, in the harness's temporary directory).
//!
//! | name | input → reply |
//! | --- | --- |
//! | `ffi.echo` | built-in: the input buffer itself (zero copy) |
//! | `work.empty` | nothing → nothing |
//! | `work.checksum` | N bytes → 8 bytes (u64 LE) |
//! | `work.transform` | N bytes → the same buffer, ASCII uppercased |
//! | `work.quote` | JSON Order → JSON Quote (`register_json`, serde) |
//! | `work.spin` | iterations, seed (2 × u64 LE) → u64 LE |
//! | `work.readcopy` | N bytes → nothing (diagnostic: the input copy alone) |

mod handlers;

use std::time::Duration;

use ffb::{Reply, Server, ServerOptions};
use ffb_bench_work as work;

fn arg(args: &[String], key: &str) -> Option<String> {
    args.iter()
        .position(|a| a == key)
        .and_then(|i| args.get(i + 1).cloned())
}

fn pin_to(cpu: usize) -> std::io::Result<()> {
    // SAFETY: cpu_set_t is plain data; zeroed is the empty set; the calls
    // only read that local set. Threads created later inherit the mask.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Register every bench function: the kernels that run at memory speed
/// inline on the dispatcher (no hand-off), the CPU-bound `work.spin` and
/// the JSON call on the worker pool.
fn register_all(server: &Server) -> ffb::Result<()> {
    server.register_inline("work.empty", |_| Ok(Reply::empty()))?;
    server.register_inline("work.checksum", handlers::checksum_in_place)?;
    server.register_inline("work.transform", handlers::transform_in_place)?;
    server.register_json("work.quote", |o: work::Order| Ok(work::quote(&o)))?;
    server.register("work.spin", handlers::spin_request)?;
    server.register_inline("work.readcopy", handlers::read_copy_only)?;
    server.register("work.checksum.pool", handlers::checksum_in_place)?;
    Ok(())
}

fn serve(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let socket = arg(args, "--socket").ok_or("--socket PATH is required")?;
    if let Some(cpu) = arg(args, "--cpu") {
        pin_to(cpu.parse()?)?;
    }
    let mut opts = ServerOptions::new();
    if let Some(us) = arg(args, "--spin-us") {
        opts = opts.spin(Duration::from_micros(us.parse()?));
    }
    if let Some(n) = arg(args, "--workers") {
        opts = opts.workers(n.parse()?);
    }
    let server = Server::bind_with(&socket, &opts)?;
    register_all(&server)?;
    println!(
        "ready: socket={socket} version={} handlers=ffi.echo,work.empty,work.checksum,work.checksum.pool,work.transform,work.quote,work.spin,work.readcopy",
        ffb::version()
    );
    use std::io::Write;
    std::io::stdout().flush()?;
    server.run()?;
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("serve") {
        eprintln!("usage: ffb-work-server serve --socket PATH [--cpu N] [--spin-us N] [--quiet]");
        return std::process::ExitCode::from(2);
    }
    match serve(&args[1..]) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ffb-work-server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
