#!/usr/bin/env python3
"""A byte-counting TCP proxy for benches/push.sh (python3 standard library only).

    python3 benches/tcpcount.py --target 127.0.0.1:5000 [--listen 0] [--ready FILE]

Listens on 127.0.0.1 (a free port with --listen 0, the default), forwards
every connection to --target, and counts the payload bytes each way:
client->server ("up") and server->client ("down"). TCP/IP headers are not
counted; over plain HTTP the count is exactly the HTTP requests' bytes.

Once listening, it writes "<listen port> <control port>" to --ready (or to
stdout). The control port answers each connection with one line,
"up=<bytes> down=<bytes> connections=<n>", the totals so far, and closes.
A client that sends "reset\\n" first gets the totals and then zeroes them.

It stops on SIGTERM or SIGINT.
"""

import argparse
import os
import signal
import socket
import sys
import threading

lock = threading.Lock()
totals = {"up": 0, "down": 0, "connections": 0}


def add(key, n):
    with lock:
        totals[key] += n


def pump(src, dst, key):
    """Copies src to dst, counting each chunk before it is forwarded (so a
    count read after the peer answered includes everything it got)."""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            add(key, len(data))
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            try:
                s.shutdown(how)
            except OSError:
                pass


def serve_connection(client, target):
    try:
        upstream = socket.create_connection(target, timeout=10)
        upstream.settimeout(None)
    except OSError as e:
        print(f"tcpcount: cannot reach {target[0]}:{target[1]}: {e}", file=sys.stderr)
        client.close()
        return
    for s in (client, upstream):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    add("connections", 1)
    up = threading.Thread(target=pump, args=(client, upstream, "up"), daemon=True)
    down = threading.Thread(target=pump, args=(upstream, client, "down"), daemon=True)
    up.start()
    down.start()
    up.join()
    down.join()
    client.close()
    upstream.close()


def accept_loop(listener, target):
    while True:
        client, _ = listener.accept()
        threading.Thread(target=serve_connection, args=(client, target), daemon=True).start()


def control_loop(listener):
    while True:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(0.2)
            try:
                wanted = conn.recv(64)
            except OSError:
                wanted = b""
            with lock:
                line = "up={up} down={down} connections={connections}\n".format(**totals)
                if wanted.strip() == b"reset":
                    for k in totals:
                        totals[k] = 0
            try:
                conn.sendall(line.encode())
            except OSError:
                pass


def listen(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(128)
    return s


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", required=True, help="HOST:PORT to forward to")
    p.add_argument("--listen", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    p.add_argument("--ready", help="file to write '<listen port> <control port>' to")
    a = p.parse_args()
    host, _, port = a.target.rpartition(":")
    target = (host or "127.0.0.1", int(port))

    proxy, control = listen(a.listen), listen(0)
    ready = f"{proxy.getsockname()[1]} {control.getsockname()[1]}\n"
    if a.ready:
        tmp = a.ready + ".tmp"
        with open(tmp, "w") as f:
            f.write(ready)
        os.replace(tmp, a.ready)
    else:
        sys.stdout.write(ready)
        sys.stdout.flush()

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    threading.Thread(target=control_loop, args=(control,), daemon=True).start()
    accept_loop(proxy, target)


if __name__ == "__main__":
    main()
