#!/usr/bin/env bash
# The main job (`make demo`): a Rust server process and a Go client process
# talking through one shared arena; then the C `ffb ping` against the same
# Rust server for latency figures. Both sides shut down cleanly.
set -euo pipefail
BUILD=${BUILD:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/mk/proc.sh"
work=$(mktemp -d)
trap 'stop_server || true; rm -rf "$work"' EXIT

sock=$work/demo.sock
echo "== building the Rust server and the Go client"
(cd "$root/rust" && cargo build --quiet --release --example server)
(cd "$root/go" && CGO_ENABLED=0 go build -o "$work/demo-client" ./examples/demo)

echo "== Rust server (rust/examples/server.rs) on $sock"
start_server "$work/server.log" "$root/rust/target/release/examples/server" --socket "$sock"
sed -n '1p' "$work/server.log"

echo "== Go client (go/examples/demo), pure Go, no cgo"
"$work/demo-client" -socket "$sock"

echo "== C client: ffb ping against the same Rust server"
"$root/$BUILD/ffb" ping --socket "$sock" --size 64 --count 200000 --mode spin
"$root/$BUILD/ffb" ping --socket "$sock" --size 1048576 --count 20000 --mode spin

echo "== shutting down"
stop_server
tail -n 1 "$work/server.log"

echo "== Crux-shaped app: a Rust core (rust/examples/crux_core.rs) and its Go shell (go/examples/crux)"
(cd "$root/rust" && cargo build --quiet --release --example crux_core)
(cd "$root/go" && CGO_ENABLED=0 go build -o "$work/crux-shell" ./examples/crux)
start_server "$work/crux.log" "$root/rust/target/release/examples/crux_core" --socket "$work/crux.sock"
"$work/crux-shell" -socket "$work/crux.sock"
stop_server
tail -n 1 "$work/crux.log"
