//! The wasm module of the wazero peer: the same kernels as the native
//! peers (`../work/src/kernels.rs`, included as a module), exported with
//! the C ABI of wasm32, plus `alloc` so the host can place its input in
//! linear memory. Built without cargo by Debian's rustc 1.63 and its
//! wasm32 std (`libstd-rust-dev-wasm32`), the one Rust wasm32 target this
//! machine's registries give (rustup here has no wasm32 std):
//!
//!     rustc --edition 2021 -O --target wasm32-unknown-unknown --crate-type cdylib work.rs
//!
//! No JSON here: serde cannot be fetched for that rustc (its cargo cannot
//! reach the crates.io index), so the wazero peer has no JSON workload.

#![deny(unsafe_op_in_unsafe_fn)]

#[path = "../work/src/kernels.rs"]
#[allow(dead_code)]
mod kernels;

use std::slice;

/// `n` bytes of linear memory, never freed (the host allocates its
/// buffers once per size). Returns the offset.
#[no_mangle]
pub extern "C" fn alloc(n: usize) -> *mut u8 {
    let mut v = Vec::<u8>::with_capacity(n.max(1));
    let p = v.as_mut_ptr();
    std::mem::forget(v);
    p
}

#[no_mangle]
pub extern "C" fn empty() {}

/// # Safety
/// `p..p+n` lies in linear memory.
#[no_mangle]
pub unsafe extern "C" fn checksum(p: *const u8, n: usize) -> u64 {
    // SAFETY: the host passes a range it allocated with alloc.
    kernels::checksum(unsafe { slice::from_raw_parts(p, n) })
}

/// # Safety
/// `src..src+n` and `dst..dst+n` lie in linear memory and do not overlap.
#[no_mangle]
pub unsafe extern "C" fn transform(src: *const u8, dst: *mut u8, n: usize) {
    // SAFETY: as above.
    let (i, o) = unsafe {
        (
            slice::from_raw_parts(src, n),
            slice::from_raw_parts_mut(dst, n),
        )
    };
    kernels::transform(i, o);
}

/// # Safety
/// As for transform.
#[no_mangle]
pub unsafe extern "C" fn echo(src: *const u8, dst: *mut u8, n: usize) {
    // SAFETY: as above.
    let (i, o) = unsafe {
        (
            slice::from_raw_parts(src, n),
            slice::from_raw_parts_mut(dst, n),
        )
    };
    o.copy_from_slice(i);
}

#[no_mangle]
pub extern "C" fn spin(iters: u64, seed: u64) -> u64 {
    kernels::spin_work(iters, seed)
}
