//! [`Server`]: registers named Rust callbacks and serves sessions, on a
//! Unix socket and/or in-process.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::callback::{self, Slot};
use crate::client::{c_string, clamp_u32, Client, ClientOptions};
use crate::deferred::{self, AsyncRequest, BoxTask, Executor, Live, Spawner};
use crate::error::{Code, Error, Result};
use crate::request::{Reply, Request};
use crate::session::DispatcherGuard;
use crate::sys;

/// Options for [`Server::with_options`]; unset values keep the core's
/// defaults (`ffb_server_options_init`).
///
/// ```
/// use std::time::Duration;
/// let o = ffb::ServerOptions::new()
///     .max_sessions(16)
///     .ring_entries(512)
///     .spin(Duration::from_micros(20));
/// # let _ = o;
/// ```
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    max_sessions: Option<u32>,
    ring_entries: Option<u32>,
    class_counts: Option<[u32; sys::FFB_NUM_CLASSES as usize]>,
    max_arena_size: Option<u64>,
    socket_mode: Option<u32>,
    spin: Option<Duration>,
    handshake_timeout: Option<Duration>,
    allowed_uids: Vec<libc::uid_t>,
    futex_doorbell: Option<bool>,
    dispatchers: Option<u32>,
    workers: Option<u32>,
    worker_spin: Option<Duration>,
    inline_budget: Option<Duration>,
}

impl ServerOptions {
    /// All defaults: 64 sessions, 256-slot rings, 1 GiB arena cap, socket
    /// mode 0600, 50 µs spin, 2 s handshake timeout, own uid only, futex
    /// doorbell where the kernel has it, one dispatcher, a worker per
    /// online CPU spinning 20 µs, a 200 µs inline budget.
    ///
    /// ```
    /// let o = ffb::ServerOptions::new();
    /// # let _ = o;
    /// ```
    pub fn new() -> Self {
        ServerOptions::default()
    }

    /// Cap on concurrent sessions.
    ///
    /// ```
    /// let o = ffb::ServerOptions::new().max_sessions(4);
    /// # let _ = o;
    /// ```
    pub fn max_sessions(mut self, n: u32) -> Self {
        self.max_sessions = Some(n);
        self
    }

    /// Slots per ring (a power of two); also the per-session in-flight cap.
    ///
    /// ```
    /// let o = ffb::ServerOptions::new().ring_entries(1024);
    /// # let _ = o;
    /// ```
    pub fn ring_entries(mut self, n: u32) -> Self {
        self.ring_entries = Some(n);
        self
    }

    /// Blocks per size class (64 B … 16 MiB) in each heap.
    ///
    /// ```
    /// let o = ffb::ServerOptions::new().class_counts([64, 64, 32, 32, 16, 8, 4, 4, 2, 1]);
    /// # let _ = o;
    /// ```
    pub fn class_counts(mut self, counts: [u32; 10]) -> Self {
        self.class_counts = Some(counts);
        self
    }

    /// Per-session arena size cap in bytes.
    ///
    /// ```
    /// let o = ffb::ServerOptions::new().max_arena_size(256 << 20);
    /// # let _ = o;
    /// ```
    pub fn max_arena_size(mut self, bytes: u64) -> Self {
        self.max_arena_size = Some(bytes);
        self
    }

    /// Mode of the listening socket file (e.g. `0o600`).
    ///
    /// ```
    /// let o = ffb::ServerOptions::new().socket_mode(0o660);
    /// # let _ = o;
    /// ```
    pub fn socket_mode(mut self, mode: u32) -> Self {
        self.socket_mode = Some(mode);
        self
    }

    /// How long the loop busy-polls before it parks.
    ///
    /// ```
    /// let o = ffb::ServerOptions::new().spin(std::time::Duration::ZERO);
    /// # let _ = o;
    /// ```
    pub fn spin(mut self, d: Duration) -> Self {
        self.spin = Some(d);
        self
    }

    /// How long a half-open client may take to send its hello.
    ///
    /// ```
    /// let o = ffb::ServerOptions::new().handshake_timeout(std::time::Duration::from_secs(1));
    /// # let _ = o;
    /// ```
    pub fn handshake_timeout(mut self, d: Duration) -> Self {
        self.handshake_timeout = Some(d);
        self
    }

    /// Also accept clients running as `uid` (the server's own uid always is).
    ///
    /// ```
    /// let o = ffb::ServerOptions::new().allow_uid(1001);
    /// # let _ = o;
    /// ```
    pub fn allow_uid(mut self, uid: u32) -> Self {
        self.allowed_uids.push(uid as libc::uid_t);
        self
    }

    /// Park on io_uring `FUTEX_WAIT` where the kernel has it (`true`, the
    /// default) or always on eventfds (`false`).
    ///
    /// ```
    /// let o = ffb::ServerOptions::new().futex_doorbell(false);
    /// # let _ = o;
    /// ```
    pub fn futex_doorbell(mut self, on: bool) -> Self {
        self.futex_doorbell = Some(on);
        self
    }

    /// Dispatcher threads (1..=64): each serves the rings of the sessions
    /// it is given at admission and runs their inline callbacks.
    ///
    /// ```
    /// let o = ffb::ServerOptions::new().dispatchers(2);
    /// # let _ = o;
    /// ```
    pub fn dispatchers(mut self, n: u32) -> Self {
        self.dispatchers = Some(n);
        self
    }

    /// Worker threads of the pool that runs [`Server::register`]ed and
    /// async handlers (0..=1024; default: the online CPUs). 0 means no pool:
    /// only [`Server::register_inline`] works then.
    ///
    /// ```
    /// let o = ffb::ServerOptions::new().workers(8);
    /// # let _ = o;
    /// ```
    pub fn workers(mut self, n: u32) -> Self {
        self.workers = Some(n);
        self
    }

    /// How long an idle worker busy-polls before it sleeps.
    ///
    /// ```
    /// let o = ffb::ServerOptions::new().worker_spin(std::time::Duration::ZERO);
    /// # let _ = o;
    /// ```
    pub fn worker_spin(mut self, d: Duration) -> Self {
        self.worker_spin = Some(d);
        self
    }

    /// An inline handler that runs longer than this is slow: counted in
    /// [`ServerStats::slow_inline_calls`] and logged once with its name
    /// (it delays every session of its dispatcher while it runs).
    ///
    /// ```
    /// let o = ffb::ServerOptions::new().inline_budget(std::time::Duration::from_micros(100));
    /// # let _ = o;
    /// ```
    pub fn inline_budget(mut self, d: Duration) -> Self {
        self.inline_budget = Some(d);
        self
    }

    /// The C options; borrows `self.allowed_uids` (the core copies them).
    fn to_sys(&self) -> Result<sys::ffb_server_options> {
        let mut o = std::mem::MaybeUninit::<sys::ffb_server_options>::zeroed();
        // SAFETY: o is valid for writes of one ffb_server_options, which the
        // core fills completely.
        unsafe { sys::ffb_server_options_init(o.as_mut_ptr()) };
        // SAFETY: initialised just above (and all-zero is valid anyway).
        let mut o = unsafe { o.assume_init() };
        if let Some(v) = self.max_sessions {
            o.max_sessions = v;
        }
        if let Some(v) = self.ring_entries {
            o.ring_entries = v;
        }
        if let Some(v) = self.class_counts {
            o.class_counts = v;
        }
        if let Some(v) = self.max_arena_size {
            o.max_arena_size = v;
        }
        if let Some(v) = self.socket_mode {
            o.socket_mode = v;
        }
        if let Some(v) = self.spin {
            o.spin_ns = clamp_u32(v.as_nanos());
        }
        if let Some(v) = self.handshake_timeout {
            o.handshake_timeout_ms = clamp_u32(v.as_millis());
        }
        if !self.allowed_uids.is_empty() {
            o.n_allowed_uids = u32::try_from(self.allowed_uids.len())
                .map_err(|_| Error::with_message(Code::INVALID_ARGUMENT, "too many uids"))?;
            o.allowed_uids = self.allowed_uids.as_ptr();
        }
        if let Some(v) = self.futex_doorbell {
            o.use_futex_doorbell = i32::from(v);
        }
        if let Some(v) = self.dispatchers {
            o.dispatchers = v;
        }
        if let Some(v) = self.workers {
            o.workers = v;
        }
        if let Some(v) = self.worker_spin {
            o.worker_spin_ns = clamp_u32(v.as_nanos());
        }
        if let Some(v) = self.inline_budget {
            o.inline_budget_ns = clamp_u32(v.as_nanos());
        }
        Ok(o)
    }
}

/// Counters of a server (`ffb_server_stats`).
///
/// ```
/// let server = ffb::Server::new()?;
/// assert_eq!(server.stats()?.calls, 0);
/// # Ok::<(), ffb::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Sessions open now.
    pub sessions_active: u64,
    /// Handshakes completed.
    pub sessions_total: u64,
    /// Sessions refused (credentials, version, caps).
    pub sessions_refused: u64,
    /// Sessions closed for a protocol violation.
    pub sessions_cut: u64,
    /// CALL entries dispatched (built-ins included).
    pub calls: u64,
    /// Protocol violations seen.
    pub protocol_errors: u64,
    /// Doorbells rung toward clients.
    pub wakeups_sent: u64,
    /// Times a dispatcher went to sleep.
    pub parks: u64,
    /// Calls handed to the worker pool.
    pub pooled_calls: u64,
    /// Calls kept past their callback (async handlers among them).
    pub deferred_calls: u64,
    /// Kept calls not answered yet (now).
    pub calls_in_flight: u64,
    /// CANCEL entries received (callers that gave up).
    pub cancels: u64,
    /// Inline calls that ran over the inline budget.
    pub slow_inline_calls: u64,
    /// Calls the server made to client handlers.
    pub server_calls: u64,
    /// Stream items sent to clients.
    pub stream_items: u64,
    /// Client answers naming no pending call.
    pub answers_dropped: u64,
    /// Connections closed before their hello was read (timed out, evicted).
    pub handshakes_dropped: u64,
    /// Connections whose hello is not read yet (now).
    pub sessions_handshaking: u64,
    /// Stats requests answered (`ffb stat`; not sessions).
    pub stats_requests: u64,
    /// Stats requests refused (credentials, malformed).
    pub stats_refused: u64,
    /// Pooled calls waiting for a free worker (now).
    pub pool_waiting: u64,
    /// Workers running a pooled call (now).
    pub pool_busy: u64,
    /// Time since the server was created.
    pub uptime: std::time::Duration,
    /// Calls answered, by status code: `results[0]` are the successful
    /// ones; codes from 31 up count in `results[31]`.
    pub results: [u64; 32],
    /// The registered functions, lowest slot first (at most 64;
    /// `functions_total` says how many there are).
    pub functions: Vec<FunctionStats>,
    /// Functions registered.
    pub functions_total: u32,
}

/// One function's answered calls and their latency, from the dispatcher
/// taking the request to its answer being pushed (`ffb_stats_fn`).
///
/// ```
/// let server = ffb::Server::new()?;
/// let echo = server.stats()?.functions.into_iter().find(|f| f.name == "ffi.echo").unwrap();
/// assert_eq!((echo.calls, echo.p50()), (0, std::time::Duration::ZERO));
/// # Ok::<(), ffb::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FunctionStats {
    /// Its function id.
    pub id: u32,
    /// Its name, cut to 48 bytes.
    pub name: String,
    /// Calls answered (a cancelled one too).
    pub calls: u64,
    /// Calls answered with a status other than OK.
    pub errors: u64,
    /// `latency[b]` counts calls of `[2^(b-1), 2^b)` ns (`b = 31`: 2^30 ns or more).
    pub latency: [u64; 32],
}

impl FunctionStats {
    /// The q-quantile (`0 < q <= 1`) of the latency histogram: the upper
    /// bound of its bucket, zero with no calls.
    pub fn quantile(&self, q: f64) -> std::time::Duration {
        let total: u64 = self.latency.iter().sum();
        if total == 0 {
            return std::time::Duration::ZERO;
        }
        let rank = ((q * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (b, n) in self.latency.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return std::time::Duration::from_nanos(1u64 << b);
            }
        }
        std::time::Duration::from_nanos(1u64 << 31)
    }

    /// The median latency (see [`FunctionStats::quantile`]).
    pub fn p50(&self) -> std::time::Duration {
        self.quantile(0.50)
    }

    /// The 99th percentile latency (see [`FunctionStats::quantile`]).
    pub fn p99(&self) -> std::time::Duration {
        self.quantile(0.99)
    }
}

/// A server: named callbacks plus the threads that serve sessions.
///
/// Every server has the built-ins `ffi.echo` (zero-copy echo) and
/// `ffi.version`. Handlers are registered under names, and the kind of
/// registration says where they run:
///
/// * [`Server::register`]: on the worker pool (the safe default: a handler
///   may take milliseconds or block; it delays no other call);
/// * [`Server::register_inline`]: on the dispatcher thread of the calling
///   session (for handlers of a few microseconds that never block: no
///   hand-off, the lowest latency);
/// * [`Server::register_async`]: a future, run by an executor (the pool by
///   default, or tokio / your own with [`Server::set_spawner`]); it may
///   await anything and answers when it finishes; it is dropped if the
///   caller cancels.
///
/// Every handler runs under `catch_unwind`, so a panic answers `PANIC`
/// with the panic message and the server goes on.
///
/// `Server` is `Send + Sync`: register, unregister, lookup, stop and stats
/// work from any thread, also while serving. Serve either on the calling
/// thread ([`Server::run`], blocks until [`Server::stop`]) or on a thread of
/// the core's ([`Server::start`]). Dropping the server (or
/// [`Server::shutdown`]) stops the loop, joins its thread, says goodbye to
/// every session, removes the socket file and frees the callbacks.
///
/// ```
/// use ffb::{Reply, Server};
/// let server = Server::new()?;
/// server.register("greet", |req| Ok(Reply::bytes(format!("hello, {}", req.text()?))))?;
/// server.start()?;
/// let client = server.connect_inproc()?;
/// assert_eq!(client.invoke_bytes("greet", b"world")?, b"hello, world");
/// drop(client);
/// server.shutdown()?;
/// # Ok::<(), ffb::Error>(())
/// ```
pub struct Server {
    raw: NonNull<sys::ffb_server>,
    /// Live registrations by name. The lock is held across the core's
    /// register/unregister so a slot is dropped only after its callback is
    /// gone from the core.
    callbacks: Mutex<HashMap<String, Slot>>,
    serving: AtomicBool,
    /// Orders `listen` before serving: the core allows listen only before
    /// run/start, so both take this lock around their check.
    lifecycle: Mutex<()>,
    /// The pool executor async handlers run on unless a spawner is set.
    pub(crate) executor: Arc<Executor>,
    spawner: Mutex<Option<Spawner>>,
    /// Async calls not answered yet (drop waits for them, cancelled).
    pub(crate) live: Arc<Live>,
}

// SAFETY: ffb.h: "an ffb_server may be used from any thread (registration
// is thread-safe)"; callbacks run on its one dispatcher thread; the server
// is run at most once at a time (the `serving` flag), and the callback
// slots are Send + Sync.
unsafe impl Send for Server {}
// SAFETY: see Send: every &self method is one the core allows from any
// thread concurrently.
unsafe impl Sync for Server {}

impl Server {
    /// A server with default options, not listening on any socket (use
    /// [`Server::listen`] or only in-process clients).
    /// Errors: `SYSTEM` (io_uring setup).
    ///
    /// ```
    /// let server = ffb::Server::new()?;
    /// # drop(server);
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn new() -> Result<Server> {
        Server::with_options(&ServerOptions::new())
    }

    /// A server with `options`. Errors: `INVALID_ARGUMENT` (bad options),
    /// `SYSTEM`.
    ///
    /// ```
    /// let server = ffb::Server::with_options(&ffb::ServerOptions::new().max_sessions(2))?;
    /// # drop(server);
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn with_options(options: &ServerOptions) -> Result<Server> {
        let o = options.to_sys()?;
        let mut raw = ptr::null_mut();
        // SAFETY: o is a valid options struct whose uid pointer (if any)
        // borrows `options`, alive for the call; raw is a valid out-pointer.
        Error::check(unsafe { sys::ffb_server_create(&o, &mut raw) })?;
        let raw = NonNull::new(raw).ok_or(Error::new(Code::NULL_POINTER))?;
        Ok(Server {
            raw,
            callbacks: Mutex::new(HashMap::new()),
            serving: AtomicBool::new(false),
            lifecycle: Mutex::new(()),
            executor: Executor::new(raw.as_ptr()),
            spawner: Mutex::new(None),
            live: Live::new(),
        })
    }

    /// Create a server and listen on the Unix socket `path`.
    ///
    /// ```no_run
    /// let server = ffb::Server::bind("app.sock")?;
    /// server.run()?; // serves until stop()
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn bind(path: impl AsRef<Path>) -> Result<Server> {
        Server::bind_with(path, &ServerOptions::new())
    }

    /// [`Server::with_options`] + [`Server::listen`].
    ///
    /// ```no_run
    /// let server = ffb::Server::bind_with("app.sock",
    ///     &ffb::ServerOptions::new().socket_mode(0o600))?;
    /// # drop(server);
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn bind_with(path: impl AsRef<Path>, options: &ServerOptions) -> Result<Server> {
        let s = Server::with_options(options)?;
        s.listen(path)?;
        Ok(s)
    }

    /// Listen on the Unix socket `path` (a stale socket file is replaced, a
    /// live one is `SYSTEM`/EADDRINUSE). Only before serving:
    /// `INVALID_ARGUMENT` once [`Server::run`] or [`Server::start`] began.
    ///
    /// ```no_run
    /// let server = ffb::Server::new()?;
    /// server.listen("app.sock")?;
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn listen(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = CString::new(path.as_ref().as_os_str().as_bytes()).map_err(|_| {
            Error::with_message(Code::INVALID_ARGUMENT, "socket path contains a NUL byte")
        })?;
        self.before_serving(|raw| {
            // SAFETY: live server, NUL-terminated path; not serving yet,
            // and the lifecycle lock keeps run/start from beginning.
            Error::check(unsafe { sys::ffb_server_listen(raw, path.as_ptr()) })
        })
    }

    /// Run `f` on the raw server while it is not serving (run/start wait
    /// for it); `INVALID_ARGUMENT` once serving began.
    pub(crate) fn before_serving<T>(
        &self,
        f: impl FnOnce(*mut sys::ffb_server) -> Result<T>,
    ) -> Result<T> {
        let _order = self.lifecycle.lock().unwrap_or_else(|p| p.into_inner());
        if self.serving.load(Ordering::Acquire) {
            return Err(Error::with_message(
                Code::INVALID_ARGUMENT,
                "listen must come before serving",
            ));
        }
        f(self.raw())
    }

    fn raw(&self) -> *mut sys::ffb_server {
        self.raw.as_ptr()
    }

    /// The raw `ffb_server`, still owned by this `Server`. Useful for
    /// `sys::ffb_server_stop` from a signal handler (it is
    /// async-signal-safe) while the server is alive.
    ///
    /// ```
    /// let server = ffb::Server::new()?;
    /// assert!(!server.as_raw().is_null());
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn as_raw(&self) -> *mut sys::ffb_server {
        self.raw()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        // A panic while holding the lock cannot leave the map inconsistent
        // with the core (each operation is one insert or remove), so a
        // poisoned lock is safe to keep using.
        self.callbacks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Register `f` under `name` (UTF-8, 1–255 bytes) to run on the worker
    /// pool; returns its function id. Any thread, also while serving, but
    /// not from inside a callback.
    ///
    /// Each call of `f` runs on a worker thread: it may take as long as it
    /// likes or block (on I/O, a lock, a database), and no other call
    /// waits for it but the ones beyond the pool's size. Its input is a
    /// [`Request`] (read in place through [`Request::input`], or copied);
    /// it answers with a [`Reply`] or an [`Error`] (code and message go to
    /// the client). A long one can watch [`Request::is_cancelled`]. A panic
    /// in `f` answers `PANIC` with the panic message (this needs the
    /// default `panic = "unwind"`; with `panic = "abort"` a panic ends the
    /// process).
    /// Errors: `INVALID_UTF8`, `INVALID_ARGUMENT` (also: a server without
    /// workers), `ALREADY_EXISTS`, `ARENA_FULL` (no function slot left).
    ///
    /// ```
    /// use ffb::{Code, Error, Reply, Server};
    /// let server = Server::new()?;
    /// server.register("math.double", |req| {
    ///     let mut b = [0u8; 8];
    ///     req.read_at(0, &mut b)
    ///         .map_err(|_| Error::with_message(Code::INVALID_ARGUMENT, "need 8 bytes"))?;
    ///     Ok(Reply::bytes((2 * i64::from_le_bytes(b)).to_le_bytes().to_vec()))
    /// })?;
    /// assert_eq!(server.register("math.double", |_| Ok(Reply::empty())).unwrap_err().code(),
    ///            Code::ALREADY_EXISTS);
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn register<F>(&self, name: &str, f: F) -> Result<u32>
    where
        F: Fn(&Request<'_>) -> Result<Reply> + Send + Sync + 'static,
    {
        let (slot, tramp, ctx) = Slot::new(f);
        self.register_slot(name, slot, tramp, ctx, sys::FFB_CB_POOL as u32)
    }

    /// Register `f` under `name` to run inline, on the dispatcher thread of
    /// the calling session: no hand-off to a worker, the lowest latency
    /// (what the built-in `ffi.echo` does). For handlers that take a few
    /// microseconds and never block: while `f` runs, no other call of the
    /// sessions of that dispatcher is served. One that runs past the inline
    /// budget is counted and logged once. Same errors as
    /// [`Server::register`].
    ///
    /// ```
    /// let server = ffb::Server::new()?;
    /// server.register_inline("fast.len", |req| Ok(ffb::Reply::bytes(req.len().to_le_bytes().to_vec())))?;
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn register_inline<F>(&self, name: &str, f: F) -> Result<u32>
    where
        F: Fn(&Request<'_>) -> Result<Reply> + Send + Sync + 'static,
    {
        // On a dispatcher: a blocking wait for a client's answer (which
        // only this thread could deliver) is refused inside f.
        let f = move |req: &Request<'_>| {
            let _on = DispatcherGuard::enter();
            f(req)
        };
        let (slot, tramp, ctx) = Slot::new(f);
        self.register_slot(name, slot, tramp, ctx, sys::FFB_CB_INLINE as u32)
    }

    /// Register an async handler: `f` makes a future from the call's
    /// [`AsyncRequest`] (owned, `Send`), and the future's output is the
    /// answer, whenever it comes, from whatever thread it finishes on. The
    /// future may await anything: a channel, a timer, a tokio task, another
    /// call. It runs on the server's worker pool unless a spawner is set
    /// ([`Server::set_spawner`], or `use_tokio` with the `tokio` feature)
    /// before this registration. If the caller cancels (a Go context, a
    /// client timeout, the session's end, stop), the future is dropped at
    /// once and the call answers `CANCELLED`; a panic answers `PANIC`. No
    /// thread is held while it waits. Same errors as [`Server::register`].
    ///
    /// ```
    /// use std::sync::mpsc;
    /// let server = ffb::Server::new()?;
    /// server.register_async("later.upper", |req: ffb::AsyncRequest| async move {
    ///     let text = req.text()?;
    ///     // Any future works here; this one just answers at once.
    ///     Ok(ffb::Reply::bytes(text.to_uppercase()))
    /// })?;
    /// server.start()?;
    /// let client = server.connect_inproc()?;
    /// assert_eq!(client.invoke_bytes("later.upper", b"async")?, b"ASYNC");
    /// # drop(client);
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn register_async<F, Fut>(&self, name: &str, f: F) -> Result<u32>
    where
        F: Fn(AsyncRequest) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<Reply>> + Send + 'static,
    {
        let custom = self.custom_spawner();
        // On the pool executor the first poll runs where the call starts: a
        // worker. Another executor takes the future from the dispatcher,
        // which only keeps the call and spawns.
        let flags = if custom.is_some() {
            sys::FFB_CB_INLINE
        } else {
            sys::FFB_CB_POOL
        };
        let handler = AsyncHandler {
            f,
            inline: custom.is_some(),
            spawn: custom.unwrap_or_else(|| self.executor.spawner()),
            live: Arc::clone(&self.live),
        };
        let (slot, tramp, ctx) = Slot::boxed(handler, Some(async_trampoline::<F, Fut>));
        self.register_slot(name, slot, tramp, ctx, flags as u32)
    }

    /// Run the futures of async handlers registered from now on with
    /// `spawn` (any executor: it is handed each call's task and must poll
    /// it to completion, from any thread). Without it they run on the
    /// server's worker pool.
    ///
    /// ```
    /// let server = ffb::Server::new()?;
    /// // A spawner that runs every task on a thread of its own (for the
    /// // example; real code hands it to its executor).
    /// server.set_spawner(|task| {
    ///     std::thread::spawn(move || {
    ///         let waker = std::task::Waker::noop();
    ///         let mut cx = std::task::Context::from_waker(&waker);
    ///         let mut task = task;
    ///         while task.as_mut().poll(&mut cx).is_pending() {
    ///             std::thread::yield_now();
    ///         }
    ///     });
    /// });
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn set_spawner(&self, spawn: impl Fn(BoxTask) + Send + Sync + 'static) {
        *self.spawner.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(spawn));
    }

    /// Run the futures of async handlers registered from now on on the
    /// tokio runtime of `handle` (feature `tokio`).
    ///
    /// ```
    /// let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    /// let server = ffb::Server::new()?;
    /// server.use_tokio(rt.handle().clone());
    /// server.register_async("later.nap", |_req| async move {
    ///     tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    ///     Ok(ffb::Reply::empty())
    /// })?;
    /// server.start()?;
    /// let client = server.connect_inproc()?;
    /// client.invoke_empty("later.nap")?;
    /// # drop(client);
    /// # Ok::<(), ffb::Error>(())
    /// ```
    #[cfg(feature = "tokio")]
    pub fn use_tokio(&self, handle: tokio::runtime::Handle) {
        *self.spawner.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(deferred::tokio_spawner(handle));
    }

    /// The spawner set with [`Server::set_spawner`] / `use_tokio`, if any.
    pub(crate) fn custom_spawner(&self) -> Option<Spawner> {
        self.spawner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn register_slot(
        &self,
        name: &str,
        slot: Slot,
        tramp: sys::ffb_callback_fn,
        ctx: *mut std::ffi::c_void,
        flags: u32,
    ) -> Result<u32> {
        if callback::in_callback() {
            return Err(callback::reentry_error());
        }
        let cname = c_string(name)?;
        let mut map = self.lock();
        let mut id = 0u32;
        // SAFETY: live server; cname is NUL-terminated; ctx stays valid
        // until the slot is dropped, which happens only after the core has
        // forgotten it (failed here, unregistered, or the server destroyed).
        let st = unsafe {
            sys::ffb_server_register_flags(self.raw(), cname.as_ptr(), tramp, ctx, flags, &mut id)
        };
        if st != sys::FFB_OK {
            drop(map);
            drop(slot);
            return Err(Error::new(Code::from_raw(st)));
        }
        map.insert(name.to_owned(), slot);
        Ok(id)
    }

    /// Remove `name`. When it returns, the callback is not running and
    /// never will again, and its closure has been dropped; calls to it get
    /// `NOT_FOUND`. Any thread except a callback. Errors: `NOT_FOUND`,
    /// `INVALID_ARGUMENT` (a built-in, or from a callback). May wait for a
    /// running call of that callback to finish.
    ///
    /// ```
    /// let server = ffb::Server::new()?;
    /// server.register("tmp", |_| Ok(ffb::Reply::empty()))?;
    /// server.unregister("tmp")?;
    /// assert_eq!(server.unregister("tmp").unwrap_err().code(), ffb::Code::NOT_FOUND);
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn unregister(&self, name: &str) -> Result<()> {
        if callback::in_callback() {
            return Err(callback::reentry_error());
        }
        let cname = c_string(name)?;
        let mut map = self.lock();
        // SAFETY: live server, NUL-terminated name; not called from a
        // callback (checked above for ours).
        Error::check(unsafe { sys::ffb_server_unregister(self.raw(), cname.as_ptr()) })?;
        let slot = map.remove(name);
        drop(map);
        drop(slot);
        Ok(())
    }

    /// The current function id of `name`. Any thread. `NOT_FOUND`.
    ///
    /// ```
    /// let server = ffb::Server::new()?;
    /// assert_eq!(server.lookup("ffi.echo")?, 0x10000);
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn lookup(&self, name: &str) -> Result<u32> {
        let cname = c_string(name)?;
        let mut id = 0u32;
        // SAFETY: live server, NUL-terminated name, valid out-pointer.
        Error::check(unsafe { sys::ffb_server_lookup(self.raw(), cname.as_ptr(), &mut id) })?;
        Ok(id)
    }

    fn enter_serving(&self) -> Result<()> {
        let _order = self.lifecycle.lock().unwrap_or_else(|p| p.into_inner());
        if self.serving.swap(true, Ordering::AcqRel) {
            return Err(Error::with_message(
                Code::INVALID_ARGUMENT,
                "the server is already serving",
            ));
        }
        Ok(())
    }

    /// Serve on the calling thread until [`Server::stop`] (from another
    /// thread or a signal handler). Blocks. Returns `Ok` after a stop,
    /// `SYSTEM` on a fatal io_uring error, `INVALID_ARGUMENT` if the server
    /// is already serving.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let server = Arc::new(ffb::Server::new()?);
    /// let s = Arc::clone(&server);
    /// let loop_thread = std::thread::spawn(move || s.run());
    /// let client = server.connect_inproc()?;
    /// assert!(!client.version()?.is_empty());
    /// drop(client);
    /// server.stop()?;
    /// loop_thread.join().unwrap()?;
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn run(&self) -> Result<()> {
        self.enter_serving()?;
        // SAFETY: live server; only one thread runs the loop (flag above).
        let st = unsafe { sys::ffb_server_run(self.raw()) };
        self.serving.store(false, Ordering::Release);
        Error::check(st)
    }

    /// Serve on a new thread (the core's); returns at once. The thread is
    /// joined by [`Server::shutdown`] or drop.
    ///
    /// ```
    /// let server = ffb::Server::new()?;
    /// server.start()?;
    /// let client = server.connect_inproc()?;
    /// # drop(client);
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn start(&self) -> Result<()> {
        self.enter_serving()?;
        // SAFETY: live server; only one loop (flag above).
        let st = unsafe { sys::ffb_server_start(self.raw()) };
        if st != sys::FFB_OK {
            self.serving.store(false, Ordering::Release);
        }
        Error::check(st)
    }

    /// Ask the loop to stop: every session gets a goodbye (`CLOSED`) and is
    /// dropped. Any thread; does not wait. Stopping a server that is not
    /// serving is harmless.
    ///
    /// ```
    /// let server = ffb::Server::new()?;
    /// server.stop()?;
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn stop(&self) -> Result<()> {
        // SAFETY: live server; ffb_server_stop may be called from any thread.
        Error::check(unsafe { sys::ffb_server_stop(self.raw()) })
    }

    /// A snapshot of the counters and of the registered functions' figures
    /// (what `ffb stat` shows; each counter a relaxed read). Any thread;
    /// takes the registry's lock briefly.
    ///
    /// ```
    /// let server = ffb::Server::new()?;
    /// println!("{:?}", server.stats()?);
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn stats(&self) -> Result<ServerStats> {
        let mut s = sys::ffb_server_stats::default();
        // SAFETY: live server, valid out-pointer.
        Error::check(unsafe { sys::ffb_server_stats(self.raw(), &mut s) })?;
        // SAFETY: ffb_stats_fn is integers and byte arrays: all zeroes is a valid value.
        let zero: sys::ffb_stats_fn = unsafe { std::mem::zeroed() };
        let mut fns = vec![zero; sys::FFB_STATS_MAX_FUNCTIONS as usize];
        let (mut n, mut total) = (0u32, 0u32);
        // SAFETY: live server; fns holds FFB_STATS_MAX_FUNCTIONS entries, n and total are valid.
        Error::check(unsafe {
            sys::ffb_server_fn_stats(
                self.raw(),
                fns.as_mut_ptr(),
                fns.len() as u32,
                &mut n,
                &mut total,
            )
        })?;
        fns.truncate(n as usize);
        let functions = fns
            .iter()
            .map(|f| FunctionStats {
                id: f.fn_id,
                name: String::from_utf8_lossy(&f.name[..(f.name_len as usize).min(f.name.len())])
                    .into_owned(),
                calls: f.calls,
                errors: f.errors,
                latency: f.latency,
            })
            .collect();
        Ok(ServerStats {
            sessions_active: s.sessions_active,
            sessions_total: s.sessions_total,
            sessions_refused: s.sessions_refused,
            sessions_cut: s.sessions_cut,
            calls: s.calls,
            protocol_errors: s.protocol_errors,
            wakeups_sent: s.wakeups_sent,
            parks: s.parks,
            pooled_calls: s.pooled_calls,
            deferred_calls: s.deferred_calls,
            calls_in_flight: s.calls_in_flight,
            cancels: s.cancels,
            slow_inline_calls: s.slow_inline_calls,
            server_calls: s.server_calls,
            stream_items: s.stream_items,
            answers_dropped: s.answers_dropped,
            handshakes_dropped: s.handshakes_dropped,
            sessions_handshaking: s.sessions_handshaking,
            stats_requests: s.stats_requests,
            stats_refused: s.stats_refused,
            pool_waiting: s.pool_waiting,
            pool_busy: s.pool_busy,
            uptime: std::time::Duration::from_nanos(s.uptime_ns),
            results: s.results,
            functions,
            functions_total: total,
        })
    }

    /// Whether the loop parks on io_uring `FUTEX_WAIT` (else eventfds).
    ///
    /// ```
    /// let server = ffb::Server::new()?;
    /// println!("futex doorbell: {}", server.uses_futex());
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn uses_futex(&self) -> bool {
        // SAFETY: live server.
        unsafe { sys::ffb_server_uses_futex(self.raw()) != 0 }
    }

    /// A client of this server inside this process (a socketpair: same
    /// handshake, arena and rings, no listening socket). The loop must be
    /// serving ([`Server::start`], or [`Server::run`] on another thread).
    ///
    /// ```
    /// let server = ffb::Server::new()?;
    /// server.start()?;
    /// let client = server.connect_inproc()?;
    /// let buf = client.alloc_bytes(b"zero copy")?;
    /// assert!(client.echo(&buf, 9)?.is_zero_copy());
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn connect_inproc(&self) -> Result<Client> {
        self.connect_inproc_with(&ClientOptions::new())
    }

    /// [`Server::connect_inproc`] with client options.
    ///
    /// ```
    /// let server = ffb::Server::new()?;
    /// server.start()?;
    /// let client = server.connect_inproc_with(&ffb::ClientOptions::new().wait_mode(ffb::WaitMode::Spin))?;
    /// # drop(client);
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn connect_inproc_with(&self, options: &ClientOptions) -> Result<Client> {
        let o = options.to_sys();
        let mut raw = ptr::null_mut();
        // SAFETY: live server, valid options and out-pointer.
        Error::check(unsafe { sys::ffb_server_connect_inproc(self.raw(), &o, &mut raw) })?;
        // SAFETY: on OK the core gives us a client to own.
        unsafe { Client::from_raw(raw, options) }
    }

    /// Stop gracefully and free everything: stop the loop, join its thread
    /// (if started), say goodbye to every session, remove the socket file,
    /// drop the callbacks. Returns the counters as the loop was told to
    /// stop. Not from inside a callback (it would join its own thread).
    ///
    /// ```
    /// let server = ffb::Server::new()?;
    /// server.start()?;
    /// let stats = server.shutdown()?;
    /// assert_eq!(stats.calls, 0);
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn shutdown(self) -> Result<ServerStats> {
        self.stop()?;
        let stats = self.stats()?;
        drop(self);
        Ok(stats)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if callback::in_callback() {
            // The last reference went away inside a callback, i.e. on the
            // dispatcher thread: destroying here would join that very thread and
            // free the running callback. Stop the loop and leak the server
            // and its callbacks instead.
            let _ = self.stop();
            std::mem::forget(std::mem::take(&mut *self.lock()));
            return;
        }
        // Stop: every kept call is cancelled, so each async handler's future
        // is dropped and its call answered; let that happen (their tasks
        // may still need the pool) before no task may post any more.
        let _ = self.stop();
        self.live.wait_idle(Duration::from_secs(5));
        self.executor.close();
        // SAFETY: we own the server and nobody else uses it (drop has
        // &mut self; a `run` on another thread would hold a borrow).
        // destroy joins the server's threads, so no callback runs
        // afterwards; only then are the callback slots dropped (with the
        // map, below).
        unsafe { sys::ffb_server_destroy(self.raw()) };
        let map = std::mem::take(&mut *self.lock());
        drop(map);
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.lock().keys().cloned().collect();
        f.debug_struct("Server")
            .field("raw", &self.raw)
            .field("callbacks", &names)
            .finish()
    }
}

/// What an async registration's trampoline gets as its ctx.
struct AsyncHandler<F> {
    f: F,
    /// Registered inline (a custom spawner): f runs on a dispatcher.
    inline: bool,
    spawn: Spawner,
    live: Arc<Live>,
}

/// The `ffb_callback_fn` of an async handler: keep the call, make the
/// future, hand its driver to the spawner.
///
/// # Safety
/// Called only by the core, with the live call and the ctx of a slot made
/// by [`Server::register_async`] for this `F`, while the slot is alive.
unsafe extern "C" fn async_trampoline<F, Fut>(
    call: *mut sys::ffb_call,
    ctx: *mut std::ffi::c_void,
) -> sys::ffb_status
where
    F: Fn(AsyncRequest) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Reply>> + Send + 'static,
{
    if call.is_null() || ctx.is_null() {
        return sys::FFB_ERR_NULL_POINTER;
    }
    // SAFETY: ctx is the Box<AsyncHandler<F>> of a live slot; shared use
    // from the core's threads is fine (F, Spawner and Live are Sync).
    let h = unsafe { &*ctx.cast::<AsyncHandler<F>>() };
    let _on = h.inline.then(DispatcherGuard::enter);
    callback::catching(call, || deferred::start(call, &h.f, &h.spawn, &h.live))
}
