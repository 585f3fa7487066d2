#!/usr/bin/env bash
# run.sh — run every ffi-bridge benchmark and write machine-readable results.
#
#   bench/run.sh quick   # < 3 minutes: fewer iterations, short budgets
#   bench/run.sh full    # < 25 minutes: the figures for the report
#
# Writes bench/results/raw-<UTC stamp>.jsonl (one JSON line per
# measurement, the first line a {"meta":...} record of the machine and
# versions), raw-<stamp>-hyperfine.json (whole-process comparison) and a
# log; on success copies them to results/latest.jsonl and
# results/latest-hyperfine.json and runs report.py (results/latest.md and
# the plots). Every benchmark pins its server side to CPU 0 and its client
# side to CPU 1 itself. Run it on a quiet machine: figures taken while
# something else compiles are noisy (the meta line records the load).
set -euo pipefail

MODE=${1:-quick}
case "$MODE" in quick | full) ;; *) echo "usage: $0 quick|full" >&2; exit 2 ;; esac

BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
BIN=$BENCH/build
RES=$BENCH/results
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RAW=$RES/raw-$STAMP.jsonl
HYP=$RES/raw-$STAMP-hyperfine.json
HYPW=$RES/raw-$STAMP-hyperfine-work.json
LOG=$RES/raw-$STAMP.log
mkdir -p "$RES"
: >"$RAW"

if [ "$MODE" = quick ]; then
	CL_ITERS=300000 RING_B1=5000000 RING_B32=20000000 FUTEX_ITERS=20000 MEMCPY_ITERS=200000
	PEER_TIME=300ms PEER_TIME_MS=300 PEER_MIN=200 HF_COUNT=10000 HF_RUNS=3 PING_COUNT=100000
	STEP_LIMIT=150 HF_LIMIT=60
	WORK_ROUNDS=3 WORK_SLICE=30ms WORK_HF_COUNT=2000
else
	CL_ITERS=3000000 RING_B1=20000000 RING_B32=100000000 FUTEX_ITERS=200000 MEMCPY_ITERS=2000000
	PEER_TIME=2s PEER_TIME_MS=2000 PEER_MIN=2000 HF_COUNT=100000 HF_RUNS=5 PING_COUNT=1000000
	STEP_LIMIT=900 HF_LIMIT=300
	WORK_ROUNDS=10 WORK_SLICE=100ms WORK_HF_COUNT=20000
fi
SIZES=64,4096,65536,1048576,16777216
FFB=${FFB_BUILD:-$ROOT/build}/ffb # the ffi-bridge server tool (top-level make)

say() { echo "run.sh: $*" >&2; }

# Run a benchmark command; keep its JSON lines, log everything else. A
# failing benchmark is logged and recorded as an error line, and the run
# goes on. A command that runs past STEP_LIMIT seconds (a hang: a lost
# wake-up, a dead peer) gets SIGQUIT — Go programs then print every
# goroutine's stack into the log — and SIGKILL 20 s later.
collect() {
	local label=$1
	shift
	say "$label"
	local out
	if out=$(timeout -s QUIT -k 20 "$STEP_LIMIT" "$@" 2>>"$LOG"); then
		grep '^{' <<<"$out" >>"$RAW" || true
	else
		local rc=$?
		grep '^{' <<<"$out" >>"$RAW" || true
		[ "$rc" = 124 ] && say "$label timed out after $STEP_LIMIT s (hung?)"
		say "$label FAILED (exit $rc), see $LOG"
		printf '{"name":"%s","error":"exit %s","checked":false}\n' "$label" "$rc" >>"$RAW"
	fi
}

meta() {
	python3 - "$MODE" "$STAMP" "$ROOT" "$FFB" >>"$RAW" <<'PY'
import json, os, platform, subprocess, sys
mode, stamp, root, ffb = sys.argv[1:5]
def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception:
        return ""
cpu = ""
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
print(json.dumps({"meta": {
    "mode": mode, "date_utc": stamp, "kernel": platform.release(), "cpu": cpu,
    "nproc": os.cpu_count(), "loadavg_start": open("/proc/loadavg").read().split()[:3],
    "git_commit": sh(f"git -C {root} rev-parse --short HEAD"),
    "gcc": sh("gcc --version | head -1"), "go": sh("go version"), "rustc": sh("rustc --version"),
    "hyperfine": sh("hyperfine --version"), "ffb": sh(f"{ffb} version"),
    "peers": {"grpc": sh(f"cd {root}/bench/go && go list -m -f '{{{{.Version}}}}' google.golang.org/grpc"),
              "shmipc-go": sh(f"cd {root}/bench/go && go list -m -f '{{{{.Version}}}}' github.com/cloudwego/shmipc-go"),
              "iceoryx2": sh(f"grep -A1 'name = \"iceoryx2\"' {root}/bench/rust/Cargo.lock | sed -n 's/version = //p' | tr -d '\"'"),
              **{k: sh(f"cd {root}/bench/go && go list -m -f '{{{{.Version}}}}' {m}") for k, m in
                 (("purego", "github.com/ebitengine/purego"), ("wazero", "github.com/tetratelabs/wazero"),
                  ("go-plugin", "github.com/hashicorp/go-plugin"))},
              "wasm rustc": sh("/usr/bin/rustc --version")},
    "placement": "server/echo/producer side CPU 0, client/timing side CPU 1, separate processes",
}}))
PY
}

# ---- 1. limit probes (C) ----------------------------------------------
run_probes() {
	local P=$BIN/probes
	collect cacheline_rtt "$P/cacheline_rtt" "$CL_ITERS" pause
	collect cacheline_rtt_nopause "$P/cacheline_rtt" "$CL_ITERS" nopause
	collect ring_rtt "$P/ring_rtt" "$CL_ITERS"
	collect ring_throughput_b1 "$P/ring_throughput" "$RING_B1" 1
	collect ring_throughput_b32 "$P/ring_throughput" "$RING_B32" 32
	collect futex_rtt "$P/futex_rtt" "$FUTEX_ITERS"
	collect memcpy "$P/memcpy_probe" "$MEMCPY_ITERS"
}

# ---- 2. peers ----------------------------------------------------------
run_peers() {
	collect peers_go "$BIN/ffbbench" run -peer cgo,uds,grpc,shmipc -sizes "$SIZES" \
		-time "$PEER_TIME" -min "$PEER_MIN"
	collect peer_iceoryx2 "$BIN/iceoryx2-echo" run --sizes "$SIZES" --time-ms "$PEER_TIME_MS" --min "$PEER_MIN"
}

# ---- 3. ffi-bridge itself ----------------------------------------------
# >>> FFI-BRIDGE MEASUREMENTS <<<
# The Go client (go/, package ffb) calling the C server (`ffb serve` from
# the top-level `make`): echo 64 B ... 16 MiB in spin and park mode (in
# spin mode also with every byte of every reply checked, and with the
# payload copied in from Go memory), pipelined
# calls at depths 8/32/128, and the C client `ffb ping` as the C-to-C
# floor. bench/go/cmd/ffbclient does the work; ffb_available says whether
# the server tool and the Go client exist and build.
ffb_available() {
	[ -x "$FFB" ] && [ -x "$BIN/ffbclient" ]
}

run_ffb() {
	if ! ffb_available; then
		say "ffi-bridge not available ($FFB or the Go client missing; run make at the top level): skipping"
		printf '{"name":"ffb_skipped","note":"build/ffb or the Go client was not available","checked":false}\n' >>"$RAW"
		return 0
	fi
	local t=(-time "$PEER_TIME" -min "$PEER_MIN")
	# the cache-line and futex references again, right before the figures
	# they anchor, so each target compares two figures taken under one load
	collect cacheline_rtt_ffbref "$BIN/probes/cacheline_rtt" "$CL_ITERS" pause cacheline_rtt_ffbref
	collect ffb_go_spin "$BIN/ffbclient" run -server "$FFB" -mode spin -sizes "$SIZES" -copyin -fullcheck "${t[@]}"
	collect futex_rtt_ffbref "$BIN/probes/futex_rtt" "$FUTEX_ITERS" futex_rtt_ffbref
	collect ffb_go_park "$BIN/ffbclient" run -server "$FFB" -mode park -sizes "$SIZES" "${t[@]}"
	collect ffb_go_pipelined "$BIN/ffbclient" pipeline -server "$FFB" -mode spin -size 64 "${t[@]}"
	collect ffb_c_ping_spin "$BIN/ffbclient" cping -server "$FFB" -mode spin -sizes "$SIZES" -count "$PING_COUNT"
	collect ffb_c_ping_park "$BIN/ffbclient" cping -server "$FFB" -mode park -sizes 64,1048576 -count "$PING_COUNT"
	run_go_client_benchmarks
}

# The Go client's own `BenchmarkEcho*` (go test -bench in go/), when it has
# them, with FFB_SERVER pointing at the server tool. Not pinned here: those
# benchmarks start their own server, which would inherit a pin and share
# the client's CPU; they place (or do not place) both sides themselves.
run_go_client_benchmarks() {
	if ! grep -qs '^func BenchmarkEcho' "$ROOT"/go/*_test.go; then
		say "go/ has no BenchmarkEcho* yet: skipping go test -bench"
		return 0
	fi
	say "go test -bench BenchmarkEcho in go/"
	local out rc=0
	# time-limited like every step (timeout signals the whole process
	# group, so servers the benchmarks started go too); the output goes to
	# the log as well, where a hang's goroutine dump then lands
	out=$(cd "$ROOT/go" && FFB_SERVER="$FFB" timeout -s QUIT -k 20 "$STEP_LIMIT" \
		go test -run '^$' -bench '^BenchmarkEcho' -benchtime "$PEER_TIME" -benchmem . 2>&1) || rc=$?
	printf '%s\n' "$out" >>"$LOG"
	python3 "$BENCH/gobench2json.py" go_test_ "go test in go/: unpinned, placement as the benchmark sets it" \
		<<<"$out" >>"$RAW"
	if [ "$rc" != 0 ]; then
		say "go test -bench in go/ FAILED (exit $rc), see $LOG"
		printf '{"name":"go_test_BenchmarkEcho","error":"go test exit %s","checked":false}\n' "$rc" >>"$RAW"
	fi
}
# >>> END FFI-BRIDGE MEASUREMENTS <<<

# ---- 3b. second round: Go calling Rust work functions -------------------
# ffbwork (bench/go/cmd/ffbwork): ffi-bridge (the Rust work server) against
# cgo and purego into the Rust library, wazero running it as wasm and a
# go-plugin process, on empty/echo/checksum/transform/JSON/pipelined calls,
# every subject's slice interleaved with a cache-line probe slice; then
# goroutines calling the ~50 us spin_work, unpinned.
run_work() {
	local t=(-build "$BIN" -rounds "$WORK_ROUNDS" -slice "$WORK_SLICE")
	collect work_run "$BIN/ffbwork" run "${t[@]}"
	collect work_concurrency "$BIN/ffbwork" concurrency "${t[@]}"
	collect work_bothways "$BIN/ffbwork" bothways -ffb "$FFB" "${t[@]}"
}

# ---- 4. whole-process comparison (hyperfine) ---------------------------
# ---- 3c. the Crux-shaped example (issue 13) -----------------------------
# The Rust core (rust/examples/crux_core.rs) and its Go shell
# (go/examples/crux) with -bench: event -> effect(s) -> resolve -> view
# cycles, and both directions of a call between them, p50/p99 each; the
# shell's "bench:" lines become JSON lines here.
run_crux() {
	say crux
	(cd "$ROOT/rust" && cargo build --quiet --release --example crux_core) 2>>"$LOG" || return 0
	(cd "$ROOT/go" && CGO_ENABLED=0 go build -o "$BIN/crux-shell" ./examples/crux) 2>>"$LOG" || return 0
	local sock log
	sock=$(mktemp -u /tmp/ffb-crux-XXXXXX.sock)
	log=$(mktemp)
	"$ROOT/rust/target/release/examples/crux_core" --socket "$sock" >"$log" 2>&1 &
	local pid=$!
	for _ in $(seq 1 100); do grep -q '^ready' "$log" && break; sleep 0.1; done
	local n=2000
	[ "$MODE" = full ] && n=20000
	timeout "$STEP_LIMIT" "$BIN/crux-shell" -socket "$sock" -bench "$n" 2>>"$LOG" | python3 -c '
import json, re, sys
for line in sys.stdin:
    m = re.match(r"bench: (.*), (\d+) (?:cycles|calls): p50 ([\d.]+) us p99 ([\d.]+) us", line)
    if m:
        what, n, p50, p99 = m.groups()
        slug = re.sub(r"[^a-z0-9]+", "_", what.lower()).strip("_")
        print(json.dumps({"name": "crux_" + slug, "group": "crux", "what": what, "iterations": int(n),
                          "p50_ns": float(p50) * 1000, "p99_ns": float(p99) * 1000, "checked": True,
                          "placement": "Rust core and Go shell processes unpinned (2 CPUs)"}))
' >>"$RAW" || say "crux FAILED, see $LOG"
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || true
	rm -f "$log"
}

run_hyperfine() {
	if ! command -v hyperfine >/dev/null; then
		say "hyperfine not installed: skipping the whole-process comparison"
		return 0
	fi
	local T="timeout -s QUIT -k 10 $HF_LIMIT" # a hung command fails its run instead of stalling
	local cmds=(
		-n cgo "$T $BIN/ffbbench loop -peer cgo -size 64 -count $HF_COUNT"
		-n uds "$T $BIN/ffbbench loop -peer uds -size 64 -count $HF_COUNT"
		-n grpc "$T $BIN/ffbbench loop -peer grpc -size 64 -count $HF_COUNT"
		-n shmipc "$T $BIN/ffbbench loop -peer shmipc -size 64 -count $HF_COUNT"
		-n iceoryx2 "$T $BIN/iceoryx2-echo loop --size 64 --count $HF_COUNT"
	)
	if ffb_available; then
		cmds+=(-n ffb-spin "$T $BIN/ffbclient loop -mode spin -server $FFB -size 64 -count $HF_COUNT")
		cmds+=(-n ffb-park "$T $BIN/ffbclient loop -mode park -server $FFB -size 64 -count $HF_COUNT")
	fi
	say "hyperfine: $HF_COUNT checked 64 B echo calls per process, $HF_RUNS runs each"
	printf '{"hyperfine":{"count":%s,"size":64,"runs":%s}}\n' "$HF_COUNT" "$HF_RUNS" >>"$RAW"
	# -i: a failing (wrong answer, timed-out) command does not abort the
	# others; its exit codes are in the JSON and report.py flags it
	hyperfine --style basic -i --warmup 1 --runs "$HF_RUNS" --export-json "$HYP" "${cmds[@]}" >>"$LOG" 2>&1 ||
		say "hyperfine FAILED, see $LOG"
}

# Whole process, start-up included, for the second round's peers: one
# empty call (start-up: server start and dial, plugin launch, module
# compile), then WORK_HF_COUNT checked 64 KiB checksums.
run_hyperfine_work() {
	command -v hyperfine >/dev/null || return 0
	local T="timeout -s QUIT -k 10 $HF_LIMIT" cmds=() p
	for p in ffb goplugin cgo purego wazero; do
		cmds+=(-n "$p start+1" "$T $BIN/ffbwork loop -build $BIN -peer $p -workload empty -count 1")
	done
	for p in ffb goplugin cgo purego wazero; do
		cmds+=(-n "$p start+$WORK_HF_COUNT" "$T $BIN/ffbwork loop -build $BIN -peer $p -workload checksum -size 65536 -count $WORK_HF_COUNT")
	done
	say "hyperfine (work): start-up, and $WORK_HF_COUNT checked 64 KiB checksums per process"
	printf '{"hyperfine_work":{"count":%s,"size":65536,"runs":%s}}\n' "$WORK_HF_COUNT" "$HF_RUNS" >>"$RAW"
	hyperfine --style basic -i --warmup 1 --runs "$HF_RUNS" --export-json "$HYPW" "${cmds[@]}" >>"$LOG" 2>&1 ||
		say "hyperfine (work) FAILED, see $LOG"
}

main() {
	say "mode $MODE; building"
	make -s -C "$BENCH" all >>"$LOG" 2>&1 || { say "build failed, see $LOG"; exit 1; }
	meta
	run_probes
	run_peers
	run_ffb
	run_work
	run_crux
	run_hyperfine
	run_hyperfine_work
	python3 -c 'import json,sys; print(json.dumps({"meta_end": {"loadavg_end": open("/proc/loadavg").read().split()[:3]}}))' >>"$RAW"
	cp "$RAW" "$RES/latest.jsonl"
	[ -f "$HYP" ] && cp "$HYP" "$RES/latest-hyperfine.json"
	[ -f "$HYPW" ] && cp "$HYPW" "$RES/latest-hyperfine-work.json"
	if [ -f "$BENCH/report.py" ]; then
		python3 "$BENCH/report.py" "$RES/latest.jsonl" || say "report.py failed"
	fi
	# The README's headline table comes from full runs only.
	if [ "$MODE" = full ]; then
		python3 "$BENCH/headline.py" "$RES/latest.jsonl" "$ROOT/README.md" || say "headline.py failed"
	fi
	say "done: $RAW"
}

main
