# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small HTTP JSON client shared by the NetBox and Nautobot backends.

It sends GET requests (and read-only GraphQL POSTs) with `ansible.module_utils.urls` (open_url, or the
Request.open it wraps, given one shared SSL context where ansible-core
accepts it; plain urllib when ansible-core is not importable), retries
connection failures and HTTP 429/502/503/504 with a short exponential
back-off, and reads the paginated list endpoints both CMDBs expose:

    {"count": 2861, "next": "...?limit=1000&offset=1000", "previous": null,
     "results": [...]}

`get_all()` asks for the first page with `limit=<page_size>`, reads `count`
from it, then fetches the remaining pages by `offset` in parallel with at most
`max_concurrency` requests in flight, and returns the results in server order.

Every failure becomes a CMDBError (see cmdb/base.py) whose message names the
URL and says what to fix. The API token never appears in any message: it is
scrubbed from everything that is reported, including excerpts of the
server's answers.
"""

from __future__ import annotations

import http.client
import inspect
import json
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

try:
    from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
    from ansible.module_utils.urls import Request, make_context, open_url
except ImportError:  # pragma: no cover - exercised only without ansible-core
    Request = make_context = open_url = None

    class UrlsConnectionError(Exception):
        """Stand-in for ansible.module_utils.urls.ConnectionError."""

from ansible_collections.nospof.platform.plugins.module_utils.cmdb.base import (
    Backend,
    CMDBAuthError,
    CMDBDataError,
    CMDBUnavailable,
)

# open_url() is Request().open(); called bare it builds a new SSL context
# (reading the system CA bundle, tens of milliseconds) for every request.
# Where Request.open takes `context`, one context per client serves every page.
REUSE_CONTEXT = Request is not None and "context" in inspect.signature(Request.open).parameters

RETRY_STATUSES = (429, 502, 503, 504)
USER_AGENT = "nospof.platform-cmdb"
EXCERPT_CHARS = 200


def token_header(token, scheme=None):
    """The `Authorization` header value for an API token.

    - NetBox v2 tokens (`nbt_<key>.<secret>`, NetBox 4.5+) use `Bearer`.
    - NetBox v1 tokens (40 hex characters) and Nautobot tokens use `Token`.
    - A value that already starts with `Token ` or `Bearer ` is used as is.
    `scheme` forces the keyword. Returns None without a token.
    """
    if token is None:
        return None
    token = str(token).strip()
    if not token:
        return None
    if token.split(" ", 1)[0] in ("Token", "Bearer") and " " in token:
        return token
    if scheme is None:
        scheme = "Bearer" if token.startswith("nbt_") else "Token"
    return f"{scheme} {token}"


def _redact_url(url):
    """The URL without any user:password@ part (safe to print)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return url
    if parts.username or parts.password:
        netloc = parts.hostname or ""
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url


def _encode_params(params):
    """Query string from a dict; list values repeat the parameter (tag=a&tag=b)."""
    pairs = []
    for key, value in (params or {}).items():
        if value is None:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            if isinstance(item, bool):
                item = "true" if item else "false"
            pairs.append((key, str(item)))
    return urllib.parse.urlencode(pairs)


class HTTPClient:
    """GET JSON from a CMDB's REST API.

    base_url:        the CMDB root, for example https://netbox.example.org
                     (a trailing /api is tolerated and dropped; paths passed
                     to get_json()/get_all() start with /api/).
    authorization:   the Authorization header value (see token_header()), or
                     a callable returning it (called per request, so a token
                     can be read lazily), or None for anonymous access.
    accept:          the Accept header (Nautobot takes `; version=X.Y` here).
    validate_certs:  verify the server's TLS certificate.
    ca_path:         a CA bundle to verify it with.
    timeout:         seconds to wait for one response.
    retries:         further attempts after a connection failure or an HTTP
                     429/502/503/504 answer (so retries+1 attempts in all).
    backoff:         first back-off in seconds; doubled per attempt, capped
                     at max_backoff (a Retry-After header is honoured up to
                     max_backoff too).
    max_concurrency: pages fetched in parallel by get_all().
    page_size:       the `limit` get_all() asks for (servers may cap it:
                     NetBox and Nautobot apply MAX_PAGE_SIZE, 1000 by default).
    opener:          test hook: a callable(url, headers, timeout) returning a
                     response object, replacing open_url.
    """

    def __init__(self, base_url, authorization=None, accept="application/json",
                 validate_certs=True, ca_path=None, timeout=30, retries=3, backoff=0.5,
                 max_backoff=8.0, max_concurrency=4, page_size=1000, use_proxy=True,
                 opener=None):
        if not base_url or not isinstance(base_url, str):
            raise CMDBDataError("no CMDB url configured: set `url` to the CMDB's base URL, "
                                "for example https://netbox.example.org")
        base = base_url.strip().rstrip("/")
        if base.endswith("/api"):
            base = base[:-4]
        parts = urllib.parse.urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CMDBDataError(f"CMDB url {_redact_url(base_url)!r} is not an http(s) URL: "
                                "set `url` to something like https://netbox.example.org")
        self.base_url = base
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._authorization = authorization
        self._secrets = set()
        self._secrets_lock = threading.Lock()
        if isinstance(authorization, str):
            self._remember_secret(authorization)
        self.accept = accept
        self.validate_certs = bool(validate_certs)
        self.ca_path = ca_path
        self.timeout = float(timeout or 30)
        self.retries = max(0, int(retries if retries is not None else 3))
        self.backoff = max(0.0, float(backoff))
        self.max_backoff = max(0.0, float(max_backoff))
        self.max_concurrency = max(1, int(max_concurrency or 1))
        self.page_size = max(1, int(page_size or 1000))
        self.use_proxy = use_proxy
        self._opener = opener
        self._ssl_context = None
        self._ssl_lock = threading.Lock()

    # ------------------------------------------------------------ secrets
    def _remember_secret(self, header_value):
        """Remember a header value and its bare token so messages can scrub them."""
        if not header_value:
            return
        value = str(header_value)
        found = {value}
        bare = value.split(" ", 1)[1] if " " in value else value
        if len(bare) >= 4:
            found.add(bare)
            if bare.startswith("nbt_") and "." in bare:  # NetBox v2: nbt_<key>.<secret>
                found.add(bare.split(".", 1)[1])
        with self._secrets_lock:
            self._secrets |= found

    def _scrub(self, text):
        """`text` with every known secret replaced by ***."""
        text = str(text)
        with self._secrets_lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            if secret and secret in text:
                text = text.replace(secret, "***")
        return text

    def _excerpt(self, body):
        """A short, single-line, secret-free excerpt of a response body."""
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        text = " ".join(str(body or "").split())
        if len(text) > EXCERPT_CHARS:
            text = text[:EXCERPT_CHARS] + "..."
        return self._scrub(text) or "(empty body)"

    def _headers(self):
        headers = {"Accept": self.accept, "User-Agent": USER_AGENT}
        authorization = self._authorization() if callable(self._authorization) else self._authorization
        if authorization:
            self._remember_secret(authorization)
            headers["Authorization"] = authorization
        return headers

    # ------------------------------------------------------------- URLs
    def url_for(self, path, params=None):
        """Absolute URL for an API path (or a full URL the server gave us)."""
        if path.startswith(("http://", "https://")):
            # A `next` link: keep its path and query but talk to the origin we
            # were configured with (behind a proxy the server may advertise
            # another scheme or host name).
            parts = urllib.parse.urlsplit(path)
            url = self._origin + parts.path + (f"?{parts.query}" if parts.query else "")
        else:
            url = self.base_url + "/" + path.lstrip("/")
        query = _encode_params(params)
        if query:
            url += ("&" if "?" in url else "?") + query
        return url

    # ---------------------------------------------------------- requests
    def _context(self):
        with self._ssl_lock:
            if self._ssl_context is None:
                self._ssl_context = make_context(cafile=self.ca_path, validate_certs=self.validate_certs)
            return self._ssl_context

    def _open(self, url, headers, data=None):
        if self._opener is not None:
            if data is not None:
                return self._opener(url, headers, self.timeout, data)
            return self._opener(url, headers, self.timeout)
        method = "GET" if data is None else "POST"
        # Both ansible paths install a process-wide urllib opener on every
        # call; every request of this client uses the same settings, so the
        # concurrent calls of get_all() are harmless. The Authorization header
        # is not carried over redirects, and ~/.netrc is not consulted.
        kwargs = dict(headers=headers, timeout=self.timeout, validate_certs=self.validate_certs,
                      ca_path=self.ca_path, use_proxy=self.use_proxy, http_agent=USER_AGENT,
                      follow_redirects="safe", unredirected_headers=["Authorization"],
                      use_netrc=False)
        if REUSE_CONTEXT:
            return Request().open(method, url, data=data, context=self._context(), **kwargs)
        if open_url is not None:
            return open_url(url, data=data, method=method, **kwargs)
        return self._urllib_open(url, headers, data)  # pragma: no cover

    def _urllib_open(self, url, headers, data=None):  # pragma: no cover - fallback without ansible-core
        if self.validate_certs:
            context = ssl.create_default_context(cafile=self.ca_path)
        else:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        handlers = [urllib.request.HTTPSHandler(context=context)]
        if not self.use_proxy:
            handlers.append(urllib.request.ProxyHandler({}))
        opener = urllib.request.build_opener(*handlers)
        request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
        for key, value in headers.items():
            if key.lower() == "authorization":
                request.add_unredirected_header(key, value)
            else:
                request.add_header(key, value)
        return opener.open(request, timeout=self.timeout)

    @staticmethod
    def _read(response):
        """(body, Content-Type) of a response, which is closed afterwards."""
        try:
            body = response.read()
            content_type = ""
            if getattr(response, "headers", None) is not None:
                content_type = response.headers.get("Content-Type", "") or ""
            return body, content_type
        finally:
            close = getattr(response, "close", None)
            if close:
                close()

    def _sleep_before_retry(self, attempt, retry_after=None):
        delay = min(self.backoff * (2 ** attempt), self.max_backoff)
        if retry_after:
            try:
                delay = min(max(delay, float(retry_after)), self.max_backoff)
            except ValueError:
                pass
        if delay > 0:
            time.sleep(delay)

    def get_json(self, path, params=None):
        """GET one URL and return its decoded JSON body.

        Raises CMDBUnavailable (unreachable, 5xx after retries), CMDBAuthError
        (401/403) or CMDBDataError (other 4xx, a body that is not JSON).
        """
        return self._request_json(path, params)

    def post_json(self, path, payload):
        """POST a JSON body to a read-only query endpoint (GraphQL) and return the decoded answer.

        Retried like a GET: the query changes nothing. Errors as for get_json().
        """
        return self._request_json(path, None, json.dumps(payload).encode("utf-8"))

    def _request_json(self, path, params=None, data=None):
        url = self.url_for(path, params)
        shown = _redact_url(url)
        attempts = self.retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            headers = self._headers()
            if data is not None:
                headers["Content-Type"] = "application/json"
            try:
                body, content_type = self._read(self._open(url, headers, data))
            except urllib.error.HTTPError as exc:
                status = exc.code
                try:
                    err_body = exc.read()
                except Exception:  # noqa: BLE001 - the body is only for the message
                    err_body = b""
                if status in RETRY_STATUSES and not last:
                    retry_after = exc.headers.get("Retry-After") if exc.headers else None
                    self._sleep_before_retry(attempt, retry_after)
                    continue
                raise self._http_error(shown, status, err_body, attempts) from None
            except (urllib.error.URLError, OSError, socket.timeout) as exc:
                reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
                if isinstance(reason, ssl.SSLCertVerificationError):
                    raise CMDBUnavailable(
                        f"cannot reach {shown}: TLS certificate verification failed "
                        f"({self._scrub(getattr(reason, 'verify_message', reason))}); install the CA "
                        "that signed the CMDB's certificate, or set validate_certs: false "
                        "for a lab") from None
                if not last:
                    self._sleep_before_retry(attempt)
                    continue
                raise CMDBUnavailable(
                    f"cannot reach {shown}: {self._scrub(self._reason(reason))} "
                    f"(after {attempts} attempt{'s' if attempts != 1 else ''}); check `url`, "
                    "DNS, the network path and that the CMDB is running") from None
            except (http.client.HTTPException, UrlsConnectionError) as exc:  # e.g. a truncated answer
                if not last:
                    self._sleep_before_retry(attempt)
                    continue
                raise CMDBUnavailable(
                    f"cannot reach {shown}: {self._scrub(self._reason(exc))} "
                    f"(after {attempts} attempts); check `url` and the network path") from None
            return self._decode(shown, body, content_type)
        raise CMDBUnavailable(f"cannot reach {shown}: no attempt was made (retries={self.retries})")

    @staticmethod
    def _reason(exc):
        if isinstance(exc, socket.gaierror):
            return f"the host name does not resolve ({exc.strerror or exc})"
        if isinstance(exc, ConnectionRefusedError):
            return "connection refused (nothing listens on that port)"
        if isinstance(exc, (TimeoutError, socket.timeout)):
            return "timed out (raise `timeout` if the CMDB is just slow)"
        text = str(exc) or type(exc).__name__
        return text

    def _http_error(self, shown, status, body, attempts):
        excerpt = self._excerpt(body)
        if status in (401, 403):
            detail = self._detail(body)
            return CMDBAuthError(
                f"{shown} refused the token (HTTP {status}): check the token and its permissions"
                + (f" (the server said: {detail})" if detail else ""))
        if status in RETRY_STATUSES:
            return CMDBUnavailable(
                f"{shown} answered HTTP {status} {attempts} times: the CMDB is overloaded or "
                f"down; try again later or raise `retries` (body: {excerpt})")
        if status >= 500:
            return CMDBUnavailable(
                f"{shown} failed with HTTP {status}: a server-side error; see the CMDB's logs "
                f"(body: {excerpt})")
        if status == 404:
            return CMDBDataError(
                f"{shown} does not exist (HTTP 404): check that `url` is the CMDB's base URL "
                f"and that the API path exists in this CMDB version (body: {excerpt})")
        if status == 406:
            return CMDBDataError(
                f"{shown} cannot answer with `Accept: {self.accept}` (HTTP 406): the server does "
                "not offer that API version; use a CMDB version this backend supports "
                f"(body: {excerpt})")
        if status == 400:
            return CMDBDataError(
                f"{shown} rejected the request (HTTP 400): usually a filter value the CMDB does "
                f"not know; check `filters` (body: {excerpt})")
        return CMDBDataError(f"{shown} answered HTTP {status}: unexpected for a read-only query "
                             f"(body: {excerpt})")

    def _detail(self, body):
        """The `detail` message of a DRF error body, if any (secret-free)."""
        try:
            data = json.loads(body.decode("utf-8", "replace") if isinstance(body, bytes) else body)
        except (ValueError, TypeError, AttributeError):
            return None
        if isinstance(data, dict) and isinstance(data.get("detail"), str):
            return self._scrub(data["detail"])[:EXCERPT_CHARS]
        return None

    def _decode(self, shown, body, content_type):
        try:
            text = body.decode("utf-8") if isinstance(body, bytes) else str(body)
            return json.loads(text)
        except (ValueError, UnicodeDecodeError):
            kind = f" ({content_type.split(';')[0].strip()})" if content_type else ""
            raise CMDBDataError(
                f"{shown} did not answer with JSON{kind}: check that `url` is the CMDB's base URL "
                f"and not a login page or a proxy's error page (body: {self._excerpt(body)})") from None

    # ------------------------------------------------------- pagination
    def _page(self, path, params):
        data = self.get_json(path, params)
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            raise CMDBDataError(
                f"{_redact_url(self.url_for(path, params))} is not a paginated list "
                f"(expected an object with `results`, got {type(data).__name__}): check the "
                "API path and the CMDB version")
        return data

    def get_all(self, path, params=None):
        """Every object of a paginated list endpoint, in the server's order.

        The first page (limit=page_size) gives `count`; the remaining pages
        are fetched by offset, up to max_concurrency at a time. The page size
        actually used is the number of results the first page returned, so a
        server capping `limit` (MAX_PAGE_SIZE) does not make us skip objects.
        Objects that appear twice (the data changed between pages) are kept
        once, by `id`; if the last page still points to a `next` one, it is
        followed.
        """
        params = dict(params or {})
        params.pop("offset", None)
        params["limit"] = self.page_size
        first = self._page(path, dict(params, offset=0))
        results = list(first["results"])
        count = first.get("count")
        step = len(results)
        if not first.get("next") or step == 0:
            return dedupe_by_id(results)
        if not isinstance(count, int) or isinstance(count, bool):
            return dedupe_by_id(results + self._follow(first["next"]))

        params["limit"] = step
        offsets = list(range(step, count, step))
        pages = []
        if offsets:
            workers = min(self.max_concurrency, len(offsets))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(self._page, path, dict(params, offset=offset))
                           for offset in offsets]
                try:
                    pages = [future.result() for future in futures]
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
        for page in pages:
            results.extend(page["results"])
        tail = pages[-1] if pages else first
        if tail.get("next"):
            results.extend(self._follow(tail["next"]))
        return dedupe_by_id(results)

    def get_all_union(self, path, params, queries):
        """get_all() once per query (params + query), merged by `id` in first-seen order.

        Used for OR semantics the API lacks, e.g. hosts carrying any of
        several tags, where a repeated tag parameter means all of them.
        """
        queries = list(queries or [{}])
        if len(queries) == 1:
            return self.get_all(path, dict(params or {}, **queries[0]))
        out, seen = [], set()
        for query in queries:
            for obj in self.get_all(path, dict(params or {}, **query)):
                key = obj.get("id") if isinstance(obj, dict) else None
                if key is not None:
                    if key in seen:
                        continue
                    seen.add(key)
                out.append(obj)
        return out

    def _follow(self, next_url):
        """Follow `next` links one by one (servers without `count`, late additions)."""
        out = []
        seen = set()
        while next_url and next_url not in seen:
            seen.add(next_url)
            page = self._page(next_url, None)
            out.extend(page["results"])
            next_url = page.get("next")
        return out


def dedupe_by_id(results):
    """Objects in order, each `id` once (objects without one are all kept)."""
    out, seen = [], set()
    for item in results:
        key = item.get("id") if isinstance(item, dict) else None
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        out.append(item)
    return out


class HTTPBackend(Backend):
    """What the NetBox and Nautobot backends share: the client and filters.

    Subclasses set `token_scheme` (None: pick by token shape), `accept`
    (None: plain JSON) and `filter_params`, the query parameter each of the
    `site`, `status` and `tags` filters maps to.
    """

    token_scheme = None
    filter_params = {"site": "site", "status": "status", "tags": "tag"}

    def accept(self):
        return None

    def client(self):
        """The HTTP client for this CMDB."""
        opts = self.options
        kwargs = {}
        accept = self.accept()
        if accept:
            kwargs["accept"] = accept
        return HTTPClient(
            opts.get("url"),
            authorization=token_header(opts.get("token"), scheme=self.token_scheme),
            validate_certs=opts.get("validate_certs", True),
            ca_path=opts.get("ca_path"),
            timeout=opts.get("timeout") or 30,
            retries=opts.get("retries", 3),
            backoff=opts.get("backoff", 0.5),
            max_concurrency=opts.get("max_concurrency") or 4,
            page_size=opts.get("page_size") or 1000,
            **kwargs,
        )

    def filter_queries(self):
        """Query parameter sets for the host lists: one per tag (OR), else one."""
        filters = self.options.get("filters") or {}
        if not isinstance(filters, dict):
            raise CMDBDataError(f"{self.name} backend: `filters` must be a mapping with site, status "
                                "and/or tags")
        unknown = sorted(set(filters) - set(self.filter_params))
        if unknown:
            raise CMDBDataError(f"{self.name} backend: unknown filters {unknown}; supported: "
                                f"{list(self.filter_params)}")
        base = {}
        for key in ("site", "status"):
            if filters.get(key):
                base[self.filter_params[key]] = filters[key]
        tags = filters.get("tags")
        if isinstance(tags, str):
            tags = [tags]
        if not tags:
            return [base]
        return [dict(base, **{self.filter_params["tags"]: tag}) for tag in dict.fromkeys(tags)]

