//! Builds and links `libffb`, the C core of ffi-bridge; the raw
//! declarations of its API live in the `ffb` crate (`ffb::sys`, partly
//! generated from the C headers), which is the crate to depend on.
//!
//! This crate has no items. Depending on it (and naming it, `use ffb_sys
//! as _;`) puts the core into the link: by default built from the C
//! sources the package carries, with the `system` feature or
//! `FFB_SYS_USE_PKG_CONFIG=1` the installed libffb found by pkg-config.
//! Build scripts of dependent crates find `ffb.h` in `DEP_FFB_INCLUDE`.
#![no_std]
