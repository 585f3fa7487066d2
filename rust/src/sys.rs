//! Raw declarations of the C API in `include/ffb.h`, written by hand.
//!
//! Everything here mirrors the header one to one: the opaque object types,
//! the option and result structs (`#[repr(C)]`, same field order), the
//! status values of `include/ffb_status.h`, the layout constants of
//! `include/ffb_layout.h` this crate needs, and the functions. The safe API
//! in the rest of the crate is built only on these items. Calling any of
//! the functions is `unsafe`: the caller upholds the contract written above
//! each one in `ffb.h`.
#![allow(non_camel_case_types, missing_docs)]

use libc::{c_char, c_int, c_void, uid_t};

/// `ffb_status`: a C enum, passed as an `int`.
pub type ffb_status = c_int;

pub const FFB_OK: ffb_status = 0;
pub const FFB_ERR_NULL_POINTER: ffb_status = 1;
pub const FFB_ERR_BUFFER_TOO_SMALL: ffb_status = 2;
pub const FFB_ERR_INVALID_UTF8: ffb_status = 3;
pub const FFB_ERR_SERIALIZATION: ffb_status = 4;
pub const FFB_ERR_PANIC: ffb_status = 5;
pub const FFB_ERR_TIMEOUT: ffb_status = 6;
pub const FFB_ERR_NOT_FOUND: ffb_status = 7;
pub const FFB_ERR_LOCK_POISONED: ffb_status = 8;
pub const FFB_ERR_STALE_HANDLE: ffb_status = 9;
pub const FFB_ERR_DOUBLE_FREE: ffb_status = 10;
pub const FFB_ERR_INVALID_HANDLE: ffb_status = 11;
pub const FFB_ERR_FOREIGN_HANDLE: ffb_status = 12;
pub const FFB_ERR_ARENA_FULL: ffb_status = 13;
pub const FFB_ERR_RING_FULL: ffb_status = 14;
pub const FFB_ERR_PEER_GONE: ffb_status = 15;
pub const FFB_ERR_VERSION_MISMATCH: ffb_status = 16;
pub const FFB_ERR_PERMISSION_DENIED: ffb_status = 17;
pub const FFB_ERR_INVALID_ARGUMENT: ffb_status = 18;
pub const FFB_ERR_PROTOCOL: ffb_status = 19;
pub const FFB_ERR_TOO_MANY_SESSIONS: ffb_status = 20;
pub const FFB_ERR_TOO_MANY_CALLS: ffb_status = 21;
pub const FFB_ERR_BAD_FD: ffb_status = 22;
pub const FFB_ERR_SYSTEM: ffb_status = 23;
pub const FFB_ERR_ALREADY_EXISTS: ffb_status = 24;
pub const FFB_ERR_CLOSED: ffb_status = 25;
pub const FFB_ERR_WOULD_BLOCK: ffb_status = 26;
pub const FFB_ERR_BUSY: ffb_status = 27;
pub const FFB_ERR_CANCELLED: ffb_status = 28;
pub const FFB_ERR_UNKNOWN: ffb_status = 99;

// ---- ffb_layout.h: the constants the safe API uses -----------------------

pub const FFB_LAYOUT_VERSION: u32 = 3;
pub const FFB_NUM_CLASSES: usize = 10;
pub const FFB_MAX_CLASSES: usize = 16;
pub const FFB_MAX_BLOCK_SIZE: u32 = 1 << 24;
pub const FFB_MAX_NAME_LEN: usize = 255;
pub const FFB_HEAP_CLIENT: u32 = 1;
pub const FFB_HEAP_SERVER: u32 = 2;
pub const FFB_HANDLE_CLASS_SHIFT: u32 = 18;
pub const FFB_HANDLE_HEAP_SHIFT: u32 = 22;
pub const FFB_HANDLE_TAG_SHIFT: u32 = 24;
pub const FFB_HANDLE_GEN_SHIFT: u32 = 32;
pub const FFB_HANDLE_INDEX_MASK: u64 = (1 << 18) - 1;
pub const FFB_FN_ECHO: u32 = 0x0001_0000;
pub const FFB_FN_VERSION: u32 = 0x0001_0001;

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

/// `struct ffb_call` (opaque; valid only during a callback).
#[repr(C)]
pub struct ffb_call {
    _private: [u8; 0],
    _not_send_sync: core::marker::PhantomData<*mut u8>,
}

pub use crate::layout::ffb_superblock;

// ---- plain structs ----------------------------------------------------------

/// `ffb_handle`: a buffer in a session arena; 0 is never valid.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ffb_handle {
    pub id: u64,
}

pub type ffb_log_fn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, level: c_int, msg: *const c_char)>;
pub type ffb_callback_fn =
    Option<unsafe extern "C" fn(call: *mut ffb_call, ctx: *mut c_void) -> ffb_status>;

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ffb_server_options {
    pub max_sessions: u32,
    pub ring_entries: u32,
    pub class_counts: [u32; FFB_NUM_CLASSES],
    pub max_arena_size: u64,
    pub socket_mode: u32,
    pub spin_ns: u32,
    pub handshake_timeout_ms: u32,
    pub n_allowed_uids: u32,
    pub allowed_uids: *const uid_t,
    pub use_futex_doorbell: c_int,
    pub dispatchers: u32,
    pub workers: u32,
    pub worker_spin_ns: u32,
    pub inline_budget_ns: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ffb_server_stats {
    pub sessions_active: u64,
    pub sessions_total: u64,
    pub sessions_refused: u64,
    pub sessions_cut: u64,
    pub calls: u64,
    pub protocol_errors: u64,
    pub wakeups_sent: u64,
    pub parks: u64,
    pub pooled_calls: u64,
    pub deferred_calls: u64,
    pub calls_in_flight: u64,
    pub cancels: u64,
    pub slow_inline_calls: u64,
}

pub const FFB_WAIT_PARK: u32 = 0;
pub const FFB_WAIT_SPIN: u32 = 1;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ffb_client_options {
    pub connect_timeout_ms: u32,
    pub spin_ns: u32,
    pub wait_mode: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ffb_result {
    pub status: ffb_status,
    pub len: u32,
    pub handle: ffb_handle,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ffb_completion {
    pub call_id: u64,
    pub result: ffb_result,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ffb_client_stats {
    pub calls: u64,
    pub pending: u64,
    pub dropped_responses: u64,
    pub protocol_errors: u64,
    pub parks: u64,
}

// Pin the sizes the C compiler gives these structs on LP64 Linux.
const _: () = assert!(core::mem::size_of::<ffb_handle>() == 8);
const _: () = assert!(core::mem::size_of::<ffb_result>() == 16);
const _: () = assert!(core::mem::size_of::<ffb_completion>() == 24);
const _: () = assert!(core::mem::size_of::<ffb_client_options>() == 12);
const _: () = assert!(core::mem::size_of::<ffb_server_stats>() == 104);
const _: () = assert!(core::mem::size_of::<ffb_client_stats>() == 40);
const _: () = assert!(core::mem::size_of::<ffb_server_options>() == 104);
const _: () = assert!(core::mem::offset_of!(ffb_server_options, max_arena_size) == 48);
const _: () = assert!(core::mem::offset_of!(ffb_server_options, allowed_uids) == 72);
const _: () = assert!(core::mem::offset_of!(ffb_result, handle) == 8);

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
    pub fn ffb_server_register(
        s: *mut ffb_server,
        name: *const c_char,
        f: ffb_callback_fn,
        ctx: *mut c_void,
        fn_id: *mut u32,
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
    pub fn ffb_call_set_error(c: *mut ffb_call, msg: *const c_char) -> ffb_status;

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
}
