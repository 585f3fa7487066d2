//! Raw declarations of the C API in `include/ffb.h`.
//!
//! The opaque object types, the callback types and the functions are
//! written here by hand, one to one with the header. The option, stats and
//! result structs (`#[repr(C)]`, pinned by the C compiler's offsets), the
//! status values of `include/ffb_status.h` and the constants of
//! `include/ffb_layout.h` are generated (`make gen`) and re-exported here.
//! The safe API in the rest of the crate is built only on these items.
//! Calling any of the functions is `unsafe`: the caller upholds the
//! contract written above each one in `ffb.h`.
#![allow(non_camel_case_types, missing_docs)]

use libc::{c_char, c_int, c_void};

// The constants, status codes and plain structs are generated from the
// headers (`make gen`): zstatus.rs, zlayout.rs, zapi.rs.
pub use crate::zapi::*;
pub use crate::zlayout::*;
pub use crate::zstatus::*;

// ---- opaque objects -------------------------------------------------------

/// `struct ffb_server` (opaque).
#[repr(C)]
pub struct ffb_server {
    _private: [u8; 0],
    _not_send_sync: core::marker::PhantomData<*mut u8>,
}

/// `struct ffb_client` (opaque).
#[repr(C)]
pub struct ffb_client {
    _private: [u8; 0],
    _not_send_sync: core::marker::PhantomData<*mut u8>,
}

/// `struct ffb_call` (opaque; valid during its callback, and until
/// `ffb_call_finish` once kept with `ffb_call_defer`).
#[repr(C)]
pub struct ffb_call {
    _private: [u8; 0],
    _not_send_sync: core::marker::PhantomData<*mut u8>,
}

/// `struct ffb_session` (opaque; a counted reference to a session).
#[repr(C)]
pub struct ffb_request {
    _private: [u8; 0],
    _not_send_sync: core::marker::PhantomData<*mut u8>,
}

#[repr(C)]
pub struct ffb_session {
    _private: [u8; 0],
    _not_send_sync: core::marker::PhantomData<*mut u8>,
}

// ---- callbacks -------------------------------------------------------------

pub type ffb_log_fn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, level: c_int, msg: *const c_char)>;
pub type ffb_callback_fn =
    Option<unsafe extern "C" fn(call: *mut ffb_call, ctx: *mut c_void) -> ffb_status>;
pub type ffb_answer_fn = Option<
    unsafe extern "C" fn(ctx: *mut c_void, status: ffb_status, data: *const c_void, len: u32),
>;
pub type ffb_client_handler_fn =
    Option<unsafe extern "C" fn(r: *mut ffb_request, ctx: *mut c_void) -> ffb_status>;
pub type ffb_item_fn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, data: *const c_void, len: u32)>;

extern "C" {
    pub fn ffb_version() -> *const c_char;
    pub fn ffb_strerror(status: c_int) -> *const c_char;
    pub fn ffb_status_name(status: c_int) -> *const c_char;
    pub fn ffb_set_log(f: ffb_log_fn, ctx: *mut c_void, max_level: c_int);

    // server
    pub fn ffb_server_options_init(o: *mut ffb_server_options);
    pub fn ffb_server_create(o: *const ffb_server_options, out: *mut *mut ffb_server)
        -> ffb_status;
    pub fn ffb_server_listen(s: *mut ffb_server, path: *const c_char) -> ffb_status;
    pub fn ffb_server_listen_fd(s: *mut ffb_server, fd: c_int) -> ffb_status;
    pub fn ffb_server_listen_env(s: *mut ffb_server, used: *mut c_int) -> ffb_status;
    pub fn ffb_server_register(
        s: *mut ffb_server,
        name: *const c_char,
        f: ffb_callback_fn,
        ctx: *mut c_void,
        fn_id: *mut u32,
    ) -> ffb_status;
    pub fn ffb_server_register_flags(
        s: *mut ffb_server,
        name: *const c_char,
        f: ffb_callback_fn,
        ctx: *mut c_void,
        flags: u32,
        fn_id: *mut u32,
    ) -> ffb_status;
    pub fn ffb_server_post(
        s: *mut ffb_server,
        f: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
        ctx: *mut c_void,
    ) -> ffb_status;
    pub fn ffb_server_unregister(s: *mut ffb_server, name: *const c_char) -> ffb_status;
    pub fn ffb_server_lookup(
        s: *mut ffb_server,
        name: *const c_char,
        fn_id: *mut u32,
    ) -> ffb_status;
    pub fn ffb_server_run(s: *mut ffb_server) -> ffb_status;
    pub fn ffb_server_start(s: *mut ffb_server) -> ffb_status;
    pub fn ffb_server_stop(s: *mut ffb_server) -> ffb_status;
    pub fn ffb_server_destroy(s: *mut ffb_server);
    pub fn ffb_server_stats(s: *mut ffb_server, out: *mut ffb_server_stats) -> ffb_status;
    pub fn ffb_server_fn_stats(
        s: *mut ffb_server,
        out: *mut ffb_stats_fn,
        max: u32,
        n: *mut u32,
        total: *mut u32,
    ) -> ffb_status;
    pub fn ffb_server_uses_futex(s: *const ffb_server) -> c_int;
    pub fn ffb_server_connect_inproc(
        s: *mut ffb_server,
        o: *const ffb_client_options,
        out: *mut *mut ffb_client,
    ) -> ffb_status;

    // inside a callback
    pub fn ffb_call_data(c: *const ffb_call) -> *mut c_void;
    pub fn ffb_call_len(c: *const ffb_call) -> u32;
    pub fn ffb_call_capacity(c: *const ffb_call) -> u32;
    pub fn ffb_call_function(c: *const ffb_call) -> u32;
    pub fn ffb_call_session(c: *const ffb_call) -> u64;
    pub fn ffb_call_reply_input(c: *mut ffb_call, len: u32) -> ffb_status;
    pub fn ffb_call_reply_alloc(c: *mut ffb_call, len: u32, data: *mut *mut c_void) -> ffb_status;
    pub fn ffb_call_reply_bytes(c: *mut ffb_call, data: *const c_void, len: u32) -> ffb_status;
    pub fn ffb_call_reply_truncate(c: *mut ffb_call, len: u32) -> ffb_status;
    pub fn ffb_call_set_error(c: *mut ffb_call, msg: *const c_char) -> ffb_status;
    pub fn ffb_call_defer(c: *mut ffb_call) -> *mut ffb_call;
    pub fn ffb_call_finish(c: *mut ffb_call, status: ffb_status);
    pub fn ffb_call_cancelled(c: *const ffb_call) -> c_int;
    pub fn ffb_call_on_cancel(
        c: *mut ffb_call,
        f: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
        ctx: *mut c_void,
    ) -> ffb_status;

    // streams
    pub fn ffb_call_is_stream(c: *const ffb_call) -> c_int;
    pub fn ffb_call_credit(c: *const ffb_call) -> u32;
    pub fn ffb_call_item(c: *mut ffb_call, data: *const c_void, len: u32) -> ffb_status;
    pub fn ffb_call_on_credit(
        c: *mut ffb_call,
        f: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
        ctx: *mut c_void,
    ) -> ffb_status;

    // calls from the server to its clients
    pub fn ffb_call_session_ref(c: *const ffb_call) -> *mut ffb_session;
    pub fn ffb_server_sessions(
        s: *mut ffb_server,
        out: *mut *mut ffb_session,
        max: u32,
        n: *mut u32,
    ) -> ffb_status;
    pub fn ffb_session_ref(s: *mut ffb_session) -> *mut ffb_session;
    pub fn ffb_session_unref(s: *mut ffb_session);
    pub fn ffb_session_id(s: *const ffb_session) -> u64;
    pub fn ffb_session_call(
        s: *mut ffb_session,
        name: *const c_char,
        data: *const c_void,
        len: u32,
        timeout_ns: i64,
        done: ffb_answer_fn,
        ctx: *mut c_void,
        id: *mut u64,
    ) -> ffb_status;
    pub fn ffb_session_stream(
        s: *mut ffb_session,
        name: *const c_char,
        data: *const c_void,
        len: u32,
        timeout_ns: i64,
        item: ffb_item_fn,
        done: ffb_answer_fn,
        ctx: *mut c_void,
        id: *mut u64,
    ) -> ffb_status;
    pub fn ffb_session_notify(
        s: *mut ffb_session,
        name: *const c_char,
        data: *const c_void,
        len: u32,
    ) -> ffb_status;
    pub fn ffb_session_cancel(s: *mut ffb_session, id: u64) -> ffb_status;
    pub fn ffb_session_credit(s: *mut ffb_session, id: u64, n: u32) -> ffb_status;

    // client
    pub fn ffb_client_options_init(o: *mut ffb_client_options);
    pub fn ffb_client_connect(
        path: *const c_char,
        o: *const ffb_client_options,
        out: *mut *mut ffb_client,
    ) -> ffb_status;
    pub fn ffb_client_close(c: *mut ffb_client);
    pub fn ffb_client_alloc(c: *mut ffb_client, size: u32, out: *mut ffb_handle) -> ffb_status;
    pub fn ffb_client_free(c: *mut ffb_client, h: ffb_handle) -> ffb_status;
    pub fn ffb_client_data(
        c: *mut ffb_client,
        h: ffb_handle,
        data: *mut *mut c_void,
        capacity: *mut u32,
    ) -> ffb_status;
    pub fn ffb_client_resolve(
        c: *mut ffb_client,
        name: *const c_char,
        fn_id: *mut u32,
    ) -> ffb_status;
    pub fn ffb_client_call(
        c: *mut ffb_client,
        fn_id: u32,
        input: ffb_handle,
        len: u32,
        timeout_ns: i64,
        out: *mut ffb_result,
    ) -> ffb_status;
    pub fn ffb_client_invoke(
        c: *mut ffb_client,
        name: *const c_char,
        input: ffb_handle,
        len: u32,
        timeout_ns: i64,
        out: *mut ffb_result,
    ) -> ffb_status;
    pub fn ffb_client_submit(
        c: *mut ffb_client,
        fn_id: u32,
        input: ffb_handle,
        len: u32,
        call_id: *mut u64,
    ) -> ffb_status;
    pub fn ffb_client_flush(c: *mut ffb_client) -> ffb_status;
    pub fn ffb_client_poll(
        c: *mut ffb_client,
        out: *mut ffb_completion,
        max: u32,
        n: *mut u32,
        timeout_ns: i64,
    ) -> ffb_status;
    pub fn ffb_client_stats(c: *mut ffb_client, out: *mut ffb_client_stats) -> ffb_status;
    pub fn ffb_client_superblock(c: *const ffb_client) -> *const ffb_superblock;

    // client handlers: the server's calls to this client
    pub fn ffb_client_register(
        c: *mut ffb_client,
        name: *const c_char,
        f: ffb_client_handler_fn,
        ctx: *mut c_void,
    ) -> ffb_status;
    pub fn ffb_client_register_flags(
        c: *mut ffb_client,
        name: *const c_char,
        f: ffb_client_handler_fn,
        ctx: *mut c_void,
        flags: u32,
    ) -> ffb_status;
    pub fn ffb_client_unregister(c: *mut ffb_client, name: *const c_char) -> ffb_status;
    pub fn ffb_client_serve(c: *mut ffb_client, timeout_ns: i64) -> ffb_status;
    pub fn ffb_request_data(r: *const ffb_request) -> *const c_void;
    pub fn ffb_request_len(r: *const ffb_request) -> u32;
    pub fn ffb_request_is_stream(r: *const ffb_request) -> c_int;
    pub fn ffb_request_cancelled(r: *const ffb_request) -> c_int;
    pub fn ffb_request_client(r: *const ffb_request) -> *mut ffb_client;
    pub fn ffb_request_reply_alloc(
        r: *mut ffb_request,
        len: u32,
        data: *mut *mut c_void,
    ) -> ffb_status;
    pub fn ffb_request_reply_bytes(
        r: *mut ffb_request,
        data: *const c_void,
        len: u32,
    ) -> ffb_status;
    pub fn ffb_request_reply_input(r: *mut ffb_request, len: u32) -> ffb_status;
    pub fn ffb_request_set_error(r: *mut ffb_request, msg: *const c_char) -> ffb_status;
    pub fn ffb_request_credit(r: *const ffb_request) -> u32;
    pub fn ffb_request_item(
        r: *mut ffb_request,
        data: *const c_void,
        len: u32,
        timeout_ns: i64,
    ) -> ffb_status;
}
