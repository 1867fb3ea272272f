#!/usr/bin/env python3
"""MULTI; SET; INCR; EXEC transactions against a server, for comparing server
CPU per transaction between hash-tagged keys (one shard) and spread keys
(two shards). Standard library only.

usage: tx_bench.py PORT PID MODE [--conns 20] [--txs 20000] [--pipeline 16]
MODE: tagged | spread. Prints: mode, transactions, seconds, tx/s, server CPU
µs per transaction (utime+stime of PID from /proc over the run).
"""
import os, socket, sys, threading, time

def enc(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)

def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return int(parts[11]) + int(parts[12])  # utime + stime (fields 14, 15)

def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc

def shard(key, nshards):
    # halocline's mapping: CRC16 slot, contiguous slot ranges per shard.
    return (crc16(key.encode()) % 16384) * nshards // 16384

def worker(port, mode, n, pipeline, idx, errors):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if mode == "tagged":
        a, b = f"{{t{idx}}}a", f"{{t{idx}}}b"
    else:
        # Two keys on different shards (of 2).
        a = f"sa{idx}"
        j = 0
        while shard(f"sb{idx}-{j}", 2) == shard(a, 2):
            j += 1
        b = f"sb{idx}-{j}"
    tx = enc("MULTI") + enc("SET", a, "v") + enc("INCR", b) + enc("EXEC")
    done = 0
    while done < n:
        k = min(pipeline, n - done)
        s.sendall(tx * k)
        need = 6 * k
        buf = b""
        while buf.count(b"\r\n") < need:
            chunk = s.recv(65536)
            if not chunk:
                errors.append("closed")
                return
            buf += chunk
        if b"-" in buf.split(b"\r\n")[0][:1] or b"\r\n-" in buf:
            errors.append(buf[:200])
            return
        done += k
    s.close()

def main():
    port, pid, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    opts = dict(zip(sys.argv[4::2], sys.argv[5::2]))
    conns = int(opts.get("--conns", 20))
    txs = int(opts.get("--txs", 20000))
    pipeline = int(opts.get("--pipeline", 16))
    per = txs // conns
    errors = []
    c0, t0 = cpu_ticks(pid), time.time()
    ts = [threading.Thread(target=worker, args=(port, mode, per, pipeline, i, errors)) for i in range(conns)]
    for t in ts: t.start()
    for t in ts: t.join()
    c1, t1 = cpu_ticks(pid), time.time()
    total = per * conns
    hz = os.sysconf("SC_CLK_TCK")
    cpu_us = (c1 - c0) / hz * 1e6 / total
    if errors:
        print("errors:", errors[:3], file=sys.stderr)
        sys.exit(1)
    print(f"{mode},{total},{t1 - t0:.2f},{total / (t1 - t0):.0f},{cpu_us:.2f}")

if __name__ == "__main__":
    main()
