//! The Rust status table (generated from include/ffb_status.h by `make
//! gen`) against the linked C core: every name and text `ffb_status_name`
//! and `ffb_strerror` give, and the stable values.

use ffb::{sys, Code};

#[test]
#[cfg_attr(miri, ignore = "calls into the C core, which Miri cannot execute")]
fn the_linked_core_names_and_describes_every_code_the_same() {
    for (name, code) in Code::TABLE {
        assert_eq!(code.c_name(), *name, "ffb_status_name({})", code.raw());
        assert_eq!(
            code.c_description(),
            code.description(),
            "ffb_strerror({})",
            code.raw()
        );
    }
    assert_eq!(Code::from_raw(12345).c_name(), "UNKNOWN");
    assert_eq!(Code::from_raw(12345).c_description(), "unknown status");
    assert_eq!(Code::from_raw(12345).description(), "unknown status");
}

#[test]
fn the_table_and_its_constants_agree() {
    assert_eq!(Code::TABLE.len(), sys::STATUS_TABLE.len());
    for ((name, code), (sys_name, value, text)) in Code::TABLE.iter().zip(sys::STATUS_TABLE) {
        assert_eq!(name, sys_name);
        assert_eq!(code.raw(), *value, "Code::{name}");
        assert_eq!(code.name(), *name);
        assert_eq!(code.description(), *text);
        assert!(!text.is_empty(), "Code::{name} has no text");
    }
    assert!(
        Code::TABLE.windows(2).all(|w| w[0].1 < w[1].1),
        "value order"
    );
}

#[test]
fn stable_codes_keep_their_values() {
    let stable = [
        ("OK", 0),
        ("NULL_POINTER", 1),
        ("BUFFER_TOO_SMALL", 2),
        ("INVALID_UTF8", 3),
        ("SERIALIZATION", 4),
        ("PANIC", 5),
        ("TIMEOUT", 6),
        ("NOT_FOUND", 7),
        ("LOCK_POISONED", 8),
        ("UNKNOWN", 99),
    ];
    for (name, value) in stable {
        assert_eq!(Code::from_raw(value).name(), name);
    }
    assert_eq!(Code::NOT_FOUND.raw(), sys::FFB_ERR_NOT_FOUND);
    assert_eq!(Code::UNKNOWN.raw(), sys::FFB_ERR_UNKNOWN);
}
