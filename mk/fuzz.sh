#!/usr/bin/env bash
# Run libFuzzer targets built by mk/fuzz.mk into $BUILD/fuzz/.
# usage: BUILD=build [FUZZ_RUNS=N] mk/fuzz.sh SECONDS TARGET...
# Each target first runs every file of its committed seed corpus
# (tests/fuzz/corpus/TARGET/) and of the seeds it writes itself from a
# shared table (FFB_FUZZ_WRITE_SEEDS=DIR, into $BUILD/fuzz/seeds/TARGET/)
# once, then fuzzes for SECONDS (or FUZZ_RUNS executions, if set and
# reached first) with its
# working corpus $BUILD/fuzz/corpus/TARGET/ (kept between runs) and the
# seeds. A crash or property violation fails the run: its input is in
# $BUILD/fuzz/artifacts/, the whole log in $BUILD/fuzz/TARGET.log. The
# final figures of each run (executions, cov, ft) are printed.
set -euo pipefail
secs=$1
shift
dir=${BUILD:-build}/fuzz
mkdir -p "$dir/artifacts"
for t in "$@"; do
	bin=$dir/$t
	seeds=tests/fuzz/corpus/$t
	work=$dir/corpus/$t
	log=$dir/$t.log
	mkdir -p "$work"
	start=$(date +%s)
	extra=()
	# Seeds a target writes itself from a shared table (fuzz_server_session:
	# one per row of tests/hostile_entries.h), beside the committed ones.
	table=$dir/seeds/$t
	rm -rf "$table" && mkdir -p "$table"
	FFB_FUZZ_WRITE_SEEDS=$table "$bin" -runs=0 >/dev/null 2>&1 || true
	for d in "$seeds" "$table"; do
		[ -d "$d" ] && [ -n "$(ls "$d")" ] || continue
		extra+=("$d")
		if ! "$bin" "$d"/* >"$log.seeds" 2>&1; then
			tail -n 60 "$log.seeds"
			echo "== $t: a seed input of $d FAILED (log: $log.seeds)"
			exit 1
		fi
		echo "== $t: $(ls "$d" | wc -l) seed inputs of $d pass"
	done
	runs=()
	[ -n "${FUZZ_RUNS:-}" ] && runs=(-runs="$FUZZ_RUNS")
	if ! "$bin" -max_len=512 -timeout=20 -print_final_stats=1 -max_total_time="$secs" "${runs[@]}" \
		-artifact_prefix="$dir/artifacts/$t-" "$work" "${extra[@]}" >"$log" 2>&1; then
		tail -n 60 "$log"
		echo "== $t: FAILED (input in $dir/artifacts/, log: $log)"
		exit 1
	fi
	grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 | sed "s|^|== $t: |"
	grep -E 'stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" | sed "s|^|   |"
	echo "   $(ls "$work" | wc -l) inputs in $work, $(($(date +%s) - start)) s"
done
