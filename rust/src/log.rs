//! The core's diagnostics sink (`ffb_set_log`) as a Rust closure.
//!
//! The core has one process-wide sink, read without a lock, and asks for
//! it to be installed before any server or client exists. This module
//! therefore installs a sink at most once per process and never frees it.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{self, AssertUnwindSafe};
use std::sync::OnceLock;

use crate::error::{Code, Error, Result};
use crate::sys;

/// Severity of a diagnostic from the core.
///
/// ```
/// assert!(ffb::LogLevel::Error < ffb::LogLevel::Debug);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Something failed (a session cut, an OS call refused).
    Error = 0,
    /// Something odd (a hostile peer, a refused session).
    Warn = 1,
    /// Lifecycle events.
    Info = 2,
    /// Chatty details.
    Debug = 3,
}

impl LogLevel {
    fn from_raw(level: c_int) -> LogLevel {
        match level {
            i32::MIN..=0 => LogLevel::Error,
            1 => LogLevel::Warn,
            2 => LogLevel::Info,
            _ => LogLevel::Debug,
        }
    }
}

type Sink = Box<dyn Fn(LogLevel, &str) + Send + Sync + 'static>;

static SINK: OnceLock<Sink> = OnceLock::new();

unsafe extern "C" fn log_trampoline(_ctx: *mut c_void, level: c_int, msg: *const c_char) {
    let Some(sink) = SINK.get() else { return };
    if msg.is_null() {
        return;
    }
    // SAFETY: the core passes a NUL-terminated message valid for the call.
    let text = unsafe { CStr::from_ptr(msg) }.to_string_lossy();
    // A panicking sink must not unwind into C.
    let _ = panic::catch_unwind(AssertUnwindSafe(|| sink(LogLevel::from_raw(level), &text)));
}

/// Send the core's diagnostics up to `max_level` to `sink` (the default
/// is silence). Call once, before creating servers or clients; a second
/// call fails with `ALREADY_EXISTS`. Diagnostics only: no behaviour
/// depends on it. The sink may run on any thread, including a server's
/// loop thread, so it should be quick.
///
/// ```
/// ffb::set_log(ffb::LogLevel::Warn, |level, msg| eprintln!("ffb {level:?}: {msg}"))?;
/// assert!(ffb::set_log(ffb::LogLevel::Warn, |_, _| {}).is_err());
/// # Ok::<(), ffb::Error>(())
/// ```
pub fn set_log<F>(max_level: LogLevel, sink: F) -> Result<()>
where
    F: Fn(LogLevel, &str) + Send + Sync + 'static,
{
    let mut installed = false;
    SINK.get_or_init(|| {
        installed = true;
        Box::new(sink)
    });
    if !installed {
        return Err(Error::with_message(
            Code::ALREADY_EXISTS,
            "a log sink is already installed",
        ));
    }
    // SAFETY: the trampoline has the ffb_log_fn signature and only reads
    // SINK, which is set above and never changes or drops again.
    unsafe {
        sys::ffb_set_log(
            Some(log_trampoline),
            std::ptr::null_mut(),
            max_level as c_int,
        )
    };
    Ok(())
}
