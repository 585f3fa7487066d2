//! The handlers: one small function per work function.
//!
//! `work.checksum` and `work.transform` read (and write) the input in
//! place, without a copy: `Request::input()` / `block()` as a Rust slice
//! under the `unsafe` contract of `VolatileSlice::as_slice` -- the client
//! does not write a block it lent to a call until the answer, which holds
//! for the ffi-bridge clients this bench runs. So they run the very
//! function cgo runs, on the bytes where the client wrote them. The
//! checksum's 8 bytes go back in the input block (`Reply::input`): no new
//! block, nothing for the client to release. `work.readcopy` keeps the
//! safe copying path (64 KiB chunks through a per-thread scratch buffer)
//! to show what a copy costs.

use std::cell::RefCell;

use ffb::{Code, Error, Reply, Request};
use ffb_bench_work as work;

/// Bytes copied out of (or into) shared memory per step.
const CHUNK: usize = 64 << 10;

thread_local! {
    static SCRATCH: RefCell<(Vec<u8>, Vec<u8>)> = RefCell::new((vec![0; CHUNK], vec![0; CHUNK]));
}

/// `work.checksum`: the checksum of the input, read in place; its 8
/// bytes are written over the input's first 8 (the block holds at least
/// 64) and the block itself is the reply.
pub fn checksum_in_place(req: &Request<'_>) -> ffb::Result<Reply> {
    // SAFETY: the bench's clients are ffi-bridge's own, which never write
    // a block lent to a call before its answer (VolatileSlice::as_slice).
    let sum = work::checksum(unsafe { req.input().as_slice() });
    req.write_at(0, &sum.to_le_bytes())?;
    Ok(Reply::input(8))
}

/// `work.transform`: the ASCII uppercase of the input, in place in the
/// input block (the reply is the caller's own buffer, N bytes).
pub fn transform_in_place(req: &Request<'_>) -> ffb::Result<Reply> {
    let n = req.len();
    // SAFETY: as checksum_in_place; and nothing else reads or writes the
    // block while the slice lives (this call holds it).
    let block = unsafe { req.block().as_mut_slice() };
    work::transform_in_place(&mut block[..n]);
    Ok(Reply::input(n))
}

/// `work.spin`: 16 input bytes (iterations, seed; little-endian u64s) →
/// 8 bytes of `spin_work`'s result.
pub fn spin_request(req: &Request<'_>) -> ffb::Result<Reply> {
    let mut arg = [0u8; 16];
    req.read_at(0, &mut arg)
        .map_err(|_| Error::with_message(Code::INVALID_ARGUMENT, "work.spin: want 16 bytes"))?;
    let iters = u64::from_le_bytes(arg[..8].try_into().unwrap());
    let seed = u64::from_le_bytes(arg[8..].try_into().unwrap());
    Ok(Reply::bytes(
        work::spin_work(iters, seed).to_le_bytes().to_vec(),
    ))
}

/// `work.readcopy` (diagnostic): copies the input out as `work.checksum`
/// does, computes nothing, answers empty — the copy's share of a call.
pub fn read_copy_only(req: &Request<'_>) -> ffb::Result<Reply> {
    SCRATCH.with(|s| {
        let buf = &mut s.borrow_mut().0;
        let n = req.len();
        let mut off = 0;
        while off < n {
            let k = CHUNK.min(n - off);
            req.read_at(off, &mut buf[..k])?;
            off += k;
        }
        Ok(Reply::empty())
    })
}
