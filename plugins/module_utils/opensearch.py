# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small OpenSearch REST client and the helpers that compare resources.

Standard library only (urllib, ssl, json), so it runs on any target.

OpenSearchClient.request() tries the cluster's nodes in turn: a node that
cannot be reached (refused, reset, timed out, TLS failure) or that answers
with a 5xx status is skipped and the next one is tried. The first node that
answers with any other status gives the result. TLS is always verified
(against ca_path, or the system trust store). Proxies from the environment
are not used: the client talks to the nodes directly.

The comparison helpers work on *normalized* values: nested dicts flattened
into dotted keys and scalars turned into the strings OpenSearch echoes
settings back as, so that what a playbook says and what the cluster returns
can be compared key by key:

    normalize({"index": {"number_of_replicas": 1, "hidden": True}})
    == {"index.number_of_replicas": "1", "index.hidden": "true"}
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request

USER_AGENT = "nospof.platform-opensearch"
EXCERPT_CHARS = 300
KINDS = ("index_template", "snapshot_repository", "cluster_settings", "generic")


class OpenSearchError(Exception):
    """No node answered, or the node that answered refused the request.

    status: the HTTP status of the answer (None when no node answered).
    body:   the parsed answer (None when no node answered).
    host:   the node that answered (None when none did).
    attempts: [(host, reason)] for every node that was skipped.
    """

    def __init__(self, message, status=None, body=None, host=None, attempts=None):
        super().__init__(message)
        self.status = status
        self.body = body
        self.host = host
        self.attempts = attempts or []


def redact_url(url):
    """The URL without any user:password@ part (safe to print)."""
    try:
        parts = urllib.parse.urlsplit(url)
        if parts.username is None and parts.password is None:
            return url
        netloc = parts.hostname or ""
        if parts.port:
            netloc = "%s:%s" % (netloc, parts.port)
    except ValueError:
        return "<unparsable URL>"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _parse(raw):
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else (raw or "")
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _excerpt(data):
    if data is None:
        return "(no body)"
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        err = data["error"]
        reason = err.get("reason") or err.get("type")
        root = err.get("root_cause")
        if isinstance(root, list) and root and isinstance(root[0], dict) and root[0].get("reason") \
                and root[0].get("reason") != reason:
            reason = "%s (%s)" % (reason, root[0]["reason"])
        if reason:
            return str(reason)[:EXCERPT_CHARS]
    text = data if isinstance(data, str) else json.dumps(data, sort_keys=True)
    return text[:EXCERPT_CHARS]


class OpenSearchClient:
    """Send JSON requests to the first OpenSearch node that answers.

    hosts:       base URLs of the nodes, for example ["https://os1:9200", "https://os2:9200"],
                 tried in this order.
    ca_path:     CA bundle to verify the nodes' certificates with (system store when None).
    client_cert: client certificate (PEM) for TLS client authentication.
    client_key:  its private key (PEM); None when it is inside client_cert.
    username, password: HTTP basic authentication, sent when username is set.
    timeout:     seconds to wait for one node before trying the next.
    """

    def __init__(self, hosts, ca_path=None, client_cert=None, client_key=None, username=None,
                 password=None, timeout=30):
        if isinstance(hosts, str):
            hosts = [hosts]
        self.hosts = [str(h).strip().rstrip("/") for h in (hosts or []) if h and str(h).strip()]
        if not self.hosts:
            raise OpenSearchError("no OpenSearch host given: hosts must list at least one URL "
                                  "such as https://os1:9200")
        for host in self.hosts:
            parts = urllib.parse.urlsplit(host)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise OpenSearchError("OpenSearch host %r is not an http(s) URL such as https://os1:9200"
                                      % redact_url(host))
            if "@" in parts.netloc:
                raise OpenSearchError("OpenSearch host %r: give credentials as username and password, "
                                      "not in the URL" % redact_url(host))
        self.timeout = timeout
        self._password = password
        self.headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if username:
            token = base64.b64encode(("%s:%s" % (username, password or "")).encode("utf-8")).decode("ascii")
            self.headers["Authorization"] = "Basic " + token
        try:
            context = ssl.create_default_context(cafile=ca_path)
        except (OSError, ssl.SSLError) as exc:
            raise OpenSearchError("could not load the CA bundle %s: %s" % (ca_path, exc))
        if client_cert:
            try:
                # an encrypted key fails here instead of OpenSSL prompting on a terminal
                context.load_cert_chain(client_cert, client_key, password=lambda: b"")
            except (OSError, ssl.SSLError) as exc:
                raise OpenSearchError("could not load the client certificate %s (key %s): %s"
                                      % (client_cert, client_key or "in the same file", exc))
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPSHandler(context=context),
        )

    def _scrub(self, text):
        text = str(text)
        if self._password:
            text = text.replace(str(self._password), "********")
        return text

    def url(self, host, path):
        return "%s/%s" % (host, str(path).lstrip("/"))

    def _send(self, method, url, data, headers):
        """(status, parsed body) of one node's answer; raises OSError/HTTPException when none."""
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                return resp.status, _parse(resp.read())
        except urllib.error.HTTPError as exc:
            try:
                raw = exc.read()
            except (OSError, http.client.HTTPException):
                raw = b""
            finally:
                exc.close()
            return exc.code, _parse(raw)

    def request(self, method, path, body=None, ok=(200,)):
        """Send one request; return (status, parsed JSON or text) from the first node that answers.

        Raises OpenSearchError when no node answers (the message names each node
        and why it was skipped), or when the answer's status is not in ok.
        """
        method = method.upper()
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        attempts = []
        for host in self.hosts:
            shown = redact_url(host)
            try:
                status, parsed = self._send(method, self.url(host, path), data, headers)
            except urllib.error.URLError as exc:
                attempts.append((shown, self._scrub(exc.reason)))
                continue
            except (socket.timeout, TimeoutError):
                attempts.append((shown, "timed out after %s s" % self.timeout))
                continue
            except (OSError, http.client.HTTPException, ValueError) as exc:
                attempts.append((shown, self._scrub("%s: %s" % (type(exc).__name__, exc))))
                continue
            if status >= 500:
                attempts.append((shown, self._scrub("HTTP %s: %s" % (status, _excerpt(parsed)))))
                continue
            if status not in ok:
                raise OpenSearchError(
                    self._scrub("%s answered %s /%s with HTTP %s: %s"
                                % (shown, method, str(path).lstrip("/"), status, _excerpt(parsed))),
                    status=status, body=parsed, host=shown, attempts=attempts)
            return status, parsed
        raise OpenSearchError(
            "no OpenSearch host answered %s /%s: %s" % (
                method, str(path).lstrip("/"), "; ".join("%s: %s" % a for a in attempts)),
            attempts=attempts)


# ------------------------------------------------------------------ helpers
def _scalar(value):
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def normalize(value):
    """Flatten nested dicts into dotted keys and turn scalars into strings.

    {"index": {"number_of_replicas": 1}} -> {"index.number_of_replicas": "1"};
    True -> "true", 1 -> "1", None stays None (a reset); lists stay lists of
    normalized items (a dict in a list is normalized on its own, not flattened
    into its parent). An empty dict nested in a dict is kept as {} under its key.
    """
    if isinstance(value, dict):
        flat = {}
        _flatten(value, "", flat)
        return flat
    if isinstance(value, (list, tuple)):
        return [normalize(item) for item in value]
    return _scalar(value)


def _flatten(value, prefix, out):
    for key, item in value.items():
        name = "%s.%s" % (prefix, key) if prefix else str(key)
        if isinstance(item, dict) and item:
            _flatten(item, name, out)
        else:
            out[name] = normalize(item)


def canonical_key(key):
    """A dotted key with the `index.` segment right after a `settings.` segment dropped.

    OpenSearch echoes index settings sometimes as settings.index.X and sometimes
    as settings.X; both mean the same setting.
    """
    parts = key.split(".")
    out = []
    i = 0
    while i < len(parts):
        out.append(parts[i])
        if parts[i] == "settings" and i + 2 < len(parts) and parts[i + 1] == "index":
            i += 2
            continue
        i += 1
    return ".".join(out)


def _canonical(value):
    """A normalized value with every dict key canonical (recursively through lists)."""
    if isinstance(value, dict):
        return {canonical_key(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def _present(key, current):
    """Whether key, or any setting below it, is set in the canonical flat dict current."""
    prefix = key + "."
    return any(k == key or k.startswith(prefix) for k, v in current.items() if v is not None)


def differences(desired, current):
    """The canonical keys of normalize(desired) that current does not already match.

    A desired value of None means "reset": it differs when the key (or a
    setting below it) is set in current.
    """
    want = _canonical(normalize(desired if desired is not None else {}))
    have = _canonical(normalize(current if current is not None else {}))
    if not isinstance(want, dict) or not isinstance(have, dict):
        return [] if want == have else [""]
    diff = []
    for key, value in want.items():
        if value is None:
            if _present(key, have):
                diff.append(key)
        elif key not in have or have[key] != value:
            diff.append(key)
    return diff


def is_subset(desired, current):
    """True when every key of normalize(desired) is in normalize(current) with an equal value.

    Keys are compared in canonical form (see canonical_key); a desired None
    holds when the key is not set in current.
    """
    return not differences(desired, current)


def merge(desired, current):
    """normalize(desired) laid over normalize(current): what current becomes after the change.

    A desired key replaces the current key it matches canonically (keeping the
    current spelling); a desired None removes the key and everything below it.
    """
    after = dict(normalize(current or {}))
    by_canonical = {canonical_key(k): k for k in after}
    for key, value in normalize(desired or {}).items():
        canon = canonical_key(key)
        if value is None:
            for k in list(after):
                ck = canonical_key(k)
                if ck == canon or ck.startswith(canon + "."):
                    del after[k]
            continue
        after[by_canonical.get(canon, key)] = value
    return after


def extract_current(kind, name, response_json):
    """The resource itself out of the answer to its GET request.

    index_template:      {"index_templates": [{"name": n, "index_template": {...}}]} -> the index_template
    snapshot_repository: {n: {...}} -> response[n]
    cluster_settings:    {"persistent": {...}, "transient": {...}} -> {"persistent": {...}}
    generic:             the answer as it is
    Returns None when the answer does not hold the resource.
    """
    if kind == "generic":
        return response_json
    if kind == "cluster_settings":
        persistent = response_json.get("persistent") if isinstance(response_json, dict) else None
        return {"persistent": persistent or {}}
    if not isinstance(response_json, dict):
        return None
    if kind == "index_template":
        for item in response_json.get("index_templates") or []:
            if isinstance(item, dict) and item.get("name") == name:
                return item.get("index_template")
        return None
    if kind in ("snapshot_repository", "index"):
        return response_json.get(name)
    raise ValueError("unknown OpenSearch resource kind %r (known: %s)" % (kind, ", ".join(KINDS)))
