//! The work the second benchmark round calls through every transport: the
//! same Rust functions behind ffi-bridge (the `ffb-work-server` binary),
//! cgo (the `work-capi` staticlib), purego (the same crate as a cdylib),
//! go-plugin (a Go plugin process linking the staticlib) and wazero
//! (`kernels.rs` compiled to wasm32).
//!
//! * [`kernels`] — dependency-free byte kernels: [`checksum`] reads every
//!   input byte and returns 8, [`transform`] writes N bytes for N
//!   (ASCII uppercase), [`spin_work`] is a CPU-bound loop with a checkable
//!   result. The wasm build compiles this one file on its own.
//! * [`quote`] — a small JSON struct in, a struct out, with serde.
//!
//! Every function is deterministic; the Go harness has a reference
//! implementation of each (`bench/go/internal/work`) and checks every answer.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod kernels;
pub mod quote;

pub use kernels::{checksum, spin_work, transform, transform_in_place, Checksum};
pub use quote::{quote, quote_json, Item, Order, Quote};
