//! The shared layout of `include/ffb_layout.h` as `#[repr(C)]` Rust types
//! and constants, generated from the header by `make gen` (`zlayout.rs`),
//! each struct pinned by `const` assertions on the sizes and offsets the C
//! compiler gave it.
//!
//! The crate does not read the arena through these types: the C core owns
//! the rings. They describe the bytes, and [`ffb_superblock`] is what
//! [`Client::superblock`](crate::Client::superblock) copies out of the
//! client's private, validated copy.

pub use crate::zlayout::*;
