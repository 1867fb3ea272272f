#!/usr/bin/env python3
"""Helper for matrix.sh (standard library only; reuses bench_helper.py).

Subcommands:
  tests                              print every test name matrix.sh knows
  probe PORT TEST,...                try each test's command once; print "TEST ok|unsupported|wrong REPLY"
  prefill-list PORT                  make sure 'mylist' holds at least 100 elements (for LRANGE_100)
  record RESULTS.csv key=value...    parse one redis-benchmark run and append its row
  report OUTDIR                      print the Markdown report for OUTDIR/results.csv
  charts OUTDIR                      write throughput and p99 charts to OUTDIR/charts/
                                     (PNG with gnuplot, else hand-written SVG)
"""
import csv
import math
import os
import shutil
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_helper import command, fnum, geomean, parse_perf  # noqa: E402

SERVERS = ["uring", "epoll", "redis"]

# test -> (redis-benchmark arguments, probe command, expected probe reply)
# LRANGE_100 runs as a custom command so that the LPUSH prefill that
# `-t lrange_100` does is not counted: matrix.sh fills 'mylist' beforehand.
TESTS = {
    "PING_MBULK": (["-t", "ping_mbulk"], ["PING"], "+PONG"),
    "SET": (["-t", "set"], ["SET", "__probe", "xxx"], "+OK"),
    "GET": (["-t", "get"], ["GET", "__probe"], "xxx"),
    "INCR": (["-t", "incr"], ["INCR", "__probe_ctr"], ":1"),
    "LPUSH": (["-t", "lpush"], ["LPUSH", "__probe_list", "xxx"], ":1"),
    "LPOP": (["-t", "lpop"], ["LPOP", "__probe_list"], "xxx"),
    "SADD": (["-t", "sadd"], ["SADD", "__probe_set", "a"], ":1"),
    "HSET": (["-t", "hset"], ["HSET", "__probe_hash", "f", "v"], ":1"),
    "ZADD": (["-t", "zadd"], ["ZADD", "__probe_zset", "1", "m"], ":1"),
    "LRANGE_100": (["LRANGE", "mylist", "0", "99"], ["LRANGE", "__probe_list", "0", "99"], ""),
    "MSET": (["-t", "mset"], ["MSET", "__probe_a", "1", "__probe_b", "2"], "+OK"),
}
PROBE_KEYS = ["__probe", "__probe_ctr", "__probe_list", "__probe_set", "__probe_hash",
              "__probe_zset", "__probe_a", "__probe_b"]

CSV_FIELDS = ["round", "server", "round_threads", "server_threads", "test", "clients",
              "pipeline", "requests", "status", "rps", "avg_ms", "p50_ms", "p99_ms",
              "cpu_us_per_req", "syscalls_per_req", "rss_kb", "note"]


def die(msg):
    print(f"matrix_helper: {msg}", file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------- probing

def probe(port, tests):
    for t in tests:
        _, cmd, want = TESTS[t]
        try:
            got = command(port, cmd)
        except (OSError, ValueError) as e:
            got = f"-<{e}>"
        if got.startswith("-"):
            status = "unsupported"
        elif got != want:
            status = "wrong"
        else:
            status = "ok"
        print(f"{t} {status} {got.splitlines()[0] if got else repr(got)}")
    try:
        command(port, ["DEL"] + PROBE_KEYS)
    except (OSError, ValueError):
        pass


def prefill_list(port):
    r = command(port, ["LLEN", "mylist"])
    have = int(r[1:]) if r.startswith(":") else 0
    if r.startswith("-"):
        print(r)
        return
    if have < 100:
        r = command(port, ["RPUSH", "mylist"] + ["xxx"] * (100 - have))
    print(r)


# ---------------------------------------------------------------- one run

def parse_bench_csv(path):
    """redis-benchmark -q --csv (Redis 7): header "test","rps","avg_latency_ms",
    "min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms",...
    Returns a dict with rps, avg_ms, p50_ms, p99_ms (None when absent)."""
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    lines = [raw.split("\r")[-1].strip() for raw in text.splitlines()]
    lines = [x for x in lines if x.startswith('"')]
    header, rows = None, []
    for row in csv.reader(lines):
        if not row:
            continue
        if row[0].strip().lower() == "test":
            header = [c.strip().lower() for c in row]
            continue
        rows.append(row)
    if not rows:
        return None
    row = rows[-1]

    def col(name, default_idx=None):
        idx = header.index(name) if header and name in header else default_idx
        if idx is None or idx >= len(row):
            return None
        try:
            return float(row[idx])
        except ValueError:
            return None

    return {"rps": col("rps", 1), "avg_ms": col("avg_latency_ms"),
            "p50_ms": col("p50_latency_ms"), "p99_ms": col("p99_latency_ms")}


def server_error(*paths):
    for p in paths:
        try:
            with open(p, errors="replace") as f:
                for line in f:
                    if "Error from server" in line:
                        return line.strip().split("\r")[-1]
        except OSError:
            pass
    return None


def record(results, kv):
    """Append one row. kv: round server round_threads server_threads test clients pipeline
    requests status [rc bench err perf cpu_ns rss_kb note]."""
    row = {k: "" for k in CSV_FIELDS}
    for k in CSV_FIELDS:
        if k in kv:
            row[k] = kv[k]
    n = int(kv["requests"])
    if row["status"] == "run":
        parsed = parse_bench_csv(kv.get("bench", ""))
        err = server_error(kv.get("bench", ""), kv.get("err", ""))
        rc = int(kv.get("rc", "0") or 0)
        if err:
            row["status"] = "unsupported" if "unknown command" in err.lower() else "error"
            row["note"] = err[:200].replace(",", ";")
        elif rc != 0 or not parsed or parsed["rps"] is None:
            row["status"] = "failed"
            row["note"] = f"redis-benchmark exit {rc}"
        else:
            row["status"] = "ok"
            row["rps"] = f"{parsed['rps']:.2f}"
            for k in ("avg_ms", "p50_ms", "p99_ms"):
                row[k] = "" if parsed[k] is None else f"{parsed[k]:.3f}"
            cpu_ns = kv.get("cpu_ns")
            if cpu_ns:
                row["cpu_us_per_req"] = f"{int(cpu_ns) / 1000 / n:.4f}"
            if kv.get("perf"):
                c = parse_perf(kv["perf"]) if os.path.exists(kv["perf"]) else None
                if c is not None:
                    row["syscalls_per_req"] = f"{c / n:.3f}"
    new = not os.path.exists(results) or os.path.getsize(results) == 0
    with open(results, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        if new:
            w.writeheader()
        w.writerow(row)
    summary = (f"{row['server']:<5} t={row['round_threads']} {row['test']:<10} c={row['clients']:<3} "
               f"P={row['pipeline']:<2} n={n:<8} ")
    if row["status"] == "ok":
        summary += (f"rps={float(row['rps']):>11,.0f} p50={row['p50_ms'] or '-'} p99={row['p99_ms'] or '-'} "
                    f"cpu_us/req={row['cpu_us_per_req'] or '-'} sys/req={row['syscalls_per_req'] or '-'} "
                    f"rss={int(row['rss_kb'] or 0) // 1024}MiB")
    else:
        summary += f"{row['status'].upper()} {row['note']}"
    print(summary, file=sys.stderr)


# ---------------------------------------------------------------- report

def num(v):
    try:
        return float(v) if v not in (None, "") else None
    except ValueError:
        return None


def load(outdir):
    path = os.path.join(outdir, "results.csv")
    if not os.path.exists(path):
        die(f"{path} not found")
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def sort_key_test(t):
    names = list(TESTS)
    return names.index(t) if t in names else 99


def cells(rows):
    """{(round_threads, test, clients, pipeline): {server: {"status", metric: median}}}"""
    out = {}
    for r in rows:
        key = (int(r["round_threads"]), r["test"], int(r["clients"]), int(r["pipeline"]))
        c = out.setdefault(key, {}).setdefault(r["server"], {"runs": []})
        c["runs"].append(r)
    for by in out.values():
        for c in by.values():
            ok = [r for r in c["runs"] if r["status"] == "ok"]
            if ok:
                c["status"] = "ok"
            elif any(r["status"] == "unsupported" for r in c["runs"]):
                c["status"] = "unsupported"
            else:
                c["status"] = c["runs"][0]["status"] or "failed"
            for m in ("rps", "p50_ms", "p99_ms", "cpu_us_per_req", "syscalls_per_req", "rss_kb"):
                vals = [num(r[m]) for r in ok if num(r[m]) is not None]
                c[m] = statistics.median(vals) if vals else None
    return out


def na(c):
    if c is None:
        return "-"
    if c["status"] == "unsupported":
        return "n/a (unsupported)"
    if c["status"] != "ok":
        return f"n/a ({c['status']})"
    return None


def ratio_cell(a, b, metric):
    for c in (a, b):
        m = na(c)
        if m:
            return m
    x, y = a.get(metric), b.get(metric)
    if x is None or y is None or y <= 0:
        return "-", None
    return f"{x / y:.2f}x", x / y


def triple(by, metric, fmt):
    parts = []
    for s in SERVERS:
        c = by.get(s)
        m = na(c)
        if m:
            parts.append("n/a" if c else "-")
        elif c.get(metric) is None:
            parts.append("-")
        else:
            parts.append(fmt(c[metric]))
    return " / ".join(parts)


PAIRS = [("uring", "redis"), ("epoll", "redis"), ("uring", "epoll")]


def report(outdir):
    data = cells(load(outdir))
    if not data:
        die("no rows in results.csv")
    threads = sorted({k[0] for k in data})
    print("## halocline (io_uring, epoll) vs redis-server: matrix\n")
    print("Servers pinned to one CPU, redis-benchmark on another. Ratios: **rps X/Y above 1.00x "
          "means X serves more requests per second; CPU X/Y below 1.00x means X spends less "
          "server CPU time per request.** `n/a (unsupported)`: the server replied an error to the "
          "command, so no figure is reported.\n")
    for t in threads:
        keys = sorted((k for k in data if k[0] == t),
                      key=lambda k: (k[3], k[2], sort_key_test(k[1])))
        print(f"### Ratios, halocline --threads {t} (redis-server is single-threaded)\n")
        head = ["test", "clients", "pipeline"]
        head += [f"rps {a}/{b}" for a, b in PAIRS] + [f"CPU/req {a}/{b}" for a, b in PAIRS]
        print("| " + " | ".join(head) + " |")
        print("|---|---:|---:|" + "---:|" * (2 * len(PAIRS)))
        geo = {}
        for k in keys:
            by = data[k]
            cols = []
            for metric, tag in (("rps", "rps"), ("cpu_us_per_req", "cpu")):
                for a, b in PAIRS:
                    r = ratio_cell(by.get(a), by.get(b), metric)
                    if isinstance(r, tuple):
                        cols.append(r[0])
                        if r[1] is not None:
                            geo.setdefault((k[3], tag, a, b), []).append(r[1])
                    else:
                        cols.append(r)
            print(f"| {k[1]} | {k[2]} | {k[3]} | " + " | ".join(cols) + " |")
        print()
        for p in sorted({k[3] for k in keys}):
            parts = []
            for tag, label in (("rps", "rps"), ("cpu", "CPU/req")):
                for a, b in PAIRS:
                    vals = geo.get((p, tag, a, b), [])
                    g = geomean(vals)
                    parts.append(f"{label} {a}/{b} **{g:.2f}x** ({len(vals)})" if g else
                                 f"{label} {a}/{b} -")
            print(f"- geometric means, pipeline {p} (number of cells): " + "; ".join(parts))
        print()

        print(f"### Figures, halocline --threads {t}: uring / epoll / redis\n")
        print("| test | clients | pipeline | requests/s | p50 ms | p99 ms | CPU µs/req | "
              "syscalls/req | RSS MiB |")
        print("|---|---:|---:|---|---|---|---|---|---|")
        for k in keys:
            by = data[k]
            print(f"| {k[1]} | {k[2]} | {k[3]} | "
                  f"{triple(by, 'rps', lambda v: f'{v / 1000:,.1f}k')} | "
                  f"{triple(by, 'p50_ms', lambda v: f'{v:.3f}')} | "
                  f"{triple(by, 'p99_ms', lambda v: f'{v:.3f}')} | "
                  f"{triple(by, 'cpu_us_per_req', lambda v: f'{v:.2f}')} | "
                  f"{triple(by, 'syscalls_per_req', lambda v: f'{v:.2f}')} | "
                  f"{triple(by, 'rss_kb', lambda v: f'{v / 1024:.0f}')} |")
        print()
    nruns = max(len(c["runs"]) for by in data.values() for c in by.values())
    if nruns > 1:
        print(f"- {nruns} runs per server and cell: figures are medians over runs; redis rows of a "
              "round are the redis runs made between that round's halocline runs\n")
    unsupported = sorted({(s, k[1]) for k, by in data.items() for s, c in by.items()
                          if c["status"] == "unsupported"}, key=lambda x: (x[0], sort_key_test(x[1])))
    if unsupported:
        per = {}
        for s, test in unsupported:
            per.setdefault(s, []).append(test)
        print("- unsupported (error reply, not benchmarked): " +
              "; ".join(f"{s}: {', '.join(v)}" for s, v in per.items()))
    failed = [(k, s, c["status"]) for k, by in data.items() for s, c in by.items()
              if c["status"] not in ("ok", "unsupported")]
    for k, s, st in failed:
        print(f"- WARNING: {s} t={k[0]} {k[1]} c={k[2]} P={k[3]}: {st}")
    print()


# ---------------------------------------------------------------- charts

METRICS = [("rps", "throughput (k requests/s)", lambda v: v / 1000),
           ("p99_ms", "p99 latency (ms)", lambda v: v)]
COLORS = {"uring": "#1f77b4", "epoll": "#2ca02c", "redis": "#d62728"}


def chart_sets(data):
    """(metric, threads, pipeline) -> {test: {clients: {server: value or None}}} and
    the set of (test, server) that are unsupported in it."""
    sets = {}
    for (t, test, c, p), by in data.items():
        for metric, _, conv in METRICS:
            s = sets.setdefault((metric, t, p), ({}, set()))
            vals = s[0].setdefault(test, {}).setdefault(c, {})
            for srv in SERVERS:
                cell = by.get(srv)
                v = cell.get(metric) if cell and cell["status"] == "ok" else None
                vals[srv] = None if v is None else conv(v)
                if cell and cell["status"] == "unsupported":
                    s[1].add((test, srv))
    return sets


def chart_title(test, unsup):
    bad = [s for s in SERVERS if (test, s) in unsup]
    return test + (f" ({'/'.join(bad)}: n/a, unsupported)" if bad else "")


def gnuplot_charts(sets, outdir):
    cdir = os.path.join(outdir, "charts")
    ddir = os.path.join(cdir, "data")
    os.makedirs(ddir, exist_ok=True)
    written = []
    for (metric, t, p), (tests, unsup) in sorted(sets.items()):
        label = dict((m, l) for m, l, _ in METRICS)[metric]
        names = sorted(tests, key=sort_key_test)
        ncol = min(4, len(names))
        nrow = math.ceil(len(names) / ncol)
        png = os.path.join(cdir, f"{'throughput' if metric == 'rps' else 'p99'}_t{t}_P{p}.png")
        gp = [f"set terminal pngcairo size {ncol * 420},{nrow * 320 + 40} font 'sans,9'",
              f"set output '{png}'",
              "set datafile missing '?'",
              "set style data histograms",
              "set style histogram clustered gap 1",
              "set style fill solid 0.85 border -1",
              "set boxwidth 0.9",
              "set grid ytics",
              "set yrange [0:*]",
              "set key top left",
              "set termoption noenhanced",
              "set xlabel 'clients'",
              f"set ylabel '{label}'",
              f"set multiplot layout {nrow},{ncol} title "
              f"'{label}, pipeline {p}, halocline --threads {t} (redis single-threaded)'"]
        for test in names:
            f = os.path.join(ddir, f"{metric}_t{t}_P{p}_{test}.dat")
            with open(f, "w") as fh:
                fh.write("# clients " + " ".join(SERVERS) + "\n")
                for c in sorted(tests[test]):
                    vals = tests[test][c]
                    fh.write(f"{c} " + " ".join("?" if vals[s] is None else f"{vals[s]:.4f}"
                                                for s in SERVERS) + "\n")
            gp.append(f"set title '{chart_title(test, unsup)}'")
            plots = [f"'{f}' using {i + 2}{':xtic(1)' if i == 0 else ''} title '{s}' lc rgb '{COLORS[s]}'"
                     for i, s in enumerate(SERVERS)]
            gp.append("plot " + ", ".join(plots))
        gp.append("unset multiplot")
        script = os.path.join(ddir, os.path.basename(png)[:-4] + ".gp")
        with open(script, "w") as fh:
            fh.write("\n".join(gp) + "\n")
        r = subprocess.run(["gnuplot", script], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"matrix_helper: gnuplot failed for {script}: {r.stderr.strip()}", file=sys.stderr)
            continue
        written.append(png)
    return written


def svg_charts(sets, outdir):
    """Fallback without gnuplot: the same charts as plain SVG."""
    cdir = os.path.join(outdir, "charts")
    os.makedirs(cdir, exist_ok=True)
    written = []
    W, H, PAD = 400, 300, 55

    def tick(v):
        return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"
    for (metric, t, p), (tests, unsup) in sorted(sets.items()):
        label = dict((m, l) for m, l, _ in METRICS)[metric]
        names = sorted(tests, key=sort_key_test)
        ncol = min(4, len(names))
        nrow = math.ceil(len(names) / ncol)
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{ncol * W}" height="{nrow * H + 30}" '
               f'font-family="sans-serif" font-size="10">',
               f'<rect width="100%" height="100%" fill="white"/>',
               f'<text x="{ncol * W / 2}" y="18" text-anchor="middle" font-size="13">{label}, '
               f'pipeline {p}, halocline --threads {t} (redis single-threaded)</text>']
        for i, test in enumerate(names):
            ox, oy = (i % ncol) * W, 30 + (i // ncol) * H
            clients = sorted(tests[test])
            vals = [v for c in clients for v in tests[test][c].values() if v is not None]
            top = max(vals) * 1.1 if vals else 1.0
            pw, ph = W - PAD - 10, H - PAD - 30
            x0, y0 = ox + PAD, oy + 20 + ph
            out.append(f'<text x="{ox + W / 2}" y="{oy + 12}" text-anchor="middle">'
                       f'{chart_title(test, unsup)}</text>')
            out.append(f'<line x1="{x0}" y1="{y0}" x2="{x0 + pw}" y2="{y0}" stroke="black"/>')
            out.append(f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y0 - ph}" stroke="black"/>')
            for k in range(5):
                yv = top * k / 4
                yy = y0 - ph * k / 4
                out.append(f'<text x="{x0 - 4}" y="{yy + 3:.1f}" text-anchor="end">{tick(yv)}</text>')
                out.append(f'<line x1="{x0}" y1="{yy:.1f}" x2="{x0 + pw}" y2="{yy:.1f}" '
                           f'stroke="#ddd"/>')
            gw = pw / max(1, len(clients))
            bw = gw * 0.8 / len(SERVERS)
            for j, c in enumerate(clients):
                gx = x0 + j * gw + gw * 0.1
                out.append(f'<text x="{x0 + j * gw + gw / 2:.1f}" y="{y0 + 14}" '
                           f'text-anchor="middle">{c} clients</text>')
                for s_i, s in enumerate(SERVERS):
                    v = tests[test][c][s]
                    if v is None:
                        continue
                    h = ph * v / top
                    out.append(f'<rect x="{gx + s_i * bw:.1f}" y="{y0 - h:.1f}" width="{bw:.1f}" '
                               f'height="{h:.1f}" fill="{COLORS[s]}"><title>{s}: {v:,.3f}</title></rect>')
            for s_i, s in enumerate(SERVERS):
                lx = x0 + 8 + s_i * 60
                out.append(f'<rect x="{lx}" y="{oy + 22}" width="9" height="9" fill="{COLORS[s]}"/>')
                out.append(f'<text x="{lx + 12}" y="{oy + 30}">{s}</text>')
        out.append("</svg>")
        path = os.path.join(cdir, f"{'throughput' if metric == 'rps' else 'p99'}_t{t}_P{p}.svg")
        with open(path, "w") as fh:
            fh.write("\n".join(out) + "\n")
        written.append(path)
    return written


def charts(outdir):
    data = cells(load(outdir))
    sets = chart_sets(data)
    if shutil.which("gnuplot"):
        written = gnuplot_charts(sets, outdir)
    else:
        print("matrix_helper: gnuplot not found (apt-get install gnuplot-nox): writing SVG charts",
              file=sys.stderr)
        written = svg_charts(sets, outdir)
    for w in written:
        print(w)


def main(argv):
    if len(argv) < 2:
        die(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "tests":
        print(" ".join(TESTS))
    elif cmd == "bench-args":
        print("\n".join(TESTS[args[0]][0]))
    elif cmd == "probe":
        probe(args[0], [t for t in args[1].split(",") if t])
    elif cmd == "prefill-list":
        prefill_list(args[0])
    elif cmd == "record":
        record(args[0], dict(a.split("=", 1) for a in args[1:]))
    elif cmd == "report":
        report(args[0])
    elif cmd == "charts":
        charts(args[0])
    else:
        die(f"unknown subcommand {cmd}\n{__doc__}")


if __name__ == "__main__":
    main(sys.argv)
