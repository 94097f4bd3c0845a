#!/usr/bin/env python3
"""What a program sees on a TCP connection, for semantics_test.go.

  semantics.py server            asyncio server (non-blocking listener and
                                 connections), as event-loop servers are
  semantics.py threaded-server   socketserver.ThreadingTCPServer echo (blocking)
  semantics.py client ADDR ROW STYLE [TRIES]

Servers print {"addr": "127.0.0.1:PORT"}. Per connection the client sends one
command line: "trickle N CHUNK SEED" (N deterministic bytes, CHUNK at a time
with ~2 ms gaps, then EOF; the server then reads to the client's EOF),
"bulk N SEED" (the same bytes as fast as the connection takes them) or
"echo" (echo to EOF). The client prints one JSON line with, per try, what it
observed: first recv size, total, sha256, error class ("" if none), and what
plain TCP must give (want, want_sha). A try that stalls ends the run with
error "timeout" (watchdog), never a stuck test.

ROW: waitall, rcvlowat, signal, splice, threads, and bulk-tiny, bulk-small
and bulk-large: a bulk transfer read to EOF by a client whose SO_RCVBUF is
64 KiB, 256 KiB or 8 MiB (set before connect, so the window starts from it).
STYLE: blocking (no timeout), nonblocking (setblocking(False) before connect,
waits with selectors), turned-blocking (create_connection(timeout=5), which
is O_NONBLOCK at the OS level, then settimeout(None) before any byte moves).
"""
import asyncio
import hashlib
import json
import os
import random
import selectors
import signal
import socket
import socketserver
import sys
import threading
import time

N = 20000            # trickle rows: bytes per try
CHUNK = 1000         # ... written this many at a time
LOWAT = 5000         # rcvlowat row's SO_RCVLOWAT
BLOCK = 64 << 10     # threads row: bytes per send/recv
BLOCKS = 200         # ... sends each way per try
# ... and the client's SO_SNDBUF: small, so that the writer waits for room
# every few KiB and its write-space wakeups come while the reader waits
# (20 of 20 tries on this VM; with the default buffer 0-3 of 20 even with
# 2000 blocks, too few for a test that must fail).
SNDBUF = 16 << 10
TRY_TIMEOUT = 5.0    # seconds a try may take before it counts as hung
BULK = 4 << 20       # bulk rows: bytes per try
# ... and the client's SO_RCVBUF in each (the kernel doubles it, and caps
# the request at net.core.rmem_max). The small one is one the bypass still
# carries; with the tiny one, 64 KiB, the connection stays off the map
# (bpf/c/small_buffers.h).
RCVBUF = {"bulk-tiny": 64 << 10, "bulk-small": 256 << 10, "bulk-large": 8 << 20}


def payload(n, seed):
    return random.Random(seed).randbytes(n)


# The threads row's stream: block i is a window of PATTERN at an offset that
# differs per block, so a lost, repeated or reordered block changes the sha.
PATTERN = payload(2 * BLOCK, 7)


def block(i):
    o = (i * 4093) % BLOCK
    return memoryview(PATTERN)[o:o + BLOCK]


def print_addr(sockname):
    print(json.dumps({"addr": "%s:%d" % sockname[:2]}), flush=True)


# ---- servers ----

async def handle(reader, writer):
    try:
        cmd = (await reader.readline()).split()
        if cmd and cmd[0] == b"trickle":
            n, chunk, seed = map(int, cmd[1:4])
            data = payload(n, seed)
            for o in range(0, n, chunk):
                writer.write(data[o:o + chunk])
                await writer.drain()
                await asyncio.sleep(0.002)
            writer.write_eof()
        elif cmd and cmd[0] == b"bulk":
            n, seed = map(int, cmd[1:3])
            data = payload(n, seed)
            for o in range(0, n, BLOCK):
                writer.write(data[o:o + BLOCK])
                await writer.drain()
            writer.write_eof()
        while True:  # "echo", or the rest of a trickle client's bytes
            b = await reader.read(BLOCK)
            if not b:
                break
            if cmd and cmd[0] == b"echo":
                writer.write(b)
                await writer.drain()
    except (OSError, ValueError):
        pass  # a client that failed a try closes early; the client reports it
    finally:
        writer.close()


async def serve():
    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    print_addr(srv.sockets[0].getsockname())
    await srv.serve_forever()


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        s, buf = self.request, b""
        try:
            while b"\n" not in buf:  # the command line ("echo")
                b = s.recv(BLOCK)
                if not b:
                    return
                buf += b
            b = buf.split(b"\n", 1)[1]
            while True:
                if b:
                    s.sendall(b)
                b = s.recv(BLOCK)
                if not b:
                    return
        except OSError:
            pass


def threaded_server():
    socketserver.ThreadingTCPServer.daemon_threads = True
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    print_addr(srv.server_address)
    srv.serve_forever()


# ---- client ----

class Conn:
    """A socket read and written the way STYLE says: blocking calls, or
    non-blocking ones that wait for readiness first, as an event loop does
    (so SO_RCVLOWAT's readiness threshold applies)."""

    def __init__(self, addr, style, rcvbuf=0):
        host, port = addr.rsplit(":", 1)
        addr = (host, int(port))
        self.nb = style == "nonblocking"
        self.s = socket.socket()
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if style == "blocking":
            self.s.connect(addr)
        elif style == "turned-blocking":
            # create_connection(addr, timeout=5), then settimeout(None)
            self.s.settimeout(5)
            self.s.connect(addr)
            self.s.settimeout(None)
        else:
            self.s.setblocking(False)
            self.s.connect_ex(addr)
            self.wait(selectors.EVENT_WRITE)
            err = self.s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, os.strerror(err))

    def wait(self, ev):
        # One selector per call: the threads row waits from two threads.
        with selectors.DefaultSelector() as sel:
            sel.register(self.s, ev)
            sel.select()

    def recv(self, n, flags=0):
        if not self.nb:
            return self.s.recv(n, flags)
        while True:
            self.wait(selectors.EVENT_READ)
            try:
                return self.s.recv(n)
            except BlockingIOError:
                pass

    def sendall(self, data):
        if not self.nb:
            return self.s.sendall(data)
        data = memoryview(data)
        while data:
            try:
                data = data[self.s.send(data):]
            except BlockingIOError:
                self.wait(selectors.EVENT_WRITE)


class Tally:
    def __init__(self, r):
        self.r, self.h = r, hashlib.sha256()

    def feed(self, b):
        if self.r["first"] < 0:
            self.r["first"] = len(b)
        self.r["total"] += len(b)
        self.h.update(b)
        self.r["sha"] = self.h.hexdigest()


def read_rest(c, t, want):
    while t.r["total"] < want:
        b = c.recv(min(want - t.r["total"], BLOCK))
        if not b:
            break
        t.feed(b)


def trickle(c, i, r):
    c.sendall(b"trickle %d %d %d\n" % (N, CHUNK, i))
    want = payload(N, i)
    r["want"], r["want_sha"] = N, hashlib.sha256(want).hexdigest()
    return Tally(r)


def row_waitall(c, i, r):
    t = trickle(c, i, r)
    # Plain TCP returns all N at once; the nonblocking style has no
    # MSG_WAITALL to rely on and just loops.
    t.feed(c.recv(N, 0 if c.nb else socket.MSG_WAITALL))
    read_rest(c, t, N)
    c.sendall(b"done\n")


def row_rcvlowat(c, i, r):
    # Set after connect, as a server would on an accepted socket.
    c.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, LOWAT)
    t = trickle(c, i, r)
    read_rest(c, t, N)
    c.sendall(b"done\n")


def row_signal(c, i, r):
    # A no-op handler: Python retries an interrupted call (PEP 475) unless
    # the kernel says something other than EINTR.
    signal.signal(signal.SIGALRM, lambda *_: None)
    signal.setitimer(signal.ITIMER_REAL, 0.0003, 0.0003)
    try:
        t = trickle(c, i, r)
        read_rest(c, t, N)
        c.sendall(b"done\n")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def row_splice(c, i, r):
    t = trickle(c, i, r)
    rd, wr = os.pipe()
    try:
        while r["total"] < N:
            n = os.splice(c.s.fileno(), wr, 65536)
            if n == 0:
                break
            while n:
                b = os.read(rd, n)
                t.feed(b)
                n -= len(b)
    finally:
        os.close(rd)
        os.close(wr)
    c.sendall(b"done\n")


def row_bulk(c, i, r):
    c.sendall(b"bulk %d %d\n" % (BULK, i))
    want = payload(BULK, i)
    r["want"], r["want_sha"] = BULK, hashlib.sha256(want).hexdigest()
    t = Tally(r)
    read_rest(c, t, BULK + 1)  # to EOF: one byte more would be an error
    c.sendall(b"done\n")


THREADS_SHA = None


def row_threads(c, i, r):
    global THREADS_SHA
    if THREADS_SHA is None:
        h = hashlib.sha256()
        for k in range(BLOCKS):
            h.update(block(k))
        THREADS_SHA = h.hexdigest()
    r["want"], r["want_sha"] = BLOCK * BLOCKS, THREADS_SHA
    t, errs = Tally(r), []
    c.s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SNDBUF)
    c.sendall(b"echo\n")

    def run(f):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        try:
            f()
        except OSError as e:
            errs.append(e)
            try:  # unblocks the other thread
                c.s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def writer():
        for k in range(BLOCKS):
            c.sendall(block(k))
        c.s.shutdown(socket.SHUT_WR)

    ths = [threading.Thread(target=run, args=(f,), daemon=True)
           for f in (lambda: read_rest(c, t, BLOCK * BLOCKS), writer)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    if errs:
        raise errs[0]  # the first one; a shut-down socket fails the other


ROWS = {"waitall": row_waitall, "rcvlowat": row_rcvlowat, "signal": row_signal,
        "splice": row_splice, "threads": row_threads,
        "bulk-tiny": row_bulk, "bulk-small": row_bulk, "bulk-large": row_bulk}


def client(addr, row, style, tries):
    report = {"row": row, "style": style, "tries": []}
    lock, current = threading.Lock(), {}

    def watchdog():
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        while True:
            time.sleep(0.05)
            with lock:
                if current and time.monotonic() > current["deadline"]:
                    r = dict(current["r"], error="timeout")
                    print(json.dumps(dict(report, tries=report["tries"] + [r])), flush=True)
                    os._exit(0)

    threading.Thread(target=watchdog, daemon=True).start()
    for i in range(tries):
        r = {"first": -1, "total": 0, "sha": hashlib.sha256().hexdigest(),
             "error": "", "want": 0, "want_sha": ""}
        with lock:
            current.update(r=r, deadline=time.monotonic() + TRY_TIMEOUT)
        c = None
        try:
            c = Conn(addr, style, RCVBUF.get(row, 0))
            ROWS[row](c, i, r)
        except OSError as e:
            r["error"] = type(e).__name__
        finally:
            if c:
                c.s.close()
        with lock:
            current.clear()
            report["tries"].append(r)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "server":
        asyncio.run(serve())
    elif mode == "threaded-server":
        threaded_server()
    else:
        client(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]) if len(sys.argv) > 5 else 20)
