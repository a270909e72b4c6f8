"""A local fake NetBox 4.x (http.server) for the cmdb_* modules, and a module runner.

The fake keeps objects in memory and answers the way NetBox's REST API does:
paginated lists, nested brief objects for related fields, choices as
{"value", "label"}, every custom field present on devices and VMs, 201 on
POST, 200 on PATCH, 204 on DELETE, 400 with field errors, 403 for a bad
token. Every request is recorded so tests can assert exactly what a module
sent.
"""

import copy
import ipaddress
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible.module_utils.testing import patch_module_args

TOKEN = "0123456789abcdef0123456789abcdef01234567"

# endpoint -> {field: endpoint of the related object}
REFS = {
    "dcim/devices": {"role": "dcim/device-roles", "device_type": "dcim/device-types", "site": "dcim/sites",
                     "rack": "dcim/racks", "platform": "dcim/platforms", "cluster": "virtualization/clusters",
                     "primary_ip4": "ipam/ip-addresses"},
    "virtualization/virtual-machines": {"role": "dcim/device-roles", "site": "dcim/sites",
                                        "cluster": "virtualization/clusters", "platform": "dcim/platforms",
                                        "primary_ip4": "ipam/ip-addresses"},
    "dcim/interfaces": {"device": "dcim/devices"},
    "virtualization/interfaces": {"virtual_machine": "virtualization/virtual-machines"},
    "dcim/racks": {"site": "dcim/sites"},
    "dcim/device-types": {"manufacturer": "dcim/manufacturers"},
    "virtualization/clusters": {"type": "virtualization/cluster-types"},
    "ipam/services": {"device": "dcim/devices", "virtual_machine": "virtualization/virtual-machines"},
}
CHOICES = {"status", "protocol", "type"}
HOST_TYPES = {"dcim/devices": "dcim.device", "virtualization/virtual-machines": "virtualization.virtualmachine"}
PARENT_ENDPOINTS = {"dcim.device": "dcim/devices", "virtualization.virtualmachine": "virtualization/virtual-machines"}
REQUIRED = {
    "dcim/devices": ("name", "device_type", "role", "site"),
    "virtualization/virtual-machines": ("name",),
    "dcim/interfaces": ("device", "name", "type"),
    "ipam/ip-addresses": ("address",),
    "dcim/sites": ("name", "slug"),
    "dcim/device-roles": ("name", "slug"),
    "extras/tags": ("name", "slug"),
    "extras/custom-fields": ("name", "type", "object_types"),
}


class FakeNetBox:
    def __init__(self, version="4.4.6"):
        self.version = version
        self.objects = {}   # endpoint -> {id: stored object}
        self.next_id = 1
        self.requests = []  # (method, path, query, body)
        self.lock = threading.Lock()

    # ----------------------------------------------------------- seeding
    def add(self, endpoint, **fields):
        obj = dict(fields)
        obj["id"] = self.next_id
        self.next_id += 1
        if endpoint in HOST_TYPES:
            obj.setdefault("tags", [])
            obj.setdefault("custom_fields", {})
            obj.setdefault("primary_ip4", None)
        self.objects.setdefault(endpoint, {})[obj["id"]] = obj
        return obj["id"]

    def find(self, endpoint, **match):
        return [o for o in self.objects.get(endpoint, {}).values()
                if all(o.get(k) == v for k, v in match.items())]

    def writes(self):
        return [r for r in self.requests if r[0] in ("POST", "PATCH", "PUT", "DELETE")]

    def seed_basics(self, custom_fields=("nospof_depends_on", "nospof_deployments")):
        ids = {}
        ids["dc1"] = self.add("dcim/sites", name="dc1", slug="dc1", status="active")
        ids["dc2"] = self.add("dcim/sites", name="dc2", slug="dc2", status="active")
        ids["r1"] = self.add("dcim/racks", name="r1", site=ids["dc1"], status="active")
        ids["r2"] = self.add("dcim/racks", name="r2", site=ids["dc1"], status="active")
        ids["rabbitmq"] = self.add("dcim/device-roles", name="RabbitMQ", slug="rabbitmq", vm_role=True)
        ids["generic"] = self.add("dcim/manufacturers", name="Generic", slug="generic")
        ids["server"] = self.add("dcim/device-types", model="Generic server", slug="generic-server",
                                 manufacturer=ids["generic"], u_height=1)
        ids["prod"] = self.add("extras/tags", name="prod", slug="prod")
        ids["vmtype"] = self.add("virtualization/cluster-types", name="nospof", slug="nospof")
        ids["vmc1"] = self.add("virtualization/clusters", name="vmc1", type=ids["vmtype"], status="active")
        for name in custom_fields:
            self.add("extras/custom-fields", name=name, type="json", label=name,
                     object_types=["dcim.device", "virtualization.virtualmachine"])
        return ids

    # ---------------------------------------------------------- rendering
    def cf_names(self, endpoint):
        object_type = HOST_TYPES.get(endpoint)
        return [cf["name"] for cf in self.objects.get("extras/custom-fields", {}).values()
                if object_type in cf["object_types"]]

    def brief(self, endpoint, pk):
        obj = self.objects.get(endpoint, {}).get(pk)
        if obj is None:
            return None
        out = {"id": pk, "url": f"http://netbox.test/api/{endpoint}/{pk}/",
               "display": obj.get("name") or obj.get("model") or obj.get("address")}
        for key in ("name", "slug", "model", "address"):
            if key in obj:
                out[key] = obj[key]
        if endpoint == "dcim/interfaces":
            out["device"] = self.brief("dcim/devices", obj["device"])
        if endpoint == "virtualization/interfaces":
            out["virtual_machine"] = self.brief("virtualization/virtual-machines", obj["virtual_machine"])
        return out

    def render(self, endpoint, obj):
        out = copy.deepcopy(obj)
        out["url"] = f"http://netbox.test/api/{endpoint}/{obj['id']}/"
        for field, target in REFS.get(endpoint, {}).items():
            if field in out and out[field] is not None:
                out[field] = self.brief(target, out[field])
        for field in CHOICES:
            if isinstance(out.get(field), str) and endpoint != "extras/custom-fields" or \
                    (field == "type" and endpoint == "extras/custom-fields"):
                out[field] = {"value": out[field], "label": str(out[field]).capitalize()}
        if endpoint in HOST_TYPES:
            out["tags"] = [self.brief("extras/tags", t) for t in obj.get("tags", [])]
            out["custom_fields"] = {name: obj.get("custom_fields", {}).get(name) for name in self.cf_names(endpoint)}
        if endpoint == "ipam/ip-addresses" and obj.get("assigned_object_id"):
            target = "dcim/interfaces" if obj["assigned_object_type"] == "dcim.interface" else "virtualization/interfaces"
            out["assigned_object"] = self.brief(target, obj["assigned_object_id"])
        if endpoint == "ipam/services" and self.version_tuple() >= (4, 3):
            out["parent"] = self.brief(PARENT_ENDPOINTS[obj["parent_object_type"]], obj["parent_object_id"])
        return out

    def version_tuple(self):
        return tuple(int(x) for x in self.version.split(".")[:2])

    # ------------------------------------------------------------ queries
    def matches(self, endpoint, obj, query):
        for key, values in query.items():
            if key in ("limit", "offset", "brief", "fields"):
                continue
            value = values[0]
            if key in ("name", "slug", "model"):
                if str(obj.get(key)) != value:
                    return False
            elif key == "name__ie":
                if str(obj.get("name", "")).lower() != value.lower():
                    return False
            elif key.endswith("_id") and key[:-3] in ("site", "device", "virtual_machine"):
                field = key[:-3]
                if endpoint == "ipam/services" and self.version_tuple() >= (4, 3):
                    want_type = "dcim.device" if field == "device" else "virtualization.virtualmachine"
                    if obj.get("parent_object_type") != want_type or str(obj.get("parent_object_id")) != value:
                        return False
                elif str(obj.get(field)) != value:
                    return False
            elif key == "address":
                host = str(ipaddress.ip_interface(obj["address"]).ip)
                if ("/" in value and obj["address"] != value) or ("/" not in value and host != value):
                    return False
            elif key in ("parent_object_type", "parent_object_id"):
                if str(obj.get(key)) != value:
                    return False
        return True

    # ------------------------------------------------------------ writing
    def validate(self, endpoint, body, existing=None):
        errors = {}
        merged = dict(existing or {}, **body)
        for field in REQUIRED.get(endpoint, ()):
            if merged.get(field) in (None, "", []):
                errors[field] = ["This field is required."]
        if endpoint == "ipam/services":
            if self.version_tuple() >= (4, 3):
                if not merged.get("parent_object_type"):
                    errors["parent_object_type"] = ["A parent object (type & id) must be specified"]
            elif not (merged.get("device") or merged.get("virtual_machine")):
                errors["device"] = ["A service must be associated with a device or virtual machine."]
        for field, target in REFS.get(endpoint, {}).items():
            value = body.get(field)
            if value is not None and value not in self.objects.get(target, {}):
                errors[field] = [f"Related object not found using the provided numeric ID: {value}"]
        if "custom_fields" in body:
            known = self.cf_names(endpoint)
            for key in body["custom_fields"]:
                if key not in known:
                    errors.setdefault("custom_fields", []).append(f"Unknown field name '{key}' in custom field data.")
        return errors

    def write(self, method, endpoint, pk, body):
        if method == "DELETE":
            del self.objects[endpoint][pk]
            return 204, None
        existing = self.objects.get(endpoint, {}).get(pk) if pk else None
        errors = self.validate(endpoint, body, existing)
        if errors:
            return 400, errors
        if method == "POST":
            pk = self.add(endpoint, **body)
            obj = self.objects[endpoint][pk]
        else:
            obj = existing
            for key, value in body.items():
                if key == "custom_fields":
                    obj.setdefault("custom_fields", {}).update(value)
                else:
                    obj[key] = value
        return (201 if method == "POST" else 200), self.render(endpoint, obj)


def make_handler(fake):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, status, data):
            body = b"" if data is None else json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def handle_any(self, method):
            parts = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(parts.query)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            with fake.lock:
                fake.requests.append((method, parts.path, {k: v[0] for k, v in query.items()}, body))
            if self.headers.get("Authorization") != f"Token {TOKEN}":
                return self.reply(403, {"detail": "Invalid token"})
            path = parts.path.strip("/").split("/")
            if path[:2] == ["api", "status"]:
                return self.reply(200, {"netbox-version": fake.version, "python-version": "3.12"})
            if len(path) < 3 or path[0] != "api":
                return self.reply(404, {"detail": "Not found."})
            endpoint = "/".join(path[1:3])
            pk = int(path[3]) if len(path) > 3 and path[3] else None
            with fake.lock:
                if method == "GET":
                    if pk is not None:
                        obj = fake.objects.get(endpoint, {}).get(pk)
                        return self.reply(200, fake.render(endpoint, obj)) if obj else \
                            self.reply(404, {"detail": "Not found."})
                    items = [fake.render(endpoint, o) for o in fake.objects.get(endpoint, {}).values()
                             if fake.matches(endpoint, o, query)]
                    limit = int(query.get("limit", ["50"])[0])
                    offset = int(query.get("offset", ["0"])[0])
                    return self.reply(200, {"count": len(items), "next": None, "previous": None,
                                            "results": items[offset:offset + limit]})
                if pk is None and method != "POST":
                    return self.reply(405, {"detail": "Method not allowed."})
                if pk is not None and pk not in fake.objects.get(endpoint, {}):
                    return self.reply(404, {"detail": "Not found."})
                status, data = fake.write(method, endpoint, pk, body or {})
            return self.reply(status, data)

        def do_GET(self):
            self.handle_any("GET")

        def do_POST(self):
            self.handle_any("POST")

        def do_PATCH(self):
            self.handle_any("PATCH")

        def do_DELETE(self):
            self.handle_any("DELETE")

    return Handler


@pytest.fixture
def netbox():
    fake = FakeNetBox()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    fake.token = TOKEN
    fake.server = server
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def run_module(capsys):
    """run_module(module, args, check=False, diff=True) -> (failed, result)."""

    def run(module, args, check=False, diff=True):
        args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                module.main()
        out = capsys.readouterr().out
        result = json.loads(out)
        return bool(result.get("failed")), result

    return run
