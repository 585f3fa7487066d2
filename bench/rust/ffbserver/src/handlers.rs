//! The handlers: one small function per work function, written against
//! today's `ffb::Request` / `Reply`, which give the callback copies of its
//! input (`read_at`) and take bytes to copy out (`Reply::bytes`) or write
//! into the input block (`write_at` + `Reply::input`).
//!
//! When the crate gets its zero-copy input view and in-place replies, only
//! the bodies below change (e.g. `checksum_of_request` becomes
//! `work::checksum(req.view())`); the names, the registered names and the
//! wire format stay. Until then the large-payload figures include the
//! copies these bodies make, in 64 KiB chunks through a per-thread
//! scratch buffer (no allocation per call, the chunk stays in L2).

use std::cell::RefCell;

use ffb::{Code, Error, Reply, Request};
use ffb_bench_work as work;

/// Bytes copied out of (or into) shared memory per step.
const CHUNK: usize = 64 << 10;

thread_local! {
    static SCRATCH: RefCell<(Vec<u8>, Vec<u8>)> = RefCell::new((vec![0; CHUNK], vec![0; CHUNK]));
}

/// `work.checksum`: the checksum of the input, copied out chunk by chunk.
pub fn checksum_of_request(req: &Request<'_>) -> ffb::Result<u64> {
    SCRATCH.with(|s| {
        let buf = &mut s.borrow_mut().0;
        let mut sum = work::Checksum::new();
        let n = req.len();
        let mut off = 0;
        while off < n {
            let k = CHUNK.min(n - off);
            req.read_at(off, &mut buf[..k])?;
            sum.update(&buf[..k]);
            off += k;
        }
        Ok(sum.finish())
    })
}

/// `work.transform`: the ASCII uppercase of the input, written back into
/// the input block (the reply is the caller's own buffer, N bytes).
pub fn transform_in_place(req: &Request<'_>) -> ffb::Result<Reply> {
    SCRATCH.with(|s| {
        let (inb, outb) = &mut *s.borrow_mut();
        let n = req.len();
        let mut off = 0;
        while off < n {
            let k = CHUNK.min(n - off);
            req.read_at(off, &mut inb[..k])?;
            work::transform(&inb[..k], &mut outb[..k]);
            req.write_at(off, &outb[..k])?;
            off += k;
        }
        Ok(Reply::input(n))
    })
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
