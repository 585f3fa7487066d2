//! [`Client`]: one session with a server (C or Rust), over a Unix socket or
//! in-process.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::CString;
use std::marker::PhantomData;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::{self, NonNull};
use std::time::Duration;

use crate::buffer::Buffer;
use crate::callback::Slot;
use crate::error::{Code, Error, Result};
use crate::handle::Handle;
use crate::response::Response;
use crate::sys;

/// How a waiting client passes the time until its answer arrives.
///
/// ```
/// let o = ffb::ClientOptions::new().wait_mode(ffb::WaitMode::Spin);
/// # let _ = o;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum WaitMode {
    /// Spin for the spin time, then sleep on the doorbell (the default).
    #[default]
    Park,
    /// Never sleep: lowest latency, burns a core while waiting.
    Spin,
}

/// Options for [`Client::connect_with`] and
/// [`Server::connect_inproc_with`](crate::Server::connect_inproc_with).
///
/// ```
/// use std::time::Duration;
/// let o = ffb::ClientOptions::new()
///     .connect_timeout(Duration::from_secs(2))
///     .call_timeout(Some(Duration::from_secs(10)));
/// # let _ = o;
/// ```
#[derive(Clone, Debug)]
pub struct ClientOptions {
    connect_timeout: Duration,
    spin: Duration,
    wait_mode: WaitMode,
    call_timeout: Option<Duration>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions::new()
    }
}

impl ClientOptions {
    /// The defaults of `ffb_client_options_init`: 5 s to connect, 50 µs of
    /// spinning before parking, park mode; calls wait without a deadline.
    ///
    /// ```
    /// let o = ffb::ClientOptions::new();
    /// # let _ = o;
    /// ```
    pub fn new() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_millis(5000),
            spin: Duration::from_micros(50),
            wait_mode: WaitMode::Park,
            call_timeout: None,
        }
    }

    /// Deadline of the handshake.
    ///
    /// ```
    /// let o = ffb::ClientOptions::new().connect_timeout(std::time::Duration::from_secs(1));
    /// # let _ = o;
    /// ```
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// How long a waiting call spins before it parks.
    ///
    /// ```
    /// let o = ffb::ClientOptions::new().spin(std::time::Duration::from_micros(10));
    /// # let _ = o;
    /// ```
    pub fn spin(mut self, d: Duration) -> Self {
        self.spin = d;
        self
    }

    /// Park (default) or spin while waiting.
    ///
    /// ```
    /// let o = ffb::ClientOptions::new().wait_mode(ffb::WaitMode::Park);
    /// # let _ = o;
    /// ```
    pub fn wait_mode(mut self, m: WaitMode) -> Self {
        self.wait_mode = m;
        self
    }

    /// Deadline of each call (`None`: wait forever, the default). See
    /// [`Client::set_timeout`].
    ///
    /// ```
    /// let o = ffb::ClientOptions::new().call_timeout(None);
    /// # let _ = o;
    /// ```
    pub fn call_timeout(mut self, d: Option<Duration>) -> Self {
        self.call_timeout = d;
        self
    }

    pub(crate) fn to_sys(&self) -> sys::ffb_client_options {
        sys::ffb_client_options {
            connect_timeout_ms: clamp_u32(self.connect_timeout.as_millis()),
            spin_ns: clamp_u32(self.spin.as_nanos()),
            // enum ffb_wait_mode: the C enum's values, in the u32 field
            wait_mode: match self.wait_mode {
                WaitMode::Park => sys::FFB_WAIT_PARK as u32,
                WaitMode::Spin => sys::FFB_WAIT_SPIN as u32,
            },
        }
    }
}

pub(crate) fn clamp_u32(v: u128) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// Counters of one client session (`ffb_client_stats`).
///
/// ```no_run
/// let client = ffb::Client::connect("app.sock")?;
/// println!("{} calls", client.stats()?.calls);
/// # Ok::<(), ffb::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Calls made.
    pub calls: u64,
    /// Calls in flight.
    pub pending: u64,
    /// Late, duplicate or forged responses dropped.
    pub dropped_responses: u64,
    /// Protocol violations seen from the server.
    pub protocol_errors: u64,
    /// Times the client went to sleep waiting.
    pub parks: u64,
    /// The server's calls this client's handlers answered.
    pub served_calls: u64,
}

/// One session with a server: a mapped arena, a request ring it produces
/// and a response ring it consumes.
///
/// A `Client` may move to another thread (`Send`) but is used by one thread
/// at a time (not `Sync`), as `ffb_client` requires. Buffers it allocates
/// borrow it ([`Buffer<'c>`](Buffer)), so no buffer outlives its session.
/// Calls are synchronous: each blocks until its answer or the call timeout.
/// Dropping the client closes the session (the server frees the arena).
///
/// ```no_run
/// use ffb::Client;
/// let client = Client::connect("app.sock")?;
/// let buf = client.alloc_bytes(b"hello")?;
/// let reply = client.echo(&buf, 5)?;
/// assert!(reply.is_zero_copy());
/// assert_eq!(reply.to_vec()?, b"hello");
/// println!("server version {}", client.version()?);
/// # Ok::<(), ffb::Error>(())
/// ```
///
/// Sharing one client between threads does not compile (it is not `Sync`):
///
/// ```compile_fail,E0277
/// let client = ffb::Client::connect("x.sock").unwrap();
/// std::thread::scope(|s| {
///     s.spawn(|| client.version());
///     s.spawn(|| client.version());
/// });
/// ```
pub struct Client {
    raw: NonNull<sys::ffb_client>,
    timeout_ns: Cell<i64>,
    /// Pipelined calls given up by `call_many`: call id -> input handle,
    /// freed when their late completion shows up.
    abandoned: RefCell<HashMap<u64, Handle>>,
    /// The closures of handlers registered (served.rs), kept until the
    /// client is closed: one replaced or removed may still be running.
    handlers: RefCell<Vec<Slot>>,
    // Not Sync: the C client is used by one thread at a time.
    _not_sync: PhantomData<Cell<()>>,
}

// SAFETY: an ffb_client may be used from any thread as long as it is used by
// one thread at a time (ffb.h); Client is not Sync, and every method takes
// &self on the one thread that owns it, so moving it between threads is
// sound.
unsafe impl Send for Client {}

fn timeout_to_ns(d: Option<Duration>) -> i64 {
    match d {
        None => -1,
        Some(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
    }
}

pub(crate) fn c_string(s: &str) -> Result<CString> {
    CString::new(s)
        .map_err(|_| Error::with_message(Code::INVALID_ARGUMENT, "string contains a NUL byte"))
}

impl Client {
    /// Connect to the server listening at `path` with default options.
    ///
    /// Blocks up to the connect timeout (5 s). Errors: `SYSTEM` (no server),
    /// `PERMISSION_DENIED`, `VERSION_MISMATCH`, `TOO_MANY_SESSIONS`,
    /// `BAD_FD`, `PROTOCOL`, `TIMEOUT`.
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// # let _ = client;
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn connect(path: impl AsRef<Path>) -> Result<Client> {
        Client::connect_with(path, &ClientOptions::new())
    }

    /// Connect to the server at `path` with `options`.
    ///
    /// ```no_run
    /// use ffb::{Client, ClientOptions, WaitMode};
    /// let client = Client::connect_with("app.sock",
    ///     &ClientOptions::new().wait_mode(WaitMode::Spin))?;
    /// # let _ = client;
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn connect_with(path: impl AsRef<Path>, options: &ClientOptions) -> Result<Client> {
        let path = CString::new(path.as_ref().as_os_str().as_bytes()).map_err(|_| {
            Error::with_message(Code::INVALID_ARGUMENT, "socket path contains a NUL byte")
        })?;
        let o = options.to_sys();
        let mut raw = ptr::null_mut();
        // SAFETY: path is NUL-terminated, o and raw are valid for the call;
        // the core writes *out only on success.
        let st = unsafe { sys::ffb_client_connect(path.as_ptr(), &o, &mut raw) };
        Error::check(st)?;
        // SAFETY: on OK the core stored a client it gives us to own.
        unsafe { Client::from_raw(raw, options) }
    }

    /// Take ownership of a client the core created.
    ///
    /// # Safety
    /// `raw` must be NULL or a live `ffb_client` owned by nobody else.
    pub(crate) unsafe fn from_raw(
        raw: *mut sys::ffb_client,
        options: &ClientOptions,
    ) -> Result<Client> {
        let raw = NonNull::new(raw).ok_or(Error::new(Code::NULL_POINTER))?;
        Ok(Client {
            raw,
            timeout_ns: Cell::new(timeout_to_ns(options.call_timeout)),
            abandoned: RefCell::new(HashMap::new()),
            handlers: RefCell::new(Vec::new()),
            _not_sync: PhantomData,
        })
    }

    pub(crate) fn raw(&self) -> *mut sys::ffb_client {
        self.raw.as_ptr()
    }

    /// The raw `ffb_client` (for calling [`sys`](crate::sys) functions).
    /// It stays owned by this `Client`.
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// assert!(!client.as_raw().is_null());
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn as_raw(&self) -> *mut sys::ffb_client {
        self.raw()
    }

    /// Set the deadline of each later call (`None`: wait forever).
    ///
    /// After a `TIMEOUT` the input buffer of that call is given up to the
    /// session (it is freed when the late answer arrives): the [`Buffer`]
    /// is then dead and every use of it fails.
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// client.set_timeout(Some(std::time::Duration::from_secs(1)));
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn set_timeout(&self, timeout: Option<Duration>) {
        self.timeout_ns.set(timeout_to_ns(timeout));
    }

    /// The current call deadline (`None`: wait forever).
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// assert_eq!(client.timeout(), None);
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn timeout(&self) -> Option<Duration> {
        u64::try_from(self.timeout_ns.get())
            .ok()
            .map(Duration::from_nanos)
    }

    pub(crate) fn abandon(&self, call_id: u64, input: Handle) {
        self.abandoned.borrow_mut().insert(call_id, input);
    }

    pub(crate) fn keep_handler(&self, slot: Slot) {
        self.handlers.borrow_mut().push(slot);
    }

    pub(crate) fn take_abandoned(&self, call_id: u64) -> Option<Handle> {
        self.abandoned.borrow_mut().remove(&call_id)
    }

    /// Allocate a client-heap buffer of at least `size` bytes (0 gives the
    /// smallest class, 64 B). Errors: `ARENA_FULL`, `BUFFER_TOO_SMALL` (over
    /// 16 MiB). Does not block.
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// let buf = client.alloc(1000)?;
    /// assert!(buf.capacity() >= 1000);
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn alloc(&self, size: usize) -> Result<Buffer<'_>> {
        let size = u32::try_from(size).map_err(|_| Error::new(Code::BUFFER_TOO_SMALL))?;
        let mut h = sys::ffb_handle::default();
        // SAFETY: self.raw is a live client used by this thread only; h is a
        // valid out-pointer.
        Error::check(unsafe { sys::ffb_client_alloc(self.raw(), size, &mut h) })?;
        let handle = Handle::from_sys(h)
            .ok_or_else(|| Error::with_message(Code::PROTOCOL, "core returned handle 0"))?;
        let capacity = self.lookup(handle)?;
        Ok(Buffer::new(self, handle, capacity))
    }

    /// Allocate a buffer and copy `bytes` into it.
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// let buf = client.alloc_bytes(b"abc")?;
    /// assert_eq!(buf.read_vec(3)?, b"abc");
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn alloc_bytes(&self, bytes: &[u8]) -> Result<Buffer<'_>> {
        let buf = self.alloc(bytes.len())?;
        buf.write_at(0, bytes)?;
        Ok(buf)
    }

    /// Checked lookup of a handle this session holds: its capacity.
    /// Errors: `STALE_HANDLE`, `DOUBLE_FREE`, `INVALID_HANDLE`,
    /// `FOREIGN_HANDLE`, `BUSY`.
    ///
    /// ```no_run
    /// use ffb::Code;
    /// let client = ffb::Client::connect("app.sock")?;
    /// let buf = client.alloc(10)?;
    /// let h = buf.handle();
    /// buf.free()?;
    /// assert!(matches!(client.lookup(h).unwrap_err().code(),
    ///                  Code::STALE_HANDLE | Code::DOUBLE_FREE));
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn lookup(&self, handle: Handle) -> Result<u32> {
        self.data(handle).map(|(_, cap)| cap)
    }

    /// Checked lookup: the block's address in this process and capacity.
    pub(crate) fn data(&self, handle: Handle) -> Result<(*mut u8, u32)> {
        let mut p = ptr::null_mut();
        let mut cap = 0u32;
        // SAFETY: live client, valid out-pointers; the core validates the
        // handle before it writes them.
        Error::check(unsafe {
            sys::ffb_client_data(self.raw(), handle.to_sys(), &mut p, &mut cap)
        })?;
        if p.is_null() && cap != 0 {
            return Err(Error::with_message(
                Code::NULL_POINTER,
                "core returned no address",
            ));
        }
        Ok((p.cast::<u8>(), cap))
    }

    /// Free a block by handle (`ffb_client_free`).
    pub(crate) fn free_raw(&self, handle: Handle) -> Result<()> {
        // SAFETY: live client; the core checks the handle.
        Error::check(unsafe { sys::ffb_client_free(self.raw(), handle.to_sys()) })
    }

    /// Take back ownership of a handle this session holds (one given away
    /// by [`Buffer::into_handle`]). The lookup is checked; the result frees
    /// the block on drop. Adopting one handle twice is not unsafe: the
    /// second free fails with `DOUBLE_FREE` or `STALE_HANDLE`.
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// let h = client.alloc(8)?.into_handle();
    /// let buf = client.adopt(h)?;
    /// buf.free()?;
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn adopt(&self, handle: Handle) -> Result<Buffer<'_>> {
        let capacity = self.lookup(handle)?;
        Ok(Buffer::new(self, handle, capacity))
    }

    /// Resolve a callback name to its function id (cached by the core).
    /// Errors: `NOT_FOUND`, `INVALID_UTF8`, `INVALID_ARGUMENT`, `PEER_GONE`,
    /// `TIMEOUT`. Blocks for one round trip the first time.
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// assert_eq!(client.resolve("ffi.echo")?, 0x10000);
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn resolve(&self, name: &str) -> Result<u32> {
        let name = c_string(name)?;
        let mut id = 0u32;
        // SAFETY: live client, NUL-terminated name, valid out-pointer.
        Error::check(unsafe { sys::ffb_client_resolve(self.raw(), name.as_ptr(), &mut id) })?;
        Ok(id)
    }

    /// Call function `fn_id` with the first `len` bytes of `input` (or no
    /// input) and wait for the answer.
    ///
    /// The input buffer is lent to the server during the call and is yours
    /// again afterwards; a zero-copy reply *is* the input buffer, which is
    /// why the [`Response`] borrows it. Errors: the transport's (`TIMEOUT`,
    /// `PEER_GONE`, `TOO_MANY_CALLS`, `BUSY`, …) or the call's own code with
    /// the server's message (`NOT_FOUND`, `PANIC`, …).
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// let buf = client.alloc_bytes(b"x")?;
    /// let r = client.call(0x10000, Some(&buf), 1)?; // ffi.echo
    /// assert_eq!(r.handle(), Some(buf.handle()));
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn call<'c, 'i>(
        &'c self,
        fn_id: u32,
        input: Option<&'i Buffer<'c>>,
        len: usize,
    ) -> Result<Response<'c, 'i>> {
        let (h, len) = self.input_of(input, len)?;
        let mut r = sys::ffb_result::default();
        // SAFETY: live client; h is either 0 or a handle of this session
        // (checked by input_of and again by the core); r is a valid out-ptr.
        let st = unsafe {
            sys::ffb_client_call(self.raw(), fn_id, h, len, self.timeout_ns.get(), &mut r)
        };
        self.finish(st, r, input)
    }

    /// Call the callback registered as `name` with the first `len` bytes of
    /// `input`. Resolves the name once and caches the id (re-resolving once
    /// if the name was re-registered). Otherwise as [`Client::call`].
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// let buf = client.alloc_bytes(b"hello")?;
    /// let r = client.invoke("demo.upper", &buf, 5)?;
    /// assert_eq!(r.to_vec()?, b"HELLO");
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn invoke<'c, 'i>(
        &'c self,
        name: &str,
        input: &'i Buffer<'c>,
        len: usize,
    ) -> Result<Response<'c, 'i>> {
        self.invoke_opt(name, Some(input), len)
    }

    /// Call the callback `name` with no input.
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// let err = client.invoke_empty("no.such.name").unwrap_err();
    /// assert_eq!(err.code(), ffb::Code::NOT_FOUND);
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn invoke_empty(&self, name: &str) -> Result<Response<'_, '_>> {
        self.invoke_opt(name, None, 0)
    }

    fn invoke_opt<'c, 'i>(
        &'c self,
        name: &str,
        input: Option<&'i Buffer<'c>>,
        len: usize,
    ) -> Result<Response<'c, 'i>> {
        let name = c_string(name)?;
        let (h, len) = self.input_of(input, len)?;
        let mut r = sys::ffb_result::default();
        // SAFETY: live client, NUL-terminated name, input checked as in call.
        let st = unsafe {
            sys::ffb_client_invoke(
                self.raw(),
                name.as_ptr(),
                h,
                len,
                self.timeout_ns.get(),
                &mut r,
            )
        };
        self.finish(st, r, input)
    }

    /// Copy `bytes` into a new buffer, call `name`, copy the reply out and
    /// free both buffers: the simplest (not zero-copy) way to call.
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// assert_eq!(client.invoke_bytes("demo.upper", b"abc")?, b"ABC");
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn invoke_bytes(&self, name: &str, bytes: &[u8]) -> Result<Vec<u8>> {
        let buf = self.alloc_bytes(bytes)?;
        let out = self.invoke(name, &buf, bytes.len())?.to_vec();
        let _ = buf.free();
        out
    }

    /// Call the built-in `ffi.echo`: the reply is `input` itself (zero
    /// copy; [`Response::is_zero_copy`] is true and the handle is the same).
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// let buf = client.alloc(1 << 20)?;
    /// let r = client.echo(&buf, 1 << 20)?;
    /// assert_eq!(r.handle(), Some(buf.handle()));
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn echo<'c, 'i>(&'c self, input: &'i Buffer<'c>, len: usize) -> Result<Response<'c, 'i>> {
        self.call(sys::FFB_FN_ECHO, Some(input), len)
    }

    /// Call the built-in `ffi.version`: the server library's version.
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// println!("{}", client.version()?);
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn version(&self) -> Result<String> {
        let r = self.call(sys::FFB_FN_VERSION, None, 0)?;
        r.text()
    }

    /// The session's layout facts: a copy of the superblock the client
    /// validated at connect time (its private copy, not the shared arena).
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// let sb = client.superblock();
    /// assert_eq!(sb.magic, ffb::layout::FFB_ARENA_MAGIC);
    /// println!("session {} arena {} B, {} calls in flight at most",
    ///          sb.session_id, sb.arena_size, sb.max_inflight);
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn superblock(&self) -> sys::ffb_superblock {
        // SAFETY: live client; the core returns a pointer to the client's
        // own private, validated copy of the superblock (never NULL for a
        // live client), which nothing writes after connect. It is plain old
        // data, read here by value.
        unsafe { ptr::read(sys::ffb_client_superblock(self.raw())) }
    }

    /// A snapshot of this session's counters.
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// assert_eq!(client.stats()?.pending, 0);
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn stats(&self) -> Result<ClientStats> {
        let mut s = sys::ffb_client_stats::default();
        // SAFETY: live client, valid out-pointer.
        Error::check(unsafe { sys::ffb_client_stats(self.raw(), &mut s) })?;
        Ok(ClientStats {
            calls: s.calls,
            pending: s.pending,
            dropped_responses: s.dropped_responses,
            protocol_errors: s.protocol_errors,
            parks: s.parks,
            served_calls: s.served_calls,
        })
    }

    pub(crate) fn input_of(
        &self,
        input: Option<&Buffer<'_>>,
        len: usize,
    ) -> Result<(sys::ffb_handle, u32)> {
        let len = u32::try_from(len).map_err(|_| Error::new(Code::BUFFER_TOO_SMALL))?;
        match input {
            None if len == 0 => Ok((sys::ffb_handle::default(), 0)),
            None => Err(Error::with_message(
                Code::INVALID_ARGUMENT,
                "len without an input buffer",
            )),
            Some(b) => {
                if !ptr::eq(b.client(), self) {
                    return Err(Error::with_message(
                        Code::FOREIGN_HANDLE,
                        "buffer belongs to another client",
                    ));
                }
                if len > b.capacity() {
                    return Err(Error::new(Code::BUFFER_TOO_SMALL));
                }
                Ok((b.handle().to_sys(), len))
            }
        }
    }

    /// Turn the transport status and the result into a `Response`.
    ///
    /// The core fills `r` on every path (a transport failure as
    /// `{status, 0, 0}`) and also returns the call's own status, so `r`
    /// decides; `st` only matters if `r` claims success.
    pub(crate) fn finish<'c, 'i>(
        &'c self,
        st: sys::ffb_status,
        r: sys::ffb_result,
        input: Option<&'i Buffer<'c>>,
    ) -> Result<Response<'c, 'i>> {
        if r.status == sys::FFB_OK && st != sys::FFB_OK {
            return Err(Error::new(Code::from_raw(st)));
        }
        if (r.status == sys::FFB_ERR_TIMEOUT || r.status == sys::FFB_ERR_PEER_GONE)
            && r.handle.id == 0
        {
            // After TIMEOUT or PEER_GONE the input block may have been given
            // up to the session (ffb.h); the core knows whether it still is
            // ours.
            if let Some(b) = input {
                if self.lookup(b.handle()).is_err() {
                    b.mark_lost();
                }
            }
        }
        let reply = Handle::from_sys(r.handle);
        let is_input = |h: Handle| input.is_some_and(|b| b.handle() == h);
        if r.status != sys::FFB_OK {
            let message = match reply {
                None => None,
                Some(h) => {
                    let msg = self.read_message(h, r.len);
                    if !is_input(h) {
                        let _ = self.free_raw(h);
                    }
                    msg
                }
            };
            let code = Code::from_raw(r.status);
            return Err(match message {
                Some(m) if !m.is_empty() => Error::with_message(code, m),
                _ => Error::new(code),
            });
        }
        Ok(match reply {
            None => Response::empty(),
            Some(h) => match input {
                Some(b) if b.handle() == h => Response::input(b, r.len),
                _ => {
                    // A reply block the server gave us: ours until freed.
                    match self.lookup(h) {
                        Ok(cap) if r.len <= cap => {
                            Response::owned(Buffer::new(self, h, cap), r.len)
                        }
                        Ok(_) => {
                            let _ = self.free_raw(h);
                            return Err(Error::with_message(
                                Code::PROTOCOL,
                                "reply longer than its block",
                            ));
                        }
                        Err(e) => return Err(e),
                    }
                }
            },
        })
    }

    fn read_message(&self, h: Handle, len: u32) -> Option<String> {
        let (p, cap) = self.data(h).ok()?;
        let n = len.min(cap) as usize;
        let mut v = vec![0u8; n];
        // SAFETY: p points at a block of `cap` bytes this session holds (the
        // checked lookup succeeded) and n <= cap; v has n bytes. The block
        // is in shared memory, so we only copy it out through the raw
        // pointer and never form a reference to it.
        unsafe { ptr::copy_nonoverlapping(p, v.as_mut_ptr(), n) };
        Some(String::from_utf8_lossy(&v).into_owned())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // SAFETY: we own the client; no Buffer borrows it any more (they
        // hold &Client), so nothing uses it after this.
        unsafe { sys::ffb_client_close(self.raw()) };
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("raw", &self.raw).finish()
    }
}
