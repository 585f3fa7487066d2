//! Builds the C core of ffi-bridge (`../src/*.c`, not `../src/tool/`) into
//! a static library with the `cc` crate and links liburing and pthread.
//!
//! The crate always builds the core from the sources next to it, so a
//! `cargo build` in `rust/` needs no prior `make`.

use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let root = manifest
        .parent()
        .expect("rust/ lives inside the project")
        .to_path_buf();
    let src = root.join("src");
    let include = root.join("include");
    let ring = root.join("ring");

    let sources = c_files(&src);
    if sources.is_empty() {
        panic!(
            "no C sources found in {}: the ffi-bridge core must sit next to rust/",
            src.display()
        );
    }

    let mut build = cc::Build::new();
    build
        .include(&include)
        .include(&ring)
        .include(&src)
        .flag("-std=gnu11")
        .opt_level(2)
        .define("_GNU_SOURCE", None)
        .warnings(false);
    for file in &sources {
        build.file(file);
    }
    build.compile("ffb");

    println!("cargo:rustc-link-lib=uring");
    println!("cargo:rustc-link-lib=pthread");

    // Rebuild when any C source or header of the core changes.
    println!("cargo:rerun-if-changed=build.rs");
    for dir in [&src, &include, &ring] {
        println!("cargo:rerun-if-changed={}", dir.display());
        for entry in list(dir) {
            if matches!(entry.extension().and_then(|e| e.to_str()), Some("c" | "h")) {
                println!("cargo:rerun-if-changed={}", entry.display());
            }
        }
    }
}

/// The `.c` files directly in `dir` (not in sub-folders such as `tool/`),
/// sorted so the build is reproducible.
fn c_files(dir: &Path) -> Vec<PathBuf> {
    list(dir)
        .into_iter()
        .filter(|p| p.is_file() && p.extension().and_then(|e| e.to_str()) == Some("c"))
        .collect()
}

fn list(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}
