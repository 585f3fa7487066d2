//! Builds or finds libffb, the C core of ffi-bridge, and links it.
//!
//! By default the core is built from the sources this package carries
//! (`c/src/*.c`, `c/include`, `c/ring`: symlinks to the project's `src/`,
//! `include/` and `ring/` in the repository, real files in the published
//! package) with the `cc` crate and the Makefile's warnings into a static
//! library, linked with liburing and pthread. With the `system` feature, or
//! `FFB_SYS_USE_PKG_CONFIG=1` in the environment, the installed libffb is
//! found through pkg-config (`ffb.pc`, written by `make install`) instead.
//!
//! On docs.rs (`DOCS_RS` set) nothing is built: documentation needs no
//! link. Otherwise the build exports `DEP_FFB_INCLUDE`, the folder of `ffb.h`,
//! to the build scripts of crates that depend on this one.

use std::fs;
use std::path::{Path, PathBuf};

const PKG_CONFIG_ENV: &str = "FFB_SYS_USE_PKG_CONFIG";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed={PKG_CONFIG_ENV}");

    // docs.rs documents the crates without linking them, and has no liburing.
    println!("cargo:rerun-if-env-changed=DOCS_RS");
    if std::env::var_os("DOCS_RS").is_some() {
        return;
    }

    let use_system = std::env::var_os("CARGO_FEATURE_SYSTEM").is_some()
        || std::env::var(PKG_CONFIG_ENV).is_ok_and(|v| !v.is_empty() && v != "0");
    if use_system {
        system();
    } else {
        bundled();
    }
}

/// Links the libffb that pkg-config finds; fails the build, with
/// pkg-config's reason, when there is none.
fn system() {
    let lib = pkg_config::Config::new()
        .atleast_version(env!("CARGO_PKG_VERSION"))
        .probe("ffb")
        .unwrap_or_else(|e| {
            panic!("{PKG_CONFIG_ENV} or feature `system`: no usable libffb through pkg-config: {e}")
        });
    if let Some(dir) = lib.include_paths.first() {
        println!("cargo:include={}", dir.display());
    }
}

/// Compiles the bundled core into a static library with the Makefile's
/// flags (`FFB_CFLAGS`: gnu11, -Wall -Wextra -Wshadow, _GNU_SOURCE).
fn bundled() {
    let manifest = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let c = manifest.join("c");
    let (src, include, ring) = (c.join("src"), c.join("include"), c.join("ring"));

    let sources = files(&src, "c");
    if sources.is_empty() {
        panic!(
            "no C sources found in {}: the package carries the core in c/ \
             (in the repository, symlinks to src/, include/ and ring/)",
            src.display()
        );
    }

    let mut build = cc::Build::new();
    build
        .include(&include)
        .include(&ring)
        .include(&src)
        .std("gnu11")
        .opt_level(2)
        .define("_GNU_SOURCE", None)
        .warnings(true)
        .extra_warnings(true)
        .flag("-Wshadow")
        .flag("-Wno-missing-field-initializers");
    for file in &sources {
        build.file(file);
    }
    build.compile("ffb");

    println!("cargo:rustc-link-lib=uring");
    println!("cargo:rustc-link-lib=pthread");
    println!("cargo:include={}", include.display());

    // Rebuild when any C source or header of the core changes.
    for dir in [&src, &include, &ring] {
        println!("cargo:rerun-if-changed={}", dir.display());
        for ext in ["c", "h"] {
            for file in files(dir, ext) {
                println!("cargo:rerun-if-changed={}", file.display());
            }
        }
    }
}

/// The files of extension `ext` directly in `dir` (not in sub-folders such
/// as `src/tool/`), sorted so the build is reproducible.
fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().and_then(|e| e.to_str()) == Some(ext))
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}
