//! Safe, handle-based Rust API over `libffb`, the ffi-bridge core: call
//! Rust or C callbacks by name across processes (or threads) through a
//! shared-memory arena and lock-free rings, without a syscall per call.
//!
//! * [`Server`] registers closures under names and serves sessions over a
//!   Unix socket ([`Server::bind`]) or in-process
//!   ([`Server::connect_inproc`]). Every callback runs under
//!   `catch_unwind`: a panic answers [`Code::PANIC`] and the server goes on.
//! * [`Client`] connects, allocates [`Buffer`]s in the session arena,
//!   invokes callbacks by name and gets a [`Response`] — for `ffi.echo` the
//!   very same buffer back (zero copy).
//! * [`Handle`] is the typed, generation-tagged name of a buffer; a stale
//!   or forged handle is an [`Error`], never a dangling pointer.
//! * [`Error`] carries a stable [`Code`] (the table of
//!   `include/ffb_status.h`) and an optional message.
//! * [`Session`] (from [`Request::session`], [`AsyncRequest::session`] or
//!   [`Server::sessions`]) calls the handlers of a client (Go
//!   `Client.Handle`): [`Session::call`] is a future of the answer,
//!   [`Session::stream`] a `futures_core::Stream` of items with credit.
//!   [`Server::register_stream`] and [`Server::register_stream_async`]
//!   answer a client's stream call with many items.
//! * [`Client::call_many`] pipelines a batch of calls (one doorbell, answers
//!   in any order).
//! * With the default feature `json`: [`to_json`], [`from_json`],
//!   [`Client::invoke_json`], [`Server::register_json`].
//! * [`sys`] is the raw C API, [`layout`] the shared layout of
//!   `include/ffb_layout.h` (both partly generated from the C headers by
//!   `make gen`), [`set_log`] the core's diagnostics.
//!
//! The crate never forms a Rust reference into shared memory: the arena is
//! read and written through raw pointers after a checked lookup, and
//! request bytes are handed to callbacks as copies.
//!
//! ```
//! use ffb::{Code, Reply, Server};
//!
//! let server = Server::new()?;
//! server.register("demo.upper", |req| Ok(Reply::bytes(req.to_vec().to_ascii_uppercase())))?;
//! server.register("demo.panic", |_| -> ffb::Result<Reply> { panic!("on purpose") })?;
//! server.start()?;
//!
//! let client = server.connect_inproc()?;
//! assert_eq!(client.invoke_bytes("demo.upper", b"shout")?, b"SHOUT");
//!
//! let err = client.invoke_empty("demo.panic").unwrap_err();
//! assert_eq!(err.code(), Code::PANIC);
//! assert_eq!(err.message(), Some("on purpose"));
//! assert_eq!(client.invoke_empty("no.such").unwrap_err().code(), Code::NOT_FOUND);
//!
//! let buf = client.alloc(1 << 20)?;
//! let reply = client.echo(&buf, 1 << 20)?;
//! assert_eq!(reply.handle(), Some(buf.handle())); // zero copy
//! # drop(reply); drop(buf); drop(client);
//! server.shutdown()?;
//! # Ok::<(), ffb::Error>(())
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

// The C core: ffb-sys builds (or finds) libffb and links it; the
// declarations in `sys` are this crate's own.
use ffb_sys as _;

mod batch;
mod buffer;
mod callback;
mod client;
mod deferred;
mod error;
mod handle;
#[cfg(feature = "json")]
mod json;
mod launch;
pub mod layout;
mod log;
mod request;
mod response;
mod served;
mod server;
mod session;
mod stream;
pub mod sys;
pub mod view;
#[rustfmt::skip] // generated (make gen): the generator's layout is the one compared
mod zapi;
#[rustfmt::skip]
mod zlayout;
#[rustfmt::skip]
mod zstatus;

pub use buffer::Buffer;
pub use client::{Client, ClientOptions, ClientStats, WaitMode};
pub use deferred::{AsyncRequest, BoxTask};
pub use error::{Code, Error, Result};
pub use handle::{Handle, Heap};
#[cfg(feature = "json")]
pub use json::{from_json, to_json};
pub use log::{set_log, LogLevel};
pub use request::{Reply, Request};
pub use response::Response;
pub use served::ServerCall;
pub use server::{FunctionStats, Server, ServerOptions, ServerStats};
#[doc(hidden)]
pub use session::live_client_calls;
pub use session::{BlockingItems, ItemStream, PendingCall, Session};
pub use stream::{ItemSender, SendItem, StreamItem};
pub use view::VolatileSlice;

/// The version string of the linked C core (`ffb_version`), e.g. `"0.1.0"`.
///
/// ```
/// assert!(!ffb::version().is_empty());
/// ```
pub fn version() -> &'static str {
    // SAFETY: ffb_version takes no arguments and returns a static string.
    let p = unsafe { sys::ffb_version() };
    error::static_str(p, "unknown")
}

/// The README's code blocks, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}
