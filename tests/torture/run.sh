#!/usr/bin/env bash
# tests/torture/run.sh — the long runs behind `make torture` (see
# tests/RELIABILITY.md): the kill matrix at 1000 kills per direction, the
# session and in-flight caps with another client's p99, 10^7 backpressured
# Go calls and 10^7 C client calls, and the idle-CPU bounds. Every step
# runs; the script fails if any step failed and says which.
#
# Env: BUILD (build dir, default build), FFB_TORTURE_ITERS (kills per
# direction, 1000), FFB_BACKPRESSURE_CALLS (Go calls, 10^7),
# FFB_C_BACKPRESSURE_CALLS (C client calls, 10^7), STEPS (a subset of:
# kill caps backpressure idle).
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
export FFB_BIN="$PWD/$BUILD/ffb"
export FFB_TEST_LOG=1
STEPS=${STEPS:-kill caps backpressure idle socket}
CC=${CC:-gcc}
FUSE_FLAGS=$(pkg-config --cflags --libs fuse3 2>/dev/null && echo -DFFB_HAVE_FUSE3)

failed=()
step() { # name, command...
	local name=$1
	shift
	echo "== torture: $name"
	local t0=$SECONDS
	if "$@"; then
		echo "== torture: $name: ok ($((SECONDS - t0)) s)"
	else
		echo "== torture: $name: FAILED ($((SECONDS - t0)) s)"
		failed+=("$name")
	fi
}
want() { case " $STEPS " in *" $1 "*) return 0 ;; esac; return 1; }

build_c() {
	make -s "BUILD=$BUILD" "$BUILD/ffb" "$BUILD/tests/test_kill_matrix" &&
		mkdir -p "$BUILD/torture" &&
		$CC -std=gnu11 -Wall -Wextra -D_GNU_SOURCE -Iinclude -Iring -Isrc -Itests -O2 -g \
			-o "$BUILD/torture/caps" tests/torture/caps.c "$BUILD/libffb.a" -lcmocka -luring -lpthread &&
		$CC -std=gnu11 -Wall -Wextra -D_GNU_SOURCE -Iinclude -Iring -Isrc -Itests -O2 -g \
			-o "$BUILD/torture/backpressure" tests/torture/backpressure.c "$BUILD/libffb.a" \
			-lcmocka -luring -lpthread &&
		$CC -std=gnu11 -Wall -Wextra -D_GNU_SOURCE -Iinclude -Iring -Isrc -Itests -O2 -g \
			-o "$BUILD/torture/sockattack" tests/torture/sockattack.c "$BUILD/libffb.a" -luring -lpthread \
			$FUSE_FLAGS
}

step build build_c || true
if want kill; then
	step "kill matrix (${FFB_TORTURE_ITERS:-1000} client + server kills)" \
		env FFB_TORTURE_ITERS="${FFB_TORTURE_ITERS:-1000}" timeout 1800 "$BUILD/tests/test_kill_matrix"
fi
if want caps; then
	step "caps and another client's p99" timeout 300 "$BUILD/torture/caps"
fi
if want backpressure; then
	step "backpressure (C client, ${FFB_C_BACKPRESSURE_CALLS:-10000000} calls)" \
		env FFB_BACKPRESSURE_CALLS="${FFB_C_BACKPRESSURE_CALLS:-10000000}" timeout 1800 "$BUILD/torture/backpressure"
	step "backpressure (Go client, ${FFB_BACKPRESSURE_CALLS:-10000000} calls)" \
		bash -c 'set -o pipefail; cd go && FFB_TORTURE=1 timeout 3600 go test -count=1 -timeout 60m -v -run "TestBackpressure" . | grep -v "^=== RUN"'
fi
if want idle; then
	step "idle CPU and wake-up (Go client, ffb serve)" \
		bash -c 'set -o pipefail; cd go && FFB_TORTURE=1 timeout 300 go test -count=1 -v -run "TestIdle|TestParkedWaiter" . | grep -v "^=== RUN"'
fi

if want socket; then
	server=${FFB_SERVER:-$BUILD/ffb}
	for attack in fds silent stalled; do
		step "socket side: $attack ($server)" timeout 300 "$BUILD/torture/sockattack" "$attack" "$server"
	done
fi

if [ ${#failed[@]} -ne 0 ]; then
	echo "torture: FAILED: ${failed[*]}"
	exit 1
fi
echo "torture: all passed"
