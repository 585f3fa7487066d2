#!/usr/bin/env bash
# `make test-docs`: the READMEs' code blocks are code the tests run
# (mk/docs_check.py), and the C blocks build against an installed libffb
# through pkg-config, as a user of `make install PREFIX=...` builds them,
# then run: the README's server and client talk through a real socket.
set -euo pipefail
BUILD=${BUILD:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/mk/proc.sh"
work=$(mktemp -d)
trap 'stop_server || true; rm -rf "$work"' EXIT

python3 "$root/mk/docs_check.py" "$root/$BUILD/ffb" "$root/README.md" "$root/go/README.md" "$root/rust/README.md"

prefix=$work/prefix
make -s -C "$root" install PREFIX="$prefix" >/dev/null
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig LD_LIBRARY_PATH=$prefix/lib
for prog in upper_server upper_client; do
	# shellcheck disable=SC2046 # pkg-config prints several words
	cc -std=gnu11 -Wall -Wextra -Werror -o "$work/$prog" "$root/tests/docs/$prog.c" $(pkg-config --cflags --libs ffb)
done
echo "docs: README's C server and client built with pkg-config against $(pkg-config --modversion ffb)"
start_server "$work/server.log" "$work/upper_server" "$work/app.sock"
got=$("$work/upper_client" "$work/app.sock" "hello, c")
[ "$got" = "HELLO, C" ] || { echo "docs: the README's C client printed '$got', want 'HELLO, C'"; exit 1; }
stop_server
echo "docs: the README's C client got '$got' from the README's C server, which stopped cleanly -- ok"
