//! Pipelined calls: [`Client::call_many`] submits a batch of calls, rings
//! the server once, and collects the answers as they come (in any order).
//!
//! Built on `ffb_client_submit`/`ffb_client_poll`. The inputs stay borrowed
//! for the whole batch, and every call is finished (or given up) before
//! `call_many` returns, so no call outlives the borrow of its buffer.

use std::collections::HashMap;
use std::time::Instant;

use crate::buffer::Buffer;
use crate::client::Client;
use crate::error::{Code, Error, Result};
use crate::handle::Handle;
use crate::response::Response;
use crate::sys;

const POLL_BATCH: usize = 64;

impl Client {
    /// Call `fn_id` once per `(buffer, len)` in `inputs`, pipelined: all
    /// calls are queued, the server is woken once, and answers are
    /// collected as they arrive. Returns one result per input, in input
    /// order.
    ///
    /// The client's call timeout (see [`Client::set_timeout`]) bounds the
    /// whole batch; calls still unanswered then fail with `TIMEOUT` and
    /// their buffers are given up (as after a single call's timeout).
    /// A buffer listed twice fails the second time with `BUSY` (it is lent
    /// to the first call). Blocks.
    ///
    /// ```no_run
    /// let client = ffb::Client::connect("app.sock")?;
    /// let bufs: Vec<_> = (0..16).map(|_| client.alloc(64)).collect::<Result<_, _>>()?;
    /// let inputs: Vec<_> = bufs.iter().map(|b| (b, 64)).collect();
    /// for r in client.call_many(0x10000, &inputs) { // ffi.echo
    ///     assert!(r?.is_zero_copy());
    /// }
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn call_many<'c, 'i>(
        &'c self,
        fn_id: u32,
        inputs: &[(&'i Buffer<'c>, usize)],
    ) -> Vec<Result<Response<'c, 'i>>> {
        let mut results: Vec<Option<Result<Response<'c, 'i>>>> =
            (0..inputs.len()).map(|_| None).collect();
        let mut pending: HashMap<u64, usize> = HashMap::new();
        let deadline = self.timeout().map(|t| Instant::now() + t);
        let mut next = 0;
        let mut completions = [sys::ffb_completion::default(); POLL_BATCH];

        while next < inputs.len() || !pending.is_empty() {
            // Queue as many as the ring and the in-flight cap take.
            while next < inputs.len() {
                let (buf, len) = inputs[next];
                match self.submit_one(fn_id, buf, len) {
                    Ok(id) => {
                        pending.insert(id, next);
                    }
                    Err(e)
                        if matches!(e.code(), Code::TOO_MANY_CALLS | Code::RING_FULL)
                            && !pending.is_empty() =>
                    {
                        break; // collect some answers first
                    }
                    Err(e) => results[next] = Some(Err(e)),
                }
                next += 1;
            }
            if pending.is_empty() {
                continue;
            }
            let wait_ns = match deadline {
                None => -1,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now()).as_nanos();
                    i64::try_from(left).unwrap_or(i64::MAX).max(1)
                }
            };
            let mut n = 0u32;
            // SAFETY: live client used by this thread; `completions` has
            // room for POLL_BATCH entries and n is a valid out-pointer.
            let st = unsafe {
                sys::ffb_client_poll(
                    self.raw(),
                    completions.as_mut_ptr(),
                    POLL_BATCH as u32,
                    &mut n,
                    wait_ns,
                )
            };
            for c in &completions[..(n as usize).min(POLL_BATCH)] {
                match pending.remove(&c.call_id) {
                    Some(i) => {
                        let input = inputs[i].0;
                        results[i] = Some(self.finish(c.result.status, c.result, Some(input)));
                    }
                    None => self.reclaim_stray(c),
                }
            }
            if st != sys::FFB_OK && n == 0 {
                let code = Code::from_raw(st);
                if code == Code::TIMEOUT && deadline.is_some_and(|d| Instant::now() < d) {
                    continue; // woke before the deadline: keep waiting
                }
                // Give the rest up: they stay lent to the session, their
                // late answers are reclaimed by a later batch.
                for (id, i) in pending.drain() {
                    let buf = inputs[i].0;
                    buf.mark_lost();
                    self.abandon(id, buf.handle());
                    results[i] = Some(Err(Error::new(code)));
                }
                for r in results.iter_mut().skip(next) {
                    *r = Some(Err(Error::new(code)));
                }
                next = inputs.len();
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::new(Code::UNKNOWN))))
            .collect()
    }

    fn submit_one(&self, fn_id: u32, buf: &Buffer<'_>, len: usize) -> Result<u64> {
        let (h, len) = self.input_of(Some(buf), len)?;
        let mut id = 0u64;
        // SAFETY: live client; h belongs to this session (input_of) and the
        // core checks it is ours and not lent; id is a valid out-pointer.
        Error::check(unsafe { sys::ffb_client_submit(self.raw(), fn_id, h, len, &mut id) })?;
        Ok(id)
    }

    /// A completion for a call no batch waits for any more: free what it
    /// brought back (the given-up input and any server block).
    fn reclaim_stray(&self, c: &sys::ffb_completion) {
        let input = self.take_abandoned(c.call_id);
        if let Some(reply) = Handle::from_sys(c.result.handle) {
            if Some(reply) != input {
                let _ = self.free_raw(reply);
            }
        }
        if let Some(h) = input {
            let _ = self.free_raw(h);
        }
    }
}
