"""Plumbing for the icinga2 plugin tests: stand-in HTTP servers on 127.0.0.1,
the options that point a plugin at them, and running a plugin file as Icinga
runs it. The fixtures built on these are in conftest.py (local_server, ...).
"""

import base64
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def basic_auth(user, password):
    """The Authorization header a client sends for user:password."""
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


class QuietHandler(BaseHTTPRequestHandler):
    """Base of the stand-ins' handlers: logs nothing, reads and writes bodies in one call."""

    def log_message(self, *args):
        pass

    def authorized(self, user, password):
        return self.headers.get("Authorization") == basic_auth(user, password)

    def read_json(self):
        """The request body as JSON (None without a body)."""
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        return json.loads(raw) if raw else None

    def answer(self, status, body=None, ctype="application/json", headers=()):
        """body: bytes as they are, None for an empty body without a Content-Type, anything else as JSON."""
        raw = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", ctype)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


def start_server(handler, **attrs):
    """A ThreadingHTTPServer on a free port of 127.0.0.1, serving in a thread; attrs are set on it
    (the handler reads them as self.server.NAME) and .url is its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    for name, value in attrs.items():
        setattr(server, name, value)
    server.url = "http://127.0.0.1:%d" % server.server_address[1]
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


def stop_server(server):
    server.shutdown()
    server.server_close()


def url_args(urls):
    """["--url", URL] for each of urls: a list of URLs, or one stand-in with a .url."""
    argv = []
    for url in urls if isinstance(urls, list) else [urls.url]:
        argv += ["--url", url]
    return argv


def run_program(path, *argv, timeout=60):
    """Run the plugin file at path with argv as Icinga does; the finished process, output as text."""
    return subprocess.run([sys.executable, path] + list(argv), capture_output=True, text=True, timeout=timeout)
