# Managed by nospof.platform (roles/icinga2/files/plugins). Do not edit on the host.
"""Shared code of the collection's Icinga check plugins (stdlib only).

Plugins import it from their own directory. It gives them:

- the monitoring-plugins exit codes and one output format (`Result`, `finish`);
- performance data formatting (`perfdata`);
- `ArgumentParser`: bad arguments are UNKNOWN, never CRITICAL;
- duration parsing (`parse_duration`: 30s, 10min, 2h, 1d, 7d);
- JSON over HTTP(S) with failover between several base URLs, a CA file,
  basic auth from a password *file* (never from the command line) and a
  timeout (`http_json`), raising `PluginError` with a message a human can act
  on when every URL failed.
"""

import argparse
import base64
import json
import re
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATE_NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}


class PluginError(Exception):
    """A problem that makes the check's answer UNKNOWN (bad input, no server answered)."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports bad arguments as UNKNOWN (argparse's own exit code 2 is CRITICAL).

    Abbreviations are off (`--pass x` must not be read as `--password-file x`
    and then echo a password as a file name), and an error message that
    quotes arguments never repeats them: they could hold a secret.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        if "unrecognized arguments" in message:
            message = "unrecognized arguments (not repeated here: they may hold a secret)"
        raise PluginError("bad arguments: %s (see --help)" % message)


class Result:
    """What a check found: a state, a one-line summary, perfdata and extra lines."""

    def __init__(self, state, summary, perf=None, details=None):
        if state not in STATE_NAMES:
            raise ValueError("state must be one of 0..3, got %r" % (state,))
        self.state = state
        self.summary = summary
        self.perf = list(perf or [])
        self.details = list(details or [])

    def render(self, name):
        line = "%s %s - %s" % (name, STATE_NAMES[self.state], self.summary)
        if self.perf:
            line += " | " + " ".join(self.perf)
        return "\n".join([line] + self.details)

    def __repr__(self):
        return "Result(%s, %r)" % (STATE_NAMES[self.state], self.summary)


def worst(states):
    """The most severe state (CRITICAL > WARNING > UNKNOWN > OK), as Icinga ranks them."""
    order = {OK: 0, UNKNOWN: 1, WARNING: 2, CRITICAL: 3}
    states = list(states)
    return max(states, key=lambda s: order[s]) if states else OK


def perfdata(label, value, uom="", warn="", crit="", minimum="", maximum=""):
    """One performance data item: 'label'=value[uom];warn;crit;min;max."""
    label = str(label)
    if re.search(r"[\s'=]", label):
        label = "'%s'" % label.replace("'", "''")
    if isinstance(value, float):
        value = ("%.6f" % value).rstrip("0").rstrip(".")
    item = "%s=%s%s;%s;%s;%s;%s" % (label, value, uom, warn, crit, minimum, maximum)
    return item.rstrip(";")


_UNITS = {"s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text):
    """'90', '30s', '10min', '2h', '1d', '1w' -> seconds (int). Raises PluginError."""
    match = re.fullmatch(r"\s*(\d+)\s*([a-z]*)\s*", str(text))
    if not match or match.group(2) not in ("",) + tuple(_UNITS):
        raise PluginError("bad duration %r: use a number with s, min, h, d or w (10min, 2h, 1d)" % (text,))
    return int(match.group(1)) * _UNITS.get(match.group(2) or "s")


def read_secret(path):
    """The first line of a secret file (a password is never taken on the command line)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.readline().rstrip("\n")
    except OSError as exc:
        raise PluginError("cannot read the secret file %s: %s" % (path, exc.strerror))


def http_json(base_urls, path, method="GET", body=None, ca_file=None, user=None, password=None,
              timeout=10, headers=None):
    """Send one request to the first base URL that answers; return (url, status, decoded JSON).

    HTTP error statuses with a JSON body are returned, not raised: the caller
    decides (a 404 or a 503 with a body is an answer). A URL that cannot be
    reached, or answers something that is not JSON, is skipped for the next.
    """
    if isinstance(base_urls, str):
        base_urls = [base_urls]
    if not base_urls:
        raise PluginError("no server URL given")
    context = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    data = None
    all_headers = {"Accept": "application/json"}
    if body is not None:
        data = json.dumps(body).encode()
        all_headers["Content-Type"] = "application/json"
    if user is not None:
        token = base64.b64encode(("%s:%s" % (user, password or "")).encode()).decode()
        all_headers["Authorization"] = "Basic " + token
    all_headers.update(headers or {})
    errors = []
    for base in base_urls:
        url = base.rstrip("/") + path
        request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            errors.append("%s: %s" % (_redact(url), getattr(exc, "reason", exc)))
            continue
        try:
            return url, status, json.loads(raw.decode() or "null")
        except ValueError:
            errors.append("%s: HTTP %s, not JSON: %.80r" % (_redact(url), status, raw))
    raise PluginError("no server answered: " + "; ".join(errors))


def _redact(url):
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        netloc = parts.hostname + (":%d" % parts.port if parts.port else "")
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    return url


def finish(name, check, argv=None):
    """Run check(argv) -> Result, print it, exit with its state; any error is UNKNOWN."""
    try:
        result = check(sys.argv[1:] if argv is None else argv)
    except PluginError as exc:
        result = Result(UNKNOWN, str(exc))
    except Exception as exc:  # a plugin must never die without an answer Icinga can show
        result = Result(UNKNOWN, "internal error: %s: %s" % (type(exc).__name__, exc))
    print(result.render(name))
    sys.exit(result.state)
