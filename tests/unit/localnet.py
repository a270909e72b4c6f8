"""Helpers for unit tests that talk to servers of their own on 127.0.0.1."""

import socket


def closed_port_url():
    """An http URL on 127.0.0.1 where nothing listens (connection refused)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return "http://127.0.0.1:%d" % port
