"""report_work.py — the second round's part of latest.md: Go calling Rust
work functions through ffi-bridge, cgo, purego, wazero and go-plugin.

Reads the `work_*` rows that `ffbwork` prints (bench/go/cmd/ffbwork): one
row per subject per cell, each carrying the per-round figures of its
interleaved slices (`slice_value`, `slice_limit_p50_ns`), the ratio to the
limit probe slice taken right before each of its slices (`limit_ratio`:
median, min, max over rounds) and the ratio to every other subject of the
same round (`vs`). Every ratio in these tables and verdicts is one of
those: no ratio here divides figures from different runs or cells.
Standard library only; plots with gnuplot when it is installed.
"""
import json
import os
import shutil
import subprocess

SIZES = [64, 4096, 65536, 1048576, 16777216]
FFB = "ffi-bridge"
FFB_PARKING = "ffi-bridge, parking client"
PEERS = ["cgo-rust", "purego-rust", "wazero-rust", "go-plugin"]
SIZED = ["echo", "checksum", "transform"]
COLORS = {FFB: "#d62728", FFB_PARKING: "#ff7f0e", "cgo-rust": "#2ca02c", "purego-rust": "#1f77b4", "wazero-rust": "#9467bd",
          "go-plugin": "#8c564b", "limit": "#000000"}


def ns(v):
    if v is None:
        return "—"
    if v >= 1e6:
        return f"{v / 1e6:.2f} ms"
    if v >= 1e3:
        return f"{v / 1e3:.1f} µs"
    return f"{v:.0f} ns"


def size_str(n):
    if n >= 1 << 20:
        return f"{n >> 20} MiB"
    if n >= 1024:
        return f"{n >> 10} KiB"
    return f"{n} B" if n else "—"


def num(v):
    return f"{v:.2f}" if 0.1 <= v < 100 else f"{v:.3g}"


def spread(s, unit="x"):
    """median [min-max] of a ratio spread."""
    if not s or not s.get("n"):
        return "—"
    return f"{num(s['median'])}{unit} [{num(s['min'])}-{num(s['max'])}]"


def cells(recs):
    """{(workload, size or goroutines): {peer: row}} of the checked work rows."""
    out = {}
    for r in recs.values():
        if r.get("group") not in ("work", "limit") or "workload" not in r or not r.get("checked"):
            continue
        key = (r["workload"], r.get("goroutines") or r.get("cell_bytes", r.get("payload_bytes", 0)))
        if r.get("group") == "limit" and r.get("peer") == "limit":
            out.setdefault(key, {})["limit"] = r
        else:
            out.setdefault(key, {})[r["peer"]] = r
    return out


def vs(row, other):
    return (row or {}).get("vs", {}).get(other)


def placement_note(c):
    lim = c.get("limit")
    return lim.get("placement_inferred", "?") if lim else "?"


def latency_table(c, wl, sizes):
    hdr = ["payload", "limit p50", f"{FFB} p50 / p90 / p99", f"{FFB} ÷ limit"]
    for p in PEERS:
        hdr += [f"{p} p50", f"{FFB} ÷ {p}"]
    hdr.append("placement (probe)")
    lines = ["| " + " | ".join(hdr) + " |", "|" + " --- |" * len(hdr)]
    for n in sizes:
        cell = c.get((wl, n))
        if not cell:
            continue
        f = cell.get(FFB)
        row = [size_str(n), ns(cell["limit"]["p50_ns"]) if "limit" in cell else "—"]
        if f:
            row += [f"{ns(f['p50_ns'])} / {ns(f.get('p90_ns'))} / {ns(f['p99_ns'])}", spread(f.get("limit_ratio"))]
        else:
            row += ["—", "—"]
        for p in PEERS:
            pr = cell.get(p)
            row += [ns(pr["p50_ns"]) if pr else "n/a", spread(vs(f, p)) if pr else "—"]
        row.append(placement_note(cell))
        lines.append("| " + " | ".join(row) + " |")
    return lines


def subjects_table(cell, base):
    """One row per subject of a cell (pipelined, breakdown), ratios to base."""
    lines = ["| subject | p50 / p90 / p99 per call | ÷ limit | ÷ " + base + " | calls/s |",
             "| --- | --- | --- | --- | --- |"]
    for name, r in cell.items():
        if name == "limit":
            continue
        lines.append(f"| {name} | {ns(r['p50_ns'])} / {ns(r.get('p90_ns'))} / {ns(r['p99_ns'])} | "
                     f"{spread(r.get('limit_ratio'))} | {spread(vs(r, base)) if name != base else '1'} | "
                     f"{r.get('ops_per_s', 0):,.0f} |")
    return lines


def concurrency_table(c):
    gs = sorted(k[1] for k in c if k[0] == "concurrency")
    hdr = ["goroutines", f"{FFB} calls/s", f"{FFB} ÷ cgo-rust", f"{FFB_PARKING} calls/s", "÷ cgo-rust",
           "cgo-rust calls/s", "purego-rust calls/s", "go-plugin calls/s", f"{FFB} p50 call", "placement (probe)"]
    lines = ["| " + " | ".join(hdr) + " |", "|" + " --- |" * len(hdr)]
    for g in gs:
        cell = c[("concurrency", g)]
        f = cell.get(FFB)

        def cps(p):
            r = cell.get(p)
            return f"{r['calls_per_s_median']:,.0f}" if r and r.get("calls_per_s_median") else "—"
        fp = cell.get(FFB_PARKING)
        lines.append(f"| {g} | {cps(FFB)} | {spread(vs(f, 'cgo-rust'))} | {cps(FFB_PARKING)} | "
                     f"{spread(vs(fp, 'cgo-rust'))} | {cps('cgo-rust')} | {cps('purego-rust')} | "
                     f"{cps('go-plugin')} | {ns(f['p50_ns']) if f else '—'} | {placement_note(cell)} |")
    return lines


def spin_calibration(recs):
    r = recs.get("work_concurrency_spin_calibration")
    return (r.get("spin_iters"), r.get("spin_call_ns")) if r else (None, None)


def verdicts(recs):
    """(target, figures, verdict, reason) for each second-round target."""
    c = cells(recs)
    out = []

    def row(wl, n, p=FFB):
        return c.get((wl, n), {}).get(p)

    # 1. checksum
    f1 = row("checksum", 1 << 20)
    r = vs(f1, "cgo-rust")
    if r:
        ok = r["median"] <= 1.1
        why = ""
        bd = c.get(("breakdown", 1 << 20), {})
        rc, sm, cg, em = (bd.get(k) for k in ("ffi-bridge readcopy", "ffi-bridge checksum", "cgo-rust checksum",
                                              "ffi-bridge empty call"))
        if not ok:
            why = ("the handler reads the input in place (Request::input, no copy): what remains is the cross-core "
                   "transfer -- the 1 MiB the client wrote on its CPU is pulled line by line into the server's CPU, "
                   "where cgo's function reads it from the caller's own cache")
            if rc and sm and cg:
                why += (f". Breakdown cell (same run, interleaved): the whole checksum {ns(sm['p50_ns'])}, cgo's "
                        f"{ns(cg['p50_ns'])}, an empty call {ns(em['p50_ns']) if em else '—'}; the safe copying path "
                        f"(work.readcopy: copy the input out, compute nothing) alone takes {ns(rc['p50_ns'])}")
        out.append(("checksum 1 MiB <= 1.1x cgo -> Rust", f"{ns(f1['p50_ns'])} vs {ns(row('checksum', 1 << 20, 'cgo-rust')['p50_ns'])}: "
                    f"{spread(r)}", "met" if ok else "MISSED", why))
    lost = []
    for n in SIZES:
        if n < 65536:
            continue
        for p in ("purego-rust", "wazero-rust", "go-plugin"):
            s = vs(row("checksum", n), p)
            if s and s["median"] >= 1:
                lost.append(f"{p} at {size_str(n)} ({spread(s)})")
    if row("checksum", 65536):
        out.append(("checksum ahead of purego, wazero, go-plugin at every size >= 64 KiB",
                    f"{len(lost)} losses", "met" if not lost else "MISSED",
                    ("behind " + ", ".join(lost) + ": purego calls the library in-process on the caller's thread, "
                     "as cgo does, so it pays no copy and no cross-core transfer") if lost else ""))
    # 2. transform
    t1 = row("transform", 1 << 20)
    r = vs(t1, "cgo-rust")
    if r:
        ok = r["median"] < 1
        why = "" if ok else (
            "the handler uppercases the input in place in its block (no copy), but the 1 MiB crosses the CPUs "
            "twice: the server's CPU pulls the lines the client wrote, and the client's CPU pulls them back to "
            "read the answer; cgo's function works in the caller's own cache")
        bd = c.get(("breakdown", 1 << 20), {})
        rc, ft, ct = (bd.get(k) for k in ("ffi-bridge readcopy", "ffi-bridge transform", "cgo-rust transform"))
        if not ok and rc and ft and ct:
            why += (f". Breakdown cell (same run): the whole transform {ns(ft['p50_ns'])} against cgo's "
                    f"{ns(ct['p50_ns'])}; copying the input out alone (work.readcopy) {ns(rc['p50_ns'])}")
        out.append(("transform 1 MiB ahead of cgo -> Rust", f"{ns(t1['p50_ns'])} vs "
                    f"{ns(row('transform', 1 << 20, 'cgo-rust')['p50_ns'])}: {spread(r)}",
                    "met" if ok else "MISSED", why))
    # 3. pipelined
    pc = c.get(("pipelined", 0), {})
    batches = [v for k, v in pc.items() if k.startswith("ffi-bridge CallBatch") and "of C" not in k]
    builtin = next((v for k, v in pc.items() if k.startswith("ffi-bridge CallBatch") and "of C" in k), None)
    if batches:
        best = min(batches, key=lambda b: b["p50_ns"])
        rc, rp = vs(best, "cgo-rust"), vs(best, "purego-rust")
        ok = bool(rc and rp and rc["median"] <= 0.5 and rp["median"] <= 0.5)
        why = ""
        if not ok:
            why = (f"the best depth ({best['peer']}) costs {ns(best['p50_ns'])} a call against a cgo call of "
                   f"{ns(pc['cgo-rust']['p50_ns']) if 'cgo-rust' in pc else '—'}")
            if builtin:
                why += (f"; the same batches of the core's C built-in (ffi.echo, no Rust) cost "
                        f"{ns(builtin['p50_ns'])} ({spread(vs(builtin, 'cgo-rust'))} of cgo, "
                        f"{spread(vs(builtin, best['peer']))} of the Rust batch): the server's Rust callback path "
                        f"(trampoline, catch_unwind, Request/Reply) adds ~{ns(best['p50_ns'] - builtin['p50_ns'])} "
                        f"a call; a client CPU profile (bench/README.md, findings) shows the client mostly waiting "
                        f"for the server, so the server's per-call dispatch is what a batch call costs")
        out.append(("pipelined empty calls <= 0.5x a cgo and <= 0.5x a purego call",
                    f"{best['peer']} {ns(best['p50_ns'])}/call: ÷ cgo {spread(rc)}, ÷ purego {spread(rp)}",
                    "met" if ok else "MISSED", why))
    # 4. 64 B echo
    e = row("echo", 64)
    if e and e.get("limit_ratio"):
        lr = e["limit_ratio"]
        ok = lr["median"] <= 2
        em = row("empty", 0)
        why = "" if ok else (f"an empty call (no buffer at all; its own cell of this run) reads "
                             f"{spread(em.get('limit_ratio'))} of its limit" if em else "")
        groups = {}
        for v, lim in zip(e.get("slice_value") or [], e.get("slice_limit_p50_ns") or []):
            if lim:
                groups.setdefault(int(round(lim / 10.0)) * 10, []).append(v / lim)
        if len(groups) > 1:
            parts = []
            for lim, rs in sorted(groups.items()):
                rs.sort()
                parts.append(f"{lim} ns: {num(rs[len(rs) // 2])}x ({len(rs)} of {lr['n']})")
            why += ("; " if why else "") + (
                "the host moved the vCPUs during the cell (the probe read different figures from round to "
                "round); the ratio by the probe slice's reading: " + ", ".join(parts))
        steps = [v for v in e.get("slice_limit_p50_ns") or [] if v]
        if steps and all(abs(v / 10 - round(v / 10)) < 1e-6 for v in steps):
            why += ("; " if why else "") + (
                "resolution: every probe slice p50 here is a multiple of 10 ns (the VM's TSC steps), and the Go "
                "clock steps alike, so a ratio near 2 reads +-0.1x")
        out.append(("64 B echo <= 2x the interleaved cache-line RTT",
                    f"{ns(e['p50_ns'])}; per slice pair {spread(lr)} (p25-p75 {lr['p25']:.2f}-{lr['p75']:.2f}), "
                    f"limit {ns(e.get('limit_p50_ns'))}", "met" if ok else "MISSED", why))
    # 5. concurrency
    g8 = row("concurrency", 8)
    r = vs(g8, "cgo-rust")
    if r:
        g8p = row("concurrency", 8, FFB_PARKING)
        rp = vs(g8p, "cgo-rust")
        best, rb = (g8p, rp) if rp and rp["median"] > r["median"] else (g8, r)
        ok = rb["median"] >= 0.8
        iters, call = spin_calibration(recs)
        cap = 1e9 / call if call else None
        g64, g64p = row("concurrency", 64), row("concurrency", 64, FFB_PARKING)
        why = ""
        if not ok and cap and g64:
            why = (f"calls of ~{ns(call)} on 2 CPUs cap any runner at ~{2 * cap:,.0f} calls/s; the pooled "
                   f"server measured {g8['calls_per_s_median']:,.0f} at 8 goroutines"
                   + (f" (parking client {g8p['calls_per_s_median']:,.0f})" if g8p else "")
                   + f", {g64['calls_per_s_median']:,.0f} at 64: the client's waiting goroutines, the "
                     "dispatcher and the workers share the same 2 CPUs the work needs, while cgo's callers "
                     "do the work themselves")
        out.append(("8 goroutines: >= 0.8x cgo's calls/s", f"{best['peer']}: {best['calls_per_s_median']:,.0f} "
                    f"calls/s: {spread(rb)}", "met" if ok else "MISSED", why))
    out += bothways_verdicts(c, recs)
    return out


def bothways_verdicts(c, recs):
    """Issue 12's workers target and issue 13's calls-both-ways targets."""
    out = []
    w = c.get(("work_workers_g8", 16), {})
    one, two = w.get("ffi-bridge, 1 worker(s)"), w.get("ffi-bridge, 2 worker(s)")
    r = vs(two, "ffi-bridge, 1 worker(s)")
    if one and two and r:
        out.append(("two pool workers >= 1.7x one worker's calls/s (8 goroutines, CPU-bound ~200 µs)",
                    f"{two['calls_per_s_median']:,.0f} vs {one['calls_per_s_median']:,.0f} calls/s: {spread(r)}",
                    "met" if r["median"] >= 1.7 else "MISSED",
                    "" if r["median"] >= 1.7 else "the dispatcher and the client's goroutines take CPU from the "
                    "second worker on a 2-CPU machine"))
    pe = c.get(("pool_echo_64", 64), {})
    inl, pool = pe.get("inline_ffi.echo"), pe.get("pooled_demo.echo")
    r = vs(pool, "inline_ffi.echo")
    if inl and pool and r:
        ok = r["median"] <= 1.5
        out.append(("pooled 64 B echo p50 <= 1.5x inline", f"{ns(pool['p50_ns'])} vs {ns(inl['p50_ns'])}: {spread(r)}",
                    "met" if ok else "MISSED",
                    "" if ok else "a pooled call crosses to a worker thread and back (the MPSC hand-off, the "
                    "worker's wake-up or its spin, the answer's return to the dispatcher that publishes it): on "
                    "2 vCPUs the worker, the dispatcher and the client share the two CPUs"))
    b = c.get(("bothways_call_64", 64), {})
    s2g, g2s = b.get("server_to_go"), b.get("go_to_server")
    r = vs(s2g, "go_to_server")
    if s2g and g2s and r:
        ok = r["median"] <= 1.2
        out.append(("server -> Go 64 B call p50 <= 1.2x the Go -> server one",
                    f"{ns(s2g['p50_ns'])} vs {ns(g2s['p50_ns'])}: {spread(r)}", "met" if ok else "MISSED",
                    "" if ok else "a server call goes through the Go client's handler goroutine hand-off "
                    "(ring reader -> worker goroutine -> answer), where a Go call is answered on the dispatcher "
                    "thread that read it"))
    st = c.get(("bothways_stream_64", 64), {})
    items, pipe = st.get("stream_items"), next((v for k, v in st.items() if k.startswith("pipelined_d")), None)
    r = vs(items, pipe["peer"]) if pipe else None
    if items and pipe and r:
        ok = r["median"] >= 1
        per = 1e9 / items["calls_per_s_median"] if items.get("calls_per_s_median") else None
        out.append(("stream items/s at 64 B >= the pipelined call rate",
                    f"{items['calls_per_s_median']:,.0f} items/s ({ns(per)} an item) vs "
                    f"{pipe['calls_per_s_median']:,.0f} calls/s ({pipe['peer']}): {spread(r)}",
                    "met" if ok else "MISSED",
                    "" if ok else "each item is a ring entry of its own with a credit round trip every window, "
                    "where a pipelined CallBatch packs up to 64 calls in one vector entry"))
    crux = [r for r in recs.values() if r.get("group") == "crux"]
    cyc = next((r for r in crux if "cycle" in r.get("what", "")), None)
    if cyc:
        out.append(("the Crux example's event -> effect -> resolve -> view cycle, p50 (reported)",
                    f"{ns(cyc['p50_ns'])} (p99 {ns(cyc['p99_ns'])}, {cyc['iterations']} cycles)", "reported", ""))
    return out


def bothways_section(c, recs):
    md = []
    for key, title, base, note in [
            (("bothways_call_64", 64), "Calls both ways: server -> Go vs Go -> server, 64 B", "go_to_server",
             "`go_to_server`: the Go client calls ffi.echo. `server_to_go`: the server's demo.pingback calls "
             "the Go client's handler bench.back back-to-back and times each round trip on the server; the "
             "figure is the server's own per-call time."),
            (("pool_echo_64", 64), "Pooled vs inline 64 B echo", "inline_ffi.echo",
             "`inline_ffi.echo`: the built-in, answered on the dispatcher. `pooled_demo.echo`: the same echo "
             "from a pool worker (ffb serve's demo.echo)."),
            (("bothways_stream_64", 64), "Stream items vs pipelined calls, 64 B", None,
             "`stream_items`: demo.count streams 64 B items into Go's `Stream` (credit window 256). "
             "`pipelined_dN`: CallBatch of N ffi.echo calls. Figure: items (calls) per second of each slice."),
            (("work_workers_g8", 16), "Pool workers: 8 goroutines calling a CPU-bound ~200 µs callback", None,
             "The same work server started with 1 and with 2 pool workers; clients park at once. "
             "Figure: calls per second of each slice.")]:
        cell = c.get(key)
        if not cell:
            continue
        base = base or next(k for k in cell if k != "limit")
        md += [f"### {title}", "", note, ""] + subjects_table(cell, base) + [""]
    crux = sorted((r for r in recs.values() if r.get("group") == "crux"), key=lambda r: r["name"])
    if crux:
        md += ["### The Crux-shaped example (rust/examples/crux_core.rs, go/examples/crux)", "",
               crux[0].get("placement", ""), "", "| what | n | p50 | p99 |", "| --- | --- | --- | --- |"]
        md += [f"| {r['what']} | {r['iterations']} | {ns(r['p50_ns'])} | {ns(r['p99_ns'])} |" for r in crux]
        md += [""]
    return md


def plots(c, outdir):
    if not shutil.which("gnuplot"):
        return ["(plots skipped: gnuplot is not installed)"]
    tmp = os.path.join(outdir, "tmp-work")
    os.makedirs(tmp, exist_ok=True)
    script, md = [], []
    for wl in SIZED:
        cmds = []
        for p in [FFB] + PEERS + ["limit"]:
            pts = [(n, c[(wl, n)][p]["p50_ns"]) for n in SIZES if p in c.get((wl, n), {})]
            if not pts:
                continue
            fn = os.path.join(tmp, f"{wl}-{p}.dat")
            with open(fn, "w") as f:
                f.writelines(f"{n} {v}\n" for n, v in pts)
            dt = 2 if p == "limit" else 1
            cmds.append(f"'{fn}' using 1:2 with linespoints lw 2 dt {dt} lc rgb '{COLORS[p]}' "
                        f"title '{p if p != 'limit' else 'cache-line RTT (interleaved)'}'")
        if not cmds:
            continue
        png = os.path.join(outdir, f"work-{wl}-latency.png")
        script.append(f"""set terminal pngcairo size 1100,650 noenhanced
set output '{png}'
set title 'Go -> Rust {wl}: p50 per call vs payload (one run, interleaved slices)'
set logscale xy
set xlabel 'payload bytes'
set ylabel 'p50 per call (ns)'
set grid
set key outside right
set xtics ('64 B' 64, '4 KiB' 4096, '64 KiB' 65536, '1 MiB' 1048576, '16 MiB' 16777216)
plot {', '.join(cmds)}
""")
        md += [f"![{wl} latency vs size]({os.path.basename(png)})", ""]
    gs = sorted(k[1] for k in c if k[0] == "concurrency")
    cmds = []
    for p in [FFB, FFB_PARKING] + PEERS:
        pts = [(g, c[("concurrency", g)][p].get("calls_per_s_median")) for g in gs if p in c[("concurrency", g)]]
        if not pts:
            continue
        fn = os.path.join(tmp, f"conc-{p}.dat")
        with open(fn, "w") as f:
            f.writelines(f"{g} {v}\n" for g, v in pts)
        cmds.append(f"'{fn}' using 1:2 with linespoints lw 2 lc rgb '{COLORS[p]}' title '{p}'")
    if cmds:
        png = os.path.join(outdir, "work-concurrency.png")
        script.append(f"""set terminal pngcairo size 1000,600 noenhanced
set output '{png}'
set title 'Goroutines calling a ~50 us Rust function: calls/s (median slice, unpinned)'
unset logscale
set logscale x 2
set xlabel 'goroutines'
set ylabel 'calls/s'
set xrange [0.8:90]
set xtics (1, 2, 8, 64)
set yrange [0:*]
set grid
set key outside right
plot {', '.join(cmds)}
""")
        md += [f"![calls/s vs goroutines]({os.path.basename(png)})", ""]
    r = subprocess.run(["gnuplot"], input="\n".join(script), text=True, capture_output=True)
    shutil.rmtree(tmp, ignore_errors=True)
    if r.returncode != 0:
        return [f"(gnuplot failed: {r.stderr.strip()[:300]})"]
    return md


def hyperfine_table(path, meta):
    if not os.path.exists(path):
        return ["(no hyperfine results for the second round)"]
    d = json.load(open(path))
    lines = [f"Each command is one process: `ffbwork loop` opening the peer (ffi-bridge: start the Rust server "
             f"and dial; go-plugin: launch and handshake the plugin; wazero: compile the module; cgo/purego: "
             f"load the library), then `start+1` one empty call, `start+N` {meta.get('count', '?')} checked "
             f"{size_str(meta.get('size', 65536))} checksums. {meta.get('runs', '?')} runs after 1 warm-up.", "",
             "| command | mean | stddev | min | max |", "| --- | --- | --- | --- | --- |"]
    for r in d.get("results", []):
        bad = [x for x in r.get("exit_codes", []) if x != 0]
        mean = f"**FAILED** {bad}" if bad else f"{r['mean'] * 1e3:.1f} ms"
        lines.append(f"| {r['command']} | {mean} | {(r['stddev'] or 0) * 1e3:.1f} ms | {r['min'] * 1e3:.1f} ms "
                     f"| {r['max'] * 1e3:.1f} ms |")
    return lines


def section(recs, outdir, hf_meta):
    c = cells(recs)
    if not c:
        return []
    md = ["## Second round: Go calling Rust functions (issue 16)", "",
          "Each cell (a workload at a size) is measured in rounds of alternating slices on the same two CPUs: "
          "a cache-line probe slice (`cacheline_rtt slices`), one subject's slice, the probe, the next subject... "
          "Every ratio below is a median over rounds of a per-round ratio [min-max]: `÷ limit` divides a "
          "subject's slice p50 by the probe slice right before it; `ffi-bridge ÷ peer` divides the two slice "
          "p50s of the same round. p50/p90/p99 are over every call of every slice of the cell. Placement per "
          "row: ffi-bridge = Rust server CPU0, Go client CPU1; cgo/purego/wazero in the client process on CPU1; "
          "go-plugin's plugin process CPU0. 'placement (probe)' is what the probe slices inferred "
          "(SMT siblings or separate cores; the rule is in the JSON rows).", ""]
    names = {"empty": "Empty call (no payload)", "echo": "Echo", "checksum": "Checksum (N bytes in, 8 out)",
             "transform": "Transform (N bytes in, N out: ASCII uppercase)", "json": "JSON (a small struct in, a struct out)"}
    for wl in ["empty", "echo", "checksum", "transform", "json"]:
        sizes = SIZES if wl in SIZED else [0]
        if not any((wl, n) in c for n in sizes):
            continue
        md += [f"### {names[wl]}", ""] + latency_table(c, wl, sizes) + [""]
    if ("pipelined", 0) in c:
        md += ["### Pipelined empty calls (CallBatch) vs one cgo / purego empty call", "",
               "Per-call figures: a CallBatch round's time over its depth; cgo and purego timed over groups of "
               "1000 back-to-back calls.", ""] + subjects_table(c[("pipelined", 0)], "cgo-rust") + [""]
    if ("breakdown", 1 << 20) in c:
        md += ["### Where a 1 MiB checksum's and transform's time goes (ffi-bridge)", "",
               "`ffi-bridge readcopy`: the server copies the input out of shared memory in 64 KiB chunks (the "
               "safe copying path) and computes nothing; the checksum and transform handlers read in place.", ""] + \
              subjects_table(c[("breakdown", 1 << 20)], "ffi-bridge checksum") + [""]
    if any(k[0] == "concurrency" for k in c):
        it, call = spin_calibration(recs)
        md += ["### Concurrency: goroutines calling spin_work (~50 µs, CPU-bound)", "",
               f"spin_work calibrated to {it} iterations (a cgo call: {ns(call)}). Every process unpinned on the "
               "2 CPUs, GOMAXPROCS 2; cgo runs each call on its goroutine's thread; the ffi-bridge client spins 200 µs "
               "before it parks (its default 50 µs is shorter than one call: a lone caller would then park and "
               "be woken on every call). Figure: calls/s of each slice, median over rounds.", ""] + \
              concurrency_table(c) + [""]
    md += bothways_section(c, recs)
    md += ["### Plots", ""] + plots(c, outdir)
    md += ["### Whole process with start-up (hyperfine)", ""] + \
        hyperfine_table(os.path.join(outdir, "latest-hyperfine-work.json"), hf_meta) + [""]
    return md
