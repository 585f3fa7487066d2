//! [`Request`] (what a server callback receives) and [`Reply`] (what it
//! answers).
//!
//! The input bytes of a request are in shared memory that the client can
//! change while the callback runs. `Request` hands them out as a
//! [`VolatileSlice`] (read in place, no reference formed: see
//! [`crate::view`]) or as copies ([`Request::to_vec`],
//! [`Request::read_into`]); validate what you copied, never the shared
//! bytes twice.

use std::marker::PhantomData;
use std::ptr::NonNull;

use crate::error::{Code, Error, Result};
use crate::session::Session;
use crate::sys;
use crate::view::VolatileSlice;

/// One call, as seen by a server callback. Valid only during the callback
/// (the borrow makes keeping it a compile error). It is `Send` and `Sync`:
/// a handler may read it from scoped threads of its own while it runs.
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
/// A request cannot outlive its callback, e.g. on a thread of its own:
///
/// ```compile_fail
/// let server = ffb::Server::new().unwrap();
/// server.register("leak", |req| {
///     std::thread::spawn(move || req.len());
///     Ok(ffb::Reply::empty())
/// }).unwrap();
/// ```
pub struct Request<'call> {
    call: NonNull<sys::ffb_call>,
    _call: PhantomData<&'call mut sys::ffb_call>,
}

// SAFETY: every method reads fields of the call that the core set before
// the callback and does not change while it runs (length, capacity,
// function, session, the input block's address), reads the cancelled flag
// atomically, or accesses the arena through raw pointers; the reply is
// the callback's return value, not state behind &Request. The call
// outlives every borrow of the Request ('call), so sharing it with
// threads scoped inside the callback is sound.
unsafe impl Send for Request<'_> {}
// SAFETY: see Send.
unsafe impl Sync for Request<'_> {}

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

    /// The session (client) that made the call: a counted handle that may
    /// outlive the call, to call the client's own handlers
    /// ([`Session::call`], [`Session::stream`], [`Session::notify`]) or
    /// to name it ([`Session::id`]).
    ///
    /// ```
    /// # fn h(req: &ffb::Request<'_>) -> ffb::Result<ffb::Reply> {
    /// let who = req.session().id();
    /// req.session().notify("shell.log", format!("session {who} called"))?;
    /// # Ok(ffb::Reply::empty()) }
    /// ```
    pub fn session(&self) -> Session {
        // SAFETY: the call is live for 'call; the core hands us a new
        // reference (null only without a session), which Session owns.
        unsafe { Session::from_raw(sys::ffb_call_session_ref(self.raw())) }
    }

    /// The input bytes, in place: `len()` bytes of the input block in the
    /// arena, read and written without a copy and without forming a
    /// reference ([`VolatileSlice`]). The zero-copy way to read a request:
    /// `req.input().for_each_chunk(..)` safely, or
    /// `unsafe { req.input().as_slice() }` under its contract.
    ///
    /// ```
    /// # fn h(req: &ffb::Request<'_>) -> ffb::Result<ffb::Reply> {
    /// let mut sum = 0u64;
    /// req.input().for_each_chunk(&mut [0u8; 4096], |c| {
    ///     sum = c.iter().fold(sum, |s, &b| s.wrapping_mul(31).wrapping_add(u64::from(b)))
    /// });
    /// Ok(ffb::Reply::bytes(sum.to_le_bytes().to_vec()))
    /// # }
    /// ```
    pub fn input(&self) -> VolatileSlice<'_> {
        // SAFETY: the call is live for 'call, which bounds the view.
        unsafe { call_input(self.raw()) }
    }

    /// The whole input block (`capacity()` bytes), to answer in place:
    /// write into it, then reply [`Reply::input`].
    ///
    /// ```
    /// # fn h(req: &ffb::Request<'_>) -> ffb::Result<ffb::Reply> {
    /// let out = req.block().subslice(0, 2)?;
    /// out.copy_from(b"ok");
    /// Ok(ffb::Reply::input(2))
    /// # }
    /// ```
    pub fn block(&self) -> VolatileSlice<'_> {
        // SAFETY: the call is live for 'call, which bounds the view.
        unsafe { call_block(self.raw()) }
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
        self.input().subslice(offset, out.len())?.copy_to(out);
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
        self.input().copy_to(out)
    }

    /// A private copy of the whole input.
    ///
    /// ```
    /// # fn h(req: &ffb::Request<'_>) -> Vec<u8> {
    /// req.to_vec()
    /// # }
    /// ```
    pub fn to_vec(&self) -> Vec<u8> {
        self.input().to_vec()
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
        self.block().subslice(offset, bytes.len())?.copy_from(bytes);
        Ok(())
    }

    /// Whether the caller cancelled the call (its client gave up: a Go
    /// context, a client timeout; the session ended; the server stops).
    /// A pooled handler that runs long should look now and then and stop
    /// early (e.g. `Err(Code::CANCELLED.into())`); nobody waits for its
    /// answer any more. Always false for an inline handler, which runs to
    /// its end before the dispatcher reads the next entry.
    ///
    /// ```
    /// # fn h(req: &ffb::Request<'_>) -> ffb::Result<ffb::Reply> {
    /// for _step in 0..1000 {
    ///     if req.is_cancelled() {
    ///         return Err(ffb::Error::new(ffb::Code::CANCELLED));
    ///     }
    ///     // ... a slice of the work ...
    /// }
    /// # Ok(ffb::Reply::empty()) }
    /// ```
    pub fn is_cancelled(&self) -> bool {
        // SAFETY: the call is live for 'call; the flag is read atomically.
        unsafe { sys::ffb_call_cancelled(self.raw()) != 0 }
    }
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("function", &self.function())
            // SAFETY: the call is live for 'call.
            .field("session", &unsafe { sys::ffb_call_session(self.raw()) })
            .field("len", &self.len())
            .finish()
    }
}

/// The input block of a live call: `capacity` bytes.
///
/// # Safety
/// `call` must be live (its callback runs, or it is kept and not finished)
/// for all of `'a`.
pub(crate) unsafe fn call_block<'a>(call: *mut sys::ffb_call) -> VolatileSlice<'a> {
    // SAFETY: a live call (the caller's contract).
    let (p, cap) = unsafe {
        (
            sys::ffb_call_data(call).cast::<u8>(),
            sys::ffb_call_capacity(call) as usize,
        )
    };
    let cap = if p.is_null() { 0 } else { cap };
    // SAFETY: the core validated the input block (cap bytes at p, inside
    // the arena) and holds it for the call until its answer, which comes
    // after 'a; the client may write it meanwhile, which a VolatileSlice
    // allows for.
    unsafe { VolatileSlice::new(p, cap) }
}

/// The input bytes of a live call: the first `len` bytes of its block.
///
/// # Safety
/// As [`call_block`].
pub(crate) unsafe fn call_input<'a>(call: *mut sys::ffb_call) -> VolatileSlice<'a> {
    // SAFETY: the caller's contract.
    let (block, len) = unsafe { (call_block(call), sys::ffb_call_len(call) as usize) };
    block.subslice(0, len).unwrap_or(block) // the core keeps len <= capacity
}

/// Fills a new reply block in place: gets the call's input and the new
/// block (of the capacity the reply asked for), returns how many bytes of
/// the block it used.
pub(crate) type FillFn =
    Box<dyn FnOnce(VolatileSlice<'_>, VolatileSlice<'_>) -> Result<usize> + Send>;

pub(crate) enum ReplyKind {
    Empty,
    Input(usize),
    Bytes(Vec<u8>),
    Fill(usize, FillFn),
}

/// What a callback answers on success: nothing, the input block itself
/// (zero copy), new bytes (copied into a server-heap block), or a new
/// server-heap block filled in place (zero copy).
///
/// ```
/// use ffb::Reply;
/// let a = Reply::empty();
/// let b = Reply::input(64);           // echo 64 bytes back in place
/// let c = Reply::bytes(b"hi".to_vec());
/// let d: Reply = "hello".into();
/// let e = Reply::with_capacity(3, |_input, out| Ok(out.copy_from(b"abc")));
/// # let _ = (a, b, c, d, e);
/// ```
#[must_use]
pub struct Reply(pub(crate) ReplyKind);

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            ReplyKind::Empty => f.write_str("Reply::empty()"),
            ReplyKind::Input(n) => write!(f, "Reply::input({n})"),
            ReplyKind::Bytes(v) => write!(f, "Reply::bytes({} bytes)", v.len()),
            ReplyKind::Fill(n, _) => write!(f, "Reply::with_capacity({n}, ..)"),
        }
    }
}

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

    /// Reply with a new server-heap block of `capacity` bytes that `fill`
    /// writes in place (zero copy: no private buffer in between). `fill`
    /// gets the call's input and the new block, both in place, and
    /// returns how many bytes of the block it used (at most `capacity`).
    /// It runs after the handler returns, on the same thread (for an async
    /// handler: where its future finished). An error from it is the
    /// call's answer; `ARENA_FULL` or `BUFFER_TOO_SMALL` if no block of
    /// that size is free.
    ///
    /// ```
    /// # fn h(req: &ffb::Request<'_>) -> ffb::Result<ffb::Reply> {
    /// // An in-place transform: ASCII upper case, input to output.
    /// Ok(ffb::Reply::with_capacity(req.len(), |input, out| {
    ///     let mut buf = [0u8; 4096];
    ///     let mut at = 0;
    ///     input.for_each_chunk(&mut buf, |chunk| {
    ///         for (i, b) in chunk.iter().enumerate() {
    ///             out.set(at + i, b.to_ascii_uppercase());
    ///         }
    ///         at += chunk.len();
    ///     });
    ///     Ok(at)
    /// }))
    /// # }
    /// ```
    pub fn with_capacity(
        capacity: usize,
        fill: impl FnOnce(VolatileSlice<'_>, VolatileSlice<'_>) -> Result<usize> + Send + 'static,
    ) -> Reply {
        Reply(ReplyKind::Fill(capacity, Box::new(fill)))
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
