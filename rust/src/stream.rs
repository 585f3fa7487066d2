//! Stream handlers: a client calls a Rust function as a stream (Go
//! `Client.Stream`) and gets many items, then the end (PROTOCOL.md §5.7).
//!
//! Both kinds are async handlers underneath (deferred.rs's driver): the
//! call is kept, and an [`ItemSender`] sends each item with
//! `ffb_call_item` while the caller's credit allows; without credit it
//! arms `ffb_call_on_credit`, whose callback (on a dispatcher, never
//! blocking) only wakes the task, which an executor then polls again. So
//! no thread waits for a slow consumer, and no more items are in flight
//! than the consumer granted. When the consumer stops (Go `break`, its
//! context ending, the session's end) the call is cancelled: the driver
//! drops the handler's future -- and with it the iterator it pulls from --
//! and answers. [`Server::register_stream`] pulls items from an
//! iterator on the worker pool (an iterator may block or compute);
//! [`Server::register_stream_async`] runs a future that pushes items into
//! its sender, on the server's executor.

use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

use crate::callback::{self, Slot};
use crate::deferred::{self, AsyncRequest, Live, Spawner};
use crate::error::Result;
use crate::request::{Reply, Request};
use crate::server::Server;
use crate::sys;

/// Items a stream handler sends in one poll before it lets other tasks of
/// its executor run.
const ITEMS_PER_POLL: u32 = 256;

/// What a stream handler's iterator may yield: the bytes of one item
/// (`Vec<u8>`, `String`, `&'static [u8]`, `&'static str`), or a `Result`
/// of one, whose `Err` ends the stream with that error.
pub trait StreamItem {
    /// The item's bytes, or the error that ends the stream.
    fn into_item(self) -> Result<Vec<u8>>;
}

impl StreamItem for Vec<u8> {
    fn into_item(self) -> Result<Vec<u8>> {
        Ok(self)
    }
}

impl StreamItem for String {
    fn into_item(self) -> Result<Vec<u8>> {
        Ok(self.into_bytes())
    }
}

impl StreamItem for &'static [u8] {
    fn into_item(self) -> Result<Vec<u8>> {
        Ok(self.to_vec())
    }
}

impl StreamItem for &'static str {
    fn into_item(self) -> Result<Vec<u8>> {
        Ok(self.as_bytes().to_vec())
    }
}

impl<T: StreamItem> StreamItem for Result<T> {
    fn into_item(self) -> Result<Vec<u8>> {
        self.and_then(StreamItem::into_item)
    }
}

/// The sending end of a stream call, given to a
/// [`Server::register_stream_async`] handler: `send(&bytes).await` waits
/// for the caller's credit, then sends a copy of the item. `Send`, not
/// `Clone` (one item at a time). Its errors: `CANCELLED` once the caller
/// gave up (end the handler then: its future is dropped soon anyway),
/// `CLOSED` once the call was answered, `BUFFER_TOO_SMALL` (an item over
/// the largest block, 16 MiB).
///
/// ```
/// # async fn h(_req: ffb::AsyncRequest, mut tx: ffb::ItemSender) -> ffb::Result<()> {
/// for i in 0u64..3 {
///     tx.send(&i.to_le_bytes()).await?;
/// }
/// Ok(()) // the stream's end
/// # }
/// ```
pub struct ItemSender {
    req: AsyncRequest,
}

impl ItemSender {
    /// Send `item` (a copy) once the caller's credit allows. Cancel-safe:
    /// dropping the future before it resolved sent nothing.
    ///
    /// ```
    /// # async fn h(tx: &mut ffb::ItemSender) -> ffb::Result<()> {
    /// tx.send(b"tick").await
    /// # }
    /// ```
    pub fn send<'a>(&'a mut self, item: &'a [u8]) -> SendItem<'a> {
        SendItem { tx: self, item }
    }

    /// Items the caller allows now without waiting (its credit, less what
    /// waits to be sent). 0 once the call is answered.
    ///
    /// ```
    /// # fn h(tx: &ffb::ItemSender) -> bool {
    /// tx.credit() > 0
    /// # }
    /// ```
    pub fn credit(&self) -> u32 {
        self.req.credit()
    }

    /// Whether the caller gave up on the stream.
    ///
    /// ```
    /// # fn h(tx: &ffb::ItemSender) -> bool {
    /// tx.is_cancelled()
    /// # }
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.req.is_cancelled()
    }
}

impl std::fmt::Debug for ItemSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemSender")
            .field("credit", &self.credit())
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// The future of [`ItemSender::send`].
#[must_use = "an item is sent only when its SendItem is awaited"]
#[derive(Debug)]
pub struct SendItem<'a> {
    tx: &'a mut ItemSender,
    item: &'a [u8],
}

impl Future for SendItem<'_> {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        this.tx.req.poll_item(cx, this.item)
    }
}

/// Pending once, after asking to be polled again: lets the executor run
/// other tasks between batches of items.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Send every item of `iter` into `tx`, then end the stream.
async fn pump<I>(iter: I, mut tx: ItemSender) -> Result<Reply>
where
    I: Iterator,
    I::Item: StreamItem,
{
    let mut iter = iter;
    let mut n = 0u32;
    while let Some(bytes) = next_bytes(&mut iter) {
        tx.send(&bytes?).await?;
        n += 1;
        if n % ITEMS_PER_POLL == 0 {
            YieldNow(false).await;
        }
    }
    Ok(Reply::empty())
}

/// The next item's bytes (no item is held across an `.await`, so items
/// need not be `Send`).
fn next_bytes<I>(iter: &mut I) -> Option<Result<Vec<u8>>>
where
    I: Iterator,
    I::Item: StreamItem,
{
    iter.next().map(StreamItem::into_item)
}

fn not_a_stream(call: *mut sys::ffb_call) -> sys::ffb_status {
    callback::set_error(call, "a stream handler: call it as a stream");
    sys::FFB_ERR_INVALID_ARGUMENT
}

/// Whether the live `call` was made as a stream.
fn is_stream(call: *mut sys::ffb_call) -> bool {
    // SAFETY: the live call of the running callback.
    unsafe { sys::ffb_call_is_stream(call) != 0 }
}

impl Server {
    /// Register a stream handler under `name`: for each stream call
    /// (Go `for item, err := range c.Stream(ctx, name, in)`), `f` runs on
    /// the worker pool with the [`Request`] and returns an iterator (or an
    /// error: the call's answer); its items go to the caller in order, as
    /// the caller's credit allows. The iterator is pulled on the worker
    /// pool, so its `next` may block or compute; no thread waits for a
    /// slow consumer. When the caller stops (`break`, its context ending,
    /// the session's end) the iterator is dropped. A panic in `f` or in
    /// the iterator ends the stream with `PANIC`. A plain (non-stream)
    /// call of `name` answers `INVALID_ARGUMENT`. Items are
    /// [`StreamItem`]s: bytes, or a `Result` whose `Err` ends the stream
    /// with it. Same errors as [`Server::register`].
    ///
    /// ```
    /// let server = ffb::Server::new()?;
    /// server.register_stream("core.count", |req| {
    ///     let mut n = [0u8; 8];
    ///     req.read_at(0, &mut n)?;
    ///     Ok((0..u64::from_le_bytes(n)).map(|i| i.to_le_bytes().to_vec()))
    /// })?;
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn register_stream<F, I>(&self, name: &str, f: F) -> Result<u32>
    where
        F: Fn(&Request<'_>) -> Result<I> + Send + Sync + 'static,
        I: IntoIterator + 'static,
        I::IntoIter: Send + 'static,
        I::Item: StreamItem,
    {
        let handler = IterHandler {
            f,
            spawn: self.executor.spawner(), // iterators may block: the pool
            live: std::sync::Arc::clone(&self.live),
        };
        let (slot, tramp, ctx) = Slot::boxed(handler, Some(iter_trampoline::<F, I>));
        self.register_slot(name, slot, tramp, ctx, sys::FFB_CB_POOL as u32)
    }

    /// Register an async stream handler under `name`: for each stream
    /// call, `f` makes a future from the call's [`AsyncRequest`] and an
    /// [`ItemSender`]; the future sends items with `tx.send(&bytes).await`
    /// (which waits for credit without holding a thread) and its output
    /// ends the stream (`Ok(())`, or the error). It runs on the server's
    /// executor (the pool, or the spawner set before this registration,
    /// as [`Server::register_async`]). When the caller stops, the future
    /// is dropped. A plain call answers `INVALID_ARGUMENT`.
    ///
    /// ```
    /// let server = ffb::Server::new()?;
    /// server.register_stream_async("core.ticks", |_req, mut tx| async move {
    ///     for i in 0u32..10 {
    ///         tx.send(&i.to_le_bytes()).await?;
    ///     }
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn register_stream_async<F, Fut>(&self, name: &str, f: F) -> Result<u32>
    where
        F: Fn(AsyncRequest, ItemSender) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        let custom = self.custom_spawner();
        let flags = if custom.is_some() {
            sys::FFB_CB_INLINE
        } else {
            sys::FFB_CB_POOL
        };
        let handler = AsyncStreamHandler {
            f,
            spawn: custom.unwrap_or_else(|| self.executor.spawner()),
            live: std::sync::Arc::clone(&self.live),
        };
        let (slot, tramp, ctx) = Slot::boxed(handler, Some(async_stream_trampoline::<F, Fut>));
        self.register_slot(name, slot, tramp, ctx, flags as u32)
    }
}

struct IterHandler<F> {
    f: F,
    spawn: Spawner,
    live: std::sync::Arc<Live>,
}

struct AsyncStreamHandler<F> {
    f: F,
    spawn: Spawner,
    live: std::sync::Arc<Live>,
}

/// # Safety
/// Called only by the core, with the live call and the ctx of a slot made
/// by [`Server::register_stream`] for this `F`, while the slot is alive.
unsafe extern "C" fn iter_trampoline<F, I>(
    call: *mut sys::ffb_call,
    ctx: *mut std::ffi::c_void,
) -> sys::ffb_status
where
    F: Fn(&Request<'_>) -> Result<I> + Send + Sync + 'static,
    I: IntoIterator + 'static,
    I::IntoIter: Send + 'static,
    I::Item: StreamItem,
{
    let (Some(nn), false) = (NonNull::new(call), ctx.is_null()) else {
        return sys::FFB_ERR_NULL_POINTER;
    };
    // SAFETY: ctx is the Box<IterHandler<F>> of a live slot; F, Spawner
    // and Live are Sync.
    let h = unsafe { &*ctx.cast::<IterHandler<F>>() };
    callback::catching(call, || {
        if !is_stream(call) {
            return not_a_stream(call);
        }
        // SAFETY: the live call of this callback, borrowed only by f.
        let req = unsafe { Request::from_raw(nn) };
        let iter = match (h.f)(&req) {
            Ok(i) => i.into_iter(),
            Err(e) => return callback::error_status(call, &e),
        };
        deferred::start(
            call,
            move |req| pump(iter, ItemSender { req: req.share() }),
            &h.spawn,
            &h.live,
        )
    })
}

/// # Safety
/// Called only by the core, with the live call and the ctx of a slot made
/// by [`Server::register_stream_async`] for this `F`, while the slot is
/// alive.
unsafe extern "C" fn async_stream_trampoline<F, Fut>(
    call: *mut sys::ffb_call,
    ctx: *mut std::ffi::c_void,
) -> sys::ffb_status
where
    F: Fn(AsyncRequest, ItemSender) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    if call.is_null() || ctx.is_null() {
        return sys::FFB_ERR_NULL_POINTER;
    }
    // SAFETY: ctx is the Box<AsyncStreamHandler<F>> of a live slot.
    let h = unsafe { &*ctx.cast::<AsyncStreamHandler<F>>() };
    callback::catching(call, || {
        if !is_stream(call) {
            return not_a_stream(call);
        }
        let make = |req: AsyncRequest| {
            let tx = ItemSender { req: req.share() };
            let fut = (h.f)(req, tx);
            async move { fut.await.map(|()| Reply::empty()) }
        };
        deferred::start(call, make, &h.spawn, &h.live)
    })
}
