//! Shared test fixtures: a server with the demo handlers, unique socket
//! paths.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use ffb::{Code, Error, Reply, Server};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct SumIn {
    pub values: Vec<i64>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct SumOut {
    pub sum: i64,
    pub count: usize,
}

pub const PANIC_MESSAGE: &str = "test.panic: panicking on purpose";

/// Register the handlers every test server has.
pub fn register_handlers(server: &Server) {
    server
        .register_json("test.sum", |input: SumIn| {
            Ok(SumOut {
                sum: input.values.iter().sum(),
                count: input.values.len(),
            })
        })
        .unwrap();
    server
        .register("test.upper", |req| {
            Ok(Reply::bytes(req.to_vec().to_ascii_uppercase()))
        })
        .unwrap();
    server
        .register("test.fail", |_| {
            Err(Error::with_message(
                Code::INVALID_ARGUMENT,
                "test.fail: on purpose",
            ))
        })
        .unwrap();
    server
        .register("test.panic", |_| -> ffb::Result<Reply> {
            panic!("{}", PANIC_MESSAGE)
        })
        .unwrap();
    // In place: reverse the input inside its own block, answer with it.
    server
        .register("test.reverse_in_place", |req| {
            let mut v = req.to_vec();
            v.reverse();
            req.write_at(0, &v)?;
            Ok(Reply::input(v.len()))
        })
        .unwrap();
    server
        .register("test.empty", |_| Ok(Reply::empty()))
        .unwrap();
}

/// A socket path no other test or process uses.
pub fn socket_path(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("ffb-rs-{tag}-{}-{n}.sock", std::process::id()))
}

/// Keep the default hook from printing a report for every expected panic.
pub fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !msg.starts_with("test.panic") {
                default(info);
            }
        }));
    });
}
