//! [`Buffer`]: a block of a session arena held by a [`Client`].
//!
//! The bytes live in shared memory that the server process also maps, so
//! this module never forms a Rust reference (`&[u8]`/`&mut [u8]`) to them:
//! every access first does a checked lookup of the handle in the C core
//! (which rejects a stale, freed, lent or foreign handle), then copies
//! between the raw block pointer and a caller's slice.

use std::cell::Cell;
use std::fmt;
use std::ptr;

use crate::client::Client;
use crate::error::{Code, Error, Result};
use crate::handle::Handle;

/// A block of the session arena this client holds: one it allocated
/// ([`Client::alloc`]) or a reply the server gave it
/// ([`Response::into_buffer`](crate::Response::into_buffer)).
///
/// A `Buffer<'c>` borrows its [`Client`], so it cannot outlive the session
/// (a compile error); [`Buffer::free`] consumes it, so it cannot be used
/// after an explicit free (a compile error); dropping it frees it. What the
/// compiler cannot see, the core checks at run time: after a call that
/// timed out the buffer is given up to the session, and every later use
/// fails with an [`Error`] instead of touching memory.
///
/// ```no_run
/// let client = ffb::Client::connect("app.sock")?;
/// let buf = client.alloc(16)?;
/// buf.write_at(0, b"0123456789")?;
/// let mut head = [0u8; 4];
/// buf.read_at(0, &mut head)?;
/// assert_eq!(&head, b"0123");
/// buf.free()?; // or just let it drop
/// # Ok::<(), ffb::Error>(())
/// ```
///
/// Using a buffer after its client is gone does not compile:
///
/// ```compile_fail,E0597
/// let buf = {
///     let client = ffb::Client::connect("x.sock").unwrap();
///     client.alloc(8).unwrap()
/// }; // error: `client` does not live long enough
/// ```
///
/// Nor does using it after `free`:
///
/// ```compile_fail,E0382
/// let client = ffb::Client::connect("x.sock").unwrap();
/// let buf = client.alloc(8).unwrap();
/// buf.free().unwrap();
/// buf.write_at(0, b"x").unwrap(); // error: use of moved value
/// ```
#[must_use = "dropping a Buffer frees its block"]
pub struct Buffer<'c> {
    client: &'c Client,
    handle: Handle,
    capacity: u32,
    /// Given up to the session (a call timed out or the peer went away):
    /// the core owns it now, so drop must not free it.
    lost: Cell<bool>,
}

impl<'c> Buffer<'c> {
    pub(crate) fn new(client: &'c Client, handle: Handle, capacity: u32) -> Self {
        Buffer {
            client,
            handle,
            capacity,
            lost: Cell::new(false),
        }
    }

    pub(crate) fn client(&self) -> &'c Client {
        self.client
    }

    pub(crate) fn mark_lost(&self) {
        self.lost.set(true);
    }

    /// The handle naming this block (what crosses the boundary).
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// let buf = client.alloc(8)?;
    /// println!("{:?}", buf.handle());
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn handle(&self) -> Handle {
        self.handle
    }

    /// The block's capacity in bytes (its size class: 64 B, 256 B, … 16 MiB).
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// assert_eq!(client.alloc(100)?.capacity(), 256);
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Whether the buffer was given up by a call that timed out or lost its
    /// peer; every access then fails.
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// assert!(!client.alloc(8)?.is_lost());
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn is_lost(&self) -> bool {
        self.lost.get()
    }

    /// Checked lookup of the block, then the range `offset..offset+len`
    /// bounds-checked against the capacity: the start address.
    fn span(&self, offset: usize, len: usize) -> Result<*mut u8> {
        if self.lost.get() {
            return Err(Error::with_message(
                Code::BUSY,
                "buffer was given up by a failed call",
            ));
        }
        let (p, cap) = self.client.data(self.handle)?;
        let end = offset
            .checked_add(len)
            .ok_or(Error::new(Code::BUFFER_TOO_SMALL))?;
        if end > cap as usize {
            return Err(Error::new(Code::BUFFER_TOO_SMALL));
        }
        if len == 0 {
            return Ok(ptr::null_mut());
        }
        // SAFETY: offset < end <= cap, so the result stays inside the block.
        Ok(unsafe { p.add(offset) })
    }

    /// Copy `bytes` into the block at `offset`. Errors: `BUFFER_TOO_SMALL`
    /// (past the capacity), the lookup's errors (`STALE_HANDLE`, `BUSY`, …).
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// let buf = client.alloc(64)?;
    /// buf.write_at(60, b"abcd")?;
    /// assert!(buf.write_at(61, b"abcd").is_err());
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn write_at(&self, offset: usize, bytes: &[u8]) -> Result<()> {
        let p = self.span(offset, bytes.len())?;
        if !bytes.is_empty() {
            // SAFETY: p..p+len is inside a block this session holds (checked
            // lookup + bounds check in span); the source is a distinct Rust
            // slice, so the ranges do not overlap. Shared memory is written
            // only through this raw pointer.
            unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len()) };
        }
        Ok(())
    }

    /// Fill `out` from the block starting at `offset`.
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// let buf = client.alloc_bytes(b"hello")?;
    /// let mut out = [0u8; 3];
    /// buf.read_at(2, &mut out)?;
    /// assert_eq!(&out, b"llo");
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn read_at(&self, offset: usize, out: &mut [u8]) -> Result<()> {
        let p = self.span(offset, out.len())?;
        if !out.is_empty() {
            // SAFETY: as in write_at, with source and destination swapped;
            // the copy may observe a peer's concurrent writes (the bytes are
            // plain data, any value is valid) and the caller gets a copy.
            unsafe { ptr::copy_nonoverlapping(p, out.as_mut_ptr(), out.len()) };
        }
        Ok(())
    }

    /// Copy the first `len` bytes out into a new vector.
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// let buf = client.alloc_bytes(b"hello")?;
    /// assert_eq!(buf.read_vec(5)?, b"hello");
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn read_vec(&self, len: usize) -> Result<Vec<u8>> {
        if len > self.capacity as usize {
            return Err(Error::new(Code::BUFFER_TOO_SMALL));
        }
        let mut v = vec![0u8; len];
        self.read_at(0, &mut v)?;
        Ok(v)
    }

    /// Free the block now and report the outcome (drop frees silently).
    /// Errors: `STALE_HANDLE`, `DOUBLE_FREE`, `BUSY`, … from the core.
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// client.alloc(8)?.free()?;
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn free(self) -> Result<()> {
        let this = std::mem::ManuallyDrop::new(self);
        if this.lost.get() {
            return Err(Error::with_message(
                Code::BUSY,
                "buffer was given up by a failed call",
            ));
        }
        this.client.free_raw(this.handle)
    }

    /// Stop managing the block and return its handle: it is no longer
    /// freed on drop. Get a `Buffer` back with [`Client::adopt`].
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// let h: ffb::Handle = client.alloc(8)?.into_handle();
    /// client.adopt(h)?.free()?;
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn into_handle(self) -> Handle {
        std::mem::ManuallyDrop::new(self).handle
    }
}

impl Drop for Buffer<'_> {
    fn drop(&mut self) {
        if !self.lost.get() {
            // A failure here (e.g. the session is gone) has no one to report
            // to; the core has already refused to touch anything.
            let _ = self.client.free_raw(self.handle);
        }
    }
}

impl fmt::Debug for Buffer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Buffer")
            .field("handle", &self.handle)
            .field("capacity", &self.capacity)
            .field("lost", &self.lost.get())
            .finish()
    }
}
