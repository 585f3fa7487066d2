//! Byte kernels with no dependencies, so that the wasm build (Debian's
//! rustc 1.63 with its wasm32 std, no cargo) compiles this file alone:
//! keep it to Rust 1.63 and `core`.
//!
//! The checksum is four 64-bit lanes over the input's little-endian
//! words (word i feeds lane i mod 4), a multiply-rotate step per word, and
//! a final mix with the length; a trailing partial word is zero-padded.
//! It reads every byte, streams (any split of the input gives the same
//! result) and is fast enough that moving the bytes, not the arithmetic,
//! is what a transport adds. `bench/go/internal/work` has the same
//! algorithm in Go.

/// Multiplier of the lane step (an odd 64-bit constant).
const P1: u64 = 0x9E37_79B9_7F4A_7C15;
/// Multiplier of the final mix.
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
/// Lane seeds.
const SEEDS: [u64; 4] = [
    0x243F_6A88_85A3_08D3,
    0x1319_8A2E_0370_7344,
    0xA409_3822_299F_31D0,
    0x082E_FA98_EC4E_6C89,
];

/// Streaming state of [`checksum`]: feed the input in pieces of any size
/// with [`Checksum::update`], then [`Checksum::finish`].
#[derive(Clone, Debug)]
pub struct Checksum {
    lanes: [u64; 4],
    words: u64,
    tail: [u8; 8],
    tail_len: usize,
    len: u64,
}

#[inline(always)]
fn step(lane: u64, w: u64) -> u64 {
    (lane ^ w).wrapping_mul(P1).rotate_left(29)
}

impl Checksum {
    /// An empty state.
    pub fn new() -> Checksum {
        Checksum {
            lanes: SEEDS,
            words: 0,
            tail: [0; 8],
            tail_len: 0,
            len: 0,
        }
    }

    fn word(&mut self, w: u64) {
        let i = (self.words & 3) as usize;
        self.lanes[i] = step(self.lanes[i], w);
        self.words += 1;
    }

    /// Add `data` to the checksum.
    pub fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if self.tail_len > 0 {
            let take = (8 - self.tail_len).min(data.len());
            self.tail[self.tail_len..self.tail_len + take].copy_from_slice(&data[..take]);
            self.tail_len += take;
            data = &data[take..];
            if self.tail_len < 8 {
                return;
            }
            let w = u64::from_le_bytes(self.tail);
            self.word(w);
            self.tail_len = 0;
        }
        // Align to lane 0, then four words at a time on four lanes.
        while self.words & 3 != 0 && data.len() >= 8 {
            let w = u64::from_le_bytes(data[..8].try_into().unwrap());
            self.word(w);
            data = &data[8..];
        }
        let mut blocks = data.chunks_exact(32);
        let [mut a, mut b, mut c, mut d] = self.lanes;
        let mut n = 0u64;
        for blk in &mut blocks {
            a = step(a, u64::from_le_bytes(blk[0..8].try_into().unwrap()));
            b = step(b, u64::from_le_bytes(blk[8..16].try_into().unwrap()));
            c = step(c, u64::from_le_bytes(blk[16..24].try_into().unwrap()));
            d = step(d, u64::from_le_bytes(blk[24..32].try_into().unwrap()));
            n += 4;
        }
        self.lanes = [a, b, c, d];
        self.words += n;
        let mut rest = blocks.remainder();
        while rest.len() >= 8 {
            let w = u64::from_le_bytes(rest[..8].try_into().unwrap());
            self.word(w);
            rest = &rest[8..];
        }
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_len = rest.len();
    }

    /// The checksum of everything added so far.
    pub fn finish(&self) -> u64 {
        let mut s = self.clone();
        if s.tail_len > 0 {
            let mut t = [0u8; 8];
            t[..s.tail_len].copy_from_slice(&s.tail[..s.tail_len]);
            s.word(u64::from_le_bytes(t));
        }
        let mut h = s.len.wrapping_mul(P2);
        for lane in s.lanes {
            h = (h ^ lane).wrapping_mul(P2).rotate_left(31);
        }
        h ^= h >> 33;
        h = h.wrapping_mul(P1);
        h ^ (h >> 29)
    }
}

impl Default for Checksum {
    fn default() -> Self {
        Checksum::new()
    }
}

/// The checksum of `data` (reads every byte).
pub fn checksum(data: &[u8]) -> u64 {
    let mut s = Checksum::new();
    s.update(data);
    s.finish()
}

/// Write the ASCII uppercase of `input` into `output[..input.len()]`
/// (other bytes unchanged). Panics if `output` is shorter than `input`.
pub fn transform(input: &[u8], output: &mut [u8]) {
    let out = &mut output[..input.len()];
    for (o, &i) in out.iter_mut().zip(input) {
        *o = i.to_ascii_uppercase();
    }
}

/// `transform` where the output is the input's own bytes (the same loop).
pub fn transform_in_place(data: &mut [u8]) {
    for b in data {
        *b = b.to_ascii_uppercase();
    }
}

/// A CPU-bound loop of `iters` xorshift64* steps from `seed` (0 is taken
/// as 1); returns a value that depends on every step, so the work cannot
/// be skipped. About 1 ns a step on the bench machine: the harness
/// calibrates `iters` to ~50 us.
pub fn spin_work(iters: u64, seed: u64) -> u64 {
    let mut x = if seed == 0 { 1 } else { seed };
    let mut acc = 0u64;
    let mut i = 0;
    while i < iters {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        acc = acc.rotate_left(7) ^ x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        i += 1;
    }
    acc
}
