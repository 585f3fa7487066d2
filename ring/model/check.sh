#!/usr/bin/env bash
# Model-check ring.pml with Spin: the real protocol must pass (no assertion
# violation, no invalid end state) under both doorbells, and every mutant
# must be caught. Prints the states explored per run. Exit 0 only if all
# expectations hold. usage: ring/model/check.sh [-DNMSG=4 ...extra spin -D]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v spin >/dev/null || { echo "spin not found (Debian package: spin)"; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/ring.pml" "$work/"
cd "$work"
extra=("$@")
fail=0

# run NAME EXPECT(pass|caught) DEFINES...
run() {
	local name=$1 expect=$2
	shift 2
	rm -f pan pan.* ring.pml.trail
	if ! spin "${extra[@]}" "$@" -a ring.pml >spin.out 2>&1 || ! gcc -O2 -w -DSAFETY -o pan pan.c 2>gcc.out; then
		echo "FAIL  $name: spin/gcc failed"; cat spin.out gcc.out; fail=1; return
	fi
	./pan -m200000 >pan.out 2>&1
	local errors states what
	errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' pan.out | head -1)
	states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' pan.out | head -1)
	what=$(grep -m1 '^pan:1:' pan.out | sed 's/^pan:1: //')
	if grep -q 'max search depth too small' pan.out; then
		echo "FAIL  $name: search depth exceeded (raise -m)"; fail=1; return
	fi
	local got=pass
	[ "${errors:-1}" != 0 ] && got=caught
	local verdict=ok
	[ "$got" = "$expect" ] || { verdict=FAIL; fail=1; }
	printf '%-5s %-34s %-7s states=%-8s %s\n' "$verdict" "$name" "$got" "$states" "$what"
}

echo "== real protocol (must pass)"
run "real, futex doorbell" pass
run "real, eventfd doorbell" pass -DEVENTFD
echo "== mutants (must be caught)"
run "M1 no re-check, eventfd" caught -DEVENTFD -DMUT_NO_RECHECK
run "M2 no P3 fence, futex" caught -DMUT_NO_P3
run "M2 no P3 fence, eventfd" caught -DEVENTFD -DMUT_NO_P3
run "M1 no re-check, futex" caught -DMUT_NO_RECHECK
run "M3 stamp before entry, futex" caught -DMUT_STAMP_FIRST
run "M3 stamp before entry, eventfd" caught -DEVENTFD -DMUT_STAMP_FIRST
run "M4 head before entry read, futex" caught -DMUT_HEAD_FIRST
run "M4 head before entry read, eventfd" caught -DEVENTFD -DMUT_HEAD_FIRST
run "M5 tail before stamp, futex" caught -DMUT_TAIL_FIRST
run "M5 tail before stamp, eventfd" caught -DEVENTFD -DMUT_TAIL_FIRST
[ $fail = 0 ] && echo "model check: OK" || echo "model check: FAILED"
exit $fail
