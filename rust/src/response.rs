//! [`Response`]: the successful answer to a client call.

use std::fmt;

use crate::buffer::Buffer;
use crate::error::{Code, Error, Result};
use crate::handle::Handle;

enum Body<'c, 'i> {
    Empty,
    /// Zero-copy: the reply is the caller's input buffer.
    Input(&'i Buffer<'c>),
    /// A server-heap block now held by the client.
    Owned(Buffer<'c>),
}

/// The successful answer to a call: no bytes, the input buffer itself
/// (zero copy), or a new server block that this response owns (freed on
/// drop, or kept with [`Response::into_buffer`]).
///
/// `'c` is the client borrow, `'i` the borrow of the input buffer: a
/// zero-copy reply keeps the input buffer borrowed, so it cannot be freed
/// while the reply is read.
///
/// ```no_run
/// let client = ffb::Client::connect("app.sock")?;
/// let buf = client.alloc_bytes(b"ping")?;
/// let reply = client.echo(&buf, 4)?;
/// assert!(reply.is_zero_copy());
/// assert_eq!(reply.len(), 4);
/// assert_eq!(reply.to_vec()?, b"ping");
/// # Ok::<(), ffb::Error>(())
/// ```
///
/// Freeing the input while a zero-copy reply still reads it does not
/// compile:
///
/// ```compile_fail,E0505
/// let client = ffb::Client::connect("x.sock").unwrap();
/// let buf = client.alloc(8).unwrap();
/// let reply = client.echo(&buf, 8).unwrap();
/// buf.free().unwrap(); // error: cannot move out of `buf` because it is borrowed
/// let _ = reply.to_vec();
/// ```
pub struct Response<'c, 'i> {
    len: u32,
    body: Body<'c, 'i>,
}

impl<'c, 'i> Response<'c, 'i> {
    pub(crate) fn empty() -> Self {
        Response {
            len: 0,
            body: Body::Empty,
        }
    }

    pub(crate) fn input(b: &'i Buffer<'c>, len: u32) -> Self {
        Response {
            len,
            body: Body::Input(b),
        }
    }

    pub(crate) fn owned(b: Buffer<'c>, len: u32) -> Self {
        Response {
            len,
            body: Body::Owned(b),
        }
    }

    /// Length of the reply in bytes.
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// assert!(client.invoke_empty("ffi.version")?.len() > 0);
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the reply has no bytes.
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// assert!(!client.invoke_empty("ffi.version")?.is_empty());
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The handle of the reply block (`None` for an empty reply). For a
    /// zero-copy reply it is the input buffer's handle.
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// let buf = client.alloc(64)?;
    /// assert_eq!(client.echo(&buf, 64)?.handle(), Some(buf.handle()));
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn handle(&self) -> Option<Handle> {
        match &self.body {
            Body::Empty => None,
            Body::Input(b) => Some(b.handle()),
            Body::Owned(b) => Some(b.handle()),
        }
    }

    /// Whether the reply is the input buffer itself (no bytes were copied).
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// let buf = client.alloc(64)?;
    /// assert!(client.echo(&buf, 64)?.is_zero_copy());
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn is_zero_copy(&self) -> bool {
        matches!(self.body, Body::Input(_))
    }

    /// Copy the reply bytes out.
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// let bytes = client.invoke_empty("ffi.version")?.to_vec()?;
    /// # let _ = bytes;
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        match &self.body {
            Body::Empty => Ok(Vec::new()),
            Body::Input(b) => b.read_vec(self.len()),
            Body::Owned(b) => b.read_vec(self.len()),
        }
    }

    /// Copy up to `out.len()` reply bytes into `out`; returns how many.
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// let mut out = [0u8; 64];
    /// let n = client.invoke_empty("ffi.version")?.read_into(&mut out)?;
    /// # let _ = n;
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn read_into(&self, out: &mut [u8]) -> Result<usize> {
        let n = out.len().min(self.len());
        match &self.body {
            Body::Empty => Ok(0),
            Body::Input(b) => b.read_at(0, &mut out[..n]).map(|_| n),
            Body::Owned(b) => b.read_at(0, &mut out[..n]).map(|_| n),
        }
    }

    /// The reply as UTF-8 text (a copy). `INVALID_UTF8` otherwise.
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// println!("{}", client.invoke_empty("ffi.version")?.text()?);
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn text(&self) -> Result<String> {
        String::from_utf8(self.to_vec()?).map_err(|_| Error::new(Code::INVALID_UTF8))
    }

    /// Keep a server-allocated reply block beyond the response (`None` for
    /// an empty or zero-copy reply, whose block is not the response's).
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// let block = client.invoke_empty("ffi.version")?.into_buffer();
    /// # let _ = block;
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn into_buffer(self) -> Option<Buffer<'c>> {
        match self.body {
            Body::Owned(b) => Some(b),
            _ => None,
        }
    }
}

impl fmt::Debug for Response<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("len", &self.len)
            .field("handle", &self.handle())
            .field("zero_copy", &self.is_zero_copy())
            .finish()
    }
}
