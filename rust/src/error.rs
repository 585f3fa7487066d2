//! The stable status codes of ffi-bridge and the crate's [`Error`] type.
//!
//! [`Code`] is the table of `include/ffb_status.h`, value for value and
//! text for text (generated from the header by `make gen`; a test compares
//! it with the names and texts of the linked C core). [`Error`] is a code plus an
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
pub struct Code(pub(crate) i32);

// The associated constants (`Code::OK`, `Code::NOT_FOUND`, ...) and
// `Code::TABLE` are generated from `include/ffb_status.h` (zstatus.rs).
impl Code {
    /// The stable identifier, e.g. `"NOT_FOUND"`; `"UNKNOWN"` for a
    /// value outside the table.
    ///
    /// ```
    /// assert_eq!(ffb::Code::PANIC.name(), "PANIC");
    /// assert_eq!(ffb::Code::from_raw(1234).name(), "UNKNOWN");
    /// ```
    pub fn name(self) -> &'static str {
        self.entry().map_or("UNKNOWN", |e| e.0)
    }

    /// The English text of the code, the one `ffb_strerror` gives in C,
    /// e.g. `"a deadline passed"`; `"unknown status"` outside the table.
    ///
    /// ```
    /// assert_eq!(ffb::Code::TIMEOUT.description(), "a deadline passed");
    /// ```
    pub fn description(self) -> &'static str {
        self.entry().map_or("unknown status", |e| e.2)
    }

    fn entry(self) -> Option<&'static (&'static str, sys::ffb_status, &'static str)> {
        crate::zstatus::STATUS_TABLE.iter().find(|e| e.1 == self.0)
    }

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

    /// The text the linked C core gives this code (`ffb_strerror`).
    /// Equal to [`Code::description`] for every code in the table.
    ///
    /// ```
    /// assert_eq!(ffb::Code::BUSY.c_description(), ffb::Code::BUSY.description());
    /// ```
    pub fn c_description(self) -> &'static str {
        // SAFETY: ffb_strerror accepts any int and returns a static,
        // NUL-terminated string (never NULL per ffb_status.h).
        let p = unsafe { sys::ffb_strerror(self.0) };
        static_str(p, "unknown status")
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
