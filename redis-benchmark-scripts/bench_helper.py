#!/usr/bin/env python3
"""Helper for compare.sh (standard library only).

Subcommands:
  freeport [N]                    print N free TCP ports on 127.0.0.1
  wait-ready PORT PID [TIMEOUT]   wait until the server answers PING with +PONG
  cmd PORT ARG...                 send one RESP command, print the reply
  parse-rps FILE [TEST]           print requests/s from redis-benchmark -q --csv output
  parse-perf FILE                 print raw_syscalls:sys_enter count from perf stat -x, output
  report OUTDIR                   print the Markdown report for OUTDIR/results.csv, memory.csv
"""
import csv
import math
import os
import re
import socket
import statistics
import sys
import time


def die(msg):
    print(f"bench_helper: {msg}", file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------- ports / RESP

def freeport(n=1):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    print(" ".join(map(str, ports)))


def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a.encode() if isinstance(a, str) else a
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def read_reply(f):
    line = f.readline()
    if not line:
        raise ConnectionError("connection closed")
    t, rest = line[:1], line[1:].rstrip(b"\r\n")
    if t in (b"+", b"-", b":"):
        return (t + rest).decode(errors="replace")
    if t == b"$":
        n = int(rest)
        if n < 0:
            return "(nil)"
        data = f.read(n + 2)
        return data[:-2].decode(errors="replace")
    if t == b"*":
        n = int(rest)
        if n < 0:
            return "(nil)"
        return "\n".join(read_reply(f) for _ in range(n))
    raise ValueError(f"unexpected reply {line!r}")


def command(port, args, timeout=5.0):
    with socket.create_connection(("127.0.0.1", int(port)), timeout=timeout) as s:
        s.sendall(encode(args))
        with s.makefile("rb") as f:
            return read_reply(f)


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except OSError:
        return False


def wait_ready(port, pid, timeout=15.0):
    deadline = time.monotonic() + float(timeout)
    last = None
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            die(f"server pid {pid} exited before answering on port {port}")
        try:
            r = command(port, ["PING"], timeout=1.0)
            if r == "+PONG":
                return
            last = r
        except (OSError, ValueError) as e:
            last = e
        time.sleep(0.05)
    die(f"server on port {port} not ready after {timeout}s (last: {last})")


# ---------------------------------------------------------------- parsing

def parse_rps(path, test=None):
    """redis-benchmark -q --csv.  Redis 7: header "test","rps","avg_latency_ms",...
    Older versions: no header, "TEST","rps".  Progress lines (with \\r) are ignored."""
    with open(path, errors="replace") as f:
        text = f.read()
    lines = []
    for raw in text.splitlines():
        # keep only the part after the last carriage return (progress output)
        raw = raw.split("\r")[-1].strip()
        if raw.startswith('"'):
            lines.append(raw)
    rps_idx, rows = 1, []
    for row in csv.reader(lines):
        if not row:
            continue
        if row[0].strip().lower() == "test":
            low = [c.strip().lower() for c in row]
            if "rps" in low:
                rps_idx = low.index("rps")
            continue
        rows.append(row)
    if not rows:
        die(f"no CSV result rows in {path}")
    if test:
        want = test.lower()
        match = [r for r in rows if r[0].lower().split(" ")[0] == want]
        rows = match or rows
    try:
        return float(rows[0][rps_idx])
    except (IndexError, ValueError):
        # fall back to the first float-looking field
        for c in rows[0][1:]:
            try:
                return float(c)
            except ValueError:
                pass
    die(f"cannot parse rps from {path}")


def parse_perf(path):
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("#") or "sys_enter" not in line:
                continue
            val = line.split(",")[0].strip()
            try:
                return int(float(val))
            except ValueError:
                return None  # <not counted> / <not supported>
    return None


# ---------------------------------------------------------------- report

TEST_ORDER = ["ping", "set", "get", "incr", "mset", "lpush", "rpush", "lpop", "rpop",
              "sadd", "hset", "spop", "zadd", "zpopmin", "lrange_100", "lrange_300",
              "lrange_600"]


def fnum(x, nd=2):
    if x is None:
        return "-"
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return "-"
    return f"{x:,.{nd}f}"


def fratio(x):
    return "-" if x is None else f"{x:.2f}x"


def geomean(vals):
    vals = [v for v in vals if v is not None and v > 0]
    if not vals:
        return None
    return math.exp(sum(math.log(v) for v in vals) / len(vals))


def median_or_none(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def load_rows(path):
    """Rows of a results CSV, in file order, with numeric fields parsed (None if empty)."""

    def num(v):
        try:
            return float(v) if v not in (None, "", "NA") else None
        except ValueError:
            return None

    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            rps, cpu = num(r.get("rps")), num(r.get("cpu_us_per_req"))
            rows.append({
                "server": r["server"], "threads": int(r["threads"]), "test": r["test"],
                "pipeline": int(r["pipeline"]), "requests": int(r["requests"]),
                "rps": rps, "cpu": cpu,
                "sys": num(r.get("syscalls_per_req")),
                # Share of one CPU the server used over the run (CPU per
                # request times requests per second): near 100% the server
                # is the bottleneck, well below it redis-benchmark is. The
                # two regimes cost the server differently (an idle client
                # costs a dearer wake-up per reply), so a ratio between runs
                # in different regimes is not only the servers' own work.
                "busy": None if rps is None or cpu is None else cpu * rps / 1e6,
            })
    return rows


def ratio(a, b):
    if a is None or b is None or b <= 0:
        return None
    return a / b


def sort_tests(tests):
    return sorted(tests, key=lambda t: (TEST_ORDER.index(t) if t in TEST_ORDER else 99, t))


def fbusy(x):
    return "-" if x is None else f"{x * 100:.0f}%"


def pair_table(rows, a, b, title, a_label, b_label, ratio_label):
    """a, b = (server, threads).  The ratio is b/a CPU per request, computed per back-to-back
    pair of runs (the i-th run of a with the i-th run of b) and then the median over pairs;
    rps, CPU and syscall columns are medians over runs."""
    runs = {}
    for r in rows:
        who = (r["server"], r["threads"])
        if who in (a, b):
            runs.setdefault((r["test"], r["pipeline"]), {a: [], b: []})[who].append(r)
    pipelines = sorted({k[1] for k in runs})
    tests = sort_tests({k[0] for k in runs})
    if not any(v[a] and v[b] for v in runs.values()):
        return False
    print(f"### {title}\n")
    print(f"| test | pipeline | {a_label} rps | {b_label} rps | {a_label} CPU µs/req | "
          f"{b_label} CPU µs/req | {ratio_label} | {a_label} syscalls/req | {b_label} syscalls/req | "
          f"{a_label} busy | {b_label} busy |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    geo, nruns = {}, set()
    for p in pipelines:
        for t in tests:
            v = runs.get((t, p))
            if not v or not v[a] or not v[b]:
                continue
            ra, rb = v[a], v[b]
            nruns.add(min(len(ra), len(rb)))
            r = median_or_none([ratio(y["cpu"], x["cpu"]) for x, y in zip(ra, rb)])
            geo.setdefault(p, []).append(r)
            med = lambda lst, k: median_or_none([x[k] for x in lst])
            print(f"| {t} | {p} | {fnum(med(ra, 'rps'), 0)} | {fnum(med(rb, 'rps'), 0)} | "
                  f"{fnum(med(ra, 'cpu'), 3)} | {fnum(med(rb, 'cpu'), 3)} | {fratio(r)} | "
                  f"{fnum(med(ra, 'sys'), 2)} | {fnum(med(rb, 'sys'), 2)} | "
                  f"{fbusy(med(ra, 'busy'))} | {fbusy(med(rb, 'busy'))} |")
    print()
    for p in pipelines:
        if p in geo:
            g = geomean(geo[p])
            n = len([x for x in geo[p] if x])
            print(f"- geometric mean of {ratio_label}, pipeline {p}: **{fratio(g)}** ({n} tests)")
    if nruns and max(nruns) > 1:
        print(f"- {max(nruns)} runs per server and test: columns are medians, the ratio is the "
              f"median of back-to-back paired ratios")
    print()
    return True


def report(outdir):
    rpath = os.path.join(outdir, "results.csv")
    mpath = os.path.join(outdir, "memory.csv")
    printed = False

    def mode_rows(name):
        # compare.csv / threads.csv keep each mode's runs apart; results.csv is the fallback
        for path in (os.path.join(outdir, name), rpath):
            if os.path.exists(path):
                return load_rows(path)
        return []

    printed |= pair_table(mode_rows("compare.csv"), ("redis", 1), ("halocline", 1),
                          "Redis vs halocline (--threads 1), both pinned to one CPU",
                          "redis", "halocline", "CPU ratio halocline/redis")
    printed |= pair_table(mode_rows("threads.csv"), ("halocline", 1), ("halocline", 2),
                          "halocline --threads 2 vs --threads 1, both pinned to the same single CPU",
                          "t1", "t2", "CPU ratio t2/t1")
    if os.path.exists(mpath):
        with open(mpath, newline="") as f:
            rows = list(csv.DictReader(f))
        if rows:
            print("### Memory after `redis-benchmark -t set -r 1000000 -d 16 -P 16 -c 50`\n")
            print("| server | threads | requests | keys (DBSIZE) | VmRSS before (MiB) | VmRSS after (MiB) | growth (MiB) |")
            print("|---|---:|---:|---:|---:|---:|---:|")
            by = {}
            for r in rows:
                before, after = int(r["rss_before_kb"]), int(r["rss_after_kb"])
                by[r["server"]] = (before, after)
                print(f"| {r['server']} | {r['threads']} | {int(r['requests']):,} | {r['dbsize']} | "
                      f"{before / 1024:.1f} | {after / 1024:.1f} | {(after - before) / 1024:.1f} |")
            print()
            if "redis" in by and "halocline" in by:
                (rb, ra), (hb, ha) = by["redis"], by["halocline"]
                print(f"- VmRSS ratio halocline/redis after load: **{fratio(ratio(ha, ra))}**")
                print(f"- RSS growth ratio halocline/redis (after − before): "
                      f"**{fratio(ratio(ha - hb, ra - rb))}**")
            # -r 1000000: distinct keys after n random SETs ~ 1e6 * (1 - exp(-n / 1e6))
            n = int(rows[0]["requests"])
            expect = 1e6 * (1 - math.exp(-n / 1e6))
            print(f"- expected DBSIZE ≈ {expect:,.0f} (random keys, ±0.5%)")
            for r in rows:
                try:
                    d = int(r["dbsize"])
                except ValueError:
                    d = None
                if d is None or abs(d - expect) > 0.01 * expect:
                    print(f"- WARNING: {r['server']} DBSIZE {r['dbsize']} is far from the expected value")
            print()
            printed = True
    if not printed:
        die(f"no results found in {outdir}")


def main(argv):
    if len(argv) < 2:
        die(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "freeport":
        freeport(int(args[0]) if args else 1)
    elif cmd == "wait-ready":
        wait_ready(args[0], args[1], args[2] if len(args) > 2 else 15)
    elif cmd == "cmd":
        print(command(args[0], args[1:]))
    elif cmd == "parse-rps":
        print(f"{parse_rps(args[0], args[1] if len(args) > 1 else None):.2f}")
    elif cmd == "parse-perf":
        v = parse_perf(args[0])
        print("" if v is None else v)
    elif cmd == "report":
        report(args[0])
    else:
        die(f"unknown subcommand {cmd}\n{__doc__}")


if __name__ == "__main__":
    main(sys.argv)
