//! The C ABI of `ffb-bench-work`, for the in-process peers: the Go
//! harness links `libffbwork.a` with cgo and opens
//! `libffbwork.so` with purego; the go-plugin process links the
//! staticlib too. Every function is a thin wrapper over the Rust one; the
//! pointers are the caller's (Go) memory, valid for the call.
//!
//! A panic cannot unwind out of these `extern "C"` functions (Rust aborts
//! the process instead); none of them panics on valid arguments.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

use std::slice;

/// `n` bytes at `p` as a slice; an empty slice for n == 0 (p may be null).
///
/// # Safety
/// For n > 0, `p` must point to `n` readable bytes, unchanged during the call.
unsafe fn input<'a>(p: *const u8, n: usize) -> &'a [u8] {
    if n == 0 {
        return &[];
    }
    // SAFETY: the caller guarantees n readable bytes at p.
    unsafe { slice::from_raw_parts(p, n) }
}

/// Does nothing: the cost of the call itself.
#[no_mangle]
pub extern "C" fn ffb_work_empty() {}

/// The checksum of `n` bytes at `p` (`ffb_bench_work::checksum`).
///
/// # Safety
/// `p` points to `n` readable bytes (or n == 0).
#[no_mangle]
pub unsafe extern "C" fn ffb_work_checksum(p: *const u8, n: usize) -> u64 {
    // SAFETY: forwarded from the caller.
    ffb_bench_work::checksum(unsafe { input(p, n) })
}

/// Write the ASCII uppercase of `n` bytes at `src` to `dst`.
///
/// # Safety
/// `src` points to `n` readable bytes, `dst` to `n` writable bytes that do
/// not overlap them (or n == 0).
#[no_mangle]
pub unsafe extern "C" fn ffb_work_transform(src: *const u8, dst: *mut u8, n: usize) {
    if n == 0 {
        return;
    }
    // SAFETY: the caller guarantees both ranges and that they are disjoint.
    let (i, o) = unsafe { (input(src, n), slice::from_raw_parts_mut(dst, n)) };
    ffb_bench_work::transform(i, o);
}

/// Copy `n` bytes from `src` to `dst` (the echo workload).
///
/// # Safety
/// As for [`ffb_work_transform`].
#[no_mangle]
pub unsafe extern "C" fn ffb_work_echo(src: *const u8, dst: *mut u8, n: usize) {
    if n == 0 {
        return;
    }
    // SAFETY: the caller guarantees both ranges and that they are disjoint.
    let (i, o) = unsafe { (input(src, n), slice::from_raw_parts_mut(dst, n)) };
    o.copy_from_slice(i);
}

/// `ffb_bench_work::spin_work(iters, seed)`.
#[no_mangle]
pub extern "C" fn ffb_work_spin(iters: u64, seed: u64) -> u64 {
    ffb_bench_work::spin_work(iters, seed)
}

/// The JSON quote: `n` bytes of an Order at `src` → a Quote's JSON in
/// `dst` (capacity `cap`), its length in `*out_len`. Returns 0 on
/// success, 1 if the input is not a valid Order, 2 if `cap` is too small
/// (`*out_len` is then the size needed).
///
/// # Safety
/// `src` points to `n` readable bytes, `dst` to `cap` writable bytes,
/// `out_len` to a writable usize.
#[no_mangle]
pub unsafe extern "C" fn ffb_work_quote_json(
    src: *const u8,
    n: usize,
    dst: *mut u8,
    cap: usize,
    out_len: *mut usize,
) -> i32 {
    // SAFETY: forwarded from the caller.
    let out = match ffb_bench_work::quote_json(unsafe { input(src, n) }) {
        Ok(v) => v,
        Err(_) => return 1,
    };
    // SAFETY: the caller guarantees out_len is writable.
    unsafe { *out_len = out.len() };
    if out.len() > cap {
        return 2;
    }
    // SAFETY: out.len() <= cap writable bytes at dst; out is a distinct Vec.
    unsafe { std::ptr::copy_nonoverlapping(out.as_ptr(), dst, out.len()) };
    0
}
