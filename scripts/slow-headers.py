#!/usr/bin/env python3
"""Slow-header load against an HTTP server, reporting the server's memory.

Opens N connections, each sending a partial request head of SIZE KiB (never finished), then
reports the server's RSS (VmRSS/VmHWM of PID), whether a /kbs/v0/auth request is answered
while the connections are held, and how many of them the server has closed after WAIT s.

usage: slow-headers.py HOST:PORT PID N SIZE_KIB [WAIT_S]
"""
import select, socket, sys, time

def rss(pid):
    d = {}
    for line in open(f"/proc/{pid}/status"):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            d[k] = int(v.split()[0]) // 1024
    return d

def auth(addr):
    body = b'{"version":"0.4.0","tee":"sample","extra-params":{}}'
    req = (b"POST /kbs/v0/auth HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    t = time.time()
    try:
        s = socket.create_connection(addr, timeout=30)
        s.sendall(req)
        data = s.recv(64)
        return data[:12].decode(errors="replace"), time.time() - t
    except OSError as e:
        return f"error {e}", time.time() - t

def main():
    host, port = sys.argv[1].rsplit(":", 1)
    addr = (host, int(port))
    pid, n, size = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]) * 1024
    wait = float(sys.argv[5]) if len(sys.argv) > 5 else 0
    payload = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * size
    print("before:", rss(pid))
    socks, sent = [], []
    for _ in range(n):
        s = socket.create_connection(addr)
        s.setblocking(False)
        socks.append(s)
        sent.append(0)
    index = {s.fileno(): i for i, s in enumerate(socks)}
    deadline = time.time() + 60
    pending = set(range(n))
    poller = select.poll()
    for s in socks:
        poller.register(s, select.POLLOUT)
    while pending and time.time() < deadline:
        for fd, _ in poller.poll(1000):
            i = index[fd]
            s = socks[i]
            if i not in pending:
                poller.unregister(fd)
                continue
            try:
                k = s.send(payload[sent[i]:sent[i] + 65536])
                sent[i] += k
                if sent[i] >= len(payload):
                    pending.discard(i)
            except BlockingIOError:
                pass
            except OSError:
                pending.discard(i)
    total = sum(sent)
    print(f"opened {n} connections, sent {total / 2**20:.1f} MiB of header bytes "
          f"({len(pending)} still sending)")
    time.sleep(1)
    print("held:", rss(pid))
    print("/auth while held:", auth(addr))
    if wait:
        time.sleep(wait)
        closed = 0
        for s in socks:
            try:
                if s.recv(1, socket.MSG_PEEK) == b"":
                    closed += 1
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
        print(f"after {wait}s: {closed}/{n} closed by the server;", rss(pid))
    for s in socks:
        s.close()

main()
