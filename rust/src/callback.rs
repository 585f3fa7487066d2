//! The bridge from a Rust closure to an `ffb_callback_fn`: a boxed closure
//! passed as the callback's `ctx`, an `extern "C"` trampoline that runs it
//! under `catch_unwind`, the slot that keeps the box alive until the
//! callback is unregistered, and turning a handler's outcome into the
//! call's answer (shared with the async handlers of `asyncs.rs`).

use std::any::Any;
use std::cell::Cell;
use std::ffi::{c_void, CString};
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;

use crate::error::{Code, Error, Result};
use crate::request::{call_input, FillFn, Reply, ReplyKind, Request};
use crate::sys;
use crate::view::VolatileSlice;

thread_local! {
    /// Depth of Rust callbacks running on this thread.
    static IN_CALLBACK: Cell<u32> = const { Cell::new(0) };
}

/// Whether the current thread is inside a callback run by this crate.
pub(crate) fn in_callback() -> bool {
    IN_CALLBACK.with(|c| c.get() > 0)
}

/// Marks this thread as running a callback of ours while it lives (see
/// [`in_callback`]).
pub(crate) struct CallbackGuard;

impl CallbackGuard {
    pub(crate) fn enter() -> CallbackGuard {
        IN_CALLBACK.with(|c| c.set(c.get() + 1));
        CallbackGuard
    }
}

impl Drop for CallbackGuard {
    fn drop(&mut self) {
        IN_CALLBACK.with(|c| c.set(c.get().saturating_sub(1)));
    }
}

/// A registered closure, owned as a raw pointer so that the C core can hold
/// the same address as `ctx`; dropped (with its concrete type) when the slot
/// is dropped.
pub(crate) struct Slot {
    ctx: NonNull<c_void>,
    drop_fn: unsafe fn(NonNull<c_void>),
}

// SAFETY: the slot only owns a Box<T> with T: Send + Sync (enforced by
// Slot::boxed), so sending or sharing it across threads is as safe as T.
unsafe impl Send for Slot {}
// SAFETY: see Send; a &Slot gives no access to F at all.
unsafe impl Sync for Slot {}

impl Slot {
    /// Box `f`; returns the slot, the trampoline and the ctx to register.
    pub(crate) fn new<F>(f: F) -> (Slot, sys::ffb_callback_fn, *mut c_void)
    where
        F: Fn(&Request<'_>) -> Result<Reply> + Send + Sync + 'static,
    {
        Slot::boxed(f, Some(trampoline::<F>))
    }

    /// Box `value` as the ctx of `tramp`, which must read the ctx as a `T`.
    pub(crate) fn boxed<T: Send + Sync + 'static>(
        value: T,
        tramp: sys::ffb_callback_fn,
    ) -> (Slot, sys::ffb_callback_fn, *mut c_void) {
        let raw = Box::into_raw(Box::new(value));
        // SAFETY: Box::into_raw never returns NULL.
        let ctx = unsafe { NonNull::new_unchecked(raw.cast::<c_void>()) };
        let slot = Slot {
            ctx,
            drop_fn: drop_box::<T>,
        };
        (slot, tramp, ctx.as_ptr())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // SAFETY: ctx came from Box::into_raw::<F> with the F of drop_fn, and
        // the owner drops a slot only after the core stopped using ctx
        // (unregister returned, the registration failed, or the server was
        // destroyed).
        unsafe { (self.drop_fn)(self.ctx) }
    }
}

/// # Safety
/// `ctx` must come from `Box::<F>::into_raw` and be dropped only once.
unsafe fn drop_box<F>(ctx: NonNull<c_void>) {
    // SAFETY: the caller's contract.
    drop(unsafe { Box::from_raw(ctx.as_ptr().cast::<F>()) });
}

/// The text of a panic payload (`panic!("...")` gives &str or String).
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "callback panicked (non-string payload)".to_owned()
    }
}

/// Attach `msg` to the answer (NUL bytes are replaced: C strings end there).
pub(crate) fn set_error(call: *mut sys::ffb_call, msg: &str) {
    let msg = CString::new(msg.replace('\0', "\u{FFFD}")).unwrap_or_default();
    // SAFETY: call is a live call (running callback or kept); msg is a
    // NUL-terminated string the core copies before returning.
    unsafe { sys::ffb_call_set_error(call, msg.as_ptr()) };
}

/// Set `reply` on the live `call`; returns the status to answer with.
pub(crate) fn apply(call: *mut sys::ffb_call, reply: Reply) -> sys::ffb_status {
    match reply.0 {
        ReplyKind::Empty => sys::FFB_OK,
        ReplyKind::Input(len) => {
            let Ok(len) = u32::try_from(len) else {
                set_error(call, "reply length does not fit the input block");
                return sys::FFB_ERR_INVALID_ARGUMENT;
            };
            // SAFETY: live call; the core checks len against the capacity.
            let st = unsafe { sys::ffb_call_reply_input(call, len) };
            if st != sys::FFB_OK {
                set_error(call, "reply length does not fit the input block");
            }
            st
        }
        ReplyKind::Bytes(v) if v.is_empty() => sys::FFB_OK,
        ReplyKind::Bytes(v) => {
            let Ok(len) = u32::try_from(v.len()) else {
                set_error(call, "reply is larger than the largest block");
                return sys::FFB_ERR_BUFFER_TOO_SMALL;
            };
            // SAFETY: live call; v is a private buffer of len bytes, copied
            // by the core into a new server-heap block.
            let st = unsafe { sys::ffb_call_reply_bytes(call, v.as_ptr().cast::<c_void>(), len) };
            if st != sys::FFB_OK {
                set_error(call, &format!("cannot allocate a {len}-byte reply"));
            }
            st
        }
        ReplyKind::Fill(capacity, fill) => apply_fill(call, capacity, fill),
    }
}

fn apply_fill(call: *mut sys::ffb_call, capacity: usize, fill: FillFn) -> sys::ffb_status {
    let Ok(cap) = u32::try_from(capacity) else {
        set_error(call, "reply is larger than the largest block");
        return sys::FFB_ERR_BUFFER_TOO_SMALL;
    };
    let mut data: *mut c_void = std::ptr::null_mut();
    // SAFETY: live call, valid out-pointer.
    let st = unsafe { sys::ffb_call_reply_alloc(call, cap, &mut data) };
    if st != sys::FFB_OK {
        set_error(call, &format!("cannot allocate a {cap}-byte reply"));
        return st;
    }
    // SAFETY: the live call's input, and the block the core just allocated
    // (cap bytes at data, in the arena, the server's until the answer).
    let (input, out) = unsafe {
        (
            call_input(call),
            VolatileSlice::new(data.cast::<u8>(), capacity),
        )
    };
    match fill(input, out) {
        Ok(used) if used <= capacity => {
            // SAFETY: live call; used fits the block just allocated.
            unsafe { sys::ffb_call_reply_truncate(call, used as u32) }
        }
        Ok(used) => {
            set_error(
                call,
                &format!("the reply filled {used} bytes of a {capacity}-byte block"),
            );
            sys::FFB_ERR_BUFFER_TOO_SMALL
        }
        Err(e) => error_status(call, &e),
    }
}

/// Answer with `e`: its code (never OK) and message.
pub(crate) fn error_status(call: *mut sys::ffb_call, e: &Error) -> sys::ffb_status {
    if let Some(m) = e.message() {
        set_error(call, m);
    }
    let code = e.code();
    if code == Code::OK {
        // An error must not read as success.
        Code::UNKNOWN.raw()
    } else {
        code.raw()
    }
}

/// Turn a handler's outcome into the C answer.
pub(crate) fn answer(call: *mut sys::ffb_call, outcome: Result<Reply>) -> sys::ffb_status {
    match outcome {
        Ok(reply) => apply(call, reply),
        Err(e) => error_status(call, &e),
    }
}

/// Run `f` under `catch_unwind`: a panic answers PANIC with its message.
pub(crate) fn catching(
    call: *mut sys::ffb_call,
    f: impl FnOnce() -> sys::ffb_status,
) -> sys::ffb_status {
    let _guard = CallbackGuard::enter();
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(st) => st,
        Err(payload) => {
            set_error(call, &panic_message(&*payload));
            drop_payload(payload);
            sys::FFB_ERR_PANIC
        }
    }
}

/// Dropping a panic payload can itself panic: never let that unwind into C.
pub(crate) fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) = panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}

/// The `ffb_callback_fn` registered for a closure of type `F` (inline or
/// pooled: the same trampoline, the flags decide where it runs).
///
/// # Safety
/// Called only by the core, with the live call and the ctx from
/// [`Slot::new::<F>`], while the slot is alive.
unsafe extern "C" fn trampoline<F>(call: *mut sys::ffb_call, ctx: *mut c_void) -> sys::ffb_status
where
    F: Fn(&Request<'_>) -> Result<Reply> + Send + Sync + 'static,
{
    let (Some(call), false) = (NonNull::new(call), ctx.is_null()) else {
        return sys::FFB_ERR_NULL_POINTER;
    };
    // SAFETY: ctx is the Box<F> of a live slot (the core runs a callback
    // only while it is registered, and the slot outlives the registration);
    // F is Sync, so a shared reference from a dispatcher or worker thread
    // is fine. This is our own heap memory, not the shared arena.
    let f = unsafe { &*ctx.cast::<F>() };
    // SAFETY: the core passes the call that is live during this callback.
    let req = unsafe { Request::from_raw(call) };
    catching(call.as_ptr(), || answer(call.as_ptr(), f(&req)))
}

/// The error a register/unregister from inside a callback gets (it could
/// deadlock against an unregister waiting for that very callback).
pub(crate) fn reentry_error() -> Error {
    Error::with_message(
        Code::INVALID_ARGUMENT,
        "cannot register or unregister from inside a callback",
    )
}
