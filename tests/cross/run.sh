#!/usr/bin/env bash
# Cross-language tests (`make test-cross`): the demo pair — a Rust server
# process and a Go client process — with every line of their output that
# proves something checked; the Go client against the C server; the C
# client against the Rust server. Real processes, sockets and memfds.
set -euo pipefail
BUILD=${BUILD:-build}
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/mk/proc.sh"
work=$(mktemp -d)
trap 'stop_server || true; rm -rf "$work"' EXIT
pass=0
fail=0

expect() { # file pattern description
	if grep -qE -- "$2" "$1"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $3 (no line matching: $2)"
	fi
}

(cd "$root/rust" && cargo build --quiet --release --example server)
(cd "$root/go" && CGO_ENABLED=0 go build -o "$work/demo-client" ./examples/demo)

echo "== Go client -> Rust server (the demo pair)"
start_server "$work/rust.log" "$root/rust/target/release/examples/server" --socket "$work/r.sock"
"$work/demo-client" -socket "$work/r.sock" >"$work/go.out" 2>&1 || { cat "$work/go.out"; fail=$((fail + 1)); }
cat "$work/go.out"
expect "$work/go.out" 'echo 64 B +\(     64 B\): same handle back: true.*verified: true' "64 B zero-copy echo"
expect "$work/go.out" 'echo 1 MiB +\(1048576 B\): same handle back: true.*verified: true' "1 MiB zero-copy echo"
expect "$work/go.out" '\{"sum":10,"count":4\}' "named JSON call"
expect "$work/go.out" 'demo.upper .* -> "HELLO, ARENA"' "demo.upper's new block"
expect "$work/go.out" 'demo.fail -> .*ErrInvalidArgument\) = true' "a callback's own error with its message"
expect "$work/go.out" 'NOT_FOUND.*errors.Is\(err, ffb.ErrNotFound\) = true' "NOT_FOUND as a typed Go error"
expect "$work/go.out" 'PANIC.*errors.Is\(err, ffb.ErrPanic\) = true' "PANIC as a typed Go error"
expect "$work/go.out" 'still serving after the panic: true' "server survives a panicking handler"
expect "$work/go.out" 'p50 .*throughput' "latency/throughput line"
expect "$work/go.out" '^all checks passed' "Go client verdict"

echo "== C client -> Rust server"
"$root/$BUILD/ffb" ping --socket "$work/r.sock" --size 4096 --count 20000 >"$work/ping.out"
cat "$work/ping.out"
expect "$work/ping.out" 'same handle back on 21000 of 21000 calls \(zero copy\).* 0 mismatches' "C ping against Rust"
stop_server
expect "$work/rust.log" 'shut down cleanly' "Rust server graceful shutdown"
expect "$work/rust.log" 'panicked.*still serving' "Rust server reported the caught panic"

echo "== Go client -> C server"
start_server "$work/c.log" "$root/$BUILD/ffb" serve --socket "$work/c.sock"
"$work/demo-client" -socket "$work/c.sock" -c-server >"$work/goc.out" 2>&1 || { cat "$work/goc.out"; fail=$((fail + 1)); }
cat "$work/goc.out"
expect "$work/goc.out" 'echo 1 MiB +\(1048576 B\): same handle back: true.*verified: true' "Go -> C server 1 MiB zero copy"
expect "$work/goc.out" '^all checks passed' "Go client verdict against the C server"
stop_server
expect "$work/c.log" 'stopped: 1 sessions' "C server graceful shutdown"

echo "== Crux-shaped app: Rust core, Go shell resolving its effects"
(cd "$root/rust" && cargo build --quiet --release --example crux_core)
(cd "$root/go" && CGO_ENABLED=0 go build -o "$work/crux-shell" ./examples/crux)
start_server "$work/crux.log" "$root/rust/target/release/examples/crux_core" --socket "$work/crux.sock"
"$work/crux-shell" -socket "$work/crux.sock" -bench 200 >"$work/crux.out" 2>&1 || { cat "$work/crux.out"; fail=$((fail + 1)); }
cat "$work/crux.out"
expect "$work/crux.out" '^shell: session [0-9]+, weather API at http://127\.0\.0\.1:[0-9]+$' "crux shell connected, weather API on loopback"
expect "$work/crux.out" '^event \{"api":"http://127\.0\.0\.1:[0-9]+","type":"configure"\} -> 0 effects resolved' "crux configure event"
expect "$work/crux.out" '^effect kv\.get refreshes:Paris -> ""$' "crux kv.get effect (empty store)"
expect "$work/crux.out" '^effect http\.get http://127\.0\.0\.1:[0-9]+/weather\?city=Paris -> 200 \{"city":"Paris","sky":"cloudy","temp_c":18\.5\}$' "crux http.get effect against the shell's HTTP server"
expect "$work/crux.out" '^effect kv\.set refreshes:Paris = "2"$' "crux kv.set effect fed by the previous kv.get"
expect "$work/crux.out" '^event \{"city":"Tokyo","type":"refresh"\} -> 3 effects resolved$' "crux refresh event resolves 3 effects"
expect "$work/crux.out" '^effect kv\.set count = "3"$' "crux increment effects"
expect "$work/crux.out" '^effect time\.ticks -> 3 ticks$' "crux timer stream effect"
expect "$work/crux.out" '^event \{"ticks":3,"type":"watch"\} -> 1 effects resolved$' "crux watch event consumed the stream"
expect "$work/crux.out" '^view \{"city":"Tokyo","count":3,"effects_resolved":13,"refreshes":1,"ticks":3,"weather":"Tokyo: 24\.0 °C, sunny"\}$' "crux view model"
expect "$work/crux.out" '^view model ok: true \(kv refreshes:Paris = 2, count = 3\)$' "crux view model checked by the shell"
expect "$work/crux.out" '^a failed effect fails its event: INVALID_ARGUMENT ".*404 Not Found"$' "crux failed effect fails its event"
expect "$work/crux.out" '^bench: crux cycle event -> increment .* p50 [0-9.]+ us p99 [0-9.]+ us$' "crux bench: increment cycle"
expect "$work/crux.out" '^bench: crux cycle event -> refresh .* p50 [0-9.]+ us p99 [0-9.]+ us$' "crux bench: refresh cycle"
expect "$work/crux.out" '^bench: Go -> Rust call round trip .* p50 [0-9.]+ us p99 [0-9.]+ us$' "crux bench: Go -> Rust round trip"
expect "$work/crux.out" '^bench: Rust -> Go call round trip .* p50 [0-9.]+ us p99 [0-9.]+ us$' "crux bench: Rust -> Go round trip"
expect "$work/crux.out" '^all checks passed$' "crux shell verdict"
stop_server
expect "$work/crux.log" '^crux core: shut down cleanly$' "crux core graceful shutdown"

echo "cross: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
