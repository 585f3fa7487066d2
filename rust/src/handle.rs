//! [`Handle`]: the typed, generation-tagged name of a buffer in an arena.

use std::fmt;
use std::num::NonZeroU64;

use crate::sys;

/// Which heap of a session arena a block comes from.
///
/// ```
/// use ffb::{Handle, Heap};
/// let h = Handle::from_raw((7u64 << 32) | (3 << 24) | (1 << 22)).unwrap();
/// assert_eq!(h.heap(), Heap::Client);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Heap {
    /// Allocated by the client: request payloads.
    Client,
    /// Allocated by the server: reply payloads.
    Server,
    /// A heap number outside the protocol (a forged handle).
    Invalid(u32),
}

/// A buffer in a session arena, named by value: 64 bits holding the block
/// index, size class, heap, arena tag and a 32-bit generation
/// (`PROTOCOL.md` §4).
///
/// A `Handle` is `Copy` and carries no lifetime: it is only a name. Every
/// use goes through a checked lookup in the C core, so a stale, freed,
/// forged or foreign handle is an error ([`Code::STALE_HANDLE`],
/// [`Code::DOUBLE_FREE`], [`Code::INVALID_HANDLE`],
/// [`Code::FOREIGN_HANDLE`]), never a dangling pointer. 0 is never a handle,
/// so `Option<Handle>` is 8 bytes.
///
/// [`Code::STALE_HANDLE`]: crate::Code::STALE_HANDLE
/// [`Code::DOUBLE_FREE`]: crate::Code::DOUBLE_FREE
/// [`Code::INVALID_HANDLE`]: crate::Code::INVALID_HANDLE
/// [`Code::FOREIGN_HANDLE`]: crate::Code::FOREIGN_HANDLE
///
/// ```
/// use ffb::Handle;
/// assert!(Handle::from_raw(0).is_none());
/// let raw = (42u64 << 32) | (9 << 24) | (2 << 22) | (3 << 18) | 17;
/// let h = Handle::from_raw(raw).unwrap();
/// assert_eq!((h.generation(), h.arena_tag(), h.class(), h.index()), (42, 9, 3, 17));
/// assert_eq!(h.block_size(), 4096);
/// assert_eq!(h.raw(), raw);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct Handle(NonZeroU64);

impl Handle {
    /// The handle with this raw value; `None` for 0.
    ///
    /// ```
    /// assert_eq!(ffb::Handle::from_raw(5).map(|h| h.raw()), Some(5));
    /// ```
    pub const fn from_raw(raw: u64) -> Option<Handle> {
        match NonZeroU64::new(raw) {
            Some(v) => Some(Handle(v)),
            None => None,
        }
    }

    /// The raw 64-bit value (what crosses the boundary).
    ///
    /// ```
    /// assert_eq!(ffb::Handle::from_raw(9).unwrap().raw(), 9);
    /// ```
    pub const fn raw(self) -> u64 {
        self.0.get()
    }

    /// The generation (bits 32–63); never 0 in a handle the core issued.
    ///
    /// ```
    /// assert_eq!(ffb::Handle::from_raw(3u64 << 32).unwrap().generation(), 3);
    /// ```
    pub const fn generation(self) -> u32 {
        (self.raw() >> sys::FFB_HANDLE_GEN_SHIFT) as u32
    }

    /// The arena tag (bits 24–31): which session arena issued it.
    ///
    /// ```
    /// assert_eq!(ffb::Handle::from_raw(5u64 << 24).unwrap().arena_tag(), 5);
    /// ```
    pub const fn arena_tag(self) -> u32 {
        ((self.raw() >> sys::FFB_HANDLE_TAG_SHIFT) & 0xFF) as u32
    }

    /// The heap (bits 22–23).
    ///
    /// ```
    /// assert_eq!(ffb::Handle::from_raw(2u64 << 22).unwrap().heap(), ffb::Heap::Server);
    /// ```
    pub const fn heap(self) -> Heap {
        match ((self.raw() >> sys::FFB_HANDLE_HEAP_SHIFT) & 0x3) as u32 {
            sys::FFB_HEAP_CLIENT => Heap::Client,
            sys::FFB_HEAP_SERVER => Heap::Server,
            other => Heap::Invalid(other),
        }
    }

    /// The size class (bits 18–21).
    ///
    /// ```
    /// assert_eq!(ffb::Handle::from_raw(4u64 << 18).unwrap().class(), 4);
    /// ```
    pub const fn class(self) -> u32 {
        ((self.raw() >> sys::FFB_HANDLE_CLASS_SHIFT) & 0xF) as u32
    }

    /// The block index within its class (bits 0–17).
    ///
    /// ```
    /// assert_eq!(ffb::Handle::from_raw(17).unwrap().index(), 17);
    /// ```
    pub const fn index(self) -> u32 {
        (self.raw() & ((1u64 << sys::FFB_HANDLE_INDEX_BITS) - 1)) as u32
    }

    /// The block size its class implies (`64 << 2k` bytes), or 0 for a
    /// class outside the protocol. Only arithmetic: it says nothing about
    /// whether the handle is live.
    ///
    /// ```
    /// assert_eq!(ffb::Handle::from_raw(1).unwrap().block_size(), 64);
    /// assert_eq!(ffb::Handle::from_raw((9u64 << 18) | 1).unwrap().block_size(), 16 << 20);
    /// ```
    pub const fn block_size(self) -> u32 {
        let k = self.class();
        if k < sys::FFB_NUM_CLASSES {
            1u32 << (sys::FFB_MIN_BLOCK_SHIFT + sys::FFB_CLASS_SHIFT_STEP * k)
        } else {
            0
        }
    }

    pub(crate) fn to_sys(self) -> sys::ffb_handle {
        sys::ffb_handle { id: self.raw() }
    }

    pub(crate) fn from_sys(h: sys::ffb_handle) -> Option<Handle> {
        Handle::from_raw(h.id)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Handle({:#x}: gen {} tag {} heap {:?} class {} index {})",
            self.raw(),
            self.generation(),
            self.arena_tag(),
            self.heap(),
            self.class(),
            self.index()
        )
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#018x}", self.raw())
    }
}

impl From<Handle> for u64 {
    fn from(h: Handle) -> u64 {
        h.raw()
    }
}

const _: () = assert!(std::mem::size_of::<Option<Handle>>() == 8);
