//! A Rust client of the demo server (or of any ffi-bridge server that has
//! the demo handlers).
//!
//! ```text
//! cargo run --release --example server -- --socket "$XDG_RUNTIME_DIR/ffb-demo.sock" &
//! cargo run --release --example client -- --socket "$XDG_RUNTIME_DIR/ffb-demo.sock"
//! ```
//!
//! It shows zero-copy echo of 64 B and 1 MiB (the same handle comes back),
//! the server's version, a JSON call, a new-buffer reply, errors as typed
//! codes (unknown name, a handler's error, a panicking handler), and
//! latency/throughput figures for echo, one call at a time and pipelined.

use std::process::ExitCode;
use std::time::Instant;

use ffb::{Client, Code};
use serde_json::{json, Value};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let socket = match args.as_slice() {
        [flag, path] if flag == "--socket" => path.clone(),
        _ => {
            eprintln!("usage: client --socket PATH");
            return ExitCode::from(2);
        }
    };
    match run(&socket) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn echo_check(client: &Client, size: usize) -> ffb::Result<()> {
    let buf = client.alloc(size)?;
    let pattern: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    buf.write_at(0, &pattern)?;
    let reply = client.echo(&buf, size)?;
    let same = reply.handle() == Some(buf.handle());
    let intact = reply.to_vec()? == pattern;
    println!(
        "echo {size} B: handle {} -> {} same_handle={same} zero_copy={} bytes_ok={intact}",
        buf.handle(),
        reply.handle().map(|h| h.to_string()).unwrap_or_default(),
        reply.is_zero_copy()
    );
    if !same || !intact {
        return Err(ffb::Error::with_message(
            Code::PROTOCOL,
            "echo did not return the same buffer",
        ));
    }
    Ok(())
}

fn expect_error(client: &Client, name: &str, want: Code) -> ffb::Result<()> {
    match client.invoke_empty(name) {
        Ok(_) => Err(ffb::Error::with_message(
            Code::UNKNOWN,
            format!("{name} unexpectedly succeeded"),
        )),
        Err(e) if e.code() == want => {
            println!(
                "{name}: error {} ({})",
                e.code(),
                e.message().unwrap_or("no message")
            );
            Ok(())
        }
        Err(e) => Err(e),
    }
}

fn run(socket: &str) -> ffb::Result<()> {
    let client = Client::connect(socket)?;
    println!("connected: server version {}", client.version()?);

    echo_check(&client, 64)?;
    echo_check(&client, 1 << 20)?;

    let sum: Value = client.invoke_json("demo.json.sum", &json!({"values": [1, 2, 3, 4, 5]}))?;
    println!("demo.json.sum [1..5] -> {sum}");

    let upper = client.invoke_bytes("demo.upper", b"hello, ffi-bridge")?;
    println!("demo.upper -> {}", String::from_utf8_lossy(&upper));

    expect_error(&client, "no.such.function", Code::NOT_FOUND)?;
    expect_error(&client, "demo.fail", Code::INVALID_ARGUMENT)?;
    expect_error(&client, "demo.panic", Code::PANIC)?;
    // The server lives on after a panic.
    println!("after panic: server version {}", client.version()?);

    let n = 20_000u32;
    let buf = client.alloc(64)?;
    let t = Instant::now();
    for _ in 0..n {
        client.echo(&buf, 64)?;
    }
    let dt = t.elapsed();
    println!(
        "echo 64 B x {n}: {:.2} us/call, {:.0} calls/s",
        dt.as_secs_f64() * 1e6 / f64::from(n),
        f64::from(n) / dt.as_secs_f64()
    );

    // Pipelined: 128 calls in flight per batch, one doorbell per batch.
    let bufs: Vec<_> = (0..128)
        .map(|_| client.alloc(64))
        .collect::<ffb::Result<_>>()?;
    let inputs: Vec<_> = bufs.iter().map(|b| (b, 64)).collect();
    let echo = client.resolve("ffi.echo")?;
    let batches = 200;
    let t = Instant::now();
    for _ in 0..batches {
        for r in client.call_many(echo, &inputs) {
            r?;
        }
    }
    let dt = t.elapsed();
    let calls = f64::from(batches * 128);
    println!(
        "echo 64 B pipelined x {calls}: {:.0} calls/s",
        calls / dt.as_secs_f64()
    );
    Ok(())
}
