"""headline.py — the README's headline table, written from one run's rows.

Usage: python3 headline.py results/latest.jsonl ../README.md

Rewrites the lines between `<!-- headline:begin -->` and
`<!-- headline:end -->` of the README with a table built from the run's
JSON rows (the same rows report.py reads): every figure of it comes from
that one run, and each ratio is the one the report's verdicts use
(interleaved slices where the row has them). A figure the run lacks
reads "—". Standard library only.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402
from report_work import FFB, FFB_PARKING, cells, ns, spread, vs  # noqa: E402

BEGIN, END = "<!-- headline:begin -->", "<!-- headline:end -->"


def rows(recs):
    c = cells(recs)
    out = []

    def cell(wl, n):
        return c.get((wl, n), {})

    def p50(name):
        r = recs.get(name)
        return r["p50_ns"] if r and r.get("checked") and "p50_ns" in r else None

    e64 = cell("echo", 64).get(FFB)
    if e64 and e64.get("limit_ratio"):
        out.append(("64 B echo, Go client -> Rust server, spin", f"{ns(e64['p50_ns'])} ({spread(e64['limit_ratio'])})",
                    f"cache-line round trip {ns(e64.get('limit_p50_ns'))}, interleaved slices"))
    c64, cl = p50("ffb_c_spin_echo_64"), p50("cacheline_rtt_ffbref")
    if c64 and cl:
        out.append(("64 B echo, C client -> C server, spin", f"{ns(c64)} ({c64 / cl:.2f}x)",
                    f"cache-line round trip {ns(cl)}, taken just before"))
    pe = cell("pool_echo_64", 64)
    if pe.get("pooled_demo.echo") and pe.get("inline_ffi.echo"):
        out.append(("64 B echo from a pool worker", f"{ns(pe['pooled_demo.echo']['p50_ns'])} "
                    f"({spread(vs(pe['pooled_demo.echo'], 'inline_ffi.echo'))})",
                    f"the inline built-in {ns(pe['inline_ffi.echo']['p50_ns'])}"))
    e1 = cell("echo", 1 << 20).get(FFB)
    if e1 and e64:
        out.append(("1 MiB echo (the same handle back)", f"{ns(e1['p50_ns'])} ({e1['p50_ns'] / e64['p50_ns']:.2f}x the 64 B echo)",
                    f"one 1 MiB memcpy {ns(p50('memcpy_1048576'))}"))
    ck = cell("checksum", 1 << 20)
    if ck.get(FFB) and ck.get("cgo-rust"):
        out.append(("checksum of 1 MiB, a Rust handler reading in place", f"{ns(ck[FFB]['p50_ns'])} "
                    f"({spread(vs(ck[FFB], 'cgo-rust'))})", f"cgo -> the same Rust function {ns(ck['cgo-rust']['p50_ns'])}"))
    pc = cell("pipelined", 0)
    batches = [v for k, v in pc.items() if k.startswith("ffi-bridge CallBatch") and "of C" not in k]
    if batches and pc.get("cgo-rust"):
        best = min(batches, key=lambda b: b["p50_ns"])
        out.append((f"pipelined calls (`CallBatch`, {best['peer'].split()[-1]})", f"{ns(best['p50_ns'])}/call "
                    f"({spread(vs(best, 'cgo-rust'))})", f"a cgo call to an empty Rust function {ns(pc['cgo-rust']['p50_ns'])}"))
    g8 = cell("concurrency", 8)
    best = max((g8.get(p) for p in (FFB, FFB_PARKING) if g8.get(p)), key=lambda r: r.get("calls_per_s_median", 0),
               default=None)
    if best and g8.get("cgo-rust"):
        out.append(("8 goroutines calling a ~50 µs CPU-bound Rust function", f"{best['calls_per_s_median']:,.0f} calls/s "
                    f"({spread(vs(best, 'cgo-rust'))})", f"cgo {g8['cgo-rust']['calls_per_s_median']:,.0f} calls/s"))
    w = cell("work_workers_g8", 16)
    one, two = w.get("ffi-bridge, 1 worker(s)"), w.get("ffi-bridge, 2 worker(s)")
    if one and two:
        out.append(("2 pool workers vs 1 (CPU-bound ~200 µs callback)", f"{two['calls_per_s_median']:,.0f} calls/s "
                    f"({spread(vs(two, 'ffi-bridge, 1 worker(s)'))})", f"1 worker {one['calls_per_s_median']:,.0f} calls/s"))
    b = cell("bothways_call_64", 64)
    if b.get("server_to_go") and b.get("go_to_server"):
        out.append(("server -> Go handler call, 64 B", f"{ns(b['server_to_go']['p50_ns'])} "
                    f"({spread(vs(b['server_to_go'], 'go_to_server'))})", f"Go -> server call {ns(b['go_to_server']['p50_ns'])}"))
    st = cell("bothways_stream_64", 64)
    pipe = next((v for k, v in st.items() if k.startswith("pipelined_d")), None)
    if st.get("stream_items") and pipe:
        out.append(("stream items, 64 B, into Go's `Stream`", f"{st['stream_items']['calls_per_s_median']:,.0f} items/s "
                    f"({spread(vs(st['stream_items'], pipe['peer']))})", f"pipelined calls {pipe['calls_per_s_median']:,.0f}/s"))
    park, fx = p50("ffb_go_park_echo_64"), p50("futex_rtt_ffbref")
    if park and fx:
        out.append(("parked (woken) 64 B echo", f"{ns(park)} ({park / fx:.2f}x)", f"raw futex round trip {ns(fx)}"))
    cyc = next((r for r in recs.values() if r.get("group") == "crux" and "cycle" in r.get("what", "")), None)
    if cyc:
        out.append(("Crux-shaped app: event -> effects resolved by Go -> view", f"{ns(cyc['p50_ns'])} p50",
                    f"p99 {ns(cyc['p99_ns'])}"))
    return out


def table(meta, recs):
    lines = [f"From `make bench` (run {meta.get('date_utc', '?')}, commit {meta.get('git_commit', '?')}; "
             "report: [bench/results/latest.md](bench/results/latest.md)), on the 2-vCPU development VM, "
             "server CPU 0, client CPU 1, p50s of one run; a ratio in brackets is a median [min-max] over "
             "rounds of interleaved slices. Written by `bench/headline.py`.", "",
             "| what | ffi-bridge | reference in the same run |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows(recs)]
    return lines


def main():
    jsonl, readme = sys.argv[1], sys.argv[2]
    meta, _, _, _, recs, _ = report.load(jsonl)
    text = open(readme, encoding="utf-8").read()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"headline.py: {readme} has no {BEGIN} ... {END}")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    body = "\n".join(table(meta, recs))
    with open(readme, "w", encoding="utf-8") as f:
        f.write(f"{head}{BEGIN}\n{body}\n{END}{tail}")
    print(f"headline.py: wrote the headline table of {readme}")


if __name__ == "__main__":
    main()
