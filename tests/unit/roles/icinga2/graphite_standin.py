"""A stand-in for graphite-web's render API on 127.0.0.1, for the Graphite check plugins.

Series are functions of the timestamp (value or None); the server answers
/render?target=GLOB&from=EPOCH&until=EPOCH&format=json with one point per
step, stamped like Graphite stamps them (aligned on the step, after `from`,
at or before `until`), and records every query. Started by the `graphite`
fixture of conftest.py.
"""

import fnmatch
import urllib.parse

from localserver import QuietHandler  # tests/unit/roles/icinga2/localserver.py


class RenderAPI(QuietHandler):
    """server.series: {name: f(ts) -> value or None}, .step, .auth: (user, password) or None, .queries."""

    def do_GET(self):
        server = self.server
        parts = urllib.parse.urlsplit(self.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(parts.query).items()}
        server.queries.append(query)
        if server.auth is not None and not self.authorized(*server.auth):
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
