#!/usr/bin/env bash
# Run every test suite, even after one fails, and print one summary line
# per suite; exit 1 if any failed.
# usage: mk/suites.sh NAME=COMMAND...   (COMMAND runs under bash -c)
# Each suite's output goes to the terminal and to $LOGDIR/NAME.log
# (LOGDIR defaults to build/test-logs). Counts come from the runners that
# print them: cmocka ("[  PASSED  ] N test(s)", "[  FAILED  ] M test(s)"),
# cargo ("test result: ... N passed; M failed"), go test -v ("--- PASS",
# "--- FAIL"); other suites say ok or FAILED only.
set -uo pipefail
logdir=${LOGDIR:-build/test-logs}
mkdir -p "$logdir"
names=() results=() failed=0

counts() { # log file -> "N passed, M failed" or nothing
	awk '
		/^\[  PASSED  \] [0-9]+ test/ { p += $4; seen = 1 }
		/^\[  FAILED  \] [0-9]+ test/ { f += $4; seen = 1 }
		/^\[  FAILED  \] GROUP SETUP/ { f += 1; seen = 1 }
		/^test result: / { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i }; seen = 1 }
		/^--- PASS: / { p++; seen = 1 }
		/^--- FAIL: / { f++; seen = 1 }
		END { if (seen) printf "%d passed, %d failed", p, f }
	' "$1"
}

for spec in "$@"; do
	name=${spec%%=*}
	cmd=${spec#*=}
	log=$logdir/$name.log
	echo "== $name: $cmd"
	start=$(date +%s)
	bash -c "$cmd" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	secs=$(($(date +%s) - start))
	c=$(counts "$log")
	if [ "$rc" -eq 0 ]; then
		verdict=ok
	else
		verdict=FAILED
		failed=$((failed + 1))
	fi
	[ -n "$c" ] || [ "$rc" -eq 0 ] || c="exit status $rc"
	names+=("$name")
	results+=("$(printf '%-6s %-24s %5s s' "$verdict" "$c" "$secs")")
done

echo
echo "== summary ($# suites, $failed failed; logs in $logdir/)"
for i in "${!names[@]}"; do
	printf '  %-28s %s\n' "${names[$i]}" "${results[$i]}"
done
[ "$failed" -eq 0 ]
