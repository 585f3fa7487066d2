//! The Rust mirror of the shared layout (`ffb::layout`, generated from
//! include/ffb_layout.h and include/ffb.h by `make gen`, each struct pinned
//! by const assertions on the C compiler's offsets) against the linked C
//! core: the core writes no byte past the Rust structs it fills, and a live
//! superblock follows the protocol.

use std::mem::{size_of, MaybeUninit};

use ffb::layout;
use ffb::sys;

#[test]
fn magics_spell_their_tags() {
    assert_eq!(&layout::FFB_ARENA_MAGIC.to_le_bytes(), b"FFBARENA");
    assert_eq!(&layout::FFB_SERVER_HELLO_MAGIC.to_le_bytes(), b"FFBHELLO");
    assert_eq!(&layout::FFB_CLIENT_HELLO_MAGIC.to_le_bytes(), b"FFBCLIEN");
    assert_eq!(&layout::FFB_GOODBYE_MAGIC.to_le_bytes(), b"FFBGDBYE");
    assert_eq!(
        size_of::<layout::ffb_superblock>(),
        layout::FFB_SUPERBLOCK_SIZE as usize
    );
}

/// A T followed by guard bytes: `fill` writes the T through a raw
/// pointer; every guard byte must keep its pattern. A field the C header
/// has and the Rust struct lacks would be written past the end.
fn written_within<T>(fill: impl FnOnce(*mut T)) {
    #[repr(C)]
    struct Guarded<T> {
        value: MaybeUninit<T>,
        guard: [u8; 64],
    }
    let mut g = Guarded::<T> {
        value: MaybeUninit::uninit(),
        guard: [0xA5; 64],
    };
    fill(g.value.as_mut_ptr());
    assert!(
        g.guard.iter().all(|&b| b == 0xA5),
        "the C core wrote past the Rust {}",
        std::any::type_name::<T>()
    );
}

#[test]
#[cfg_attr(miri, ignore = "calls into the C core, which Miri cannot execute")]
fn the_c_core_writes_no_byte_past_the_rust_structs() {
    // SAFETY: each init function fills exactly one struct of its type.
    written_within::<sys::ffb_server_options>(|p| unsafe { sys::ffb_server_options_init(p) });
    // SAFETY: as above.
    written_within::<sys::ffb_client_options>(|p| unsafe { sys::ffb_client_options_init(p) });
}

#[test]
#[cfg_attr(miri, ignore = "calls into the C core, which Miri cannot execute")]
fn a_live_superblock_follows_the_protocol() {
    let server = ffb::Server::new().unwrap();
    server.start().unwrap();
    let client = server.connect_inproc().unwrap();
    let sb = client.superblock();
    assert_eq!(sb.magic, layout::FFB_ARENA_MAGIC);
    assert_eq!(sb.layout_version, sys::FFB_LAYOUT_VERSION);
    assert_eq!(sb.superblock_size, layout::FFB_SUPERBLOCK_SIZE);
    assert!((1..=255).contains(&sb.arena_tag));
    assert_ne!(sb.session_id, 0);
    assert!(sb.req_ring_entries.is_power_of_two() && sb.resp_ring_entries.is_power_of_two());
    assert!(sb.max_inflight >= 1 && sb.max_inflight <= sb.resp_ring_entries);
    assert_eq!(sb.req_ring_offset % u64::from(layout::FFB_REGION_ALIGN), 0);
    assert_eq!(sb.resp_ring_offset % u64::from(layout::FFB_REGION_ALIGN), 0);
    for heap in &sb.heaps {
        assert!(heap.nclasses <= sys::FFB_NUM_CLASSES);
        for (k, class) in heap.classes[..heap.nclasses as usize].iter().enumerate() {
            assert_eq!(class.block_size, 64 << (2 * k), "class {k}");
            assert!(
                class.offset + u64::from(class.count) * u64::from(class.block_size)
                    <= sb.arena_size
            );
        }
    }
    // A handle the client gets carries the arena tag.
    let buf = client.alloc(64).unwrap();
    assert_eq!(buf.handle().arena_tag(), sb.arena_tag);
}
