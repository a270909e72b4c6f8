"""A stand-in for graphite-web's render API on 127.0.0.1, for the Graphite check plugins.

Series are functions of the timestamp (value or None); the server answers
/render?target=GLOB&from=EPOCH&until=EPOCH&format=json with one point per
step, stamped like Graphite stamps them (aligned on the step, after `from`,
at or before `until`), and records every query.
"""

import base64
import fnmatch
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class RenderAPI(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body, ctype="application/json"):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self):
        server = self.server
        parts = urllib.parse.urlsplit(self.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(parts.query).items()}
        server.queries.append(query)
        if server.auth is not None:
            expected = "Basic " + base64.b64encode(("%s:%s" % server.auth).encode()).decode()
            if self.headers.get("Authorization") != expected:
                return self.answer(401, b"<html>401 Unauthorized</html>", "text/html")
        if parts.path != "/render" or query.get("format") != "json":
            return self.answer(404, b"<html>not found</html>", "text/html")
        start, until = int(query["from"]), int(query["until"])
        step = server.step
        stamps = range(start - start % step + step, until + 1, step)
        body = [{"target": name, "tags": {"name": name},
                 "datapoints": [[series(ts), ts] for ts in stamps]}
                for name, series in sorted(server.series.items())
                if fnmatch.fnmatchcase(name, query["target"])]
        self.answer(200, body)


def start_graphite(series, step=60, auth=None):
    """series: {name: f(ts) -> value or None}. Returns the server; .url is its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), RenderAPI)
    server.series, server.step, server.auth, server.queries = dict(series), step, auth, []
    server.url = "http://127.0.0.1:%d" % server.server_address[1]
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server
