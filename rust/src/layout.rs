//! The shared layout of `include/ffb_layout.h` as `#[repr(C)]` Rust types,
//! pinned with `const` assertions (the same numbers as the C
//! `_Static_assert`s and the Go tests; `tests/layout.rs` parses the header's
//! `FFB__PIN` lines and compares each one with [`PINS`]).
//!
//! The crate does not read the arena through these types: the C core owns
//! the rings. They describe the bytes, and [`ffb_superblock`] is what
//! [`Client::superblock`](crate::Client::superblock) copies out of the
//! client's private, validated copy.
#![allow(non_camel_case_types, missing_docs)]

use std::mem::{offset_of, size_of};

pub const FFB_ARENA_MAGIC: u64 = 0x414E_4552_4142_4646;
pub const FFB_SERVER_HELLO_MAGIC: u64 = 0x4F4C_4C45_4842_4646;
pub const FFB_CLIENT_HELLO_MAGIC: u64 = 0x4E45_494C_4342_4646;
pub const FFB_GOODBYE_MAGIC: u64 = 0x4559_4244_4742_4646;
pub const FFB_SUPERBLOCK_SIZE: usize = 1024;
pub const FFB_RING_CTL_SIZE: usize = 384;
pub const FFB_RING_ENTRY_SIZE: usize = 32;
pub const FFB_SB_FUTEX_DOORBELL: u32 = 0x1;
pub const FFB_SB_VECTOR_CALLS: u32 = 0x2;
pub const FFB_VEC_CALL_SIZE: usize = 16;
pub const FFB_MAX_VEC_CALLS: u32 = 64;
pub const FFB_KIND_CALL: u32 = 1;
pub const FFB_KIND_LOOKUP: u32 = 2;
pub const FFB_KIND_RELEASE: u32 = 3;
pub const FFB_KIND_RESULT: u32 = 4;
pub const FFB_KIND_CALLV: u32 = 5;
pub const FFB_KIND_CANCEL: u32 = 6;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ffb_class_desc {
    pub offset: u64,
    pub block_size: u32,
    pub count: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ffb_heap_desc {
    pub nclasses: u32,
    pub reserved0: u32,
    pub offset: u64,
    pub size: u64,
    pub reserved1: u64,
    pub classes: [ffb_class_desc; crate::sys::FFB_MAX_CLASSES],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ffb_superblock {
    pub magic: u64,
    pub layout_version: u32,
    pub superblock_size: u32,
    pub arena_size: u64,
    pub flags: u32,
    pub max_inflight: u32,
    pub session_id: u64,
    pub arena_tag: u32,
    pub reserved0: u32,
    pub req_ring_offset: u64,
    pub req_ring_entries: u32,
    pub resp_ring_entries: u32,
    pub resp_ring_offset: u64,
    pub reserved1: [u64; 7],
    pub heaps: [ffb_heap_desc; 2],
    pub reserved2: [u64; 40],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ffb_ring_ctl {
    pub p_tail: u32,
    pub p_reserved: [u32; 31],
    pub c_head: u32,
    pub c_reserved: [u32; 31],
    pub c_needs_wakeup: u32,
    pub w_reserved: [u32; 31],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ffb_ring_entry {
    pub call_id: u64,
    pub handle: u64,
    pub len: u32,
    pub kind: u32,
    pub fn_or_status: u32,
    pub seq: u32,
}

/// One call of a CALLV vector (PROTOCOL.md §5).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ffb_vec_call {
    pub handle: u64,
    pub len: u32,
    pub fn_or_status: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ffb_client_hello {
    pub magic: u64,
    pub layout_version: u32,
    pub flags: u32,
    pub reserved: [u64; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ffb_server_hello {
    pub magic: u64,
    pub layout_version: u32,
    pub status: i32,
    pub arena_size: u64,
    pub flags: u32,
    pub nfds: u32,
    pub session_id: u64,
    pub max_inflight: u32,
    pub reserved0: u32,
    pub reserved: [u64; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ffb_goodbye {
    pub magic: u64,
    pub status: i32,
    pub reserved: u32,
}

/// Every pinned `(struct, field, offset)` of `ffb_layout.h`, from Rust's
/// point of view.
pub const PINS: &[(&str, &str, usize)] = &[
    (
        "ffb_class_desc",
        "offset",
        offset_of!(ffb_class_desc, offset),
    ),
    (
        "ffb_class_desc",
        "block_size",
        offset_of!(ffb_class_desc, block_size),
    ),
    ("ffb_class_desc", "count", offset_of!(ffb_class_desc, count)),
    (
        "ffb_heap_desc",
        "nclasses",
        offset_of!(ffb_heap_desc, nclasses),
    ),
    ("ffb_heap_desc", "offset", offset_of!(ffb_heap_desc, offset)),
    ("ffb_heap_desc", "size", offset_of!(ffb_heap_desc, size)),
    (
        "ffb_heap_desc",
        "classes",
        offset_of!(ffb_heap_desc, classes),
    ),
    ("ffb_superblock", "magic", offset_of!(ffb_superblock, magic)),
    (
        "ffb_superblock",
        "layout_version",
        offset_of!(ffb_superblock, layout_version),
    ),
    (
        "ffb_superblock",
        "superblock_size",
        offset_of!(ffb_superblock, superblock_size),
    ),
    (
        "ffb_superblock",
        "arena_size",
        offset_of!(ffb_superblock, arena_size),
    ),
    ("ffb_superblock", "flags", offset_of!(ffb_superblock, flags)),
    (
        "ffb_superblock",
        "max_inflight",
        offset_of!(ffb_superblock, max_inflight),
    ),
    (
        "ffb_superblock",
        "session_id",
        offset_of!(ffb_superblock, session_id),
    ),
    (
        "ffb_superblock",
        "arena_tag",
        offset_of!(ffb_superblock, arena_tag),
    ),
    (
        "ffb_superblock",
        "req_ring_offset",
        offset_of!(ffb_superblock, req_ring_offset),
    ),
    (
        "ffb_superblock",
        "req_ring_entries",
        offset_of!(ffb_superblock, req_ring_entries),
    ),
    (
        "ffb_superblock",
        "resp_ring_entries",
        offset_of!(ffb_superblock, resp_ring_entries),
    ),
    (
        "ffb_superblock",
        "resp_ring_offset",
        offset_of!(ffb_superblock, resp_ring_offset),
    ),
    ("ffb_superblock", "heaps", offset_of!(ffb_superblock, heaps)),
    (
        "ffb_superblock",
        "reserved2",
        offset_of!(ffb_superblock, reserved2),
    ),
    ("ffb_ring_ctl", "p_tail", offset_of!(ffb_ring_ctl, p_tail)),
    ("ffb_ring_ctl", "c_head", offset_of!(ffb_ring_ctl, c_head)),
    (
        "ffb_ring_ctl",
        "c_needs_wakeup",
        offset_of!(ffb_ring_ctl, c_needs_wakeup),
    ),
    (
        "ffb_ring_entry",
        "call_id",
        offset_of!(ffb_ring_entry, call_id),
    ),
    (
        "ffb_ring_entry",
        "handle",
        offset_of!(ffb_ring_entry, handle),
    ),
    ("ffb_ring_entry", "len", offset_of!(ffb_ring_entry, len)),
    ("ffb_ring_entry", "kind", offset_of!(ffb_ring_entry, kind)),
    (
        "ffb_ring_entry",
        "fn_or_status",
        offset_of!(ffb_ring_entry, fn_or_status),
    ),
    ("ffb_ring_entry", "seq", offset_of!(ffb_ring_entry, seq)),
    (
        "ffb_client_hello",
        "magic",
        offset_of!(ffb_client_hello, magic),
    ),
    (
        "ffb_client_hello",
        "layout_version",
        offset_of!(ffb_client_hello, layout_version),
    ),
    (
        "ffb_client_hello",
        "flags",
        offset_of!(ffb_client_hello, flags),
    ),
    (
        "ffb_server_hello",
        "magic",
        offset_of!(ffb_server_hello, magic),
    ),
    (
        "ffb_server_hello",
        "layout_version",
        offset_of!(ffb_server_hello, layout_version),
    ),
    (
        "ffb_server_hello",
        "status",
        offset_of!(ffb_server_hello, status),
    ),
    (
        "ffb_server_hello",
        "arena_size",
        offset_of!(ffb_server_hello, arena_size),
    ),
    (
        "ffb_server_hello",
        "flags",
        offset_of!(ffb_server_hello, flags),
    ),
    (
        "ffb_server_hello",
        "nfds",
        offset_of!(ffb_server_hello, nfds),
    ),
    (
        "ffb_server_hello",
        "session_id",
        offset_of!(ffb_server_hello, session_id),
    ),
    (
        "ffb_server_hello",
        "max_inflight",
        offset_of!(ffb_server_hello, max_inflight),
    ),
    ("ffb_goodbye", "magic", offset_of!(ffb_goodbye, magic)),
    ("ffb_goodbye", "status", offset_of!(ffb_goodbye, status)),
    ("ffb_vec_call", "handle", offset_of!(ffb_vec_call, handle)),
    ("ffb_vec_call", "len", offset_of!(ffb_vec_call, len)),
    (
        "ffb_vec_call",
        "fn_or_status",
        offset_of!(ffb_vec_call, fn_or_status),
    ),
];

/// Every `sizeof(struct ...)` the header pins.
pub const SIZES: &[(&str, usize)] = &[
    ("ffb_class_desc", size_of::<ffb_class_desc>()),
    ("ffb_heap_desc", size_of::<ffb_heap_desc>()),
    ("ffb_superblock", size_of::<ffb_superblock>()),
    ("ffb_ring_ctl", size_of::<ffb_ring_ctl>()),
    ("ffb_ring_entry", size_of::<ffb_ring_entry>()),
    ("ffb_client_hello", size_of::<ffb_client_hello>()),
    ("ffb_server_hello", size_of::<ffb_server_hello>()),
    ("ffb_goodbye", size_of::<ffb_goodbye>()),
    ("ffb_vec_call", size_of::<ffb_vec_call>()),
];

// The same numbers as PROTOCOL.md, at compile time.
const _: () = assert!(size_of::<ffb_class_desc>() == 16);
const _: () = assert!(size_of::<ffb_heap_desc>() == 288);
const _: () = assert!(size_of::<ffb_superblock>() == FFB_SUPERBLOCK_SIZE);
const _: () = assert!(offset_of!(ffb_superblock, heaps) == 128);
const _: () = assert!(offset_of!(ffb_superblock, reserved2) == 704);
const _: () = assert!(size_of::<ffb_ring_ctl>() == FFB_RING_CTL_SIZE);
const _: () = assert!(offset_of!(ffb_ring_ctl, c_head) == 128);
const _: () = assert!(offset_of!(ffb_ring_ctl, c_needs_wakeup) == 256);
const _: () = assert!(size_of::<ffb_ring_entry>() == FFB_RING_ENTRY_SIZE);
const _: () = assert!(size_of::<ffb_vec_call>() == FFB_VEC_CALL_SIZE);
const _: () = assert!(size_of::<ffb_client_hello>() == 32);
const _: () = assert!(size_of::<ffb_server_hello>() == 64);
const _: () = assert!(offset_of!(ffb_server_hello, max_inflight) == 40);
const _: () = assert!(size_of::<ffb_goodbye>() == 16);
