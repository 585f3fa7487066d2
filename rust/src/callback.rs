//! The bridge from a Rust closure to an `ffb_callback_fn`: a boxed closure
//! passed as the callback's `ctx`, an `extern "C"` trampoline that runs it
//! under `catch_unwind`, and the slot that keeps the box alive until the
//! callback is unregistered.

use std::any::Any;
use std::cell::Cell;
use std::ffi::{c_void, CString};
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;

use crate::error::{Code, Error, Result};
use crate::request::{Reply, ReplyKind, Request};
use crate::sys;

thread_local! {
    /// Depth of Rust callbacks running on this thread.
    static IN_CALLBACK: Cell<u32> = const { Cell::new(0) };
}

/// Whether the current thread is inside a callback run by this crate.
pub(crate) fn in_callback() -> bool {
    IN_CALLBACK.with(|c| c.get() > 0)
}

struct CallbackGuard;

impl CallbackGuard {
    fn enter() -> CallbackGuard {
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

// SAFETY: the slot only owns a Box<F> with F: Send + Sync (enforced by
// Slot::new), so sending or sharing it across threads is as safe as F.
unsafe impl Send for Slot {}
// SAFETY: see Send; a &Slot gives no access to F at all.
unsafe impl Sync for Slot {}

impl Slot {
    /// Box `f`; returns the slot, the trampoline and the ctx to register.
    pub(crate) fn new<F>(f: F) -> (Slot, sys::ffb_callback_fn, *mut c_void)
    where
        F: Fn(&Request<'_>) -> Result<Reply> + Send + Sync + 'static,
    {
        let raw = Box::into_raw(Box::new(f));
        // SAFETY: Box::into_raw never returns NULL.
        let ctx = unsafe { NonNull::new_unchecked(raw.cast::<c_void>()) };
        let slot = Slot {
            ctx,
            drop_fn: drop_box::<F>,
        };
        (slot, Some(trampoline::<F>), ctx.as_ptr())
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
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "callback panicked (non-string payload)".to_owned()
    }
}

/// Attach `msg` to the answer (NUL bytes are replaced: C strings end there).
fn set_error(call: *mut sys::ffb_call, msg: &str) {
    let msg = CString::new(msg.replace('\0', "\u{FFFD}")).unwrap_or_default();
    // SAFETY: call is the live call of the running callback; msg is a
    // NUL-terminated string the core copies before returning.
    unsafe { sys::ffb_call_set_error(call, msg.as_ptr()) };
}

/// Answer the call with `reply`; returns the status to hand back.
fn apply(req: &Request<'_>, reply: Reply) -> sys::ffb_status {
    let call = req.call_ptr();
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
    }
}

/// Run the closure, turn its outcome into the C answer.
fn dispatch<F>(f: &F, req: &Request<'_>) -> sys::ffb_status
where
    F: Fn(&Request<'_>) -> Result<Reply>,
{
    match f(req) {
        Ok(reply) => apply(req, reply),
        Err(e) => {
            if let Some(m) = e.message() {
                set_error(req.call_ptr(), m);
            }
            let code = e.code();
            if code == Code::OK {
                // An error must not read as success.
                Code::UNKNOWN.raw()
            } else {
                code.raw()
            }
        }
    }
}

/// The `ffb_callback_fn` registered for a closure of type `F`.
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
    // F is Sync, so a shared reference from the loop thread is fine. This
    // is our own heap memory, not the shared arena.
    let f = unsafe { &*ctx.cast::<F>() };
    // SAFETY: the core passes the call that is live during this callback.
    let req = unsafe { Request::from_raw(call) };
    let _guard = CallbackGuard::enter();
    match panic::catch_unwind(AssertUnwindSafe(|| dispatch(f, &req))) {
        Ok(st) => st,
        Err(payload) => {
            let msg = panic_message(&*payload);
            set_error(req.call_ptr(), &msg);
            // Dropping a payload can itself panic: never let that unwind
            // into C.
            if let Err(again) = panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
                std::mem::forget(again);
            }
            sys::FFB_ERR_PANIC
        }
    }
}

/// The error a register/unregister from inside a callback gets (it could
/// deadlock against an unregister waiting for that very callback).
pub(crate) fn reentry_error() -> Error {
    Error::with_message(
        Code::INVALID_ARGUMENT,
        "cannot register or unregister from inside a callback",
    )
}
