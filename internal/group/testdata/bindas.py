"""Binds ports as whoever runs it (the privileged-port test runs it as
nobody), prints one JSON line like the serveports helper's, then serves
TOKEN-PORT on every port it bound until killed.

usage: bindas.py PROTO HOST TOKEN PORT...
"""
import errno
import json
import selectors
import socket
import sys

proto, host, token = sys.argv[1], sys.argv[2], sys.argv[3]
family = socket.AF_INET6 if ":" in host else socket.AF_INET
kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
sel = selectors.DefaultSelector()
results = []
for port in map(int, sys.argv[4:]):
    s = socket.socket(family, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    r = {"port": port}
    try:
        s.bind((host, port))
        if proto == "tcp":
            s.listen(16)
        h, p = s.getsockname()[:2]
        r["addr"] = ("[%s]:%d" if family == socket.AF_INET6 else "%s:%d") % (h, p)
        sel.register(s, selectors.EVENT_READ, "%s-%d" % (token, port))
    except OSError as e:
        r["error"] = errno.errorcode.get(e.errno, str(e.errno))
        r["eaddrinuse"] = e.errno == errno.EADDRINUSE
        s.close()
    results.append(r)
print(json.dumps({"ports": results}), flush=True)
while True:
    for key, _ in sel.select():
        s, say = key.fileobj, key.data.encode()
        if proto == "tcp":
            c, _ = s.accept()
            c.sendall(say + b"\n")
            c.close()
        else:
            _, peer = s.recvfrom(64)
            s.sendto(say, peer)
