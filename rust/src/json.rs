//! JSON helpers (feature `json`, on by default): serde_json encoding with
//! errors mapped to [`Code::SERIALIZATION`].

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::client::Client;
use crate::error::{Code, Error, Result};
use crate::request::{Reply, Request};
use crate::response::Response;
use crate::server::Server;

fn ser_error(e: serde_json::Error) -> Error {
    Error::with_message(Code::SERIALIZATION, e.to_string())
}

/// Encode `value` as JSON bytes. `SERIALIZATION` on failure.
///
/// ```
/// assert_eq!(ffb::to_json(&[1, 2, 3])?, b"[1,2,3]");
/// # Ok::<(), ffb::Error>(())
/// ```
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(ser_error)
}

/// Decode JSON bytes. `SERIALIZATION` (with serde's message) on failure.
///
/// ```
/// let v: Vec<i64> = ffb::from_json(b"[1,2,3]")?;
/// assert_eq!(v, [1, 2, 3]);
/// assert_eq!(ffb::from_json::<Vec<i64>>(b"nope").unwrap_err().code(), ffb::Code::SERIALIZATION);
/// # Ok::<(), ffb::Error>(())
/// ```
pub fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(ser_error)
}

impl Request<'_> {
    /// Decode the input (a private copy) as JSON.
    ///
    /// ```
    /// # fn h(req: &ffb::Request<'_>) -> ffb::Result<ffb::Reply> {
    /// let values: Vec<i64> = req.json()?;
    /// ffb::Reply::json(&values.iter().sum::<i64>())
    /// # }
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        from_json(&self.to_vec())
    }
}

impl Reply {
    /// A reply holding `value` encoded as JSON.
    ///
    /// ```
    /// let r = ffb::Reply::json(&serde_json::json!({"ok": true}))?;
    /// # let _ = r;
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Reply> {
        to_json(value).map(Reply::bytes)
    }
}

impl Response<'_, '_> {
    /// Decode the reply bytes (a copy) as JSON.
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// let buf = client.alloc_bytes(br#"{"values":[1,2]}"#)?;
    /// let v: serde_json::Value = client.invoke("demo.json.sum", &buf, 16)?.json()?;
    /// # let _ = v;
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        from_json(&self.to_vec()?)
    }
}

impl Client {
    /// Encode `request` as JSON, call `name` with it, decode the reply.
    /// Errors: `SERIALIZATION` (either way) plus those of [`Client::invoke`].
    ///
    /// ```no_run
    /// use serde_json::{json, Value};
    /// let client = ffb::Client::connect("app.sock")?;
    /// let out: Value = client.invoke_json("demo.json.sum", &json!({"values": [1, 2, 3]}))?;
    /// assert_eq!(out["sum"], 6);
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn invoke_json<Req, Resp>(&self, name: &str, request: &Req) -> Result<Resp>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        let bytes = to_json(request)?;
        let buf = self.alloc_bytes(&bytes)?;
        let out = self.invoke(name, &buf, bytes.len())?.json();
        let _ = buf.free();
        out
    }
}

impl Server {
    /// Register a JSON callback: the input is decoded as `In` (a decode
    /// failure answers `SERIALIZATION`), `f`'s `Out` is encoded as the reply.
    ///
    /// ```
    /// use serde_json::{json, Value};
    /// let server = ffb::Server::new()?;
    /// server.register_json("math.neg", |x: i64| Ok(-x))?;
    /// server.start()?;
    /// let client = server.connect_inproc()?;
    /// let y: i64 = client.invoke_json("math.neg", &5)?;
    /// assert_eq!(y, -5);
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn register_json<In, Out, F>(&self, name: &str, f: F) -> Result<u32>
    where
        In: DeserializeOwned,
        Out: Serialize,
        F: Fn(In) -> Result<Out> + Send + Sync + 'static,
    {
        self.register(name, move |req| {
            let input: In = req.json()?;
            Reply::json(&f(input)?)
        })
    }
}
