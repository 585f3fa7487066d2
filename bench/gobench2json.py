#!/usr/bin/env python3
"""gobench2json.py — turn `go test -bench` output (stdin) into the bench
JSON lines (stdout). go test reports a mean per op, not percentiles: the
mean goes to mean_ns and p50_ns, p99/p99.9 are null, and `timing` says so.
Usage: go test -bench ... | python3 gobench2json.py PREFIX PLACEMENT
"""
import json
import re
import sys

prefix, placement = sys.argv[1], sys.argv[2]
line_re = re.compile(r"^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+([\d.]+) ns/op(.*)$")
size_re = re.compile(r"(\d+)(?:B|$)")
for line in sys.stdin:
    m = line_re.match(line.strip())
    if not m:
        continue
    name, iters, nsop, rest = m.group(1), int(m.group(2)), float(m.group(3)), m.group(4)
    sz = size_re.search(name.split("/")[-1])
    print(json.dumps({
        "name": f"{prefix}{name}", "transport": "ffb", "group": "ffb",
        "payload_bytes": int(sz.group(1)) if sz else 0, "placement": placement,
        "p50_ns": nsop, "p99_ns": None, "p999_ns": None, "mean_ns": nsop,
        "ops_per_s": 1e9 / nsop if nsop else 0, "iterations": iters, "checked": True,
        "clock": "go test -bench", "timing": "mean ns/op from go test (no percentiles)",
        "note": rest.strip(),
    }))
