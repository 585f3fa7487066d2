//! The stable status codes of ffi-bridge and the crate's [`Error`] type.
//!
//! [`Code`] is the table of `include/ffb_status.h`, value for value (a test
//! parses the header and compares every entry). [`Error`] is a code plus an
//! optional UTF-8 message: the message a server attached to an error reply,
//! a panic message, or a local explanation.

use std::ffi::CStr;
use std::fmt;

use crate::sys;

/// A status code from the stable table in `include/ffb_status.h`.
///
/// Values are never renumbered; unknown values (from a newer peer) are kept
/// as they are and named `"UNKNOWN"`. Use the associated constants to
/// compare or to match:
///
/// ```
/// use ffb::Code;
/// let c = Code::from_raw(7);
/// assert_eq!(c, Code::NOT_FOUND);
/// assert_eq!(c.name(), "NOT_FOUND");
/// assert!(matches!(c, Code::NOT_FOUND));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code(i32);

macro_rules! codes {
    ($( $(#[$doc:meta])* $name:ident = $sys:ident, $text:literal; )*) => {
        impl Code {
            $( $(#[$doc])* pub const $name: Code = Code(sys::$sys); )*

            /// Every code of the table with its stable name, in value order.
            ///
            /// ```
            /// assert_eq!(ffb::Code::TABLE[0], ("OK", ffb::Code::OK));
            /// ```
            pub const TABLE: &'static [(&'static str, Code)] = &[ $( (stringify!($name), Code::$name), )* ];

            /// The stable identifier, e.g. `"NOT_FOUND"`; `"UNKNOWN"` for a
            /// value outside the table.
            ///
            /// ```
            /// assert_eq!(ffb::Code::PANIC.name(), "PANIC");
            /// assert_eq!(ffb::Code::from_raw(1234).name(), "UNKNOWN");
            /// ```
            pub fn name(self) -> &'static str {
                match self.0 {
                    $( sys::$sys => stringify!($name), )*
                    _ => "UNKNOWN",
                }
            }

            /// A short English description, e.g. `"not found"`.
            ///
            /// ```
            /// assert_eq!(ffb::Code::TIMEOUT.description(), "a deadline passed");
            /// ```
            pub fn description(self) -> &'static str {
                match self.0 {
                    $( sys::$sys => $text, )*
                    _ => "unknown status",
                }
            }
        }
    };
}

codes! {
    /// Success.
    OK = FFB_OK, "success";
    /// A required pointer was NULL.
    NULL_POINTER = FFB_ERR_NULL_POINTER, "a required pointer was NULL";
    /// The buffer cannot hold the data.
    BUFFER_TOO_SMALL = FFB_ERR_BUFFER_TOO_SMALL, "the buffer cannot hold the data";
    /// A name or message is not UTF-8.
    INVALID_UTF8 = FFB_ERR_INVALID_UTF8, "a name or message is not UTF-8";
    /// JSON (de)serialisation failed.
    SERIALIZATION = FFB_ERR_SERIALIZATION, "JSON (de)serialisation failed";
    /// A callback panicked; the server lives on.
    PANIC = FFB_ERR_PANIC, "a callback panicked; server lives on";
    /// A deadline passed.
    TIMEOUT = FFB_ERR_TIMEOUT, "a deadline passed";
    /// No callback of that name or id.
    NOT_FOUND = FFB_ERR_NOT_FOUND, "no callback of that name or id";
    /// A lock was poisoned by a panic.
    LOCK_POISONED = FFB_ERR_LOCK_POISONED, "a lock was poisoned by a panic";
    /// The handle's generation is not current.
    STALE_HANDLE = FFB_ERR_STALE_HANDLE, "handle's generation is not current";
    /// The block was already freed.
    DOUBLE_FREE = FFB_ERR_DOUBLE_FREE, "the block was already freed";
    /// A forged handle: fields out of range, or 0.
    INVALID_HANDLE = FFB_ERR_INVALID_HANDLE, "forged: fields out of range, or 0";
    /// The handle belongs to another arena.
    FOREIGN_HANDLE = FFB_ERR_FOREIGN_HANDLE, "handle belongs to another arena";
    /// No free block of the size class.
    ARENA_FULL = FFB_ERR_ARENA_FULL, "no free block of the size class";
    /// The request ring has no free slot.
    RING_FULL = FFB_ERR_RING_FULL, "the request ring has no free slot";
    /// The peer process died or closed.
    PEER_GONE = FFB_ERR_PEER_GONE, "the peer process died or closed";
    /// Magic or layout version differs.
    VERSION_MISMATCH = FFB_ERR_VERSION_MISMATCH, "magic or layout version differs";
    /// Peer credentials refused.
    PERMISSION_DENIED = FFB_ERR_PERMISSION_DENIED, "peer credentials refused";
    /// An argument is out of its range.
    INVALID_ARGUMENT = FFB_ERR_INVALID_ARGUMENT, "an argument is out of its range";
    /// The peer broke the protocol.
    PROTOCOL = FFB_ERR_PROTOCOL, "the peer broke the protocol";
    /// The server's session cap is hit.
    TOO_MANY_SESSIONS = FFB_ERR_TOO_MANY_SESSIONS, "the server's session cap is hit";
    /// The session's in-flight cap is hit.
    TOO_MANY_CALLS = FFB_ERR_TOO_MANY_CALLS, "the session's in-flight cap is hit";
    /// A received fd has the wrong type, seals or size.
    BAD_FD = FFB_ERR_BAD_FD, "received fd: wrong type/seals/size";
    /// An OS call failed.
    SYSTEM = FFB_ERR_SYSTEM, "an OS call failed (see errno)";
    /// A callback of that name exists.
    ALREADY_EXISTS = FFB_ERR_ALREADY_EXISTS, "a callback of that name exists";
    /// The object is closed or shutting down.
    CLOSED = FFB_ERR_CLOSED, "the object is closed/shutting down";
    /// Nothing ready; try again.
    WOULD_BLOCK = FFB_ERR_WOULD_BLOCK, "nothing ready; try again";
    /// The block is lent to the peer.
    BUSY = FFB_ERR_BUSY, "block is lent to the peer";
    /// The caller cancelled the call.
    CANCELLED = FFB_ERR_CANCELLED, "the caller cancelled the call";
    /// Unclassified.
    UNKNOWN = FFB_ERR_UNKNOWN, "unclassified";
}

impl Code {
    /// The code with raw value `raw` (kept as is, even outside the table).
    ///
    /// ```
    /// assert_eq!(ffb::Code::from_raw(5), ffb::Code::PANIC);
    /// ```
    pub const fn from_raw(raw: i32) -> Code {
        Code(raw)
    }

    /// The raw value, as carried on the wire and returned by the C API.
    ///
    /// ```
    /// assert_eq!(ffb::Code::NOT_FOUND.raw(), 7);
    /// ```
    pub const fn raw(self) -> i32 {
        self.0
    }

    /// Whether this is [`Code::OK`].
    ///
    /// ```
    /// assert!(ffb::Code::OK.is_ok());
    /// assert!(!ffb::Code::PANIC.is_ok());
    /// ```
    pub const fn is_ok(self) -> bool {
        self.0 == sys::FFB_OK
    }

    /// The name the linked C core gives this code (`ffb_status_name`).
    /// Equal to [`Code::name`] for every code in the table.
    ///
    /// ```
    /// assert_eq!(ffb::Code::BUSY.c_name(), "BUSY");
    /// ```
    pub fn c_name(self) -> &'static str {
        // SAFETY: ffb_status_name accepts any int and returns a static,
        // NUL-terminated ASCII string (never NULL per ffb_status.h).
        let p = unsafe { sys::ffb_status_name(self.0) };
        static_str(p, "UNKNOWN")
    }
}

/// Turns a static C string from the core into a `&'static str`.
pub(crate) fn static_str(p: *const libc::c_char, fallback: &'static str) -> &'static str {
    if p.is_null() {
        return fallback;
    }
    // SAFETY: the core documents these strings as static and NUL-terminated;
    // they are never freed, so 'static is sound.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().unwrap_or(fallback)
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An error: a stable [`Code`] and an optional message.
///
/// Returned by every fallible function of the crate, and returned by
/// server callbacks to answer a call with an error code.
///
/// ```
/// use ffb::{Code, Error};
/// let e = Error::with_message(Code::INVALID_ARGUMENT, "values must not be empty");
/// assert_eq!(e.code(), Code::INVALID_ARGUMENT);
/// assert_eq!(e.message(), Some("values must not be empty"));
/// assert_eq!(e.to_string(), "INVALID_ARGUMENT: values must not be empty");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    code: Code,
    message: Option<String>,
}

/// `Result<T, ffb::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with `code` and no message.
    ///
    /// ```
    /// let e = ffb::Error::new(ffb::Code::TIMEOUT);
    /// assert_eq!(e.message(), None);
    /// ```
    pub fn new(code: Code) -> Error {
        Error {
            code,
            message: None,
        }
    }

    /// An error with `code` and a message.
    ///
    /// ```
    /// let e = ffb::Error::with_message(ffb::Code::UNKNOWN, "oops");
    /// assert_eq!(e.message(), Some("oops"));
    /// ```
    pub fn with_message(code: Code, message: impl Into<String>) -> Error {
        Error {
            code,
            message: Some(message.into()),
        }
    }

    /// The stable code.
    ///
    /// ```
    /// assert_eq!(ffb::Error::new(ffb::Code::BUSY).code(), ffb::Code::BUSY);
    /// ```
    pub fn code(&self) -> Code {
        self.code
    }

    /// The message, if any.
    ///
    /// ```
    /// assert_eq!(ffb::Error::new(ffb::Code::BUSY).message(), None);
    /// ```
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// `Ok(())` for `FFB_OK`, else an error with that code. Call it right
    /// after the C function: for `SYSTEM` the message is taken from errno.
    pub(crate) fn check(status: sys::ffb_status) -> Result<()> {
        match status {
            sys::FFB_OK => Ok(()),
            sys::FFB_ERR_SYSTEM => {
                let os = std::io::Error::last_os_error();
                match os.raw_os_error() {
                    Some(n) if n != 0 => Err(Error::with_message(Code(status), os.to_string())),
                    _ => Err(Error::new(Code(status))),
                }
            }
            _ => Err(Error::new(Code(status))),
        }
    }
}

impl From<Code> for Error {
    fn from(code: Code) -> Error {
        Error::new(code)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("code", &self.code);
        if let Some(m) = &self.message {
            d.field("message", m);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(m) => write!(f, "{}: {}", self.code.name(), m),
            None => write!(f, "{} ({})", self.code.name(), self.code.description()),
        }
    }
}

impl std::error::Error for Error {}
