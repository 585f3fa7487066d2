//! [`VolatileSlice`]: a view of bytes in shared memory that reads and
//! writes them in place, without forming a Rust reference to them.
//!
//! # Why not `&[u8]`
//!
//! A request's input lives in the session arena, which the client process
//! maps too. A `&[u8]` promises the compiler that nothing changes the
//! bytes while the reference lives; a hostile client can break that
//! promise at any moment, and a compiler that relies on it may, for
//! example, read a length byte twice and get two different values after
//! one bounds check. That is undefined behaviour whatever the handler
//! does. So, in the manner of rust-vmm `vm-memory`'s `VolatileSlice`, this
//! type only holds a raw pointer and a length, and every access is a
//! volatile read or write of one value, or a `copy_nonoverlapping`
//! between the arena and private memory: each byte is read once into a
//! local the caller then owns, so whatever the peer does, the handler
//! sees *some* byte values, never a torn promise. Bounds are checked
//! against the view's own length, which the core validated.
//!
//! The price is that safe code never gets a slice of the arena to run a
//! slice algorithm over. [`VolatileSlice::for_each_chunk`] copies through
//! a small private buffer that stays in L1, which costs little next to
//! the one pass over the data; [`VolatileSlice::as_slice`] is the
//! `unsafe` zero-copy escape hatch, whose contract is that the peer does
//! not write the block while the slice lives -- true of ffi-bridge's own
//! clients (C, Go, Rust), which never touch a buffer they lent to a call
//! until its answer.

use std::marker::PhantomData;
use std::ptr;

use crate::error::{Code, Error, Result};

/// A view of `len` bytes of shared memory (a call's input block, a reply
/// block), valid for `'a`. Reads and writes go through raw pointers, one
/// value at a time or copied to or from private memory; see the module
/// docs for why. Copying the view copies the pointer, not the bytes.
///
/// ```
/// let mut private = *b"hello, volatile";
/// let v = ffb::VolatileSlice::from_mut_slice(&mut private);
/// assert_eq!(v.len(), 15);
/// assert_eq!(v.get(0), Some(b'h'));
/// v.subslice(0, 5)?.copy_from(b"HELLO");
/// assert_eq!(v.to_vec(), b"HELLO, volatile");
/// # Ok::<(), ffb::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct VolatileSlice<'a> {
    ptr: *mut u8,
    len: usize,
    _life: PhantomData<&'a [u8]>,
}

// SAFETY: a VolatileSlice is a pointer to memory valid for 'a plus a
// length; every access through it is a raw volatile access or a copy,
// which is as safe from one thread as from another (the memory is shared
// with another process anyway, and no access assumes it holds still).
unsafe impl Send for VolatileSlice<'_> {}
// SAFETY: see Send: &VolatileSlice offers nothing beyond the same accesses.
unsafe impl Sync for VolatileSlice<'_> {}

impl<'a> VolatileSlice<'a> {
    /// # Safety
    /// `ptr..ptr+len` must be valid for reads and writes for `'a` (it may
    /// be written concurrently by another process), or `len` must be 0.
    pub(crate) unsafe fn new(ptr: *mut u8, len: usize) -> VolatileSlice<'a> {
        VolatileSlice {
            ptr,
            len,
            _life: PhantomData,
        }
    }

    /// A view of private memory (tests, or code that wants one function
    /// for both kinds of bytes).
    ///
    /// ```
    /// let mut b = [0u8; 4];
    /// let v = ffb::VolatileSlice::from_mut_slice(&mut b);
    /// v.copy_from(&[1, 2, 3, 4]);
    /// assert_eq!(b, [1, 2, 3, 4]);
    /// ```
    pub fn from_mut_slice(s: &'a mut [u8]) -> VolatileSlice<'a> {
        // SAFETY: s is valid for reads and writes of s.len() bytes for 'a,
        // and the &mut borrow keeps every other access away meanwhile.
        unsafe { VolatileSlice::new(s.as_mut_ptr(), s.len()) }
    }

    /// Its length in bytes.
    ///
    /// ```
    /// let mut b = [0u8; 3];
    /// assert_eq!(ffb::VolatileSlice::from_mut_slice(&mut b).len(), 3);
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it has no bytes.
    ///
    /// ```
    /// assert!(ffb::VolatileSlice::from_mut_slice(&mut []).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `len` bytes from `offset`: `BUFFER_TOO_SMALL` if they pass the
    /// end.
    ///
    /// ```
    /// let mut b = *b"abcdef";
    /// let v = ffb::VolatileSlice::from_mut_slice(&mut b);
    /// assert_eq!(v.subslice(2, 3)?.to_vec(), b"cde");
    /// assert!(v.subslice(4, 3).is_err());
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn subslice(&self, offset: usize, len: usize) -> Result<VolatileSlice<'a>> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => {
                // SAFETY: offset..end lies inside this view, valid for 'a
                // (an empty view may have any pointer: then offset is 0).
                Ok(unsafe { VolatileSlice::new(self.ptr.wrapping_add(offset), len) })
            }
            _ => Err(Error::new(Code::BUFFER_TOO_SMALL)),
        }
    }

    /// The byte at `i` (one volatile read), `None` past the end.
    ///
    /// ```
    /// let mut b = [7u8];
    /// let v = ffb::VolatileSlice::from_mut_slice(&mut b);
    /// assert_eq!((v.get(0), v.get(1)), (Some(7), None));
    /// ```
    pub fn get(&self, i: usize) -> Option<u8> {
        if i >= self.len {
            return None;
        }
        // SAFETY: i < len: inside the view, valid for reads for 'a.
        Some(unsafe { ptr::read_volatile(self.ptr.add(i)) })
    }

    /// Store `v` at `i` (one volatile write); false past the end.
    ///
    /// ```
    /// let mut b = [0u8; 2];
    /// let v = ffb::VolatileSlice::from_mut_slice(&mut b);
    /// assert!(v.set(1, 9) && !v.set(2, 9));
    /// assert_eq!(b, [0, 9]);
    /// ```
    pub fn set(&self, i: usize, v: u8) -> bool {
        if i >= self.len {
            return false;
        }
        // SAFETY: i < len: inside the view, valid for writes for 'a.
        unsafe { ptr::write_volatile(self.ptr.add(i), v) };
        true
    }

    /// `N` bytes from `offset`, copied out (e.g. a little-endian integer:
    /// `u32::from_le_bytes(v.read_array(0)?)`); `BUFFER_TOO_SMALL` past
    /// the end.
    ///
    /// ```
    /// let mut b = 0x1234_5678u32.to_le_bytes();
    /// let v = ffb::VolatileSlice::from_mut_slice(&mut b);
    /// assert_eq!(u32::from_le_bytes(v.read_array(0)?), 0x1234_5678);
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn read_array<const N: usize>(&self, offset: usize) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        self.subslice(offset, N)?.copy_to(&mut out);
        Ok(out)
    }

    /// Copy the first `min(len, dst.len())` bytes into `dst`; returns how
    /// many.
    ///
    /// ```
    /// let mut b = *b"abc";
    /// let mut out = [0u8; 8];
    /// assert_eq!(ffb::VolatileSlice::from_mut_slice(&mut b).copy_to(&mut out), 3);
    /// assert_eq!(&out[..3], b"abc");
    /// ```
    pub fn copy_to(&self, dst: &mut [u8]) -> usize {
        let n = dst.len().min(self.len);
        if n > 0 {
            // SAFETY: the first n bytes of the view are valid for reads
            // for 'a; dst is private memory, distinct from the view (a
            // &mut cannot alias the arena, to which no reference exists).
            // Any byte value is a valid u8, so bytes a peer writes
            // meanwhile are just other values.
            unsafe { ptr::copy_nonoverlapping(self.ptr, dst.as_mut_ptr(), n) };
        }
        n
    }

    /// Copy `min(len, src.len())` bytes of `src` into the view; returns how
    /// many.
    ///
    /// ```
    /// let mut b = [0u8; 2];
    /// assert_eq!(ffb::VolatileSlice::from_mut_slice(&mut b).copy_from(b"xyz"), 2);
    /// assert_eq!(&b, b"xy");
    /// ```
    pub fn copy_from(&self, src: &[u8]) -> usize {
        let n = src.len().min(self.len);
        if n > 0 {
            // SAFETY: the first n bytes of the view are valid for writes
            // for 'a; src is private memory, distinct from the view.
            unsafe { ptr::copy_nonoverlapping(src.as_ptr(), self.ptr, n) };
        }
        n
    }

    /// A private copy of every byte.
    ///
    /// ```
    /// let mut b = *b"copy";
    /// assert_eq!(ffb::VolatileSlice::from_mut_slice(&mut b).to_vec(), b"copy");
    /// ```
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.len];
        self.copy_to(&mut v);
        v
    }

    /// Read the whole view in order, `buf.len()` bytes at a time: each
    /// chunk is copied into `buf` (private, so it stays in the cache) and
    /// handed to `f`. The safe way to run a slice algorithm over shared
    /// bytes; pick `buf` of a few KiB. An empty `buf` reads nothing.
    ///
    /// ```
    /// let mut data: Vec<u8> = (0..=255).collect();
    /// let v = ffb::VolatileSlice::from_mut_slice(&mut data);
    /// let mut sum = 0u64;
    /// v.for_each_chunk(&mut [0u8; 64], |c| sum += c.iter().map(|&b| u64::from(b)).sum::<u64>());
    /// assert_eq!(sum, 255 * 256 / 2);
    /// ```
    pub fn for_each_chunk(&self, buf: &mut [u8], mut f: impl FnMut(&[u8])) {
        if buf.is_empty() {
            return;
        }
        let mut off = 0;
        while off < self.len {
            let n = buf.len().min(self.len - off);
            // SAFETY: off + n <= len: inside the view (see copy_to).
            let chunk = unsafe { VolatileSlice::<'a>::new(self.ptr.add(off), n) };
            chunk.copy_to(&mut buf[..n]);
            f(&buf[..n]);
            off += n;
        }
    }

    /// The view as a Rust slice, without a copy.
    ///
    /// # Safety
    /// Nothing may write these bytes while the slice lives: not this
    /// process, and not the peer process. ffi-bridge's own clients never
    /// write a block they lent to a call until its answer, so for a
    /// request's input this holds unless the client is hostile; a hostile
    /// one makes the compiler's assumptions about the slice false
    /// (undefined behaviour in the handler, never in the rest of the
    /// server's memory accounting, which reads the arena through views).
    ///
    /// ```
    /// let mut b = *b"fast";
    /// let v = ffb::VolatileSlice::from_mut_slice(&mut b);
    /// // SAFETY: private memory; nothing writes it while `s` lives.
    /// let s = unsafe { v.as_slice() };
    /// assert_eq!(s, b"fast");
    /// ```
    pub unsafe fn as_slice(&self) -> &'a [u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: valid for reads of len bytes for 'a (the view's
        // invariant); that nothing writes them meanwhile is the caller's
        // promise.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The view as a mutable Rust slice, without a copy (to fill a reply
    /// block with a slice algorithm).
    ///
    /// # Safety
    /// Nothing else may read or write these bytes while the slice lives:
    /// not another view of them, and not the peer process (a client cannot
    /// know a reply block's handle before the answer, but a hostile one
    /// may write anywhere in the arena).
    ///
    /// ```
    /// let mut b = [0u8; 3];
    /// let v = ffb::VolatileSlice::from_mut_slice(&mut b);
    /// // SAFETY: private memory; nothing else touches it while `s` lives.
    /// unsafe { v.as_mut_slice() }.copy_from_slice(b"abc");
    /// assert_eq!(&b, b"abc");
    /// ```
    #[allow(clippy::mut_from_ref)] // the shared-memory contract is the caller's (see Safety)
    pub unsafe fn as_mut_slice(&self) -> &'a mut [u8] {
        if self.len == 0 {
            return &mut [];
        }
        // SAFETY: valid for reads and writes of len bytes for 'a; that
        // nothing else accesses them meanwhile is the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    /// The first byte's address (for FFI; may dangle when empty).
    ///
    /// ```
    /// let mut b = [1u8];
    /// assert!(!ffb::VolatileSlice::from_mut_slice(&mut b).as_ptr().is_null());
    /// ```
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }
}

impl std::fmt::Debug for VolatileSlice<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VolatileSlice")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .finish()
    }
}
