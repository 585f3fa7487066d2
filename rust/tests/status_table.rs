//! The Rust status table is the C header's, entry for entry: parse
//! include/ffb_status.h and compare every name, value and description with
//! `ffb::Code`, and with the names the linked C core reports.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ffb::Code;

/// (name without FFB_/FFB_ERR_, value, comment) for each enum entry.
fn header_table() -> Vec<(String, i32, String)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../include/ffb_status.h");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let body = text
        .split("typedef enum ffb_status {")
        .nth(1)
        .and_then(|rest| rest.split("} ffb_status;").next())
        .expect("ffb_status.h has the ffb_status enum");
    let mut out = Vec::new();
    for line in body.lines() {
        let line = line.trim();
        if !line.starts_with("FFB_") {
            continue;
        }
        let (decl, comment) = match line.split_once("/*") {
            Some((d, c)) => (d, c.trim_end_matches("*/").trim().to_owned()),
            None => (line, String::new()),
        };
        let (name, value) = decl
            .split_once('=')
            .expect("every entry has an explicit value");
        let name = name.trim();
        let name = name
            .strip_prefix("FFB_ERR_")
            .or_else(|| name.strip_prefix("FFB_"))
            .unwrap();
        let value: i32 = value
            .trim()
            .trim_end_matches(',')
            .trim()
            .parse()
            .expect("integer value");
        out.push((name.to_owned(), value, comment));
    }
    out
}

#[test]
fn every_header_code_is_in_the_rust_table_with_the_same_value() {
    let header = header_table();
    assert!(header.len() >= 29, "parsed only {} entries", header.len());
    let rust: BTreeMap<&str, Code> = Code::TABLE.iter().copied().collect();
    for (name, value, _) in &header {
        let got = rust
            .get(name.as_str())
            .unwrap_or_else(|| panic!("Code::{name} missing"));
        assert_eq!(
            got.raw(),
            *value,
            "Code::{name}: got {}, want {value}",
            got.raw()
        );
        assert_eq!(Code::from_raw(*value).name(), name, "name of value {value}");
    }
}

#[test]
fn the_rust_table_has_nothing_the_header_lacks() {
    let header: BTreeMap<String, i32> =
        header_table().into_iter().map(|(n, v, _)| (n, v)).collect();
    assert_eq!(header.len(), Code::TABLE.len());
    for (name, code) in Code::TABLE {
        assert_eq!(
            header.get(*name),
            Some(&code.raw()),
            "Code::{name} not in the header"
        );
    }
}

#[test]
fn descriptions_follow_the_header_comments() {
    for (name, value, comment) in header_table() {
        assert_eq!(
            Code::from_raw(value).description(),
            comment,
            "description of {name}"
        );
    }
}

#[test]
#[cfg_attr(miri, ignore = "calls into the C core, which Miri cannot execute")]
fn the_linked_core_names_every_code_the_same() {
    for (name, code) in Code::TABLE {
        assert_eq!(code.c_name(), *name, "ffb_status_name({})", code.raw());
    }
    assert_eq!(Code::from_raw(12345).c_name(), "UNKNOWN");
}

#[test]
fn sys_constants_match_the_table() {
    use ffb::sys;
    assert_eq!(Code::NOT_FOUND.raw(), sys::FFB_ERR_NOT_FOUND);
    assert_eq!(Code::PANIC.raw(), sys::FFB_ERR_PANIC);
    assert_eq!(Code::UNKNOWN.raw(), sys::FFB_ERR_UNKNOWN);
}

/// The layout constants the crate uses are the header's.
#[test]
fn layout_constants_match_ffb_layout_h() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../include/ffb_layout.h");
    let text = std::fs::read_to_string(path).unwrap();
    let define = |name: &str| -> String {
        text.lines()
            .find_map(|l| {
                let mut it = l.split_whitespace();
                (it.next() == Some("#define") && it.next() == Some(name))
                    .then(|| it.next().unwrap().to_owned())
            })
            .unwrap_or_else(|| panic!("#define {name} missing"))
    };
    let num = |s: String| -> u64 {
        let s = s.trim_end_matches('u').trim_end_matches("ull");
        s.strip_prefix("0x")
            .map(|h| u64::from_str_radix(h, 16).unwrap())
            .unwrap_or_else(|| s.parse().unwrap())
    };
    use ffb::sys;
    assert_eq!(
        num(define("FFB_LAYOUT_VERSION")),
        u64::from(sys::FFB_LAYOUT_VERSION)
    );
    assert_eq!(num(define("FFB_NUM_CLASSES")), sys::FFB_NUM_CLASSES as u64);
    assert_eq!(num(define("FFB_MAX_CLASSES")), sys::FFB_MAX_CLASSES as u64);
    assert_eq!(
        num(define("FFB_MAX_NAME_LEN")),
        sys::FFB_MAX_NAME_LEN as u64
    );
    assert_eq!(
        num(define("FFB_HEAP_CLIENT")),
        u64::from(sys::FFB_HEAP_CLIENT)
    );
    assert_eq!(
        num(define("FFB_HEAP_SERVER")),
        u64::from(sys::FFB_HEAP_SERVER)
    );
    assert_eq!(
        num(define("FFB_HANDLE_CLASS_SHIFT")),
        u64::from(sys::FFB_HANDLE_CLASS_SHIFT)
    );
    assert_eq!(
        num(define("FFB_HANDLE_HEAP_SHIFT")),
        u64::from(sys::FFB_HANDLE_HEAP_SHIFT)
    );
    assert_eq!(
        num(define("FFB_HANDLE_TAG_SHIFT")),
        u64::from(sys::FFB_HANDLE_TAG_SHIFT)
    );
    assert_eq!(
        num(define("FFB_HANDLE_GEN_SHIFT")),
        u64::from(sys::FFB_HANDLE_GEN_SHIFT)
    );
    assert_eq!(
        num(define("FFB_HANDLE_INDEX_BITS")),
        u64::from(sys::FFB_HANDLE_INDEX_MASK.count_ones())
    );
    assert_eq!(sys::FFB_MAX_BLOCK_SIZE, 1 << 24);
    assert_eq!(sys::FFB_FN_ECHO, 0x10000);
    assert_eq!(sys::FFB_FN_VERSION, 0x10001);
}
