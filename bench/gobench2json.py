#!/usr/bin/env python3
"""gobench2json.py — turn `go test -bench` output (stdin) into the bench
JSON lines (stdout). go test reports a mean per op; benchmarks that add
p50-ns / p99-ns metrics (b.ReportMetric) give those, else the mean stands
in for p50 and p99/p99.9 are null; `timing` says which.
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
    # custom metrics the benchmarks report (b.ReportMetric), e.g. "512 p50-ns"
    extra = {unit: float(v) for v, unit in re.findall(r"([\d.]+) ([\w-]+-ns)\b", rest)}
    mbs = re.search(r"([\d.]+) MB/s", rest)  # b.SetBytes: bytes = MB/s x ns/op / 1000
    size = round(float(mbs.group(1)) * nsop / 1000) if mbs else (int(sz.group(1)) if sz else 0)
    if size > 0:  # MB/s is rounded: snap to the power of two it came from
        p2 = 1 << (size.bit_length() - 1)
        for cand in (p2, p2 * 2):
            if abs(size - cand) <= cand * 0.05:
                size = cand
    print(json.dumps({
        "name": f"{prefix}{name}", "transport": "ffb", "group": "ffb",
        "payload_bytes": size, "placement": placement,
        "p50_ns": extra.get("p50-ns", nsop), "p99_ns": extra.get("p99-ns"), "p999_ns": extra.get("p999-ns"),
        "mean_ns": nsop,
        "ops_per_s": 1e9 / nsop if nsop else 0, "iterations": iters, "checked": True,
        "clock": "go test -bench",
        "timing": "go test: p50/p99 from the benchmark's own metrics" if "p50-ns" in extra
        else "mean ns/op from go test (no percentiles)",
        "note": rest.strip(),
    }))
