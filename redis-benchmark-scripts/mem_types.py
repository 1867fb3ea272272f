#!/usr/bin/env python3
"""RSS of 100k hashes / sets / sorted sets of 10 fields each, on a server
(issue 4's memory figure). Standard library only.

usage: mem_types.py PORT PID KIND   (KIND: hash | set | zset)
Prints: kind, keys, RSS before (MiB), RSS after (MiB), growth (MiB).
"""
import socket, sys

def enc(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)

def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0

def main():
    port, pid, kind = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 100_000
    s = socket.create_connection(("127.0.0.1", port))
    before = rss_mib(pid)
    batch, pending = [], 0
    for i in range(n):
        key = f"{kind}:{i:08d}"
        if kind == "hash":
            args = ["HSET", key]
            for f in range(10):
                args += [f"field{f}", f"value{f}"]
        elif kind == "set":
            args = ["SADD", key] + [f"member{f}" for f in range(10)]
        else:
            args = ["ZADD", key]
            for f in range(10):
                args += [str(f), f"member{f}"]
        batch.append(enc(*args))
        pending += 1
        if pending == 500:
            s.sendall(b"".join(batch))
            got = 0
            buf = b""
            while got < pending:
                buf += s.recv(1 << 20)
                got = buf.count(b"\r\n")
            batch, pending = [], 0
    if pending:
        s.sendall(b"".join(batch))
        buf = b""
        while buf.count(b"\r\n") < pending:
            buf += s.recv(1 << 20)
    after = rss_mib(pid)
    print(f"{kind},{n},{before:.1f},{after:.1f},{after - before:.1f}")

if __name__ == "__main__":
    main()
