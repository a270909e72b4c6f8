# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write-back to NetBox 4.x and Nautobot 3.x, shared by the cmdb_* modules.

Three layers:

WriteClient   the inventory's HTTPClient (cmdb/http.py: retries, TLS, token
              scrubbing, one error family) plus request(method, path, body)
              for POST/PATCH/DELETE.
NetBoxAPI,    what differs between the two CMDBs: endpoints, field names,
NautobotAPI   how a related object is named and looked up, how values read
              back compare with what the user asked for. Fields are known
              by generic names (`site`, `role`, `status`, `content_types`,
              ...); each API maps them to its own (`location`,
              `object_types`, ...).
sync()        the pure core: find one object, compare only the fields the
              user set, create / update / delete, and report
              (changed, before, after). It talks only to an API object, so
              tests drive it against a local fake server.

Errors are CMDBError subclasses (cmdb/base.py); modules turn them into one
fail_json in main().
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import re
import socket
import ssl
import urllib.error

from ansible_collections.nospof.platform.plugins.module_utils.cmdb import http as cmdb_http
from ansible_collections.nospof.platform.plugins.module_utils.cmdb.base import (
    CMDBAuthError,
    CMDBDataError,
    CMDBError,
    CMDBUnavailable,
)
from ansible_collections.nospof.platform.plugins.module_utils.cmdb.http import (
    HTTPClient,
    _redact_url,
    token_header,
)

try:
    from ansible.module_utils.basic import env_fallback
except ImportError:  # pragma: no cover
    env_fallback = None

DEPENDS_FIELD = "nospof_depends_on"
DEPLOYMENTS_FIELD = "nospof_deployments"
HOST_KINDS = ("device", "virtual_machine")
NAUTOBOT_API_VERSION = "3.0"

# The connection options every cmdb_* module takes (doc fragment: nospof.platform.cmdb).
COMMON_ARGUMENT_SPEC = dict(
    backend=dict(type="str", choices=["netbox", "nautobot"],
                 fallback=(env_fallback, ["NOSPOF_CMDB_BACKEND"])),
    url=dict(type="str", fallback=(env_fallback, ["NOSPOF_CMDB_URL"])),
    token=dict(type="str", no_log=True, fallback=(env_fallback, ["NOSPOF_CMDB_TOKEN"])),
    validate_certs=dict(type="bool", default=True),
    timeout=dict(type="int", default=30),
)


def argument_spec(**extra):
    """COMMON_ARGUMENT_SPEC plus a module's own options."""
    spec = {key: dict(value) for key, value in COMMON_ARGUMENT_SPEC.items()}
    spec.update(extra)
    return spec


class CMDBMissingObject(CMDBDataError):
    """A related object (role, site, custom field, ...) the request needs does not exist."""


# ====================================================================== HTTP
class WriteClient(HTTPClient):
    """HTTPClient plus request(method, path, body): JSON writes with the same error family."""

    def request(self, method, path, body=None, params=None):
        """Send one request; return the decoded JSON answer (None for 204 No Content).

        GET goes through get_json() (retries, read messages). Writes retry
        only what cannot have reached the server (connection refused) and
        HTTP 429/503; any other failure is reported, never repeated, so a
        POST is not sent twice.
        """
        method = method.upper()
        if method == "GET":
            return self.get_json(path, params)
        url = self.url_for(path, params)
        shown = f"{method} {_redact_url(url)}"
        data = None if body is None else json.dumps(body).encode("utf-8")
        attempts = self.retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                raw, content_type = self._read(self._open_method(method, url, data))
            except urllib.error.HTTPError as exc:
                try:
                    err_body = exc.read()
                except Exception:  # noqa: BLE001 - only for the message
                    err_body = b""
                if exc.code in (429, 503) and not last:
                    self._sleep_before_retry(attempt, exc.headers.get("Retry-After") if exc.headers else None)
                    continue
                raise self._write_error(shown, exc.code, err_body, method) from None
            except (urllib.error.URLError, OSError, socket.timeout) as exc:
                reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
                if isinstance(reason, ssl.SSLCertVerificationError):
                    raise CMDBUnavailable(
                        f"cannot reach {shown}: TLS certificate verification failed; install the CA "
                        "that signed the CMDB's certificate, or set validate_certs: false for a lab") from None
                if isinstance(reason, ConnectionRefusedError) and not last:
                    self._sleep_before_retry(attempt)
                    continue
                raise CMDBUnavailable(
                    f"cannot reach {shown}: {self._scrub(self._reason(reason))}; check `url` and "
                    "that the CMDB is running" + ("" if isinstance(reason, ConnectionRefusedError)
                                                   else " (the request may or may not have been applied)")
                ) from None
            except (http.client.HTTPException, cmdb_http.UrlsConnectionError) as exc:
                raise CMDBUnavailable(f"cannot reach {shown}: {self._scrub(self._reason(exc))}; "
                                      "check `url` and the network path") from None
            if not raw or not raw.strip():
                return None
            return self._decode(shown, raw, content_type)
        raise CMDBUnavailable(f"cannot reach {shown}: no attempt was made")  # pragma: no cover

    def _open_method(self, method, url, data):
        headers = self._headers()
        if data is not None:
            headers["Content-Type"] = "application/json"
        kwargs = dict(headers=headers, timeout=self.timeout, validate_certs=self.validate_certs,
                      ca_path=self.ca_path, use_proxy=self.use_proxy, http_agent=cmdb_http.USER_AGENT,
                      follow_redirects="none", use_netrc=False)
        if cmdb_http.REUSE_CONTEXT:
            return cmdb_http.Request().open(method, url, data=data, context=self._context(), **kwargs)
        return cmdb_http.open_url(url, method=method, data=data, **kwargs)  # pragma: no cover

    def _write_error(self, shown, status, body, method):
        if status in (401, 403):
            detail = self._detail(body)
            hint = "check the token" if status == 401 else \
                "the token lacks permission for this change (a write-enabled token with add/change/delete rights)"
            return CMDBAuthError(f"{shown} refused the token (HTTP {status}): {hint}"
                                 + (f" (the server said: {detail})" if detail else ""))
        if status == 400:
            return CMDBDataError(f"{shown} rejected the data (HTTP 400): {self._field_errors(body)}")
        if status == 404:
            return CMDBDataError(f"{shown} does not exist (HTTP 404): the object is gone or this "
                                 f"CMDB version has no such endpoint (body: {self._excerpt(body)})")
        if status == 409:
            return CMDBDataError(f"{shown} conflicts with the CMDB's current state (HTTP 409): "
                                 f"{self._field_errors(body)}")
        if status >= 500:
            return CMDBUnavailable(f"{shown} failed with HTTP {status}: a server-side error; see the "
                                   f"CMDB's logs (body: {self._excerpt(body)})")
        return CMDBDataError(f"{shown} answered HTTP {status} (body: {self._excerpt(body)})")

    def _field_errors(self, body):
        """`field: message; ...` from a DRF validation error body."""
        try:
            data = json.loads(body.decode("utf-8", "replace") if isinstance(body, bytes) else body)
        except (ValueError, TypeError, AttributeError):
            return self._excerpt(body)
        items = data if isinstance(data, list) else [data]
        parts = []
        for item in items:
            if isinstance(item, dict):
                for key, value in item.items():
                    if isinstance(value, list):
                        value = " ".join(str(v) for v in value)
                    parts.append(f"{key}: {value}" if key not in ("detail", "non_field_errors")
                                 else str(value))
            elif item:
                parts.append(str(item))
        text = "; ".join(parts) or self._excerpt(body)
        return self._scrub(text)[:600]


def make_client(backend, url, token, validate_certs=True, timeout=30):
    """A WriteClient for `backend`, with its Authorization and Accept headers."""
    if backend not in ("netbox", "nautobot"):
        raise CMDBDataError("set `backend` to netbox or nautobot (or NOSPOF_CMDB_BACKEND)")
    if not url:
        raise CMDBDataError("no CMDB url: set `url` (or NOSPOF_CMDB_URL) to the CMDB's base URL")
    if not token:
        raise CMDBAuthError(f"no API token for {_redact_url(url)}: set `token` (or NOSPOF_CMDB_TOKEN)")
    if backend == "nautobot":
        return WriteClient(url, authorization=token_header(token, scheme="Token"),
                           accept=f"application/json; version={NAUTOBOT_API_VERSION}",
                           validate_certs=validate_certs, timeout=timeout, retries=2, backoff=0.5)
    return WriteClient(url, authorization=token_header(token), validate_certs=validate_certs,
                       timeout=timeout, retries=2, backoff=0.5)


def run_module(run, **options):
    """The whole main() of a write-back module: parse the common and the module's
    options, call run(module, api), turn a CMDBError into one fail_json message,
    and drop the diff unless --diff was asked for."""
    from ansible.module_utils.basic import AnsibleModule

    module = AnsibleModule(argument_spec=argument_spec(**options), supports_check_mode=True)
    try:
        result = run(module, make_api(module.params))
    except CMDBError as exc:
        module.fail_json(msg=str(exc))
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


def make_api(params):
    """The backend API object from a module's params (see COMMON_ARGUMENT_SPEC)."""
    client = make_client(params.get("backend"), params.get("url"), params.get("token"),
                         params.get("validate_certs", True), params.get("timeout") or 30)
    return (NautobotAPI if params["backend"] == "nautobot" else NetBoxAPI)(client)


# ================================================================ field kinds
class Resolved:
    """A related object the caller already knows: compared by `display`, written as `pk`."""

    def __init__(self, display, pk):
        self.display = display
        self.pk = pk

    def __repr__(self):  # pragma: no cover
        return f"Resolved({self.display!r}, {self.pk!r})"


class Field:
    """How one generic field maps to a backend field.

    type: str | int | bool | choice | ref | tags | cf | ctypes | ports | ip | pk
    ref:  the kind a `ref` field points to; scope: generic field whose
          resolved id scopes the lookup (a rack within its site).
    """

    def __init__(self, api_name, type_="str", ref=None, scope=None, ci=False):
        self.api_name = api_name
        self.type = type_
        self.ref = ref
        self.scope = scope
        self.ci = ci  # compare case-insensitively


class Kind:
    def __init__(self, path, fields, key="name", query=None, slug=False, label=None):
        self.path = path
        self.fields = fields          # generic name -> Field
        self.key = key                # generic field naming the object
        self.query = query or {}      # generic lookup field -> query parameter
        self.slug = slug              # NetBox: derive `slug` from the key on create
        self.label = label


def slugify(text):
    text = re.sub(r"[^a-z0-9_-]+", "-", str(text).lower()).strip("-")
    return text or "x"


# ====================================================================== APIs
class BaseAPI:
    """Backend-neutral object access; subclasses provide KINDS and naming rules."""

    name = "cmdb"
    product = "the CMDB"
    KINDS = {}
    ctypes_field = "content_types"

    # The same on NetBox and Nautobot: a device has `interface`s, a VM `vm_interface`s.
    def interface_kind(self, host_kind):
        return "interface" if host_kind == "device" else "vm_interface"

    def interface_fields(self, host_kind, host, name):
        if host_kind == "device":
            return {"name": name, "device": Resolved(host["name"], host["id"])}, {"type": "virtual"}
        return {"name": name, "virtual_machine": Resolved(host["name"], host["id"])}, {}

    def __init__(self, client):
        self.client = client
        self._refs = {}

    # ------------------------------------------------------------- kinds
    def kind(self, kind):
        try:
            return self.KINDS[kind]
        except KeyError:
            raise CMDBDataError(f"{self.product} has no object kind {kind!r} here; "
                                f"supported: {', '.join(sorted(self.KINDS))}") from None

    def label(self, kind):
        return self.kind(kind).label or kind.replace("_", " ")

    def list_params(self):
        return {}

    # ------------------------------------------------------------- reads
    def get(self, kind, pk):
        spec = self.kind(kind)
        return self.client.request("GET", f"{spec.path}{pk}/", params=self.list_params() or None)

    def filter(self, kind, params):
        spec = self.kind(kind)
        return self.client.get_all(spec.path, dict(self.list_params(), **params))

    def find(self, kind, lookup):
        """The one object matching `lookup` (generic field -> value), or None."""
        spec = self.kind(kind)
        params = {}
        for field, value in lookup.items():
            fspec = spec.fields.get(field)
            if fspec is not None and fspec.type == "ref" and not isinstance(value, Resolved):
                try:
                    value = Resolved(value, self.resolve(fspec.ref, value, ci=fspec.ci))
                except CMDBMissingObject:
                    return None  # what it belongs to does not exist, so neither does it
            param = spec.query.get(field, fspec.api_name if fspec is not None else field)
            if param is None:  # no server-side filter: matched below
                continue
            if fspec is not None and fspec.ci and fspec.type == "str" and field not in spec.query:
                param += "__ie"
            params[param] = value.pk if isinstance(value, Resolved) else value
        found = [obj for obj in self.filter(kind, params) if self._matches(kind, obj, lookup)]
        if len(found) > 1:
            raise CMDBDataError(f"{self.product} holds {len(found)} {self.label(kind)} objects matching "
                                f"{self._show_lookup(lookup)}; make the name unique or narrow it down")
        return found[0] if found else None

    def _matches(self, kind, obj, lookup):
        """Client-side check of a lookup (servers may ignore an unknown filter)."""
        spec = self.kind(kind)
        for field, value in lookup.items():
            if field not in spec.fields:
                continue
            if not self.equal(kind, field, self.read(kind, obj, field), value):
                return False
        return True

    @staticmethod
    def _show_lookup(lookup):
        return ", ".join(f"{k}={v.display if isinstance(v, Resolved) else v!r}" for k, v in lookup.items())

    # ----------------------------------------------------- value reading
    def read(self, kind, obj, field):
        """The comparable form of obj's generic `field`."""
        spec = self.kind(kind).fields[field]
        value = obj.get(spec.api_name)
        if spec.type == "choice":
            if isinstance(value, dict):
                value = value.get("value")
            return value
        if spec.type == "ref":
            return self.ref_name(spec.ref, value)
        if spec.type == "pk":
            return value.get("id") if isinstance(value, dict) else value
        if spec.type == "tags":
            return sorted(self.ref_name("tag", t) for t in (value or []))
        if spec.type == "ctypes":
            return sorted(value or [])
        if spec.type == "ports":
            return sorted({int(p) for p in (value or [])})
        if spec.type == "ip":
            return value.get("address") if isinstance(value, dict) else value
        if spec.type == "cf":
            return dict(value or {})
        return value

    def ref_name(self, kind, value):
        """The display name of a nested related object."""
        if value is None:
            return None
        if not isinstance(value, dict):
            return value
        key = self.KINDS[kind].fields[self.KINDS[kind].key].api_name if kind in self.KINDS else "name"
        return value.get(key) or value.get("name") or value.get("display")

    def equal(self, kind, field, current, desired):
        """Does the current (read) value satisfy the desired one?"""
        spec = self.kind(kind).fields[field]
        if isinstance(desired, Resolved):
            if spec.type == "pk":
                return current == desired.pk
            desired = desired.display
        if spec.type == "ref":
            return self.ref_equal(spec.ref, current, desired, spec.ci)
        if spec.type == "tags":
            return self.tags_equal(current, desired)
        if spec.type == "ctypes":
            return set(desired or []) <= set(current or [])
        if spec.type == "ports":
            return sorted({int(p) for p in desired or []}) == (current or [])
        if spec.type == "cf":
            return all(_json_equal((current or {}).get(k), v) for k, v in (desired or {}).items())
        if spec.type == "choice" or spec.ci:
            return str(current or "").lower() == str(desired or "").lower()
        if spec.type == "ip":
            return _ip_equal(current, desired)
        if current in (None, "") and desired in (None, ""):
            return True
        return current == desired

    def ref_equal(self, kind, current, desired, ci=False):
        if ci:
            return str(current or "").lower() == str(desired or "").lower()
        return current == desired

    def tags_equal(self, current, desired):
        return sorted(set(current or [])) == sorted(set(desired or []))

    def view(self, kind, obj, fields):
        """{field: comparable value} of obj for `fields`, plus its id."""
        out = {"id": obj.get("id")}
        for field in fields:
            value = self.read(kind, obj, field)
            if self.kind(kind).fields[field].type == "cf":
                value = {k: value.get(k) for k in (fields[field] or {})} if isinstance(fields, dict) \
                    else value
            out[field] = value
        return out

    def desired_view(self, kind, desired):
        out = {}
        for field, value in desired.items():
            spec = self.kind(kind).fields[field]
            if isinstance(value, Resolved):
                value = value.display
            elif spec.type == "ports":
                value = sorted({int(p) for p in value})
            elif spec.type in ("tags", "ctypes"):
                value = sorted(set(value))
            out[field] = value
        return out

    # ------------------------------------------------------ value writing
    def payload(self, kind, fields, current=None):
        """The request body for generic `fields` (related names resolved to ids)."""
        spec = self.kind(kind)
        body = {}
        for field, value in fields.items():
            fspec = spec.fields[field]
            if isinstance(value, Resolved):
                body[fspec.api_name] = value.pk
                continue
            if fspec.type == "ref":
                if value in (None, ""):
                    body[fspec.api_name] = None
                    continue
                scope = None
                if fspec.scope:
                    scope_value = fields.get(fspec.scope)
                    if scope_value is None and current is not None:
                        scope_value = self.read(kind, current, fspec.scope)
                    if scope_value is not None:
                        scope = (fspec.scope, self.resolve(spec.fields[fspec.scope].ref, scope_value))
                body[fspec.api_name] = self.resolve(fspec.ref, value, scope=scope, ci=fspec.ci)
            elif fspec.type == "tags":
                body[fspec.api_name] = [self.resolve("tag", tag) for tag in value or []]
            elif fspec.type == "ctypes":
                merged = set(value or [])
                if current is not None:
                    merged |= set(self.read(kind, current, field) or [])
                body[fspec.api_name] = sorted(merged)
            elif fspec.type == "cf":
                merged = dict(self.read(kind, current, field) or {}) if current is not None else {}
                merged.update(value or {})
                body[fspec.api_name] = merged
            elif fspec.type == "ports":
                body[fspec.api_name] = sorted({int(p) for p in value})
            elif fspec.type == "choice":
                body[fspec.api_name] = str(value).lower() if value is not None else value
            else:
                body[fspec.api_name] = value
        return body

    def resolve(self, kind, name, scope=None, ci=False):
        """The id of the `kind` object named `name` (cached); CMDBMissingObject if none."""
        if isinstance(name, Resolved):
            return name.pk
        cache_key = (kind, name, scope[1] if scope else None)
        if cache_key in self._refs:
            return self._refs[cache_key]
        obj = self.lookup_ref(kind, name, scope, ci)
        if obj is None:
            where = f" in {scope[0]} {scope[1]!r}" if scope else ""
            raise CMDBMissingObject(
                f"{self.product} has no {self.label(kind)} named {name!r}{where}: create it first "
                "(playbooks/cmdb_import.yml ensures the prerequisites, or use nospof.platform.cmdb_object)")
        self._refs[cache_key] = obj["id"]
        return obj["id"]

    def lookup_ref(self, kind, name, scope=None, ci=False):
        spec = self.kind(kind)
        ci = ci or spec.fields[spec.key].ci
        key_param = spec.query.get(spec.key, spec.fields[spec.key].api_name)
        params = {"limit": 1000}
        if key_param is not None:
            params[f"{key_param}__ie" if ci else key_param] = name
        if scope:
            params[self.kind(kind).query.get(scope[0], scope[0])] = scope[1]
        found = self.client.request("GET", spec.path, params=dict(self.list_params(), **params))
        results = [obj for obj in (found or {}).get("results") or []
                   if self.ref_equal(kind, self.read(kind, obj, spec.key), name, ci)]
        if len(results) > 1:
            raise CMDBDataError(f"{self.product} has several {self.label(kind)} objects named {name!r}; "
                                "give a unique name")
        return results[0] if results else None

    # ------------------------------------------------------------- writes
    def create(self, kind, fields):
        spec = self.kind(kind)
        body = self.payload(kind, fields)
        if spec.slug and "slug" not in body:
            body["slug"] = slugify(fields.get(spec.key))
        body.update(self.create_defaults(kind, body))
        created = self.client.request("POST", spec.path, body)
        return self._refetch(kind, created)

    def create_defaults(self, kind, body):
        return {}

    def update(self, kind, current, fields):
        spec = self.kind(kind)
        body = self.payload(kind, fields, current=current)
        updated = self.client.request("PATCH", f"{spec.path}{current['id']}/", body)
        return self._refetch(kind, updated)

    def delete(self, kind, current):
        spec = self.kind(kind)
        self.client.request("DELETE", f"{spec.path}{current['id']}/")

    def _refetch(self, kind, obj):
        """The object as a list GET shows it (nested names), after a write."""
        if not isinstance(obj, dict) or "id" not in obj:
            raise CMDBDataError(f"{self.product} answered a write to {self.kind(kind).path} without an "
                                f"object: {str(obj)[:200]}")
        return self.get(kind, obj["id"]) or obj

    # ------------------------------------------------- custom field checks
    def require_custom_field(self, name, host_kind):
        """The custom field's type; CMDBMissingObject with the fix when it is missing."""
        cf = self.find_custom_field(name)
        object_type = self.object_type(host_kind)
        hint = (f"create it (type JSON, on dcim.device and virtualization.virtualmachine): "
                "playbooks/cmdb_import.yml ensures it, or nospof.platform.cmdb_object kind=custom_field")
        if cf is None:
            raise CMDBMissingObject(f"{self.product} has no custom field {name!r}; {hint}")
        types = self.read("custom_field", cf, "content_types")
        if object_type not in types:
            raise CMDBMissingObject(f"{self.product} custom field {name!r} does not apply to "
                                    f"{object_type} objects (only {', '.join(types) or 'none'}); {hint}")
        return str(self.read("custom_field", cf, "type") or "").lower()

    def find_custom_field(self, name):
        return self.find("custom_field", {"name": name})

    @staticmethod
    def object_type(host_kind):
        return "dcim.device" if host_kind == "device" else "virtualization.virtualmachine"

    # ------------------------------------------------------------- hosts
    def find_host(self, name, host_kind="auto"):
        """(kind, object) of the device or VM named `name`; (None, None) when absent."""
        kinds = HOST_KINDS if host_kind in (None, "auto") else (host_kind,)
        for kind in kinds:
            obj = self.find(kind, {"name": name})
            if obj is not None:
                return kind, obj
        return None, None

    def host_address(self, kind, obj):
        return self.read(kind, obj, "primary_ip4")


def _json_equal(current, desired):
    if current == desired:
        return True
    if current in (None, "", [], {}) and desired in (None, "", [], {}):
        return True
    if isinstance(current, str) and isinstance(desired, (list, dict)):
        try:
            return json.loads(current) == desired
        except ValueError:
            return False
    return False


def _ip_equal(current, desired):
    if current in (None, "") or desired in (None, ""):
        return current in (None, "") and desired in (None, "")
    try:
        return ipaddress.ip_interface(current) == ipaddress.ip_interface(desired)
    except ValueError:
        return current == desired


F = Field


class NetBoxAPI(BaseAPI):
    """NetBox 4.x (REST API as documented: nested objects by id, choices by value)."""

    name = "netbox"
    product = "NetBox"
    ctypes_field = "object_types"

    KINDS = {
        "device": Kind("/api/dcim/devices/", {
            "name": F("name"), "role": F("role", "ref", "role"),
            "device_type": F("device_type", "ref", "device_type"), "site": F("site", "ref", "site"),
            "rack": F("rack", "ref", "rack", scope="site"), "status": F("status", "choice"),
            "platform": F("platform", "ref", "platform"), "cluster": F("cluster", "ref", "cluster"),
            "tags": F("tags", "tags"), "custom_fields": F("custom_fields", "cf"),
            "primary_ip4": F("primary_ip4", "ip"), "description": F("description"),
        }),
        "virtual_machine": Kind("/api/virtualization/virtual-machines/", {
            "name": F("name"), "role": F("role", "ref", "role"), "site": F("site", "ref", "site"),
            "cluster": F("cluster", "ref", "cluster"), "status": F("status", "choice"),
            "platform": F("platform", "ref", "platform"), "tags": F("tags", "tags"),
            "custom_fields": F("custom_fields", "cf"), "primary_ip4": F("primary_ip4", "ip"),
            "description": F("description"),
        }, label="virtual machine"),
        "interface": Kind("/api/dcim/interfaces/", {
            "name": F("name"), "device": F("device", "pk"), "type": F("type", "choice"),
        }, query={"device": "device_id"}),
        "vm_interface": Kind("/api/virtualization/interfaces/", {
            "name": F("name"), "virtual_machine": F("virtual_machine", "pk"),
        }, query={"virtual_machine": "virtual_machine_id"}, label="VM interface"),
        "ip_address": Kind("/api/ipam/ip-addresses/", {
            "address": F("address", "ip"), "status": F("status", "choice"),
            "assigned_object_type": F("assigned_object_type"),
            "assigned_object_id": F("assigned_object_id"),
        }, key="address", label="IP address"),
        "service": Kind("/api/ipam/services/", {
            "name": F("name"), "protocol": F("protocol", "choice"), "ports": F("ports", "ports"),
            "description": F("description"),
        }),
        "site": Kind("/api/dcim/sites/", {
            "name": F("name"), "slug": F("slug"), "status": F("status", "choice"),
            "description": F("description"),
        }, slug=True),
        "rack": Kind("/api/dcim/racks/", {
            "name": F("name"), "site": F("site", "ref", "site"), "status": F("status", "choice"),
        }, query={"site": "site_id"}),
        "role": Kind("/api/dcim/device-roles/", {
            "name": F("name"), "slug": F("slug"), "color": F("color"), "vm_role": F("vm_role", "bool"),
            "description": F("description"),
        }, slug=True, label="device role"),
        "manufacturer": Kind("/api/dcim/manufacturers/", {"name": F("name"), "slug": F("slug")}, slug=True),
        "device_type": Kind("/api/dcim/device-types/", {
            "name": F("model"), "slug": F("slug"), "manufacturer": F("manufacturer", "ref", "manufacturer"),
            "u_height": F("u_height", "int"),
        }, slug=True, label="device type"),
        "platform": Kind("/api/dcim/platforms/", {"name": F("name"), "slug": F("slug")}, slug=True),
        "tag": Kind("/api/extras/tags/", {
            "name": F("name"), "slug": F("slug"), "color": F("color"), "description": F("description"),
        }, slug=True),
        "custom_field": Kind("/api/extras/custom-fields/", {
            "name": F("name"), "type": F("type", "choice"), "label": F("label"),
            "content_types": F("object_types", "ctypes"), "description": F("description"),
        }, label="custom field"),
        "cluster_type": Kind("/api/virtualization/cluster-types/", {"name": F("name"), "slug": F("slug")},
                             slug=True, label="cluster type"),
        "cluster": Kind("/api/virtualization/clusters/", {
            "name": F("name"), "type": F("type", "ref", "cluster_type"), "status": F("status", "choice"),
        }),
    }

    def __init__(self, client):
        super().__init__(client)
        self._version = None

    def version(self):
        """NetBox's version as a tuple, from /api/status/ (cached)."""
        if self._version is None:
            status = self.client.request("GET", "/api/status/") or {}
            text = str(status.get("netbox-version") or "4.0")
            numbers = re.findall(r"\d+", text)[:2] or ["4", "0"]
            self._version = tuple(int(n) for n in numbers)
        return self._version

    def ref_name(self, kind, value):
        if isinstance(value, dict) and kind != "ip_address":
            return value.get("model") or value.get("name") or value.get("slug") or value.get("display")
        return super().ref_name(kind, value)

    def ref_equal(self, kind, current, desired, ci=False):
        return super().ref_equal(kind, current, desired, ci) or (
            desired is not None and current is not None and slugify(current) == str(desired))

    def read(self, kind, obj, field):
        spec = self.kind(kind).fields[field]
        if spec.type == "ref" and isinstance(obj.get(spec.api_name), dict):
            nested = obj[spec.api_name]
            # NetBox's brief objects carry name and slug: keep both for matching
            return nested.get("model") or nested.get("name") or nested.get("slug") or nested.get("display")
        if spec.type == "tags":
            return sorted((t.get("slug") or t.get("name")) if isinstance(t, dict) else t
                          for t in (obj.get(spec.api_name) or []))
        return super().read(kind, obj, field)

    def tags_equal(self, current, desired):
        return sorted(set(current or [])) == sorted({slugify(t) if slugify(t) in (current or []) else t
                                                    for t in (desired or [])})

    def lookup_ref(self, kind, name, scope=None, ci=False):
        obj = super().lookup_ref(kind, name, scope, ci)
        if obj is None and self.kind(kind).slug:
            params = {"slug": slugify(name), "limit": 2}
            if scope:
                params[self.kind(kind).query.get(scope[0], scope[0])] = scope[1]
            found = self.client.request("GET", self.kind(kind).path, params=params) or {}
            results = found.get("results") or []
            obj = results[0] if len(results) == 1 else None
        return obj

    def find(self, kind, lookup):
        if kind in ("role", "site", "manufacturer", "platform", "tag", "cluster_type", "device_type") \
                and set(lookup) == {"name"}:
            # a prerequisite may exist under its slug with another display name
            obj = super().find(kind, lookup)
            if obj is None:
                obj = self.lookup_ref(kind, lookup["name"])
            return obj
        return super().find(kind, lookup)

    # ------------------------------------------------------------- host parts
    def ensure_ip(self, host_kind, host, interface, address, check_mode):
        """(changed, ip object or None): `address` exists and is assigned to `interface`."""
        assigned_type = "dcim.interface" if host_kind == "device" else "virtualization.vminterface"
        host_part = str(ipaddress.ip_interface(address).ip)
        candidates = [ip for ip in self.filter("ip_address", {"address": host_part})
                      if _host_of(ip.get("address")) == host_part]
        mine = [ip for ip in candidates if interface is not None
                and ip.get("assigned_object_type") == assigned_type
                and ip.get("assigned_object_id") == interface.get("id")]
        free = [ip for ip in candidates if not ip.get("assigned_object_id")]
        taken = [ip for ip in candidates if ip not in mine and ip not in free]
        target = (mine or free or [None])[0]
        if target is None and taken:
            other = taken[0].get("assigned_object") or {}
            owner = (other.get("device") or other.get("virtual_machine") or {}).get("name") or "another object"
            raise CMDBDataError(f"NetBox IP address {address} is already assigned to {owner} "
                                f"({other.get('name') or 'an interface'}); free it or choose another address")
        desired = {"address": address}
        if interface is not None:
            desired.update(assigned_object_type=assigned_type, assigned_object_id=interface["id"])
        if target is None:
            if check_mode:
                return True, None
            return True, self.create("ip_address", dict(desired, status="active"))
        if all(self.equal("ip_address", k, self.read("ip_address", target, k), v) for k, v in desired.items()):
            return False, target
        if check_mode:
            return True, target
        return True, self.update("ip_address", target, desired)

    # ----------------------------------------------------------- services
    def service_lookup(self, host_kind, host, name):
        if self.version() >= (4, 3):
            parent_type = self.object_type(host_kind)
            return {"name": name, "parent_object_type": parent_type, "parent_object_id": host["id"]}
        return {"name": name, f"{host_kind}_id": host["id"]}

    def find_service(self, host_kind, host, name):
        params = {"name": name, f"{host_kind}_id": host["id"]}
        found = []
        for svc in self.filter("service", params):
            if svc.get("name") != name:
                continue
            parent = svc.get("parent") if "parent" in svc else svc.get(host_kind)
            parent_type = svc.get("parent_object_type")
            if isinstance(parent_type, str) and parent_type != self.object_type(host_kind):
                continue
            pid = parent.get("id") if isinstance(parent, dict) else svc.get("parent_object_id")
            if pid == host["id"]:
                found.append(svc)
        if len(found) > 1:
            raise CMDBDataError(f"NetBox holds {len(found)} services named {name!r} on {host['name']}; "
                                "remove the duplicates")
        return found[0] if found else None

    def create_service(self, host_kind, host, fields):
        body = self.payload("service", fields)
        if self.version() >= (4, 3):
            body.update(parent_object_type=self.object_type(host_kind), parent_object_id=host["id"])
        else:
            body[host_kind] = host["id"]
        created = self.client.request("POST", self.kind("service").path, body)
        return self._refetch("service", created)


def _host_of(address):
    try:
        return str(ipaddress.ip_interface(address).ip)
    except (TypeError, ValueError):
        return None


class NautobotAPI(BaseAPI):
    """Nautobot 3.x (REST API: UUIDs, depth=1 for names, statuses and roles are objects)."""

    name = "nautobot"
    product = "Nautobot"

    KINDS = {
        "device": Kind("/api/dcim/devices/", {
            "name": F("name"), "role": F("role", "ref", "role"),
            "device_type": F("device_type", "ref", "device_type"), "site": F("location", "ref", "site"),
            "rack": F("rack", "ref", "rack", scope="site"), "status": F("status", "ref", "status", ci=True),
            "platform": F("platform", "ref", "platform"), "tags": F("tags", "tags"),
            "custom_fields": F("custom_fields", "cf"), "primary_ip4": F("primary_ip4", "ip"),
            "description": F("description"),
        }),
        "virtual_machine": Kind("/api/virtualization/virtual-machines/", {
            "name": F("name"), "role": F("role", "ref", "role"), "cluster": F("cluster", "ref", "cluster"),
            "status": F("status", "ref", "status", ci=True), "platform": F("platform", "ref", "platform"),
            "tags": F("tags", "tags"), "custom_fields": F("custom_fields", "cf"),
            "primary_ip4": F("primary_ip4", "ip"), "description": F("description"),
        }, label="virtual machine"),
        "interface": Kind("/api/dcim/interfaces/", {
            "name": F("name"), "device": F("device", "pk"), "type": F("type", "choice"),
            "status": F("status", "ref", "status", ci=True),
        }),
        "vm_interface": Kind("/api/virtualization/interfaces/", {
            "name": F("name"), "virtual_machine": F("virtual_machine", "pk"),
            "status": F("status", "ref", "status", ci=True),
        }, label="VM interface"),
        "ip_address": Kind("/api/ipam/ip-addresses/", {
            "address": F("address", "ip"), "status": F("status", "ref", "status", ci=True),
            "namespace": F("namespace", "pk"),
        }, key="address", label="IP address"),
        "ip_to_interface": Kind("/api/ipam/ip-address-to-interface/", {
            "ip_address": F("ip_address", "pk"), "interface": F("interface", "pk"),
            "vm_interface": F("vm_interface", "pk"),
        }, key="ip_address", label="IP address assignment"),
        "prefix": Kind("/api/ipam/prefixes/", {
            "name": F("prefix"), "status": F("status", "ref", "status", ci=True), "type": F("type", "choice"),
        }, label="prefix"),
        "service": Kind("/api/ipam/services/", {
            "name": F("name"), "protocol": F("protocol", "choice"), "ports": F("ports", "ports"),
            "device": F("device", "pk"), "virtual_machine": F("virtual_machine", "pk"),
            "description": F("description"),
        }),
        "location_type": Kind("/api/dcim/location-types/", {
            "name": F("name"), "content_types": F("content_types", "ctypes"), "nestable": F("nestable", "bool"),
        }, label="location type"),
        "site": Kind("/api/dcim/locations/", {
            "name": F("name"), "location_type": F("location_type", "ref", "location_type"),
            "status": F("status", "ref", "status", ci=True), "description": F("description"),
        }, label="location"),
        "rack": Kind("/api/dcim/racks/", {
            "name": F("name"), "site": F("location", "ref", "site"),
            "status": F("status", "ref", "status", ci=True),
        }, query={"site": "location"}),
        "role": Kind("/api/extras/roles/", {
            "name": F("name"), "color": F("color"), "content_types": F("content_types", "ctypes"),
            "description": F("description"),
        }),
        "status": Kind("/api/extras/statuses/", {
            "name": F("name", ci=True), "color": F("color"), "content_types": F("content_types", "ctypes"),
        }),
        "manufacturer": Kind("/api/dcim/manufacturers/", {"name": F("name")}),
        "device_type": Kind("/api/dcim/device-types/", {
            "name": F("model"), "manufacturer": F("manufacturer", "ref", "manufacturer"),
            "u_height": F("u_height", "int"),
        }, label="device type"),
        "platform": Kind("/api/dcim/platforms/", {"name": F("name")}),
        "tag": Kind("/api/extras/tags/", {
            "name": F("name"), "color": F("color"), "content_types": F("content_types", "ctypes"),
            "description": F("description"),
        }),
        "custom_field": Kind("/api/extras/custom-fields/", {
            "name": F("key"), "type": F("type", "choice"), "label": F("label"),
            "content_types": F("content_types", "ctypes"), "description": F("description"),
        }, query={"name": None}, label="custom field"),  # no filter by key in Nautobot 3
        "cluster_type": Kind("/api/virtualization/cluster-types/", {"name": F("name")}, label="cluster type"),
        "cluster": Kind("/api/virtualization/clusters/", {
            "name": F("name"), "type": F("cluster_type", "ref", "cluster_type"),
            "site": F("location", "ref", "site"),
        }),
    }

    def list_params(self):
        return {"depth": 1}

    def ref_name(self, kind, value):
        if isinstance(value, dict) and kind in self.KINDS:
            key = self.KINDS[kind].fields[self.KINDS[kind].key].api_name
            return value.get(key) or value.get("display")
        return super().ref_name(kind, value)

    def read(self, kind, obj, field):
        spec = self.kind(kind).fields[field]
        if spec.type == "ctypes":
            return sorted(obj.get(spec.api_name) or [])
        return super().read(kind, obj, field)

    def create_defaults(self, kind, body):
        extra = {}
        if kind in ("device", "virtual_machine", "interface", "vm_interface", "ip_address", "prefix",
                    "site", "rack") and "status" not in body:
            extra["status"] = self.resolve("status", "Active", ci=True)
        if kind == "custom_field" and "label" not in body:
            extra["label"] = body.get("key")
        return extra

    # ------------------------------------------------------------- host parts
    def ensure_ip(self, host_kind, host, interface, address, check_mode):
        """(changed, ip object or None): `address` exists (with a parent prefix) on `interface`."""
        changed = False
        iface = ipaddress.ip_interface(address)
        host_part = str(iface.ip)
        candidates = [ip for ip in self.filter("ip_address", {"address": host_part})
                      if _host_of(ip.get("address")) == host_part]
        if len(candidates) > 1:
            raise CMDBDataError(f"Nautobot holds {len(candidates)} IP addresses {host_part} (in several "
                                "namespaces); keep one")
        target = candidates[0] if candidates else None
        if target is None:
            parents = self.client.request("GET", self.kind("prefix").path,
                                          params={"contains": host_part, "limit": 1, "depth": 1}) or {}
            parent = (parents.get("results") or [None])[0]
            if check_mode:
                return True, None
            if parent is None:
                parent = self.create("prefix", {"name": str(iface.network), "type": "network"})
            namespace = _ref_id(parent.get("namespace"))
            target = self.create("ip_address", {"address": address, "namespace": Resolved("", namespace)})
            changed = True
        elif not self.equal("ip_address", "address", self.read("ip_address", target, "address"), address):
            changed = True
            if not check_mode:
                target = self.update("ip_address", target, {"address": address})
        if interface is None:
            return True, target
        field = "interface" if host_kind == "device" else "vm_interface"
        links = self.client.get_all(self.kind("ip_to_interface").path, {"ip_address": target["id"]})
        linked_here = False
        for link in links:
            ref = link.get(field)
            ref_id = ref.get("id") if isinstance(ref, dict) else ref
            if ref_id == interface.get("id"):
                linked_here = True
            elif link.get("interface") or link.get("vm_interface"):
                raise CMDBDataError(f"Nautobot IP address {address} is already assigned to another "
                                    f"interface ({_ref_id(link.get('interface') or link.get('vm_interface'))}); "
                                    "free it or choose another address")
        if not linked_here:
            changed = True
            if not check_mode:
                self.client.request("POST", self.kind("ip_to_interface").path,
                                    {"ip_address": target["id"], field: interface["id"]})
        return changed, target

    # ----------------------------------------------------------- services
    def find_service(self, host_kind, host, name):
        return self.find("service", {"name": name, host_kind: Resolved(host["name"], host["id"])})

    def create_service(self, host_kind, host, fields):
        body = self.payload("service", fields)
        body[host_kind] = host["id"]
        created = self.client.request("POST", self.kind("service").path, body)
        return self._refetch("service", created)


def _ref_id(value):
    return value.get("id") if isinstance(value, dict) else value


def api_for(backend, client):
    return (NautobotAPI if backend == "nautobot" else NetBoxAPI)(client)


# ================================================================= the core
def sync(client, kind, lookup, desired, check_mode, state="present"):
    """Make the `kind` object found by `lookup` match `desired`; return (changed, before, after).

    client:  a NetBoxAPI or NautobotAPI.
    lookup:  generic field -> value naming the object ({"name": "mq1"}); used
             to find it and, on creation, as part of it.
    desired: generic field -> value; None values are not managed. Only these
             fields are compared and written (a list of content types is
             satisfied by any superset; custom fields compare key by key).
    state:   present (create or update) or absent (delete).

    before/after are {"id", field: value} views of the compared fields (None
    when the object is absent), suitable for Ansible's diff.
    """
    fields = {k: v for k, v in (desired or {}).items() if v is not None}
    current = client.find(kind, lookup)
    shown = list(lookup) + [f for f in fields if f not in lookup]
    if state == "absent":
        if current is None:
            return False, None, None
        before = client.view(kind, current, _view_fields(shown, fields))
        if not check_mode:
            client.delete(kind, current)
        return True, before, None
    if current is None:
        after = dict({"id": None}, **client.desired_view(kind, dict(lookup, **fields)))
        if not check_mode:
            created = client.create(kind, dict(lookup, **fields))
            after = client.view(kind, created, _view_fields(shown, fields))
        return True, None, after
    before = client.view(kind, current, _view_fields(shown, fields))
    changes = {k: v for k, v in fields.items()
               if not client.equal(kind, k, client.read(kind, current, k), v)}
    specs = client.kind(kind).fields
    for field, value in fields.items():  # a rack named alike in the new site is another rack
        if field not in changes and specs[field].scope in changes:
            changes[field] = value
    if not changes:
        return False, before, before
    after = dict(before)
    for field, value in client.desired_view(kind, changes).items():
        if client.kind(kind).fields[field].type == "cf":
            after[field] = dict(before.get(field) or {}, **value)
        elif client.kind(kind).fields[field].type == "ctypes":
            after[field] = sorted(set(before.get(field) or []) | set(value))
        else:
            after[field] = value
    if not check_mode:
        updated = client.update(kind, current, changes)
        after = client.view(kind, updated, _view_fields(shown, fields))
    return True, before, after


def _view_fields(names, fields):
    """Field names to view; custom fields viewed only for the keys being managed."""
    return {name: fields.get(name) for name in names}


__all__ = ["COMMON_ARGUMENT_SPEC", "CMDBError", "CMDBMissingObject", "NetBoxAPI", "NautobotAPI",
           "Resolved", "WriteClient", "argument_spec", "make_api", "make_client", "sync"]
