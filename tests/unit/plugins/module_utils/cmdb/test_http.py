"""The CMDB HTTP client against a real local HTTP server (no mocks of urllib)."""

import functools
import http.client as http_client
import json
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.nospof.platform.plugins.module_utils.cmdb import http
from ansible_collections.nospof.platform.plugins.module_utils.cmdb.base import (
    CMDBAuthError,
    CMDBDataError,
    CMDBUnavailable,
)

MAKE_CONTEXT = http.make_context
TOKEN = "0123456789abcdef0123456789abcdef01234567"
V2_TOKEN = "nbt_AbCdEf123456.s3cretS3cretS3cretS3cretS3cretS3cretS3cr"


# --------------------------------------------------------------- server
class FakeAPI:
    """A ThreadingHTTPServer on 127.0.0.1 whose answers come from self.app.

    app(path, query, headers) -> (status, body, extra_headers); body is bytes,
    str, or anything JSON-serializable. Every request is recorded.
    """

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        self.app = lambda path, query, headers: (404, {"detail": "Not found."}, {})
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 - http.server API
                parts = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
                headers = dict(self.headers.items())
                with api.lock:
                    api.requests.append((parts.path, query, headers))
                status, body, extra = api.app(parts.path, query, headers)
                if not isinstance(body, (bytes, str)):
                    body = json.dumps(body)
                    extra = {"Content-Type": "application/json", **(extra or {})}
                if isinstance(body, str):
                    body = body.encode()
                try:
                    self.send_response(status)
                    for key, value in (extra or {}).items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up (timeout tests)
                    pass

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def paths(self):
        return [(p, q) for p, q, _ in self.requests]


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    # Building an SSL context reads the CA bundle (tens of ms); share one per
    # setting across tests to keep the suite fast.
    monkeypatch.setattr(http, "make_context", _shared_context)


@functools.lru_cache(maxsize=None)
def _shared_context(cafile=None, validate_certs=True):
    return MAKE_CONTEXT(cafile=cafile, validate_certs=validate_certs)


@pytest.fixture
def api():
    server = FakeAPI()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def paginate(api, path, query, objects, max_page=1000):
    """A NetBox/Nautobot-shaped page of `objects` for limit/offset in `query`."""
    limit = int(query.get("limit", ["50"])[0]) or max_page
    limit = min(limit, max_page)
    offset = int(query.get("offset", ["0"])[0])

    def link(off):
        q = {k: v for k, v in query.items()}
        q.update(limit=[str(limit)], offset=[str(off)])
        return f"{api.url}{path}?{urllib.parse.urlencode(q, doseq=True)}"

    return {
        "count": len(objects),
        "next": link(offset + limit) if offset + limit < len(objects) else None,
        "previous": link(max(0, offset - limit)) if offset else None,
        "results": objects[offset:offset + limit],
    }


def client(api, **kwargs):
    kwargs.setdefault("authorization", http.token_header(TOKEN))
    kwargs.setdefault("backoff", 0.01)
    kwargs.setdefault("max_backoff", 0.05)
    kwargs.setdefault("timeout", 2)
    return http.HTTPClient(api.url, **kwargs)


# --------------------------------------------------------------- tokens
@pytest.mark.parametrize("token, expected", [
    (TOKEN, f"Token {TOKEN}"),
    (V2_TOKEN, f"Bearer {V2_TOKEN}"),
    (f"Bearer {V2_TOKEN}", f"Bearer {V2_TOKEN}"),
    (f"Token {TOKEN}", f"Token {TOKEN}"),
    ("  abc123  ", "Token abc123"),
    (None, None),
    ("", None),
])
def test_token_header(token, expected):
    assert http.token_header(token) == expected


def test_token_header_forced_scheme():
    assert http.token_header("nbt_odd", scheme="Token") == "Token nbt_odd"


# ----------------------------------------------------------- pagination
def test_get_all_reads_count_then_fetches_pages_concurrently_in_order(api):
    objects = [{"id": i, "name": f"dev{i}"} for i in range(1, 11)]
    in_flight = {"now": 0, "max": 0}
    finished = []

    def app(path, query, headers):
        offset = int(query["offset"][0])
        if offset:
            with api.lock:
                in_flight["now"] += 1
                in_flight["max"] = max(in_flight["max"], in_flight["now"])
            # later pages answer sooner, so completion order != request order
            time.sleep({3: 0.15, 6: 0.1, 9: 0.05}[offset])
            with api.lock:
                in_flight["now"] -= 1
                finished.append(offset)
        return 200, paginate(api, path, query, objects), {}

    api.app = app
    result = client(api, page_size=3, max_concurrency=3).get_all("/api/dcim/devices/", {"site": "dc1"})

    assert result == objects
    assert in_flight["max"] >= 2, "pages after the first must be fetched in parallel"
    assert finished != sorted(finished), "the server answered out of order"
    first_path, first_query = api.paths()[0]
    assert first_path == "/api/dcim/devices/"
    assert first_query == {"site": ["dc1"], "limit": ["3"], "offset": ["0"]}
    assert sorted(int(q["offset"][0]) for _, q in api.paths()[1:]) == [3, 6, 9]
    assert all(q["limit"] == ["3"] and q["site"] == ["dc1"] for _, q in api.paths())


def test_get_all_bounds_concurrency(api):
    objects = [{"id": i} for i in range(12)]
    in_flight = {"now": 0, "max": 0}

    def app(path, query, headers):
        with api.lock:
            in_flight["now"] += 1
            in_flight["max"] = max(in_flight["max"], in_flight["now"])
        time.sleep(0.03)
        with api.lock:
            in_flight["now"] -= 1
        return 200, paginate(api, path, query, objects), {}

    api.app = app
    assert client(api, page_size=2, max_concurrency=2).get_all("/api/x/") == objects
    assert in_flight["max"] <= 2  # never more than max_concurrency in flight
    assert len(api.requests) == 6


def test_get_all_uses_the_page_size_the_server_allows(api):
    objects = [{"id": i} for i in range(10)]
    api.app = lambda path, query, headers: (200, paginate(api, path, query, objects, max_page=4), {})
    assert client(api, page_size=1000).get_all("/api/x/") == objects
    assert api.paths()[0][1] == {"limit": ["1000"], "offset": ["0"]}
    assert sorted((q["offset"][0], q["limit"][0]) for _, q in api.paths()[1:]) == [("4", "4"), ("8", "4")]


def test_get_all_single_page_and_empty(api):
    api.app = lambda path, query, headers: (200, paginate(api, path, query, [{"id": 1}]), {})
    assert client(api).get_all("/api/x/") == [{"id": 1}]
    api.app = lambda path, query, headers: (200, paginate(api, path, query, []), {})
    assert client(api).get_all("/api/y/") == []
    assert len(api.requests) == 2


def test_get_all_follows_next_without_count_through_the_configured_origin(api):
    pages = {
        "0": {"next": "https://netbox.invalid/api/x/?limit=2&offset=2", "results": [{"id": 1}, {"id": 2}]},
        "2": {"next": "https://netbox.invalid/api/x/?limit=2&offset=4", "results": [{"id": 3}, {"id": 2}]},
        "4": {"next": None, "results": [{"id": 5}]},
    }
    api.app = lambda path, query, headers: (200, pages[query["offset"][0]], {})
    assert client(api, page_size=2).get_all("/api/x/") == [{"id": 1}, {"id": 2}, {"id": 3}, {"id": 5}]
    assert [q["offset"][0] for _, q in api.paths()] == ["0", "2", "4"]


def test_get_all_follows_objects_added_while_paging(api):
    objects = [{"id": i} for i in range(4)]

    def app(path, query, headers):
        page = paginate(api, path, query, objects)
        if query["offset"][0] == "2" and len(objects) == 4:
            objects.append({"id": 4})  # created meanwhile: the last page links on
            page = paginate(api, path, query, objects)
        return 200, page, {}

    api.app = app
    assert client(api, page_size=2).get_all("/api/x/") == [{"id": i} for i in range(5)]


def test_get_all_rejects_a_non_paginated_answer(api):
    api.app = lambda path, query, headers: (200, [{"id": 1}], {})
    with pytest.raises(CMDBDataError, match="is not a paginated list"):
        client(api).get_all("/api/x/")


def test_get_all_union_merges_by_id(api):
    data = {"a": [{"id": 1}, {"id": 2}], "b": [{"id": 2}, {"id": 3}]}
    api.app = lambda path, query, headers: (200, paginate(api, path, query, data[query["tag"][0]]), {})
    result = client(api).get_all_union("/api/x/", {"fields": "id"}, [{"tag": "a"}, {"tag": "b"}])
    assert result == [{"id": 1}, {"id": 2}, {"id": 3}]
    assert [q["tag"] for _, q in api.paths()] == [["a"], ["b"]]


# ------------------------------------------------------------- headers
def test_sends_token_accept_and_user_agent(api):
    api.app = lambda path, query, headers: (200, {"ok": True}, {})
    c = client(api, authorization=http.token_header(V2_TOKEN), accept="application/json; version=3.0")
    assert c.get_json("/api/status/") == {"ok": True}
    headers = api.requests[0][2]
    assert headers["Authorization"] == f"Bearer {V2_TOKEN}"
    assert headers["Accept"] == "application/json; version=3.0"
    assert headers["User-Agent"] == http.USER_AGENT


def test_authorization_may_be_a_callable(api):
    api.app = lambda path, query, headers: (200, {}, {})
    calls = []
    c = client(api, authorization=lambda: calls.append(1) or f"Token {TOKEN}")
    c.get_json("/api/a/")
    c.get_json("/api/b/")
    assert len(calls) == 2
    assert api.requests[1][2]["Authorization"] == f"Token {TOKEN}"


def test_anonymous_sends_no_authorization(api):
    api.app = lambda path, query, headers: (200, {}, {})
    client(api, authorization=None).get_json("/api/a/")
    assert "Authorization" not in api.requests[0][2]


@pytest.mark.parametrize("base", ["{url}", "{url}/", "{url}/api", "{url}/api/"])
def test_base_url_forms(api, base):
    api.app = lambda path, query, headers: (200, {"path": path}, {})
    c = http.HTTPClient(base.format(url=api.url))
    assert c.get_json("/api/dcim/devices/") == {"path": "/api/dcim/devices/"}


@pytest.mark.parametrize("url", [None, "", "netbox.example.org", "ftp://netbox.example.org"])
def test_bad_base_url(url):
    with pytest.raises(CMDBDataError, match="url"):
        http.HTTPClient(url)


# --------------------------------------------------------------- errors
@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_name_the_url_and_never_the_token(api, status):
    api.app = lambda path, query, headers: (
        status, {"detail": f"Invalid v1 token {TOKEN}"}, {})
    with pytest.raises(CMDBAuthError) as err:
        client(api, retries=3).get_json("/api/dcim/devices/", {"limit": 1})
    message = str(err.value)
    assert message.startswith(f"{api.url}/api/dcim/devices/?limit=1 refused the token (HTTP {status}): "
                              "check the token and its permissions")
    assert "Invalid v1 token ***" in message
    assert TOKEN not in message
    assert len(api.requests) == 1  # no retry on an auth error


def test_v2_token_secret_is_scrubbed(api):
    secret = V2_TOKEN.split(".", 1)[1]
    api.app = lambda path, query, headers: (403, f"<p>bad secret {secret}</p>", {"Content-Type": "text/html"})
    with pytest.raises(CMDBAuthError) as err:
        client(api, authorization=http.token_header(V2_TOKEN)).get_json("/api/x/")
    assert secret not in str(err.value) and V2_TOKEN not in str(err.value)


def test_retries_503_then_succeeds(api):
    answers = [(503, "busy", {}), (502, "bad gateway", {}), (200, {"ok": 1}, {})]
    api.app = lambda path, query, headers: answers.pop(0)
    assert client(api, retries=3).get_json("/api/x/") == {"ok": 1}
    assert len(api.requests) == 3


def test_retries_429_honouring_retry_after(api):
    answers = [(429, {"detail": "slow down"}, {"Retry-After": "0.05"}), (200, {"ok": 1}, {})]
    api.app = lambda path, query, headers: answers.pop(0)
    started = time.monotonic()
    assert client(api, retries=1, backoff=0.001, max_backoff=0.2).get_json("/api/x/") == {"ok": 1}
    assert time.monotonic() - started >= 0.05


def test_gives_up_after_retries(api):
    api.app = lambda path, query, headers: (503, f"maintenance {TOKEN}", {})
    with pytest.raises(CMDBUnavailable) as err:
        client(api, retries=2).get_json("/api/x/")
    assert len(api.requests) == 3
    message = str(err.value)
    assert f"{api.url}/api/x/ answered HTTP 503 3 times" in message
    assert TOKEN not in message


def test_500_is_not_retried(api):
    api.app = lambda path, query, headers: (500, "<h1>Server Error</h1>", {"Content-Type": "text/html"})
    with pytest.raises(CMDBUnavailable, match=r"HTTP 500: a server-side error; see the CMDB's logs"):
        client(api, retries=3).get_json("/api/x/")
    assert len(api.requests) == 1


@pytest.mark.parametrize("status, fragment", [
    (404, "does not exist (HTTP 404): check that `url` is the CMDB's base URL"),
    (400, "rejected the request (HTTP 400): usually a filter value"),
    (406, "cannot answer with `Accept: application/json` (HTTP 406)"),
    (410, "answered HTTP 410"),
])
def test_other_4xx_are_data_errors_with_an_excerpt(api, status, fragment):
    api.app = lambda path, query, headers: (status, {"site": ["Select a valid choice."]}, {})
    with pytest.raises(CMDBDataError) as err:
        client(api).get_json("/api/x/", {"site": "nowhere"})
    assert fragment in str(err.value)
    assert f"{api.url}/api/x/?site=nowhere" in str(err.value)
    assert "Select a valid choice." in str(err.value)


def test_non_json_body(api):
    html = {"Content-Type": "text/html; charset=utf-8"}
    api.app = lambda path, query, headers: (200, "<html>Please log in</html>", html)
    with pytest.raises(CMDBDataError) as err:
        client(api).get_json("/api/x/")
    assert str(err.value).startswith(f"{api.url}/api/x/ did not answer with JSON (text/html): ")
    assert "Please log in" in str(err.value)


def test_closed_port_is_unavailable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    c = http.HTTPClient(f"http://127.0.0.1:{port}", authorization=f"Token {TOKEN}",
                        retries=1, backoff=0.01, timeout=1)
    with pytest.raises(CMDBUnavailable) as err:
        c.get_json("/api/dcim/devices/")
    message = str(err.value)
    assert message.startswith(f"cannot reach http://127.0.0.1:{port}/api/dcim/devices/: ")
    assert "refused" in message and "after 2 attempts" in message
    assert TOKEN not in message


def test_unresolvable_host_is_unavailable():
    c = http.HTTPClient("http://cmdb.invalid", retries=0, timeout=1)
    with pytest.raises(CMDBUnavailable, match=r"^cannot reach http://cmdb\.invalid/api/x/: "):
        c.get_json("/api/x/")


def test_timeout_is_unavailable(api):
    def slow(path, query, headers):
        time.sleep(0.2)
        return 200, {}, {}

    api.app = slow
    with pytest.raises(CMDBUnavailable, match="timed out"):
        client(api, retries=0, timeout=0.05).get_json("/api/x/")


def test_credentials_in_the_url_are_not_shown():
    c = http.HTTPClient("http://admin:hunter2@127.0.0.1:9", retries=0, timeout=0.5)
    with pytest.raises(CMDBUnavailable) as err:
        c.get_json("/api/x/")
    assert "hunter2" not in str(err.value)
    assert "http://127.0.0.1:9/api/x/" in str(err.value)


def test_plain_open_url_path(api, monkeypatch):
    """Without Request.open(context=...) the client calls open_url per request."""
    monkeypatch.setattr(http, "REUSE_CONTEXT", False)
    api.app = lambda path, query, headers: (200, {"ok": True}, {})
    assert client(api).get_json("/api/x/") == {"ok": True}
    assert api.requests[0][2]["Authorization"] == f"Token {TOKEN}"


def test_tls_verification_failure_is_not_retried():
    calls = []

    def opener(url, headers, timeout):
        calls.append(url)
        raise urllib.error.URLError(ssl.SSLCertVerificationError(1, "certificate verify failed"))

    c = http.HTTPClient("https://netbox.example.org", authorization=f"Token {TOKEN}", retries=3,
                        backoff=0.01, opener=opener)
    with pytest.raises(CMDBUnavailable) as err:
        c.get_json("/api/x/")
    assert "TLS certificate verification failed" in str(err.value)
    assert "validate_certs: false" in str(err.value)
    assert len(calls) == 1


def test_truncated_answers_are_retried():
    calls = []

    def opener(url, headers, timeout):
        calls.append(url)
        raise http_client.IncompleteRead(b"{\"count\": ")

    c = http.HTTPClient("https://netbox.example.org", retries=2, backoff=0.001, opener=opener)
    with pytest.raises(CMDBUnavailable, match=r"^cannot reach https://netbox\.example\.org/api/x/: "):
        c.get_json("/api/x/")
    assert len(calls) == 3
