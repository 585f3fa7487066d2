#!/usr/bin/env bash
# `make test-valgrind`: valgrind memcheck (definite leaks and every error
# fail) over the C test binaries and the ffb client that valgrind 3.19 can
# run. It does not treat io_uring_enter as a blocking syscall: a thread
# waiting in it keeps valgrind's big lock (every other thread of the
# process stalls) with signals blocked (a valgrinded server ignores
# SIGTERM). So the processes valgrind checks here never have a server
# loop beside other threads, and every server that must be stopped is a
# native `ffb serve` (valgrind does not follow exec by default).
# test_echo, test_hostile_client and test_hostile_server (an in-process
# server or one that must be stopped each) and test_kill (stops forked
# servers) stay out; ASan/UBSan cover them (make test-sanitizers).
set -euo pipefail
BUILD=${BUILD:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. mk/proc.sh
VG=(valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite)
export FFB_BIN=$root/$BUILD/ffb
work=$(mktemp -d)
trap 'stop_server || true; rm -rf "$work"' EXIT

for t in test_arena test_ring test_registry test_badfd; do
	echo "== valgrind $t"
	"${VG[@]}" "$BUILD/tests/$t"
done

echo "== valgrind test_fault test_client_fails_cleanly (server: ffb serve, native)"
FFB_FAULT_EXEC_SERVER=$FFB_BIN "${VG[@]}" "$BUILD/tests/test_fault" test_client_fails_cleanly

echo "== valgrind ffb ping (client: spin and park paths; server: ffb serve, native)"
start_server "$work/server.log" "$FFB_BIN" serve --socket "$work/s.sock"
"${VG[@]}" "$FFB_BIN" ping --socket "$work/s.sock" --size 4096 --count 2000 --mode spin | tail -n 2
"${VG[@]}" "$FFB_BIN" ping --socket "$work/s.sock" --size 64 --count 500 --mode park | tail -n 2
stop_server
echo "valgrind: OK"
