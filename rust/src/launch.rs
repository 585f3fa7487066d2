//! A server started by a launcher (the Go package's `ffb.Start`): the
//! listening socket it passes down (`FFB_LISTEN_FD`), the parent-liveness
//! check (`FFB_PARENT_PID`), and a run loop that stops on SIGTERM/SIGINT.

use std::os::fd::{IntoRawFd, OwnedFd};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use crate::error::{Code, Error, Result};
use crate::server::{Server, ServerOptions, ServerStats};
use crate::sys;

impl Server {
    /// A server with `options` on the socket a launcher passed in the
    /// environment ([`Server::listen_from_env`]). `INVALID_ARGUMENT` if
    /// `FFB_LISTEN_FD` is not set; `PEER_GONE` if the launcher
    /// (`FFB_PARENT_PID`) already died: exit then.
    ///
    /// ```no_run
    /// let server = ffb::Server::from_env(&ffb::ServerOptions::new())?;
    /// server.run_until_signal()?;
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn from_env(options: &ServerOptions) -> Result<Server> {
        let s = Server::with_options(options)?;
        if !s.listen_from_env()? {
            return Err(Error::with_message(
                Code::INVALID_ARGUMENT,
                "FFB_LISTEN_FD is not set: not started by a launcher",
            ));
        }
        Ok(s)
    }

    /// Take what a launcher passed (`ffb_server_listen_env`): with
    /// `FFB_PARENT_PID` set, arm a parent-death signal (SIGTERM, unless
    /// the launcher armed one) and check the launcher still lives
    /// (`PEER_GONE` if not: exit then); with `FFB_LISTEN_FD` set, serve that
    /// listening socket and return `true`. Both variables are removed from
    /// the environment. `false`: no socket was passed, listen on a path of
    /// your own. Call early in `main`, while no other thread reads or
    /// writes the environment, and before serving. Errors: `PEER_GONE`,
    /// `INVALID_ARGUMENT` (not a number; already serving or listening),
    /// `BAD_FD` (not a listening Unix `SOCK_SEQPACKET` socket), `SYSTEM`.
    ///
    /// ```no_run
    /// let server = ffb::Server::new()?;
    /// if !server.listen_from_env()? {
    ///     server.listen("app.sock")?;
    /// }
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn listen_from_env(&self) -> Result<bool> {
        self.before_serving(|raw| {
            let mut used = 0;
            // SAFETY: live server, not serving (before_serving); used is
            // a valid out-pointer. The environment caveat is documented.
            Error::check(unsafe { sys::ffb_server_listen_env(raw, &mut used) })?;
            Ok(used != 0)
        })
    }

    /// Serve `fd`, an already listening Unix `SOCK_SEQPACKET` socket; the
    /// server owns and closes it (on an error too). Before serving.
    /// Errors: `BAD_FD`, `INVALID_ARGUMENT` (already listening or
    /// serving), `SYSTEM`.
    ///
    /// ```no_run
    /// # let fd: std::os::fd::OwnedFd = unimplemented!();
    /// let server = ffb::Server::new()?;
    /// server.listen_fd(fd)?;
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn listen_fd(&self, fd: OwnedFd) -> Result<()> {
        self.before_serving(|raw| {
            let fd = fd.into_raw_fd();
            // SAFETY: live server, not serving; fd is ours to hand over.
            let st = unsafe { sys::ffb_server_listen_fd(raw, fd) };
            if st != sys::FFB_OK {
                // SAFETY: on an error the core did not take the fd.
                unsafe { libc::close(fd) };
            }
            Error::check(st)
        })
    }

    /// Serve on the calling thread until SIGTERM or SIGINT (or
    /// [`Server::stop`]), then shut down gracefully as
    /// [`Server::shutdown`] does: goodbyes, the socket file removed.
    /// Returns the counters. The handlers are installed for the run and
    /// the previous ones restored after; one server at a time per
    /// process may run this (`BUSY` otherwise). Do not block SIGTERM and
    /// SIGINT in every thread meanwhile (nothing would take them).
    ///
    /// ```no_run
    /// let server = ffb::Server::bind("app.sock")?;
    /// let stats = server.run_until_signal()?;
    /// println!("{} calls served", stats.calls);
    /// # Ok::<(), ffb::Error>(())
    /// ```
    pub fn run_until_signal(self) -> Result<ServerStats> {
        if SIGNALLED
            .compare_exchange(
                std::ptr::null_mut(),
                self.as_raw(),
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .is_err()
        {
            return Err(Error::with_message(
                Code::BUSY,
                "another server runs until a signal in this process",
            ));
        }
        let old = install(on_stop_signal as extern "C" fn(libc::c_int) as usize);
        let res = self.run();
        restore(&old);
        SIGNALLED.store(std::ptr::null_mut(), Ordering::SeqCst);
        // A handler that began before the store may still use the server.
        while IN_HANDLER.load(Ordering::SeqCst) != 0 {
            std::hint::spin_loop();
        }
        res?;
        self.shutdown()
    }
}

/// The server the handler stops; null outside run_until_signal.
static SIGNALLED: AtomicPtr<sys::ffb_server> = AtomicPtr::new(std::ptr::null_mut());
/// Handlers running now (the server is not freed under them).
static IN_HANDLER: AtomicUsize = AtomicUsize::new(0);

const STOP_SIGNALS: [libc::c_int; 2] = [libc::SIGTERM, libc::SIGINT];

extern "C" fn on_stop_signal(_sig: libc::c_int) {
    IN_HANDLER.fetch_add(1, Ordering::SeqCst);
    let s = SIGNALLED.load(Ordering::SeqCst);
    if !s.is_null() {
        // SAFETY: s is alive until IN_HANDLER drops to 0 (see
        // run_until_signal); ffb_server_stop is async-signal-safe.
        unsafe { sys::ffb_server_stop(s) };
    }
    IN_HANDLER.fetch_sub(1, Ordering::SeqCst);
}

fn install(handler: usize) -> [libc::sigaction; 2] {
    // SAFETY: sigaction is plain data; zeroed is a valid empty value.
    let mut old: [libc::sigaction; 2] = unsafe { std::mem::zeroed() };
    for (i, sig) in STOP_SIGNALS.iter().enumerate() {
        // SAFETY: as above; the mask is emptied before use.
        let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
        sa.sa_sigaction = handler;
        sa.sa_flags = libc::SA_RESTART;
        // SAFETY: valid sigaction structs; the handler only does
        // async-signal-safe work.
        unsafe {
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(*sig, &sa, &mut old[i]);
        }
    }
    old
}

fn restore(old: &[libc::sigaction; 2]) {
    for (i, sig) in STOP_SIGNALS.iter().enumerate() {
        // SAFETY: old[i] is what sigaction returned for this signal.
        unsafe { libc::sigaction(*sig, &old[i], std::ptr::null_mut()) };
    }
}
