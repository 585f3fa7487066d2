//! [`Request`] (what a server callback receives) and [`Reply`] (what it
//! answers).
//!
//! The input bytes of a request are in shared memory that the client can
//! change while the callback runs. `Request` therefore hands them out only
//! as copies ([`Request::to_vec`], [`Request::read_into`]); validate the
//! copy, never the shared bytes.

use std::marker::PhantomData;
use std::ptr::{self, NonNull};

use crate::error::{Code, Error, Result};
use crate::sys;

/// One call, as seen by a server callback. Valid only during the callback
/// (the borrow makes keeping it a compile error).
///
/// ```
/// use ffb::{Reply, Request};
/// fn shout(req: &Request<'_>) -> ffb::Result<Reply> {
///     let mut bytes = req.to_vec(); // a private copy: safe to validate
///     bytes.make_ascii_uppercase();
///     Ok(Reply::bytes(bytes))
/// }
/// # let _ = shout;
/// ```
///
/// A request cannot leave its callback, e.g. to another thread:
///
/// ```compile_fail,E0277
/// let server = ffb::Server::new().unwrap();
/// server.register("leak", |req| {
///     std::thread::scope(|s| { s.spawn(|| req.len()); });
///     Ok(ffb::Reply::empty())
/// }).unwrap();
/// ```
pub struct Request<'call> {
    call: NonNull<sys::ffb_call>,
    _call: PhantomData<&'call mut sys::ffb_call>,
}

impl<'call> Request<'call> {
    /// # Safety
    /// `call` must be the live `ffb_call` of the running callback, valid for
    /// `'call`.
    pub(crate) unsafe fn from_raw(call: NonNull<sys::ffb_call>) -> Self {
        Request {
            call,
            _call: PhantomData,
        }
    }

    fn raw(&self) -> *mut sys::ffb_call {
        self.call.as_ptr()
    }

    /// Length of the input in bytes (validated by the core: never more than
    /// the input block's capacity).
    ///
    /// ```
    /// # fn h(req: &ffb::Request<'_>) -> ffb::Result<ffb::Reply> {
    /// if req.len() > 1024 {
    ///     return Err(ffb::Error::with_message(ffb::Code::INVALID_ARGUMENT, "too long"));
    /// }
    /// # Ok(ffb::Reply::empty()) }
    /// ```
    pub fn len(&self) -> usize {
        // SAFETY: the call is live for 'call (from_raw's contract).
        unsafe { sys::ffb_call_len(self.raw()) as usize }
    }

    /// Whether the call has no input bytes.
    ///
    /// ```
    /// # fn h(req: &ffb::Request<'_>) -> bool {
    /// req.is_empty()
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Capacity of the input block: how many bytes an in-place reply
    /// ([`Request::write_at`] + [`Reply::input`]) may use. 0 without input.
    ///
    /// ```
    /// # fn h(req: &ffb::Request<'_>) -> usize {
    /// req.capacity()
    /// # }
    /// ```
    pub fn capacity(&self) -> usize {
        // SAFETY: the call is live for 'call.
        unsafe { sys::ffb_call_capacity(self.raw()) as usize }
    }

    /// The function id being called.
    ///
    /// ```
    /// # fn h(req: &ffb::Request<'_>) -> u32 {
    /// req.function()
    /// # }
    /// ```
    pub fn function(&self) -> u32 {
        // SAFETY: the call is live for 'call.
        unsafe { sys::ffb_call_function(self.raw()) }
    }

    /// The id of the session (client) that made the call.
    ///
    /// ```
    /// # fn h(req: &ffb::Request<'_>) -> u64 {
    /// req.session()
    /// # }
    /// ```
    pub fn session(&self) -> u64 {
        // SAFETY: the call is live for 'call.
        unsafe { sys::ffb_call_session(self.raw()) }
    }

    /// The input block's address, with `offset..offset+len` checked
    /// against `limit` (len or capacity).
    fn span(&self, offset: usize, len: usize, limit: usize) -> Result<*mut u8> {
        let end = offset
            .checked_add(len)
            .ok_or(Error::new(Code::BUFFER_TOO_SMALL))?;
        if end > limit {
            return Err(Error::new(Code::BUFFER_TOO_SMALL));
        }
        // SAFETY: the call is live for 'call.
        let p = unsafe { sys::ffb_call_data(self.raw()) }.cast::<u8>();
        if len == 0 {
            return Ok(ptr::null_mut());
        }
        if p.is_null() {
            return Err(Error::new(Code::NULL_POINTER));
        }
        // SAFETY: offset < end <= limit <= capacity of the block at p.
        Ok(unsafe { p.add(offset) })
    }

    /// Copy `out.len()` input bytes starting at `offset` into `out`.
    /// `BUFFER_TOO_SMALL` if that range passes the input length.
    ///
    /// ```
    /// # fn h(req: &ffb::Request<'_>) -> ffb::Result<u32> {
    /// let mut word = [0u8; 4];
    /// req.read_at(0, &mut word)?;
    /// Ok(u32::from_le_bytes(word))
    /// # }
    /// ```
    pub fn read_at(&self, offset: usize, out: &mut [u8]) -> Result<()> {
        let p = self.span(offset, out.len(), self.len())?;
        if !out.is_empty() {
            // SAFETY: p..p+n lies in the input block, which the server holds
            // for the duration of the call; out is a distinct private slice.
            // The client may write the block concurrently: we only copy
            // through the raw pointer (never a reference), any byte value is
            // valid, and the caller validates the copy.
            unsafe { ptr::copy_nonoverlapping(p, out.as_mut_ptr(), out.len()) };
        }
        Ok(())
    }

    /// Copy as much input as fits into `out`; returns how many bytes.
    ///
    /// ```
    /// # fn h(req: &ffb::Request<'_>) {
    /// let mut head = [0u8; 16];
    /// let n = req.read_into(&mut head);
    /// let head = &head[..n];
    /// # let _ = head; }
    /// ```
    pub fn read_into(&self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.len());
        match self.read_at(0, &mut out[..n]) {
            Ok(()) => n,
            Err(_) => 0,
        }
    }

    /// A private copy of the whole input.
    ///
    /// ```
    /// # fn h(req: &ffb::Request<'_>) -> Vec<u8> {
    /// req.to_vec()
    /// # }
    /// ```
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.len()];
        let n = self.read_into(&mut v);
        v.truncate(n);
        v
    }

    /// A private copy of the input as UTF-8 text; `INVALID_UTF8` otherwise.
    ///
    /// ```
    /// # fn h(req: &ffb::Request<'_>) -> ffb::Result<ffb::Reply> {
    /// let name = req.text()?;
    /// Ok(ffb::Reply::bytes(format!("hello, {name}")))
    /// # }
    /// ```
    pub fn text(&self) -> Result<String> {
        String::from_utf8(self.to_vec()).map_err(|_| Error::new(Code::INVALID_UTF8))
    }

    /// Write `bytes` into the input block at `offset` (up to its capacity),
    /// to answer in place with [`Reply::input`] — zero copy both ways.
    ///
    /// ```
    /// # fn h(req: &ffb::Request<'_>) -> ffb::Result<ffb::Reply> {
    /// req.write_at(0, b"ok")?;
    /// Ok(ffb::Reply::input(2))
    /// # }
    /// ```
    pub fn write_at(&self, offset: usize, bytes: &[u8]) -> Result<()> {
        let p = self.span(offset, bytes.len(), self.capacity())?;
        if !bytes.is_empty() {
            // SAFETY: p..p+n lies in the input block (checked against its
            // capacity), which the server holds until it answers; the
            // source is a distinct Rust slice. Written only via raw pointer.
            unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len()) };
        }
        Ok(())
    }

    pub(crate) fn call_ptr(&self) -> *mut sys::ffb_call {
        self.raw()
    }
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("function", &self.function())
            .field("session", &self.session())
            .field("len", &self.len())
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ReplyKind {
    Empty,
    Input(usize),
    Bytes(Vec<u8>),
}

/// What a callback answers on success: nothing, the input block itself
/// (zero copy), or new bytes (copied into a server-heap block).
///
/// ```
/// use ffb::Reply;
/// let a = Reply::empty();
/// let b = Reply::input(64);           // echo 64 bytes back in place
/// let c = Reply::bytes(b"hi".to_vec());
/// let d: Reply = "hello".into();
/// # let _ = (a, b, c, d);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Reply(pub(crate) ReplyKind);

impl Reply {
    /// An empty reply (no block, length 0).
    ///
    /// ```
    /// let r = ffb::Reply::empty();
    /// # let _ = r;
    /// ```
    pub fn empty() -> Reply {
        Reply(ReplyKind::Empty)
    }

    /// Reply with the first `len` bytes of the input block itself: the
    /// client gets its own handle back (zero copy). `INVALID_ARGUMENT` is
    /// returned to the client if `len` exceeds the block's capacity.
    ///
    /// ```
    /// # fn h(req: &ffb::Request<'_>) -> ffb::Result<ffb::Reply> {
    /// Ok(ffb::Reply::input(req.len()))
    /// # }
    /// ```
    pub fn input(len: usize) -> Reply {
        Reply(ReplyKind::Input(len))
    }

    /// Reply with a copy of `bytes` in a new server-heap block.
    ///
    /// ```
    /// let r = ffb::Reply::bytes(vec![1, 2, 3]);
    /// # let _ = r;
    /// ```
    pub fn bytes(bytes: impl Into<Vec<u8>>) -> Reply {
        Reply(ReplyKind::Bytes(bytes.into()))
    }
}

impl From<Vec<u8>> for Reply {
    fn from(v: Vec<u8>) -> Reply {
        Reply::bytes(v)
    }
}

impl From<&[u8]> for Reply {
    fn from(v: &[u8]) -> Reply {
        Reply::bytes(v)
    }
}

impl From<String> for Reply {
    fn from(s: String) -> Reply {
        Reply::bytes(s.into_bytes())
    }
}

impl From<&str> for Reply {
    fn from(s: &str) -> Reply {
        Reply::bytes(s.as_bytes())
    }
}
