//! Handlers of the server's calls to a [`Client`] (PROTOCOL.md §5.8), over
//! `ffb_client_register`: [`Client::register`], [`Client::register_stream`],
//! [`Client::unregister`], [`Client::serve`] and the [`ServerCall`] a
//! handler gets. Handlers run on the thread that uses the client, inside
//! its own calls and waits (as in C: `ffb.h`, "handlers"); a handler's
//! panic answers `PANIC` with its message and the client lives on.

use std::ffi::{c_void, CString};
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::time::Duration;

use crate::callback::{drop_payload, panic_message, Slot};
use crate::client::{c_string, Client};
use crate::error::{Code, Error, Result};
use crate::request::{Reply, ReplyKind};
use crate::sys;
use crate::view::VolatileSlice;

/// A call of the server's to one of this client's handlers: its input (the
/// server's block, in shared memory: copy what you validate) and, for a
/// stream, the way to send items. Valid while the handler runs.
///
/// ```no_run
/// let client = ffb::Client::connect("app.sock")?;
/// client.register("shell.len", |call: &ffb::ServerCall<'_>| {
///     Ok(ffb::Reply::bytes((call.len() as u64).to_le_bytes().to_vec()))
/// })?;
/// # Ok::<(), ffb::Error>(())
/// ```
pub struct ServerCall<'a> {
    raw: NonNull<sys::ffb_request>,
    _life: PhantomData<&'a ()>,
}

impl ServerCall<'_> {
    /// The input's length in bytes.
    pub fn len(&self) -> usize {
        // SAFETY: raw is the live request of the running handler.
        unsafe { sys::ffb_request_len(self.raw.as_ptr()) as usize }
    }

    /// Whether the input is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The input, over the server's block (zero copy).
    pub fn input(&self) -> VolatileSlice<'_> {
        let len = self.len();
        // SAFETY: live request; its data is len bytes of a block the
        // client holds until the handler's answer (or NULL when len is 0).
        let p = unsafe { sys::ffb_request_data(self.raw.as_ptr()) };
        if p.is_null() {
            return VolatileSlice::from_mut_slice(&mut []);
        }
        // SAFETY: p..p+len is the mapped input block, valid while the
        // handler runs (this borrow's lifetime); the server may write it
        // concurrently, which VolatileSlice allows for.
        unsafe { VolatileSlice::new(p.cast_mut().cast::<u8>(), len) }
    }

    /// A copy of the input.
    pub fn to_vec(&self) -> Vec<u8> {
        self.input().to_vec()
    }

    /// Whether the server called this handler as a stream.
    pub fn is_stream(&self) -> bool {
        // SAFETY: live request.
        unsafe { sys::ffb_request_is_stream(self.raw.as_ptr()) != 0 }
    }

    /// Whether the server gave up on the call (or the session ended).
    pub fn is_cancelled(&self) -> bool {
        // SAFETY: live request.
        unsafe { sys::ffb_request_cancelled(self.raw.as_ptr()) != 0 }
    }

    /// Items the server allows now (a stream's credit).
    pub fn credit(&self) -> u32 {
        // SAFETY: live request.
        unsafe { sys::ffb_request_credit(self.raw.as_ptr()) }
    }

    /// Send one item of a stream call (a copy of `bytes`), waiting while
    /// the server grants no credit (other handlers run meanwhile). Errors:
    /// `CANCELLED`, `INVALID_ARGUMENT` (not a stream), `ARENA_FULL`,
    /// `BUFFER_TOO_SMALL`, the session's end.
    pub fn send_item(&self, bytes: &[u8]) -> Result<()> {
        self.item(bytes, -1)
    }

    /// [`ServerCall::send_item`] waiting at most `timeout` for credit
    /// (`TIMEOUT`).
    pub fn send_item_timeout(&self, bytes: &[u8], timeout: Duration) -> Result<()> {
        self.item(bytes, i64::try_from(timeout.as_nanos()).unwrap_or(i64::MAX))
    }

    fn item(&self, bytes: &[u8], timeout_ns: i64) -> Result<()> {
        let len = u32::try_from(bytes.len()).map_err(|_| Error::new(Code::BUFFER_TOO_SMALL))?;
        // SAFETY: live request; bytes is private memory of len bytes, which
        // the core copies into a new client block before it returns.
        Error::check(unsafe {
            sys::ffb_request_item(
                self.raw.as_ptr(),
                bytes.as_ptr().cast::<c_void>(),
                len,
                timeout_ns,
            )
        })
    }
}

fn set_error(r: *mut sys::ffb_request, msg: &str) {
    let msg = CString::new(msg.replace('\0', "\u{FFFD}")).unwrap_or_default();
    // SAFETY: r is the live request; msg is NUL-terminated and copied by
    // the core before it returns.
    unsafe { sys::ffb_request_set_error(r, msg.as_ptr()) };
}

fn error_status(r: *mut sys::ffb_request, e: &Error) -> sys::ffb_status {
    if let Some(m) = e.message() {
        set_error(r, m);
    }
    if e.code() == Code::OK {
        Code::UNKNOWN.raw() // an error must not read as success
    } else {
        e.code().raw()
    }
}

fn reply_copy(r: *mut sys::ffb_request, v: &[u8]) -> sys::ffb_status {
    let Ok(len) = u32::try_from(v.len()) else {
        set_error(r, "reply is larger than the largest block");
        return sys::FFB_ERR_BUFFER_TOO_SMALL;
    };
    // SAFETY: live request; v is private memory of len bytes, copied by the
    // core into a new client block.
    let st = unsafe { sys::ffb_request_reply_bytes(r, v.as_ptr().cast::<c_void>(), len) };
    if st != sys::FFB_OK {
        set_error(r, &format!("cannot allocate a {len}-byte reply"));
    }
    st
}

/// Set `reply` on the live request; the status to answer with.
fn apply(r: *mut sys::ffb_request, call: &ServerCall<'_>, reply: Reply) -> sys::ffb_status {
    match reply.0 {
        ReplyKind::Empty => sys::FFB_OK,
        ReplyKind::Input(len) => {
            let len = u32::try_from(len).unwrap_or(u32::MAX);
            // SAFETY: live request; the core checks len against the block.
            let st = unsafe { sys::ffb_request_reply_input(r, len) };
            if st != sys::FFB_OK {
                set_error(r, "reply length does not fit the input block");
            }
            st
        }
        ReplyKind::Bytes(v) => reply_copy(r, &v),
        ReplyKind::Fill(capacity, fill) => {
            // Filled in private memory, then copied: the C client has no
            // truncate for a reply block.
            let mut v = vec![0u8; capacity];
            match fill(call.input(), VolatileSlice::from_mut_slice(&mut v)) {
                Ok(used) if used <= capacity => reply_copy(r, &v[..used]),
                Ok(used) => {
                    set_error(
                        r,
                        &format!("the reply filled {used} bytes of a {capacity}-byte block"),
                    );
                    sys::FFB_ERR_BUFFER_TOO_SMALL
                }
                Err(e) => error_status(r, &e),
            }
        }
    }
}

/// Run `f` under `catch_unwind`: a panic answers PANIC with its message.
fn catching(r: *mut sys::ffb_request, f: impl FnOnce() -> sys::ffb_status) -> sys::ffb_status {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(st) => st,
        Err(payload) => {
            set_error(r, &panic_message(&*payload));
            drop_payload(payload);
            sys::FFB_ERR_PANIC
        }
    }
}

/// # Safety
/// Called only by the core, with the running request and the ctx of a
/// [`Slot`] holding an `F`, which the client keeps until it is closed.
unsafe extern "C" fn once_trampoline<F>(
    r: *mut sys::ffb_request,
    ctx: *mut c_void,
) -> sys::ffb_status
where
    F: Fn(&ServerCall<'_>) -> Result<Reply> + Send + Sync + 'static,
{
    let (Some(raw), false) = (NonNull::new(r), ctx.is_null()) else {
        return sys::FFB_ERR_NULL_POINTER;
    };
    // SAFETY: ctx is the Box<F> of a slot the client keeps alive until it
    // is closed (after the core stopped running handlers); our own memory.
    let f = unsafe { &*ctx.cast::<F>() };
    let call = ServerCall {
        raw,
        _life: PhantomData,
    };
    catching(r, || match f(&call) {
        Ok(reply) => apply(r, &call, reply),
        Err(e) => error_status(r, &e),
    })
}

/// # Safety
/// As [`once_trampoline`], for a stream handler `F`.
unsafe extern "C" fn stream_trampoline<F>(
    r: *mut sys::ffb_request,
    ctx: *mut c_void,
) -> sys::ffb_status
where
    F: Fn(&ServerCall<'_>) -> Result<()> + Send + Sync + 'static,
{
    let (Some(raw), false) = (NonNull::new(r), ctx.is_null()) else {
        return sys::FFB_ERR_NULL_POINTER;
    };
    // SAFETY: as in once_trampoline.
    let f = unsafe { &*ctx.cast::<F>() };
    let call = ServerCall {
        raw,
        _life: PhantomData,
    };
    catching(r, || match f(&call) {
        Ok(()) => sys::FFB_OK,
        Err(e) => error_status(r, &e),
    })
}

impl Client {
    /// Register `f` as the handler of `name` for the server's calls
    /// (`ffb_session_call`, Rust [`Session::call`](crate::Session::call),
    /// notifications): it returns the reply ([`Reply`]) or an error (its
    /// code and message cross; a panic answers `PANIC` with its message).
    /// It runs on this client's thread, inside [`Client::serve`] and the
    /// client's own calls while they wait. Registering a name again
    /// replaces its handler. Errors: `INVALID_ARGUMENT`, `INVALID_UTF8`,
    /// `ARENA_FULL`.
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// client.register("shell.upper", |call| {
    ///     Ok(ffb::Reply::bytes(call.to_vec().to_ascii_uppercase()))
    /// })?;
    /// loop {
    ///     client.serve(None)?;
    /// }
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn register<F>(&self, name: &str, f: F) -> Result<()>
    where
        F: Fn(&ServerCall<'_>) -> Result<Reply> + Send + Sync + 'static,
    {
        self.register_raw(name, f, Some(once_trampoline::<F>), sys::FFB_HANDLER_ONCE)
    }

    /// Register `f` as the stream handler of `name` (the server's
    /// [`Session::stream`](crate::Session::stream)): it sends items with
    /// [`ServerCall::send_item`], paced by the server's credit, and its
    /// return ends the stream.
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// client.register_stream("shell.ticks", |call| {
    ///     for i in 0u64..10 {
    ///         call.send_item(&i.to_le_bytes())?;
    ///     }
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn register_stream<F>(&self, name: &str, f: F) -> Result<()>
    where
        F: Fn(&ServerCall<'_>) -> Result<()> + Send + Sync + 'static,
    {
        self.register_raw(
            name,
            f,
            Some(stream_trampoline::<F>),
            sys::FFB_HANDLER_STREAM,
        )
    }

    fn register_raw<F: Send + Sync + 'static>(
        &self,
        name: &str,
        f: F,
        tramp: sys::ffb_client_handler_fn,
        flags: libc::c_int,
    ) -> Result<()> {
        let cname = c_string(name)?;
        let (slot, _, ctx) = Slot::boxed(f, None);
        // SAFETY: live client used by this thread; cname is NUL-terminated;
        // ctx stays valid while the client lives (the slot is kept below,
        // also after a replacement: a handler of it may still be running).
        let st = unsafe {
            sys::ffb_client_register_flags(self.raw(), cname.as_ptr(), tramp, ctx, flags as u32)
        };
        Error::check(st)?;
        self.keep_handler(slot);
        Ok(())
    }

    /// Remove the handler of `name`: the server's next call of it gets
    /// `NOT_FOUND`. Errors: `NOT_FOUND`.
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// client.register("shell.x", |_| Ok(ffb::Reply::empty()))?;
    /// client.unregister("shell.x")?;
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn unregister(&self, name: &str) -> Result<()> {
        let cname = c_string(name)?;
        // SAFETY: live client, NUL-terminated name.
        Error::check(unsafe { sys::ffb_client_unregister(self.raw(), cname.as_ptr()) })
    }

    /// Run the handlers of the server's calls that came, waiting up to
    /// `timeout` (`None`: forever) for one if none did. `Ok(true)` if any
    /// ran, `Ok(false)` if none did in time; errors: the session's end
    /// (`PEER_GONE`, `CLOSED`, `PROTOCOL`).
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// let ran = client.serve(Some(std::time::Duration::ZERO))?;
    /// # let _ = ran;
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn serve(&self, timeout: Option<Duration>) -> Result<bool> {
        let ns = timeout.map_or(-1, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        // SAFETY: live client used by this thread.
        match unsafe { sys::ffb_client_serve(self.raw(), ns) } {
            sys::FFB_OK => Ok(true),
            sys::FFB_ERR_TIMEOUT | sys::FFB_ERR_WOULD_BLOCK => Ok(false),
            st => Err(Error::new(Code::from_raw(st))),
        }
    }
}
