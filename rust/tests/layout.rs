//! The Rust mirror of the shared layout (`ffb::layout`) against
//! include/ffb_layout.h: every `FFB__PIN(type, field, offset)` and every
//! pinned `sizeof`, parsed from the header and compared; plus a live
//! superblock read through the client.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ffb::layout::{self, PINS, SIZES};

fn header() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../include/ffb_layout.h");
    std::fs::read_to_string(path).expect("read ffb_layout.h")
}

fn args_of<'a>(line: &'a str, macro_open: &str) -> Option<&'a str> {
    let rest = line.trim().strip_prefix(macro_open)?;
    Some(rest.split(')').next()?.trim())
}

#[test]
fn every_pinned_offset_matches() {
    let text = header();
    let rust: BTreeMap<(&str, &str), usize> = PINS.iter().map(|&(t, f, o)| ((t, f), o)).collect();
    let mut seen = 0;
    for line in text.lines() {
        let Some(args) = args_of(line, "FFB__PIN(") else {
            continue;
        };
        let parts: Vec<&str> = args.split(',').map(str::trim).collect();
        if parts.len() != 3 || parts[0] == "type" {
            continue; // the macro's own definition
        }
        let off: usize = parts[2]
            .parse()
            .unwrap_or_else(|_| panic!("offset in {line}"));
        let got = rust
            .get(&(parts[0], parts[1]))
            .unwrap_or_else(|| panic!("{}.{} not mirrored", parts[0], parts[1]));
        assert_eq!(*got, off, "{}.{}", parts[0], parts[1]);
        seen += 1;
    }
    assert_eq!(
        seen,
        PINS.len(),
        "the header pins {seen} fields, Rust {}",
        PINS.len()
    );
}

#[test]
fn every_pinned_size_matches() {
    let text = header();
    let rust: BTreeMap<&str, usize> = SIZES.iter().copied().collect();
    let mut seen = 0;
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("_Static_assert(sizeof(struct ") else {
            continue;
        };
        let (name, rest) = rest.split_once(')').unwrap();
        let value = rest
            .trim_start_matches([' ', '='])
            .split(',')
            .next()
            .unwrap()
            .trim();
        let want: usize = match value {
            "FFB_SUPERBLOCK_SIZE" => layout::FFB_SUPERBLOCK_SIZE,
            "FFB_RING_CTL_SIZE" => layout::FFB_RING_CTL_SIZE,
            "FFB_RING_ENTRY_SIZE" => layout::FFB_RING_ENTRY_SIZE,
            "FFB_VEC_CALL_SIZE" => layout::FFB_VEC_CALL_SIZE,
            v => v.parse().unwrap_or_else(|_| panic!("size in {line}")),
        };
        assert_eq!(rust.get(name).copied(), Some(want), "sizeof(struct {name})");
        seen += 1;
    }
    assert_eq!(seen, SIZES.len());
}

#[test]
fn magics_and_sizes_match_their_defines() {
    let text = header();
    let define = |name: &str| -> u64 {
        let v = text
            .lines()
            .find_map(|l| {
                let mut it = l.split_whitespace();
                (it.next() == Some("#define") && it.next() == Some(name))
                    .then(|| it.next().unwrap().to_owned())
            })
            .unwrap_or_else(|| panic!("#define {name}"));
        let v = v.trim_end_matches("ull").trim_end_matches('u');
        match v.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16).unwrap(),
            None => v.parse().unwrap(),
        }
    };
    assert_eq!(define("FFB_ARENA_MAGIC"), layout::FFB_ARENA_MAGIC);
    assert_eq!(
        define("FFB_SERVER_HELLO_MAGIC"),
        layout::FFB_SERVER_HELLO_MAGIC
    );
    assert_eq!(
        define("FFB_CLIENT_HELLO_MAGIC"),
        layout::FFB_CLIENT_HELLO_MAGIC
    );
    assert_eq!(define("FFB_GOODBYE_MAGIC"), layout::FFB_GOODBYE_MAGIC);
    assert_eq!(
        define("FFB_SUPERBLOCK_SIZE"),
        layout::FFB_SUPERBLOCK_SIZE as u64
    );
    assert_eq!(
        define("FFB_RING_CTL_SIZE"),
        layout::FFB_RING_CTL_SIZE as u64
    );
    assert_eq!(
        define("FFB_RING_ENTRY_SIZE"),
        layout::FFB_RING_ENTRY_SIZE as u64
    );
    assert_eq!(
        define("FFB_SB_FUTEX_DOORBELL"),
        u64::from(layout::FFB_SB_FUTEX_DOORBELL)
    );
    assert_eq!(define("FFB_KIND_CALL"), u64::from(layout::FFB_KIND_CALL));
    assert_eq!(
        define("FFB_KIND_LOOKUP"),
        u64::from(layout::FFB_KIND_LOOKUP)
    );
    assert_eq!(
        define("FFB_KIND_RELEASE"),
        u64::from(layout::FFB_KIND_RELEASE)
    );
    assert_eq!(
        define("FFB_KIND_RESULT"),
        u64::from(layout::FFB_KIND_RESULT)
    );
    assert_eq!(define("FFB_KIND_CALLV"), u64::from(layout::FFB_KIND_CALLV));
    assert_eq!(
        define("FFB_SB_VECTOR_CALLS"),
        u64::from(layout::FFB_SB_VECTOR_CALLS)
    );
    assert_eq!(
        define("FFB_VEC_CALL_SIZE"),
        layout::FFB_VEC_CALL_SIZE as u64
    );
    assert_eq!(
        define("FFB_MAX_VEC_CALLS"),
        u64::from(layout::FFB_MAX_VEC_CALLS)
    );
    // "FFBARENA" etc. read as little-endian u64.
    assert_eq!(&layout::FFB_ARENA_MAGIC.to_le_bytes(), b"FFBARENA");
    assert_eq!(&layout::FFB_GOODBYE_MAGIC.to_le_bytes(), b"FFBGDBYE");
}

#[test]
#[cfg_attr(miri, ignore = "calls into the C core, which Miri cannot execute")]
fn a_live_superblock_follows_the_protocol() {
    let server = ffb::Server::new().unwrap();
    server.start().unwrap();
    let client = server.connect_inproc().unwrap();
    let sb = client.superblock();
    assert_eq!(sb.magic, layout::FFB_ARENA_MAGIC);
    assert_eq!(sb.layout_version, ffb::sys::FFB_LAYOUT_VERSION);
    assert_eq!(sb.superblock_size as usize, layout::FFB_SUPERBLOCK_SIZE);
    assert!((1..=255).contains(&sb.arena_tag));
    assert!(sb.req_ring_entries.is_power_of_two() && sb.resp_ring_entries.is_power_of_two());
    assert!(sb.max_inflight >= 1 && sb.max_inflight <= sb.resp_ring_entries);
    assert_eq!(sb.req_ring_offset % 4096, 0);
    assert_eq!(sb.resp_ring_offset % 4096, 0);
    for heap in &sb.heaps {
        assert!(heap.nclasses as usize <= ffb::sys::FFB_NUM_CLASSES);
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
