#!/usr/bin/env python3
"""stall_proxy.py MODE UPSTREAM_PORT — a TCP proxy on 127.0.0.1 in front of
the test Dovecot that relays some connections and holds the others open
without a byte: what a server with a full connection table or a stuck login
process looks like (accepted, never greeted). A real server does not do this
on demand, so this one stands in front of it.

MODE relay-first: the first connection is relayed, every later one held.
MODE stall-first: the first connection is held, every later one relayed.
Prints the port it listens on, then serves until killed."""
import socket
import sys
import threading


def pump(src, dst):
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            dst.sendall(b)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def relay(c, port):
    u = socket.create_connection(("127.0.0.1", port))
    threading.Thread(target=pump, args=(c, u), daemon=True).start()
    threading.Thread(target=pump, args=(u, c), daemon=True).start()


def hold(c):
    try:
        while c.recv(65536):  # swallow whatever comes, answer nothing
            pass
    except OSError:
        pass
    c.close()


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode not in ("relay-first", "stall-first"):
        sys.exit("unknown mode " + mode)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    print(ls.getsockname()[1], flush=True)
    n = 0
    while True:
        c, _ = ls.accept()
        n += 1
        if (n == 1) == (mode == "relay-first"):
            relay(c, port)
        else:
            threading.Thread(target=hold, args=(c,), daemon=True).start()


if __name__ == "__main__":
    main()
