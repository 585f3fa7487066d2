//! [`Session`] (and `Server::sessions`): a server's handle on one client
//! session, to call the client's own handlers (Go `Client.Handle` /
//! `HandleStream`) -- the server-to-client half of PROTOCOL.md §5.7/§5.8
//! over `ffb_session_*`.
//!
//! A call is sent when it is made ([`Session::call`]); its answer comes to
//! a C callback on the session's dispatcher thread, which copies the bytes
//! (they are valid during the callback only) into the call's shared state
//! and wakes whoever waits: the [`PendingCall`] future, or a thread in
//! [`Session::call_blocking`]. A stream's items come the same way into a
//! queue that the [`ItemStream`] drains, granting the client one unit of
//! credit per item taken, so the queue never holds more than the credit
//! (`FFB_STREAM_INITIAL_CREDIT` items). Dropping a call or a stream that
//! has not ended cancels it (`ffb_session_cancel`): the client's handler
//! sees its context end.
//!
//! The C callbacks own one strong count of the shared state from the send
//! until `done`, which the core runs exactly once for every call it took.

use std::cell::Cell;
use std::collections::VecDeque;
use std::ffi::c_void;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::client::{c_string, clamp_u32};
use crate::error::{Code, Error, Result};
use crate::server::Server;
use crate::sys;

thread_local! {
    /// Whether this thread runs on a dispatcher of the core now (an
    /// inline handler, or one of the core's callbacks into this crate).
    static ON_DISPATCHER: Cell<u32> = const { Cell::new(0) };
}

/// Marks this thread as a dispatcher while it lives: blocking waits for an
/// answer (which only a dispatcher can deliver) are refused on it.
pub(crate) struct DispatcherGuard;

impl DispatcherGuard {
    pub(crate) fn enter() -> DispatcherGuard {
        ON_DISPATCHER.with(|c| c.set(c.get() + 1));
        DispatcherGuard
    }
}

impl Drop for DispatcherGuard {
    fn drop(&mut self) {
        ON_DISPATCHER.with(|c| c.set(c.get().saturating_sub(1)));
    }
}

fn on_dispatcher() -> bool {
    ON_DISPATCHER.with(|c| c.get() > 0)
}

/// A counted reference to one client session of a server
/// (`ffb_session`). Get one from a handler's request
/// ([`crate::Request::session`], [`crate::AsyncRequest::session`]) or from
/// [`crate::Server::sessions`]. It stays valid after the session ended:
/// calls then fail with `PEER_GONE` (the client went) or `CLOSED` (the
/// server stops). `Send + Sync`; clone it freely (a reference count).
///
/// ```
/// let server = ffb::Server::new()?;
/// server.start()?;
/// let client = server.connect_inproc()?;
/// let sessions = loop {
///     let all = server.sessions()?;
///     if !all.is_empty() { break all; } // listed once a dispatcher serves it
///     std::thread::yield_now();
/// };
/// assert_ne!(sessions[0].id(), 0);
/// # drop(client);
/// # Ok::<(), ffb::Error>(())
/// ```
pub struct Session {
    /// Null only if the core gave no session (a call without one): every
    /// call then fails with `NULL_POINTER`.
    raw: *mut sys::ffb_session,
}

// SAFETY: ffb.h: an ffb_session is a counted reference any thread may
// hold and use; every ffb_session_* function may be called from any
// thread (the core takes the handle's lock).
unsafe impl Send for Session {}
// SAFETY: see Send: every &self method is one the core allows from any
// thread concurrently.
unsafe impl Sync for Session {}

impl Session {
    /// Take over one reference the core gave (may be null).
    ///
    /// # Safety
    /// `raw` is null or a reference the caller owns and hands over.
    pub(crate) unsafe fn from_raw(raw: *mut sys::ffb_session) -> Session {
        Session { raw }
    }

    /// The session's id (the one [`crate::ServerStats`] and the client's
    /// hello know it by; non-zero). Any thread.
    ///
    /// ```
    /// # fn h(req: &ffb::Request<'_>) -> u64 {
    /// req.session().id()
    /// # }
    /// ```
    pub fn id(&self) -> u64 {
        // SAFETY: null or a live reference; ffb_session_id takes either.
        unsafe { sys::ffb_session_id(self.raw) }
    }

    /// Call the client's handler `name` with a copy of `input` and get its
    /// answer: the returned future resolves to the answer's bytes (a
    /// copy), or to an error: the handler's own (`code` and message: a Go
    /// handler's panic is `PANIC` with the panic's text), `NOT_FOUND` (no
    /// handler of that name), `PEER_GONE` (the client went), `CLOSED` (the
    /// server stops), `TOO_MANY_CALLS`, `ARENA_FULL`, `INVALID_ARGUMENT`
    /// (a bad name). A handler's own `NOT_FOUND` carries a message and is
    /// its answer (never retried); one with none means no handler of that
    /// id, and the core looks the name up again once (PROTOCOL.md §7).
    /// The call is sent at once (awaiting only collects the answer);
    /// dropping the future before it resolved cancels it: the
    /// handler's context ends. Any thread, also a handler of any kind;
    /// does not block. Works with any executor.
    ///
    /// ```
    /// # async fn h(req: ffb::AsyncRequest) -> ffb::Result<ffb::Reply> {
    /// let page = req.session().call("shell.http.get", b"https://example.org/").await?;
    /// Ok(ffb::Reply::bytes(page))
    /// # }
    /// ```
    pub fn call(&self, name: &str, input: impl AsRef<[u8]>) -> PendingCall {
        self.call_with(name, input.as_ref(), None)
    }

    /// [`Session::call`] with a deadline: past `timeout` the call ends
    /// with `TIMEOUT` (and the handler's context is cancelled).
    ///
    /// ```
    /// # async fn h(s: ffb::Session) -> ffb::Result<Vec<u8>> {
    /// s.call_timeout("shell.kv.get", b"key", std::time::Duration::from_secs(1)).await
    /// # }
    /// ```
    pub fn call_timeout(
        &self,
        name: &str,
        input: impl AsRef<[u8]>,
        timeout: Duration,
    ) -> PendingCall {
        self.call_with(name, input.as_ref(), Some(timeout))
    }

    fn call_with(&self, name: &str, input: &[u8], timeout: Option<Duration>) -> PendingCall {
        let pending = Pending::new();
        let id = self.send(name, input, timeout, &pending, false);
        PendingCall {
            pending,
            session: self.clone(),
            id,
            finished: false,
        }
    }

    /// [`Session::call`] for code that is not async: waits on this thread
    /// for the answer (or the `timeout`: `TIMEOUT`). Not on a dispatcher
    /// thread (an inline handler): the answer can only come through that
    /// very thread, so it is refused there with `INVALID_ARGUMENT`; a
    /// pooled handler may use it (it holds its worker meanwhile).
    ///
    /// ```
    /// # fn h(req: &ffb::Request<'_>) -> ffb::Result<ffb::Reply> {
    /// let v = req.session().call_blocking("shell.kv.get", b"key", Some(std::time::Duration::from_secs(1)))?;
    /// Ok(ffb::Reply::bytes(v))
    /// # }
    /// ```
    pub fn call_blocking(
        &self,
        name: &str,
        input: impl AsRef<[u8]>,
        timeout: Option<Duration>,
    ) -> Result<Vec<u8>> {
        if on_dispatcher() {
            return Err(dispatcher_error());
        }
        let mut call = self.call_with(name, input.as_ref(), timeout);
        let mut st = call.pending.lock();
        loop {
            if let Some(end) = st.end.take() {
                drop(st);
                call.finished = true;
                return end;
            }
            st = call
                .pending
                .ready
                .wait(st)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Call the client's stream handler `name` (Go `Client.HandleStream`)
    /// with a copy of `input`: its items, in order, as an [`ItemStream`]
    /// (a `futures_core::Stream` of `Result<Vec<u8>>`, or blocking with
    /// [`ItemStream::next_blocking`]). Credit flows back as items are
    /// taken: a consumer that stops taking stops the producer, and no more
    /// than the stream's credit waits here. The stream ends after the last
    /// item (`None`), or with one error (the handler's, or `PEER_GONE`,
    /// `NOT_FOUND`, ... as for [`Session::call`]). Dropping it before its
    /// end cancels it. Any thread; does not block.
    ///
    /// ```
    /// # async fn h(s: ffb::Session) -> ffb::Result<u64> {
    /// use std::future::poll_fn;
    /// use futures_core::Stream;
    /// let mut ticks = s.stream("shell.time.ticks", b"");
    /// let mut n = 0;
    /// while let Some(tick) = poll_fn(|cx| std::pin::Pin::new(&mut ticks).poll_next(cx)).await {
    ///     let _bytes = tick?;
    ///     n += 1;
    /// }
    /// Ok(n)
    /// # }
    /// ```
    pub fn stream(&self, name: &str, input: impl AsRef<[u8]>) -> ItemStream {
        self.stream_with(name, input.as_ref(), None)
    }

    /// [`Session::stream`] with a deadline for the whole stream (`TIMEOUT`).
    ///
    /// ```
    /// # fn h(s: ffb::Session) {
    /// let ticks = s.stream_timeout("shell.time.ticks", b"", std::time::Duration::from_secs(5));
    /// # drop(ticks); }
    /// ```
    pub fn stream_timeout(
        &self,
        name: &str,
        input: impl AsRef<[u8]>,
        timeout: Duration,
    ) -> ItemStream {
        self.stream_with(name, input.as_ref(), Some(timeout))
    }

    fn stream_with(&self, name: &str, input: &[u8], timeout: Option<Duration>) -> ItemStream {
        let pending = Pending::new();
        let id = self.send(name, input, timeout, &pending, true);
        ItemStream {
            pending,
            session: self.clone(),
            id,
            ungranted: 0,
            finished: false,
        }
    }

    /// Send a notification: the client's handler `name` is called with a
    /// copy of `input`, and nothing answers (nothing is kept for it here
    /// or on the wire). Errors only from sending: `PEER_GONE`, `CLOSED`,
    /// `ARENA_FULL`, `INVALID_ARGUMENT`. Any thread; does not block.
    ///
    /// ```
    /// # fn h(req: &ffb::Request<'_>) -> ffb::Result<ffb::Reply> {
    /// req.session().notify("shell.log", b"started")?;
    /// # Ok(ffb::Reply::empty()) }
    /// ```
    pub fn notify(&self, name: &str, input: impl AsRef<[u8]>) -> Result<()> {
        let input = input.as_ref();
        let cname = c_string(name)?;
        let len = input_len(input)?;
        // SAFETY: null or a live reference; a NUL-terminated name; input is
        // len readable bytes, copied by the core before it returns.
        Error::check(unsafe {
            sys::ffb_session_notify(self.raw, cname.as_ptr(), input.as_ptr().cast(), len)
        })
    }

    /// Send a call or a stream; its outcome goes to `pending` (at once if
    /// it cannot be sent). Returns the call's id, 0 if not sent.
    fn send(
        &self,
        name: &str,
        input: &[u8],
        timeout: Option<Duration>,
        pending: &Arc<Pending>,
        stream: bool,
    ) -> u64 {
        let sent = (|| {
            let cname = c_string(name)?;
            let len = input_len(input)?;
            let timeout_ns =
                timeout.map_or(-1, |t| i64::try_from(t.as_nanos()).unwrap_or(i64::MAX));
            let ctx = Arc::into_raw(Arc::clone(pending)) as *mut c_void;
            let mut id = 0u64;
            // SAFETY: null or a live session reference; a NUL-terminated
            // name; input is len readable bytes (copied before the return);
            // ctx is a strong count of `pending` that on_answer takes back
            // (the core runs done exactly once when it returns OK, never
            // otherwise); on_item only borrows it before that.
            let st = unsafe {
                if stream {
                    sys::ffb_session_stream(
                        self.raw,
                        cname.as_ptr(),
                        input.as_ptr().cast(),
                        len,
                        timeout_ns,
                        Some(on_item),
                        Some(on_answer),
                        ctx,
                        &mut id,
                    )
                } else {
                    sys::ffb_session_call(
                        self.raw,
                        cname.as_ptr(),
                        input.as_ptr().cast(),
                        len,
                        timeout_ns,
                        Some(on_answer),
                        ctx,
                        &mut id,
                    )
                }
            };
            if st != sys::FFB_OK {
                // SAFETY: the count made above, which the core refused.
                unsafe { Arc::decrement_strong_count(ctx.cast::<Pending>()) };
                return Err(Error::check(st).unwrap_err());
            }
            Ok(id)
        })();
        match sent {
            Ok(id) => id,
            Err(e) => {
                pending.lock().end = Some(Err(e));
                0
            }
        }
    }
}

impl Server {
    /// Handles on the server's active sessions (each a counted reference:
    /// see [`Session`]), e.g. to call the handlers of clients outside any
    /// call of theirs. A session is listed once a dispatcher serves it: a
    /// moment after its client's connect returned. Any thread.
    ///
    /// ```
    /// let server = ffb::Server::new()?;
    /// server.start()?;
    /// assert!(server.sessions()?.is_empty());
    /// let client = server.connect_inproc()?;
    /// let all = loop {
    ///     let all = server.sessions()?;
    ///     if !all.is_empty() { break all; }
    ///     std::thread::yield_now(); // served a moment after the connect
    /// };
    /// assert_eq!(all.len(), 1);
    /// # drop(client);
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn sessions(&self) -> Result<Vec<Session>> {
        let mut room = 64usize;
        loop {
            let mut raw = vec![std::ptr::null_mut(); room];
            let mut n = 0u32;
            // SAFETY: live server; raw has room for `room` pointers, of
            // which the core fills n with references we then own.
            Error::check(unsafe {
                sys::ffb_server_sessions(
                    self.as_raw(),
                    raw.as_mut_ptr(),
                    clamp_u32(room as u128),
                    &mut n,
                )
            })?;
            let got: Vec<Session> = raw[..n as usize]
                .iter()
                // SAFETY: each a reference the core handed us.
                .map(|&p| unsafe { Session::from_raw(p) })
                .collect();
            if (n as usize) < room {
                return Ok(got);
            }
            drop(got); // maybe more than that: ask again with more room
            room *= 4;
        }
    }
}

fn input_len(input: &[u8]) -> Result<u32> {
    u32::try_from(input.len())
        .map_err(|_| Error::with_message(Code::BUFFER_TOO_SMALL, "the input is over 4 GiB"))
}

fn dispatcher_error() -> Error {
    Error::with_message(
        Code::INVALID_ARGUMENT,
        "a blocking wait on a dispatcher thread (an inline handler) would never end: \
         await the call in an async handler, or block in a pooled one",
    )
}

impl Clone for Session {
    fn clone(&self) -> Session {
        // SAFETY: null or a live reference; ref counts one more and
        // returns the same pointer, which the clone owns.
        let raw = unsafe { sys::ffb_session_ref(self.raw) };
        Session { raw }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: our own reference (or null, which unref ignores).
        unsafe { sys::ffb_session_unref(self.raw) }
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("id", &self.id()).finish()
    }
}

/// What a call or stream and its C callbacks share.
struct Pending {
    state: Mutex<State>,
    ready: Condvar,
}

#[derive(Default)]
struct State {
    /// A stream's items not yet taken (at most its credit).
    items: VecDeque<Vec<u8>>,
    /// The outcome, once it came (taken by whoever consumes it).
    end: Option<Result<Vec<u8>>>,
    waker: Option<Waker>,
}

/// Calls and streams to clients whose shared state is alive (made, not yet
/// both answered and dropped): what tests look at for leaks.
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// How many calls and streams this process made to clients are still
/// held somewhere (by their future, stream or the core). For leak checks
/// in tests; 0 once every [`PendingCall`] and [`ItemStream`] is dropped and
/// every answer came.
#[doc(hidden)]
pub fn live_client_calls() -> usize {
    LIVE.load(Ordering::Acquire)
}

impl Drop for Pending {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Pending {
    fn new() -> Arc<Pending> {
        LIVE.fetch_add(1, Ordering::AcqRel);
        Arc::new(Pending {
            state: Mutex::new(State::default()),
            ready: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state whole: a poisoned lock
        // is fine to keep using.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wake the waiter, outside the lock. A waker's panic (some
    /// executor's) must not unwind into C.
    fn wake(&self, waker: Option<Waker>) {
        self.ready.notify_all();
        if let Some(w) = waker {
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| w.wake())) {
                crate::callback::drop_payload(payload);
            }
        }
    }
}

/// Copy `len` bytes at `data` (null when len is 0).
///
/// # Safety
/// `data` is null or valid for reading `len` bytes for the call.
unsafe fn copy_bytes(data: *const c_void, len: u32) -> Vec<u8> {
    if data.is_null() || len == 0 {
        return Vec::new();
    }
    // SAFETY: the caller's contract. These are a block of the arena the
    // server holds during the callback: a hostile client may still write
    // it, so it is copied at once with a volatile-safe bulk copy into
    // private memory and never read through a reference.
    let view =
        unsafe { crate::view::VolatileSlice::new(data.cast::<u8>().cast_mut(), len as usize) };
    view.to_vec()
}

/// The core's `done` callback: once per sent call, on the session's
/// dispatcher; takes back the strong count `send` made.
unsafe extern "C" fn on_answer(
    ctx: *mut c_void,
    status: sys::ffb_status,
    data: *const c_void,
    len: u32,
) {
    let _d = DispatcherGuard::enter();
    // SAFETY: ctx is the strong count send() handed to the core, given
    // back exactly once, here.
    let pending = unsafe { Arc::from_raw(ctx.cast::<Pending>()) };
    // SAFETY: the core's answer bytes, valid during this callback.
    let bytes = unsafe { copy_bytes(data, len) };
    let outcome = if status == sys::FFB_OK {
        Ok(bytes)
    } else if bytes.is_empty() {
        Err(Error::new(Code::from_raw(status)))
    } else {
        Err(Error::with_message(
            Code::from_raw(status),
            String::from_utf8_lossy(&bytes).into_owned(),
        ))
    };
    let waker = {
        let mut st = pending.lock();
        st.end = Some(outcome);
        st.waker.take()
    };
    pending.wake(waker);
}

/// The core's item callback of a stream, on its dispatcher, before `done`.
unsafe extern "C" fn on_item(ctx: *mut c_void, data: *const c_void, len: u32) {
    let _d = DispatcherGuard::enter();
    // SAFETY: ctx is the strong count send() gave the core; done, which
    // releases it, has not run yet (items come before it).
    let pending = unsafe { &*ctx.cast::<Pending>() };
    // SAFETY: the item's bytes, valid during this callback.
    let bytes = unsafe { copy_bytes(data, len) };
    let waker = {
        let mut st = pending.lock();
        st.items.push_back(bytes);
        st.waker.take()
    };
    pending.wake(waker);
}

/// The future of a [`Session::call`]: resolves once to the client
/// handler's answer (a copy of its bytes) or an error. Dropping it before
/// that cancels the call. Polling it again after it resolved gives
/// `CLOSED`.
#[must_use = "a call is cancelled when its PendingCall is dropped"]
pub struct PendingCall {
    pending: Arc<Pending>,
    session: Session,
    id: u64,
    finished: bool,
}

impl PendingCall {
    /// The call's id on its session (0 if it could not be sent).
    ///
    /// ```
    /// # fn h(s: ffb::Session) {
    /// let call = s.call("shell.ping", b"");
    /// println!("call {} pending", call.id());
    /// # }
    /// ```
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl Future for PendingCall {
    type Output = Result<Vec<u8>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(Err(Error::with_message(
                Code::CLOSED,
                "the call was answered already",
            )));
        }
        let mut st = this.pending.lock();
        if let Some(end) = st.end.take() {
            drop(st);
            this.finished = true;
            return Poll::Ready(end);
        }
        if !st.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            st.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        cancel_unless_over(&self.pending, &self.session, self.id, self.finished);
    }
}

impl std::fmt::Debug for PendingCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingCall")
            .field("session", &self.session.id())
            .field("id", &self.id)
            .field("finished", &self.finished)
            .finish()
    }
}

fn cancel_unless_over(pending: &Pending, session: &Session, id: u64, finished: bool) {
    if finished || id == 0 || pending.lock().end.is_some() {
        return;
    }
    // SAFETY: a live session reference; cancel is harmless for an id that
    // is over meanwhile (the answer then still releases `pending`).
    unsafe { sys::ffb_session_cancel(session.raw, id) };
}

/// The items of a [`Session::stream`], in order: a
/// `futures_core::Stream<Item = Result<Vec<u8>>>`, or blocking through
/// [`ItemStream::next_blocking`] / [`Iterator`] on
/// [`ItemStream::blocking`]. Each item taken grants the client credit for
/// one more. Ends with `None` after the last item, or after one `Err`.
/// Dropping it before the end cancels the stream.
#[must_use = "a stream is cancelled when its ItemStream is dropped"]
pub struct ItemStream {
    pending: Arc<Pending>,
    session: Session,
    id: u64,
    ungranted: u32,
    finished: bool,
}

impl ItemStream {
    /// The stream call's id on its session (0 if it could not be sent).
    ///
    /// ```
    /// # fn h(s: ffb::Session) {
    /// let items = s.stream("shell.time.ticks", b"");
    /// println!("stream {}", items.id());
    /// # }
    /// ```
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The next item, waiting on this thread: `None` at the end. Refused
    /// on a dispatcher thread (`INVALID_ARGUMENT`, as
    /// [`Session::call_blocking`]).
    ///
    /// ```
    /// # fn h(s: ffb::Session) -> ffb::Result<usize> {
    /// let mut items = s.stream("shell.time.ticks", b"");
    /// let mut n = 0;
    /// while let Some(item) = items.next_blocking() {
    ///     item?;
    ///     n += 1;
    /// }
    /// Ok(n)
    /// # }
    /// ```
    pub fn next_blocking(&mut self) -> Option<Result<Vec<u8>>> {
        if self.finished {
            return None;
        }
        if on_dispatcher() {
            self.finished = true;
            return Some(Err(dispatcher_error()));
        }
        let pending = Arc::clone(&self.pending);
        let mut st = pending.lock();
        loop {
            if let Some(taken) = self.take(&mut st) {
                drop(st);
                return self.after_take(taken);
            }
            st = pending.ready.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// This stream as a blocking [`Iterator`] (see
    /// [`ItemStream::next_blocking`]).
    ///
    /// ```
    /// # fn h(s: ffb::Session) -> ffb::Result<Vec<Vec<u8>>> {
    /// s.stream("shell.time.ticks", b"").blocking().collect()
    /// # }
    /// ```
    pub fn blocking(self) -> BlockingItems {
        BlockingItems(self)
    }

    /// Take what is ready: Some(item or end), or None (nothing yet).
    fn take(&mut self, st: &mut State) -> Option<Taken> {
        if let Some(item) = st.items.pop_front() {
            return Some(Taken::Item(item));
        }
        st.end.take().map(Taken::End)
    }

    fn after_take(&mut self, taken: Taken) -> Option<Result<Vec<u8>>> {
        match taken {
            Taken::Item(item) => {
                self.grant();
                Some(Ok(item))
            }
            Taken::End(end) => {
                self.finished = true;
                end.err().map(Err)
            }
        }
    }

    /// Count one item taken; give the client credit in batches of half
    /// the initial credit (what the C and Go consumers do).
    fn grant(&mut self) {
        self.ungranted += 1;
        if self.ungranted >= sys::FFB_STREAM_INITIAL_CREDIT / 2 {
            // SAFETY: a live session reference; credit for an id that is
            // over is harmless.
            unsafe { sys::ffb_session_credit(self.session.raw, self.id, self.ungranted) };
            self.ungranted = 0;
        }
    }
}

enum Taken {
    Item(Vec<u8>),
    End(Result<Vec<u8>>),
}

impl futures_core::Stream for ItemStream {
    type Item = Result<Vec<u8>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        let pending = Arc::clone(&this.pending);
        let mut st = pending.lock();
        if let Some(taken) = this.take(&mut st) {
            drop(st);
            return Poll::Ready(this.after_take(taken));
        }
        if !st.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            st.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl Drop for ItemStream {
    fn drop(&mut self) {
        cancel_unless_over(&self.pending, &self.session, self.id, self.finished);
    }
}

impl std::fmt::Debug for ItemStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemStream")
            .field("session", &self.session.id())
            .field("id", &self.id)
            .field("finished", &self.finished)
            .finish()
    }
}

/// An [`ItemStream`] as a blocking iterator ([`ItemStream::blocking`]).
#[derive(Debug)]
pub struct BlockingItems(ItemStream);

impl Iterator for BlockingItems {
    type Item = Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next_blocking()
    }
}
