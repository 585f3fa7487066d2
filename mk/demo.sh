#!/usr/bin/env bash
# The main job (`make demo`): a Rust server process and a Go client process
# talking through one shared arena; then the C `ffb ping` against the same
# Rust server for latency figures. Both sides shut down cleanly.
set -euo pipefail
BUILD=${BUILD:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
server_pid=
cleanup() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

wait_ready() { # file pid
	for _ in $(seq 1 600); do
		grep -q '^ready' "$1" 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || { cat "$1"; return 1; }
		sleep 0.1
	done
	echo "server did not become ready"; cat "$1"; return 1
}

sock=$work/demo.sock
echo "== building the Rust server and the Go client"
(cd "$root/rust" && cargo build --quiet --release --example server)
(cd "$root/go" && CGO_ENABLED=0 go build -o "$work/demo-client" ./examples/demo)

echo "== Rust server (rust/examples/server.rs) on $sock"
"$root/rust/target/release/examples/server" --socket "$sock" >"$work/server.log" 2>&1 &
server_pid=$!
wait_ready "$work/server.log" "$server_pid"
sed -n '1p' "$work/server.log"

echo "== Go client (go/examples/demo), pure Go, no cgo"
"$work/demo-client" -socket "$sock"

echo "== C client: ffb ping against the same Rust server"
"$root/$BUILD/ffb" ping --socket "$sock" --size 64 --count 200000 --mode spin
"$root/$BUILD/ffb" ping --socket "$sock" --size 1048576 --count 20000 --mode spin | sed -n '2p'

echo "== shutting down"
kill -TERM "$server_pid"
wait "$server_pid"
server_pid=
tail -n 1 "$work/server.log"
