#!/bin/sh
# mk/crate-smoke.sh — the crates as published: `cargo package` packs and
# verifies ffb-sys and ffb (rust/), then the two .crate files are unpacked
# into an empty temporary folder and built there into a small program that
# serves an in-process echo of 64 B and a callback; then once more against
# the system libffb: `make install` into the temporary folder, ffb-sys told
# FFB_SYS_USE_PKG_CONFIG=1, the program linked to libffb.so. Where a mount
# namespace is allowed (root, or unprivileged user namespaces) the builds
# run with the repository covered by an empty tmpfs, so they cannot read
# it. CRATE_SMOKE_TARGET names a cargo target folder to reuse (outside the
# repository, or the builds see it); the default is a fresh one. Called by
# `make test-rust`.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ffb-crate-smoke.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
target=${CRATE_SMOKE_TARGET:-$tmp/target}

fail() { echo "crate-smoke: $*" >&2; exit 1; }

# Pack and verify both crates; ffb resolves ffb-sys from the packed one.
# --allow-dirty: the test checks the working tree, committed or not.
(cd "$root/rust" && cargo package --quiet --workspace --allow-dirty) ||
	fail "cargo package failed"

version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/rust/ffb-sys/Cargo.toml" | head -n 1)
for crate in ffb-sys ffb; do
	file=$root/rust/target/package/$crate-$version.crate
	[ -f "$file" ] || fail "no $file"
	tar -xzf "$file" -C "$tmp"
done

# The package holds the C core itself: files, no symlinks back to the repository.
links=$(find "$tmp" -type l)
[ -z "$links" ] || fail "the unpacked crates hold symlinks: $links"
[ -f "$tmp/ffb-sys-$version/c/src/server.c" ] && [ -f "$tmp/ffb-sys-$version/c/include/ffb.h" ] ||
	fail "ffb-sys-$version.crate carries no C core"

mkdir -p "$tmp/smoke/src"
cat > "$tmp/smoke/Cargo.toml" <<TOML
[package]
name = "ffb-crate-smoke"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
ffb = "=$version"

# The unpacked .crate files stand in for crates.io.
[patch.crates-io]
ffb = { path = "../ffb-$version" }
ffb-sys = { path = "../ffb-sys-$version" }

[workspace]
TOML
cp "$tmp/ffb-$version/Cargo.lock" "$tmp/smoke/Cargo.lock"
cat > "$tmp/smoke/src/main.rs" <<'RUST'
//! The packaged crates at work: an in-process server echoes 64 B zero
//! copy and answers a Rust callback.
use ffb::{Reply, Server};

fn main() -> ffb::Result<()> {
    let server = Server::new()?;
    server.register("smoke.upper", |req| {
        Ok(Reply::bytes(req.to_vec().to_ascii_uppercase()))
    })?;
    server.start()?;
    let client = server.connect_inproc()?;

    let payload: Vec<u8> = (0..64u8).collect();
    let buf = client.alloc_bytes(&payload)?;
    let reply = client.echo(&buf, payload.len())?;
    assert_eq!(reply.handle(), Some(buf.handle()), "echo is zero copy");
    assert_eq!(reply.to_vec()?, payload, "echo returns the 64 B");
    assert_eq!(client.invoke_bytes("smoke.upper", b"crate")?, b"CRATE");

    drop(reply);
    drop(buf);
    drop(client);
    server.shutdown()?;
    println!("ffb {}: 64 B echoed, smoke.upper answered", ffb::version());
    Ok(())
}
RUST

# A mount namespace that hides the repository, if this machine grants one
# and nothing the builds use lies inside it.
hide=
case "$tmp/ $target/ ${CARGO_HOME:-$HOME/.cargo}/" in
*"$root/"*) ;;
*)
	if [ "$(id -u)" = 0 ]; then ns="unshare --mount"; else ns="unshare --mount --map-root-user"; fi
	if $ns sh -c 'mount -t tmpfs ffb-hidden "$1"' sh "$root" 2>/dev/null; then hide=$ns; fi
	;;
esac

# smoke [ENV...]: build and run the program (the repository hidden where
# it can be), print its line.
smoke() {
	out=$($hide sh -c '
		root=$1 dir=$2; shift 2
		if [ -n "$HIDE" ]; then
			mount -t tmpfs ffb-hidden "$root" && [ -z "$(ls -A "$root")" ] || exit 97
		fi
		cd "$dir" && exec env "$@" cargo run --quiet' \
		sh "$root" "$tmp/smoke" CARGO_TARGET_DIR="$target" "$@" 2>&1) ||
		{ printf '%s\n' "$out" >&2; fail "the packaged crates do not build or run"; }
	printf '%s\n' "$out" | grep -q '64 B echoed' || { printf '%s\n' "$out" >&2; fail "no smoke output"; }
	printf '%s\n' "$out"
}
export HIDE="$hide"
bin=$target/debug/ffb-crate-smoke

bundled=$(smoke)
if readelf -d "$bin" | grep -q 'NEEDED.*libffb'; then
	fail "the bundled build links a shared libffb"
fi

# The system library through pkg-config, as `make install PREFIX=...` leaves it.
prefix=$tmp/prefix
${MAKE:-make} --no-print-directory -C "$root" install PREFIX="$prefix" >/dev/null ||
	fail "make install failed"
system=$(smoke PKG_CONFIG_PATH="$prefix/lib/pkgconfig" FFB_SYS_USE_PKG_CONFIG=1 \
	LD_LIBRARY_PATH="$prefix/lib")
readelf -d "$bin" | grep -q 'NEEDED.*libffb\.so' ||
	fail "FFB_SYS_USE_PKG_CONFIG=1 did not link the installed libffb.so"

where="the repository hidden"
[ -n "$hide" ] || where="the repository not hidden (no mount namespace here)"
echo "crate-smoke: ffb-sys-$version.crate and ffb-$version.crate verified, built alone" \
	"($where) and served, bundled ($bundled) and against pkg-config's libffb.so ($system)"
