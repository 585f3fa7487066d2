#!/usr/bin/env bash
# tests/suites_test.sh — mk/suites.sh, the runner of `make test`: every
# suite runs even after one fails, each gets its summary line with its
# counts, and the run fails if any suite did.
set -u
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() {
	echo "suites_test: $*"
	echo "$out"
	exit 1
}
out=$(LOGDIR=$d mk/suites.sh \
	'first=echo "[  PASSED  ] 2 test(s)."; echo "[  PASSED  ] 3 test(s)."' \
	'second=echo "[  PASSED  ] 1 test(s)."; echo "[  FAILED  ] 2 test(s), listed below:"; exit 2' \
	'third=echo "test result: ok. 4 passed; 0 failed; 1 ignored"' \
	'fourth=true' 2>&1)
rc=$?
[ "$rc" -ne 0 ] || fail "exit status 0 although a suite failed"
grep -Eq '^  first +ok +5 passed, 0 failed' <<<"$out" || fail "no summary line for the first suite"
grep -Eq '^  second +FAILED +1 passed, 2 failed' <<<"$out" || fail "no summary line for the failed suite"
grep -Eq '^  third +ok +4 passed, 0 failed' <<<"$out" || fail "the suites after a failure did not run"
grep -Eq '^  fourth +ok' <<<"$out" || fail "the last suite did not run"
[ -s "$d/second.log" ] || fail "no log of the failed suite"
out=$(LOGDIR=$d mk/suites.sh 'only=true' 2>&1) || fail "a run whose suites all passed failed"
echo "suites_test: ok"
