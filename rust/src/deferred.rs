//! Async handlers ([`crate::Server::register_async`]): a kept call
//! (`ffb_call_defer`) driven by a future, answered (`ffb_call_finish`) from
//! whatever thread the future finishes on.
//!
//! Each call becomes a [`Driver`] future that owns the handler's future
//! and the kept call. It polls the handler's future under `catch_unwind`
//! (a panic answers `PANIC`); when the caller cancels (a CANCEL entry, the
//! session's end, stop), the core's cancel callback wakes it and the
//! driver drops the handler's future -- its destructors run -- and
//! answers `CANCELLED`. A driver dropped before it finished (an executor
//! shutting down) answers `CANCELLED` too, so the core never waits for a
//! call nobody will answer.
//!
//! Executors: by default the driver runs on the server's worker pool
//! ([`Executor`]: a task woken is posted with `ffb_server_post`); any
//! other executor plugs in as a spawner (`Server::set_spawner`, or
//! `Server::use_tokio` with the `tokio` feature).

use std::ffi::c_void;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use crate::callback::{self, CallbackGuard};
use crate::error::{Code, Error, Result};
use crate::request::{call_block, call_input, Reply};
use crate::session::Session;
use crate::sys;
use crate::view::VolatileSlice;

/// A future of `()` an executor runs: what a spawner is handed.
pub type BoxTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Runs a task on some executor; given to `Server::set_spawner`.
pub(crate) type Spawner = Arc<dyn Fn(BoxTask) + Send + Sync>;

/// A kept call's pointer: ours to use until we finish it.
struct CallPtr(NonNull<sys::ffb_call>);

// SAFETY: a kept call may be used from any thread, one at a time
// (ffb.h); every use goes through Shared's lock.
unsafe impl Send for CallPtr {}
// SAFETY: see Send.
unsafe impl Sync for CallPtr {}

/// What a call's driver and its [`AsyncRequest`] share.
struct Shared {
    /// The kept call; None once answered. Readers hold it read-locked
    /// while they touch the arena, so the answer (write lock) waits for
    /// them and nothing reads the input after the call is gone.
    call: RwLock<Option<CallPtr>>,
    cancelled: AtomicBool,
    waker: Mutex<Option<Waker>>,
    /// A stream handler's sender waiting for credit (stream.rs); woken by
    /// the core's credit callback, whose ctx is this Shared: the driver
    /// keeps it alive until after ffb_call_finish, past which the core
    /// never runs that callback.
    credit_waker: Mutex<Option<Waker>>,
    len: usize,
    capacity: usize,
    function: u32,
    session: Session,
}

/// The request of an async handler: owned, `Send`, `'static`, so it can
/// move into the handler's future and across `.await`s and threads. It
/// reads the call's input in place while the call is unanswered; once the
/// call is answered (its future finished, or was dropped on
/// cancellation) its accessors return `CLOSED`.
///
/// ```
/// # fn h(req: ffb::AsyncRequest) -> impl std::future::Future<Output = ffb::Result<ffb::Reply>> {
/// async move {
///     let text = req.text()?; // a private copy
///     Ok(ffb::Reply::bytes(text.to_uppercase()))
/// }
/// # }
/// ```
pub struct AsyncRequest {
    shared: Arc<Shared>,
}

impl AsyncRequest {
    /// Length of the input in bytes.
    ///
    /// ```
    /// # fn h(req: &ffb::AsyncRequest) -> usize {
    /// req.len()
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        self.shared.len
    }

    /// Whether the call has no input bytes.
    ///
    /// ```
    /// # fn h(req: &ffb::AsyncRequest) -> bool {
    /// req.is_empty()
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.shared.len == 0
    }

    /// Capacity of the input block (what [`crate::Reply::input`] may use).
    ///
    /// ```
    /// # fn h(req: &ffb::AsyncRequest) -> usize {
    /// req.capacity()
    /// # }
    /// ```
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// The function id being called.
    ///
    /// ```
    /// # fn h(req: &ffb::AsyncRequest) -> u32 {
    /// req.function()
    /// # }
    /// ```
    pub fn function(&self) -> u32 {
        self.shared.function
    }

    /// The session (client) that made the call: a counted handle that may
    /// outlive the call, e.g. to await the client's handlers
    /// (`req.session().call("shell.http.get", url).await`); its id is
    /// [`Session::id`].
    ///
    /// ```
    /// # async fn h(req: ffb::AsyncRequest) -> ffb::Result<ffb::Reply> {
    /// let answer = req.session().call("shell.http.get", req.to_vec()?).await?;
    /// Ok(ffb::Reply::bytes(answer))
    /// # }
    /// ```
    pub fn session(&self) -> Session {
        self.shared.session.clone()
    }

    /// Whether the caller cancelled the call. The handler's future is
    /// dropped at its next wake-up anyway; this is for work it does
    /// between two `.await`s.
    ///
    /// ```
    /// # fn h(req: &ffb::AsyncRequest) -> bool {
    /// req.is_cancelled()
    /// # }
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.shared.cancelled.load(Ordering::Acquire)
    }

    /// Run `f` on the input bytes in place ([`VolatileSlice`], no copy),
    /// holding the call unanswered meanwhile. `CLOSED` once it is
    /// answered.
    ///
    /// ```
    /// # fn h(req: &ffb::AsyncRequest) -> ffb::Result<u64> {
    /// req.with_input(|input| {
    ///     let mut sum = 0u64;
    ///     input.for_each_chunk(&mut [0u8; 4096], |c| sum += c.iter().map(|&b| u64::from(b)).sum::<u64>());
    ///     sum
    /// })
    /// # }
    /// ```
    pub fn with_input<R>(&self, f: impl FnOnce(VolatileSlice<'_>) -> R) -> Result<R> {
        self.with_call(|call| {
            // SAFETY: the call is kept and unanswered while we hold the read
            // lock, which bounds the view's use to f.
            f(unsafe { call_input(call) })
        })
    }

    /// Run `f` on the whole input block in place (`capacity()` bytes), to
    /// answer in place with [`crate::Reply::input`]. `CLOSED` once it is
    /// answered.
    ///
    /// ```
    /// # fn h(req: &ffb::AsyncRequest) -> ffb::Result<ffb::Reply> {
    /// req.with_block(|b| b.subslice(0, 2).map(|out| out.copy_from(b"ok")))??;
    /// Ok(ffb::Reply::input(2))
    /// # }
    /// ```
    pub fn with_block<R>(&self, f: impl FnOnce(VolatileSlice<'_>) -> R) -> Result<R> {
        self.with_call(|call| {
            // SAFETY: as with_input.
            f(unsafe { call_block(call) })
        })
    }

    /// A private copy of the whole input.
    ///
    /// ```
    /// # fn h(req: &ffb::AsyncRequest) -> ffb::Result<Vec<u8>> {
    /// req.to_vec()
    /// # }
    /// ```
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        self.with_input(|v| v.to_vec())
    }

    /// A private copy of the input as UTF-8 text; `INVALID_UTF8` otherwise.
    ///
    /// ```
    /// # fn h(req: &ffb::AsyncRequest) -> ffb::Result<String> {
    /// req.text()
    /// # }
    /// ```
    pub fn text(&self) -> Result<String> {
        String::from_utf8(self.to_vec()?).map_err(|_| Error::new(Code::INVALID_UTF8))
    }

    /// Decode the input (a copy) as JSON; `SERIALIZATION` if it is not.
    ///
    /// ```
    /// # fn h(req: &ffb::AsyncRequest) -> ffb::Result<Vec<i64>> {
    /// req.json()
    /// # }
    /// ```
    #[cfg(feature = "json")]
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        crate::from_json(&self.to_vec()?)
    }

    /// Another handle on the same call (a stream handler's sender).
    pub(crate) fn share(&self) -> AsyncRequest {
        AsyncRequest {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The stream credit the caller allows now (0 once answered).
    pub(crate) fn credit(&self) -> u32 {
        // SAFETY: the kept call, unanswered while we hold the read lock.
        self.with_call(|call| unsafe { sys::ffb_call_credit(call) })
            .unwrap_or(0)
    }

    /// Send `item` on a stream call, or wait for credit: Pending (woken
    /// when credit comes or the caller cancels), else the outcome:
    /// `CANCELLED` once the caller left, `CLOSED` once answered. The
    /// caller makes sure one item is sent at a time (stream.rs's sender
    /// is not `Clone` and sends through `&mut self`).
    pub(crate) fn poll_item(&self, cx: &mut Context<'_>, item: &[u8]) -> Poll<Result<()>> {
        let Ok(len) = u32::try_from(item.len()) else {
            return Poll::Ready(Err(Error::with_message(
                Code::BUFFER_TOO_SMALL,
                "a stream item is over 4 GiB",
            )));
        };
        let outcome = self.with_call(|call| {
            {
                let mut w = self
                    .shared
                    .credit_waker
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                if !w.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *w = Some(cx.waker().clone());
                }
            }
            // SAFETY: the kept call, unanswered while we hold the read
            // lock; item is len readable bytes, copied by the core.
            let st = unsafe { sys::ffb_call_item(call, item.as_ptr().cast(), len) };
            match st {
                sys::FFB_OK => Poll::Ready(Ok(())),
                sys::FFB_ERR_WOULD_BLOCK => {
                    let ctx = Arc::as_ptr(&self.shared) as *mut c_void;
                    // SAFETY: the kept call; ctx is this call's Shared, which
                    // its driver keeps alive until after ffb_call_finish (the
                    // core runs the callback never after that). If credit came
                    // meanwhile the core runs on_credit at once: a wake.
                    unsafe { sys::ffb_call_on_credit(call, Some(on_credit), ctx) };
                    Poll::Pending
                }
                sys::FFB_ERR_ARENA_FULL => {
                    // No block now, though credit there is: blocks come back as
                    // the caller takes items. Yield and try again.
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
                st => Poll::Ready(Err(Error::new(Code::from_raw(st)))),
            }
        });
        match outcome {
            Ok(p) => p,
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn with_call<R>(&self, f: impl FnOnce(*mut sys::ffb_call) -> R) -> Result<R> {
        let call = self.shared.call.read().unwrap_or_else(|p| p.into_inner());
        match call.as_ref() {
            Some(c) => Ok(f(c.0.as_ptr())),
            None => Err(Error::with_message(
                Code::CLOSED,
                "the call was answered already",
            )),
        }
    }
}

impl std::fmt::Debug for AsyncRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncRequest")
            .field("function", &self.shared.function)
            .field("session", &self.shared.session.id())
            .field("len", &self.shared.len)
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// The core's cancel callback: runs on a dispatcher thread, never after
/// ffb_call_finish returned; only sets the flag and wakes the driver.
unsafe extern "C" fn on_cancel(ctx: *mut c_void) {
    // SAFETY: ctx is the Shared of a call whose driver holds a strong
    // count for the core (registered in start), released only after
    // ffb_call_finish returned, so it is alive.
    let shared = unsafe { &*ctx.cast::<Shared>() };
    shared.cancelled.store(true, Ordering::Release);
    wake_from_c(&shared.waker);
}

/// Wake the waker in `slot`, if any, from a callback of the core's: a
/// waker's panic (some executor's) must not unwind into C.
fn wake_from_c(slot: &Mutex<Option<Waker>>) {
    let waker = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(w) = waker {
        if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w.wake())) {
            callback::drop_payload(payload);
        }
    }
}

/// The core's credit callback of a stream handler: runs on a dispatcher
/// (credit came, or the caller cancelled); only wakes the sender.
unsafe extern "C" fn on_credit(ctx: *mut c_void) {
    // SAFETY: ctx is the Shared of a call whose driver keeps it alive until
    // after ffb_call_finish returned; the core never runs this after that.
    let shared = unsafe { &*ctx.cast::<Shared>() };
    wake_from_c(&shared.credit_waker);
}

/// Drives one kept call: see the module docs.
struct Driver {
    shared: Arc<Shared>,
    fut: Option<Pin<Box<dyn Future<Output = Result<Reply>> + Send>>>,
    live: Arc<Live>,
    /// The core holds a strong count of `shared` for the cancel callback.
    cancel_registered: bool,
}

impl Driver {
    /// Answer the call with `outcome` (once), then let go of it.
    fn finish(&mut self, outcome: Result<Reply>) {
        let taken = self
            .shared
            .call
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some(call) = taken else { return };
        let call = call.0.as_ptr();
        // A Reply::with_capacity fill runs here: user code, so catching.
        let st = callback::catching(call, || callback::answer(call, outcome));
        // SAFETY: the kept call, answered exactly once (we took it).
        unsafe { sys::ffb_call_finish(call, st) };
        if self.cancel_registered {
            // SAFETY: the core's strong count, taken in start; after
            // ffb_call_finish returned the cancel callback never runs.
            unsafe { Arc::decrement_strong_count(Arc::as_ptr(&self.shared)) };
            self.cancel_registered = false;
        }
        self.live.done();
    }

    fn cancelled() -> Result<Reply> {
        Err(Error::with_message(
            Code::CANCELLED,
            "the caller cancelled the call",
        ))
    }
}

impl Future for Driver {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(fut) = this.fut.as_mut() else {
            return Poll::Ready(());
        };
        {
            let mut w = this.shared.waker.lock().unwrap_or_else(|p| p.into_inner());
            if !w.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *w = Some(cx.waker().clone());
            }
        }
        // After registering the waker: a cancel from now on wakes us.
        if this.shared.cancelled.load(Ordering::Acquire) {
            drop_future(this.fut.take());
            this.finish(Driver::cancelled());
            return Poll::Ready(());
        }
        let _guard = CallbackGuard::enter();
        let polled =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.as_mut().poll(cx)));
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(outcome)) => {
                drop_future(this.fut.take());
                this.finish(outcome);
                Poll::Ready(())
            }
            Err(payload) => {
                let msg = callback::panic_message(&*payload);
                callback::drop_payload(payload);
                drop_future(this.fut.take());
                this.finish(Err(Error::with_message(Code::PANIC, msg)));
                Poll::Ready(())
            }
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Dropped unfinished (an executor going away): drop the handler's
        // future first, so its destructors run, then answer.
        if self.fut.is_some() {
            drop_future(self.fut.take());
        }
        self.finish(Driver::cancelled());
    }
}

/// Drop a handler's future; a panic in its destructors is swallowed.
fn drop_future(fut: Option<Pin<Box<dyn Future<Output = Result<Reply>> + Send>>>) {
    let _guard = CallbackGuard::enter();
    if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(fut)))
    {
        callback::drop_payload(payload);
    }
}

/// Kept calls of a server's async handlers not answered yet: the server
/// waits for them (cancelled) before it is destroyed.
pub(crate) struct Live {
    n: AtomicUsize,
}

impl Live {
    pub(crate) fn new() -> Arc<Live> {
        Arc::new(Live {
            n: AtomicUsize::new(0),
        })
    }

    fn done(&self) {
        self.n.fetch_sub(1, Ordering::AcqRel);
    }

    /// Wait up to `limit` for every call to be answered.
    pub(crate) fn wait_idle(&self, limit: Duration) {
        let end = Instant::now() + limit;
        while self.n.load(Ordering::Acquire) != 0 && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Keep `call` (from inside its callback), make the handler's future with
/// `make`, and hand its driver to `spawn`. Returns the status the callback
/// returns (ignored by the core once the call is kept).
pub(crate) fn start<Fut>(
    call: *mut sys::ffb_call,
    make: impl FnOnce(AsyncRequest) -> Fut,
    spawn: &Spawner,
    live: &Arc<Live>,
) -> sys::ffb_status
where
    Fut: Future<Output = Result<Reply>> + Send + 'static,
{
    // SAFETY: the live call of the running callback.
    let kept = unsafe { sys::ffb_call_defer(call) };
    let Some(kept) = NonNull::new(kept) else {
        callback::set_error(call, "out of memory for an async call");
        return sys::FFB_ERR_SYSTEM;
    };
    let k = kept.as_ptr();
    // SAFETY: the kept call, ours until finished; these fields are fixed,
    // and the session reference the core hands out is Session's to own.
    let shared = Arc::new(unsafe {
        Shared {
            call: RwLock::new(Some(CallPtr(kept))),
            cancelled: AtomicBool::new(false),
            waker: Mutex::new(None),
            credit_waker: Mutex::new(None),
            len: sys::ffb_call_len(k) as usize,
            capacity: sys::ffb_call_capacity(k) as usize,
            function: sys::ffb_call_function(k),
            session: Session::from_raw(sys::ffb_call_session_ref(k)),
        }
    });
    live.n.fetch_add(1, Ordering::AcqRel);
    let ctx = Arc::into_raw(Arc::clone(&shared)) as *mut c_void;
    // SAFETY: the kept call; ctx stays alive (a strong count) until we
    // release it after ffb_call_finish.
    let registered = unsafe { sys::ffb_call_on_cancel(k, Some(on_cancel), ctx) } == sys::FFB_OK;
    if !registered {
        // SAFETY: the count we just took for the core, which refused it.
        unsafe { Arc::decrement_strong_count(ctx.cast::<Shared>()) };
    }
    let mut driver = Driver {
        shared: Arc::clone(&shared),
        fut: None,
        live: Arc::clone(live),
        cancel_registered: registered,
    };
    let req = AsyncRequest { shared };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| make(req))) {
        Ok(fut) => {
            driver.fut = Some(Box::pin(fut));
            spawn(Box::pin(driver));
        }
        Err(payload) => {
            let msg = callback::panic_message(&*payload);
            callback::drop_payload(payload);
            driver.finish(Err(Error::with_message(Code::PANIC, msg)));
        }
    }
    sys::FFB_OK
}

/// The default executor: tasks run on the server's worker pool. A woken
/// task is posted (`ffb_server_post`) once per wake; it is polled on a
/// worker with the pool's other jobs.
pub(crate) struct Executor {
    /// The server to post to; null once it is being destroyed (wakes after
    /// that drop their task, whose driver then answers CANCELLED).
    server: Mutex<*mut sys::ffb_server>,
}

// SAFETY: the pointer is used only under the mutex, for ffb_server_post,
// which any thread may call while the server lives (the owner nulls it
// before destroying the server).
unsafe impl Send for Executor {}
// SAFETY: see Send.
unsafe impl Sync for Executor {}

impl Executor {
    pub(crate) fn new(server: *mut sys::ffb_server) -> Arc<Executor> {
        Arc::new(Executor {
            server: Mutex::new(server),
        })
    }

    /// No more posts: called before the server is destroyed.
    pub(crate) fn close(&self) {
        *self.server.lock().unwrap_or_else(|p| p.into_inner()) = std::ptr::null_mut();
    }

    /// A spawner that runs tasks on this executor.
    pub(crate) fn spawner(self: &Arc<Self>) -> Spawner {
        let exec = Arc::clone(self);
        Arc::new(move |fut: BoxTask| {
            let task = Arc::new(Task {
                fut: Mutex::new(Some(fut)),
                queued: AtomicBool::new(false),
                exec: Arc::clone(&exec),
            });
            task.schedule();
        })
    }
}

struct Task {
    fut: Mutex<Option<BoxTask>>,
    queued: AtomicBool,
    exec: Arc<Executor>,
}

impl Task {
    fn schedule(self: Arc<Self>) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return; /* already posted: that run sees this wake */
        }
        let server = self.exec.server.lock().unwrap_or_else(|p| p.into_inner());
        if server.is_null() {
            return; /* the server is going: dropping the task answers its call */
        }
        let ctx = Arc::into_raw(Arc::clone(&self)) as *mut c_void;
        // SAFETY: a live server (not nulled, and the lock keeps close()
        // waiting); run_task takes ownership of the strong count in ctx.
        if unsafe { sys::ffb_server_post(*server, Some(run_task), ctx) } != sys::FFB_OK {
            // SAFETY: the count we made for the job the core refused.
            unsafe { Arc::decrement_strong_count(ctx.cast::<Task>()) };
        }
    }
}

impl Wake for Task {
    fn wake(self: Arc<Self>) {
        self.schedule();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        Arc::clone(self).schedule();
    }
}

/// A posted task's turn on a worker: poll it once.
unsafe extern "C" fn run_task(ctx: *mut c_void) {
    // SAFETY: ctx is the strong count schedule() made for this job.
    let task = unsafe { Arc::from_raw(ctx.cast::<Task>()) };
    // Clear before polling: a wake during the poll posts it again.
    task.queued.store(false, Ordering::Release);
    let waker = Waker::from(Arc::clone(&task));
    let mut cx = Context::from_waker(&waker);
    let mut slot = task.fut.lock().unwrap_or_else(|p| p.into_inner());
    let done = match slot.as_mut() {
        Some(fut) => fut.as_mut().poll(&mut cx).is_ready(),
        None => false,
    };
    if done {
        *slot = None;
    }
}

/// The tokio spawner: tasks run on `handle`'s runtime.
#[cfg(feature = "tokio")]
pub(crate) fn tokio_spawner(handle: tokio::runtime::Handle) -> Spawner {
    Arc::new(move |fut: BoxTask| {
        drop(handle.spawn(fut));
    })
}
