"""The Nautobot backend against a local HTTP server answering like Nautobot 3.x."""

import copy
import functools
import json
import re
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.nospof.platform.plugins.module_utils.cmdb import http, nautobot
from ansible_collections.nospof.platform.plugins.module_utils.cmdb.base import (
    CMDBAuthError,
    CMDBDataError,
)

MAKE_CONTEXT = http.make_context
TOKEN = "7a1c9e4b2d8f6a0c3e5b7d9f1a2c4e6b8d0f2a4c"
NB = "http://nautobot.example.org"


# ---------------------------------------------------------- Nautobot data
def uuid(n):
    return f"{n:08d}-0000-4000-8000-000000000000"


def ref(object_type, path, n):
    """A bare reference, as at depth=0 and for a nested object's own relations at depth=1."""
    return {"id": uuid(n), "object_type": object_type, "url": f"{NB}/api/{path}/{uuid(n)}/"}


def obj(object_type, path, n, display, **fields):
    """A related object expanded by depth>=1."""
    return {**ref(object_type, path, n), "display": display, "natural_slug": f"{display}_{n}",
            "notes_url": f"{NB}/api/{path}/{uuid(n)}/notes/", "custom_fields": {},
            "created": "2026-01-05T10:00:00Z", "last_updated": "2026-01-05T10:00:00Z", **fields}


ACTIVE = obj("extras.status", "extras/statuses", 1, "Active", name="Active", color="4caf50", description="")
PLANNED = obj("extras.status", "extras/statuses", 2, "Planned", name="Planned", color="00bcd4",
              description="")
DC1 = obj("dcim.location", "dcim/locations", 10, "DC1", name="DC1", description="",
          location_type=ref("dcim.locationtype", "dcim/location-types", 90), parent=None,
          status=ref("extras.status", "extras/statuses", 1), tenant=None, time_zone=None)
DC2 = obj("dcim.location", "dcim/locations", 11, "DC2", name="DC2", description="",
          location_type=ref("dcim.locationtype", "dcim/location-types", 90), parent=None,
          status=ref("extras.status", "extras/statuses", 1), tenant=None, time_zone=None)
RABBITMQ = obj("extras.role", "extras/roles", 20, "RabbitMQ", name="RabbitMQ", color="ff9800",
               weight=None, description="")
APP = obj("extras.role", "extras/roles", 21, "App", name="App", color="ff9800", weight=None, description="")
DEBIAN = obj("dcim.platform", "dcim/platforms", 30, "debian", name="debian", network_driver="",
             napalm_driver="", description="", manufacturer=None)
PROD = obj("extras.tag", "extras/tags", 40, "prod", name="prod", color="9e9e9e", description="")
DB = obj("extras.tag", "extras/tags", 41, "db", name="db", color="9e9e9e", description="")


def ip(n, address):
    host, _, mask = address.partition("/")
    return obj("ipam.ipaddress", "ipam/ip-addresses", n, address, address=address, host=host,
               mask_length=int(mask), ip_version=6 if ":" in host else 4, type="host",
               dns_name="", description="", status=ref("extras.status", "extras/statuses", 1),
               role=None, parent=ref("ipam.prefix", "ipam/prefixes", 99), tenant=None,
               nat_inside=None)


def rack(n, name, location):
    return obj("dcim.rack", "dcim/racks", n, name, name=name, facility_id=None, u_height=42,
               location=ref("dcim.location", "dcim/locations", location),
               status=ref("extras.status", "extras/statuses", 1))


def device(n, name, **fields):
    base = {"id": uuid(n), "object_type": "dcim.device", "display": name or f"Unnamed device ({uuid(n)})",
            "url": f"{NB}/api/dcim/devices/{uuid(n)}/", "natural_slug": f"{name}_{n}",
            "name": name, "serial": "", "asset_tag": None, "position": None, "face": None,
            "device_type": obj("dcim.devicetype", "dcim/device-types", 50, "Generic 1U",
                               model="Generic 1U", u_height=1,
                               manufacturer=ref("dcim.manufacturer", "dcim/manufacturers", 51)),
            "status": ACTIVE, "role": None, "platform": None, "tenant": None, "location": None,
            "rack": None, "primary_ip4": None, "primary_ip6": None, "cluster": None,
            "tags": [], "custom_fields": {}, "notes_url": f"{NB}/api/dcim/devices/{uuid(n)}/notes/",
            "created": "2026-01-05T10:00:00Z", "last_updated": "2026-01-05T10:00:00Z"}
    base.update(fields)
    return base


def cluster(n, name, location):
    return obj("virtualization.cluster", "virtualization/clusters", n, name, name=name, comments="",
               cluster_type=ref("virtualization.clustertype", "virtualization/cluster-types", 70),
               cluster_group=None, tenant=None, location=location)


def vm(n, name, **fields):
    base = {"id": uuid(n), "object_type": "virtualization.virtualmachine", "display": name,
            "url": f"{NB}/api/virtualization/virtual-machines/{uuid(n)}/", "name": name,
            "vcpus": 2, "memory": 4096, "disk": 40, "comments": "", "status": ACTIVE,
            "role": None, "platform": None, "tenant": None, "cluster": None,
            "primary_ip4": None, "primary_ip6": None, "software_version": None,
            "tags": [], "custom_fields": {}}
    base.update(fields)
    return base


def service(n, name, protocol, ports, device=None, virtual_machine=None):
    return {"id": uuid(n), "object_type": "ipam.service", "display": name,
            "url": f"{NB}/api/ipam/services/{uuid(n)}/", "name": name, "protocol": protocol,
            "ports": ports, "description": "", "device": device, "virtual_machine": virtual_machine,
            "tags": [], "custom_fields": {}}


def host_ref(kind, n, name):
    path = "dcim/devices" if kind == "dcim.device" else "virtualization/virtual-machines"
    return obj(kind, path, n, name, name=name)


TCP = {"value": "tcp", "label": "TCP"}
UDP = {"value": "udp", "label": "UDP"}

DEVICES = [
    device(100, "mq1", role=RABBITMQ, platform=DEBIAN, location=DC1, rack=rack(60, "R1", 10),
           primary_ip4=ip(200, "10.0.0.11/24"), tags=[PROD],
           custom_fields={"nospof_depends_on": ["dns"], "owner": "ops"}),
    device(101, "mq2", role=RABBITMQ, location=DC2, rack=rack(61, "R7", 11),
           primary_ip6=ip(201, "2001:db8::12/64"), tags=[PROD, DB],
           custom_fields={"nospof_depends_on": "dns,ntp"}),
    device(102, "dns1", role=obj("extras.role", "extras/roles", 22, "DNS", name="DNS", color="", weight=None,
                                 description=""),
           platform=DEBIAN, location=DC1, primary_ip4=ip(202, "10.0.0.53/24"),
           custom_fields={"nospof_depends_on": None}),
    # the token may not view this device's role and address: Nautobot 3 restricts them
    device(103, "web1", location=DC1, role={**ref("extras.role", "extras/roles", 23), "display": "Web"},
           primary_ip4={**ref("ipam.ipaddress", "ipam/ip-addresses", 203), "display": "10.0.0.30/24"}),
    device(104, None, location=DC1),  # unnamed: skipped
    device(105, "spare1", status=PLANNED, role=RABBITMQ, location=DC2, tags=[DB]),  # no address
]

VMS = [  # depth=2: cluster.location is expanded too
    vm(300, "app1", role=APP, platform=DEBIAN, cluster=cluster(80, "prod-cluster", DC2),
       primary_ip4=ip(210, "10.0.1.21/24"), tags=[PROD],
       custom_fields={"nospof_depends_on": ["amqps", "dns"]}),
    vm(301, "app2", cluster=cluster(81, "lab-cluster", None), primary_ip4=ip(211, "10.0.2.22/24")),
    vm(302, "app3", primary_ip4=ip(212, "10.0.3.23/24")),  # no cluster
]

SERVICES = [
    service(400, "dns", UDP, [53], device=host_ref("dcim.device", 102, "dns1")),
    service(401, "amqps", TCP, [5671], device=host_ref("dcim.device", 100, "mq1")),
    service(402, "http", "tcp", [8080, 8443],
            virtual_machine=host_ref("virtualization.virtualmachine", 300, "app1")),
    service(403, "ntp", {"value": "udp", "label": "UDP"}, [123],
            virtual_machine=host_ref("virtualization.virtualmachine", 301, "app2")),
]

EXPECTED_HOSTS = [
    {"name": "mq1", "address": "10.0.0.11", "site": "DC1", "rack": "R1", "roles": ["RabbitMQ"],
     "tags": ["prod"], "status": "active", "cluster": None, "platform": "debian", "vars": {}},
    {"name": "mq2", "address": "2001:db8::12", "site": "DC2", "rack": "R7", "roles": ["RabbitMQ"],
     "tags": ["prod", "db"], "status": "active", "cluster": None, "platform": None, "vars": {}},
    {"name": "dns1", "address": "10.0.0.53", "site": "DC1", "rack": None, "roles": ["DNS"],
     "tags": [], "status": "active", "cluster": None, "platform": "debian", "vars": {}},
    {"name": "web1", "address": "10.0.0.30", "site": "DC1", "rack": None, "roles": ["Web"],
     "tags": [], "status": "active", "cluster": None, "platform": None, "vars": {}},
    {"name": "spare1", "address": None, "site": "DC2", "rack": None, "roles": ["RabbitMQ"],
     "tags": ["db"], "status": "planned", "cluster": None, "platform": None, "vars": {}},
    {"name": "app1", "address": "10.0.1.21", "site": "DC2", "rack": None, "roles": ["App"],
     "tags": ["prod"], "status": "active", "cluster": "prod-cluster", "platform": "debian", "vars": {}},
    {"name": "app2", "address": "10.0.2.22", "site": None, "rack": None, "roles": [],
     "tags": [], "status": "active", "cluster": "lab-cluster", "platform": None, "vars": {}},
    {"name": "app3", "address": "10.0.3.23", "site": None, "rack": None, "roles": [],
     "tags": [], "status": "active", "cluster": None, "platform": None, "vars": {}},
]
EXPECTED_SERVICES = [
    {"name": "dns", "host": "dns1", "protocol": "udp", "ports": [53]},
    {"name": "amqps", "host": "mq1", "protocol": "tcp", "ports": [5671]},
    {"name": "http", "host": "app1", "protocol": "tcp", "ports": [8080, 8443]},
    {"name": "ntp", "host": "app2", "protocol": "udp", "ports": [123]},
]
EXPECTED_DEPENDENCIES = [
    {"host": "mq1", "service": None, "needs": "dns"},
    {"host": "mq2", "service": None, "needs": "dns"},
    {"host": "mq2", "service": None, "needs": "ntp"},
    {"host": "app1", "service": None, "needs": "amqps"},
    {"host": "app1", "service": None, "needs": "dns"},
]


# --------------------------------------------------------------- server
def _flatten(value, depth):
    """What Nautobot returns for `value` at `depth`: bare references below it."""
    if isinstance(value, list):
        return [_flatten(v, depth) for v in value]
    if not isinstance(value, dict):
        return value
    def related(item):
        if depth > 0:
            return _flatten(item, depth - 1)
        return {k: item[k] for k in ("id", "object_type", "url")}

    out = {}
    for key, item in value.items():
        if isinstance(item, dict) and "object_type" in item:
            out[key] = related(item)
        elif isinstance(item, list) and item and isinstance(item[0], dict) and "object_type" in item[0]:
            out[key] = [related(i) for i in item]
        else:
            out[key] = item
    return out


class FakeNautobot:
    """Serves the lists above like Nautobot 3: depth, limit/offset, location/status/tags filters."""

    def __init__(self):
        self.data = {"/api/dcim/devices/": copy.deepcopy(DEVICES),
                     "/api/virtualization/virtual-machines/": copy.deepcopy(VMS),
                     "/api/ipam/services/": copy.deepcopy(SERVICES)}
        self.requests = []
        self.honour_depth = True
        self.delay = 0.0         # seconds each GraphQL answer takes
        self.graphql_cap = 1000  # most objects per GraphQL page, whatever the limit
        self.inflight = 0        # GraphQL requests being answered now
        self.peak = 0            # the most at once
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802
                parts = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(parts.query)
                fake.requests.append((parts.path, query, dict(self.headers.items())))
                self.reply(*fake.answer(parts.path, query, self.headers), api_version="3.0")

            def do_POST(self):  # noqa: N802
                parts = urllib.parse.urlsplit(self.path)
                payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                fake.requests.append((parts.path, payload, dict(self.headers.items())))
                with fake.lock:
                    fake.inflight += 1
                    fake.peak = max(fake.peak, fake.inflight)
                try:
                    time.sleep(fake.delay)
                    answer = fake.graphql(parts.path, payload, self.headers)
                finally:
                    with fake.lock:
                        fake.inflight -= 1
                self.reply(*answer)

            def reply(self, status_code, data, api_version=None):
                body = json.dumps(data).encode()
                self.send_response(status_code)
                self.send_header("Content-Type", "application/json")
                if api_version:
                    self.send_header("API-Version", api_version)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, path, query, headers):
        if headers.get("Authorization") != f"Token {TOKEN}":
            return 403, {"detail": "Invalid token"}
        accept = headers.get("Accept", "")
        if "version=" in accept and "version=3." not in accept:
            return 406, {"detail": 'Invalid version in "Accept" header.'}
        if path not in self.data:
            return 404, {"detail": "Not found."}
        objects = self.data[path]
        if "location" in query:
            objects = [o for o in objects
                       if ((o.get("location") or (o.get("cluster") or {}).get("location") or {}).get("name")
                           in query["location"])]
        if "status" in query:
            objects = [o for o in objects if o["status"]["name"] in query["status"]]
        for wanted in query.get("tags", []):
            objects = [o for o in objects if wanted in [t["name"] for t in o["tags"]]]
        depth = int(query.get("depth", ["0"])[0]) if self.honour_depth else 0
        limit = min(int(query.get("limit", ["50"])[0]) or 1000, 1000)
        offset = int(query.get("offset", ["0"])[0])

        def link(off):
            q = dict(query, limit=[str(limit)], offset=[str(off)])
            return f"{NB}{path}?{urllib.parse.urlencode(q, doseq=True)}"

        return 200, {"count": len(objects),
                     "next": link(offset + limit) if offset + limit < len(objects) else None,
                     "previous": link(max(0, offset - limit)) if offset else None,
                     "results": [_flatten(o, depth) for o in objects[offset:offset + limit]]}

    # GraphQL lists: name -> REST path of the same objects
    LISTS = {"devices": "/api/dcim/devices/", "virtual_machines": "/api/virtualization/virtual-machines/",
             "services": "/api/ipam/services/"}

    def graphql(self, path, payload, headers):
        """`query { <list>(limit: N, offset: M[, location: [..]][, status: [..]][, tags: [..]]) { fields } }`
        answered like Nautobot: the objects with related objects expanded and custom fields as
        `_custom_field_data`. The fields asked for are recorded, not enforced (the integration suite
        runs the real query against a real Nautobot)."""
        if headers.get("Authorization") != f"Token {TOKEN}":
            return 403, {"detail": "Invalid token"}
        if path != "/api/graphql/":
            return 404, {"detail": "Not found."}
        match = re.match(r"^query \{ (\w+)\((.*?)\) \{ (.*) \} \}$", payload.get("query", ""))
        if not match or match.group(1) not in self.LISTS:
            return 200, {"data": None, "errors": [{"message": f"Syntax Error: {payload.get('query')!r}"}]}
        field, args = match.group(1), match.group(2)
        values = {k: json.loads(v) for k, v in re.findall(r"(\w+): (\[.*?\]|\d+)", args)}
        unknown = set(values) - {"limit", "offset", "location", "status", "tags"}
        if unknown:
            return 200, {"data": None, "errors": [{"message": f"Unknown argument {sorted(unknown)[0]!r}"}]}
        query = {k: v for k, v in values.items() if isinstance(v, list)}
        query.update(limit=[str(min(values.get("limit", 1000), self.graphql_cap))],
                     offset=[str(values.get("offset", 0))], depth=["2"])
        status_code, page = self.answer(self.LISTS[field], query, {"Authorization": f"Token {TOKEN}"})
        items = []
        for item in page["results"]:
            item = dict(item)
            item["_custom_field_data"] = item.pop("custom_fields", {})
            items.append(item)
        return status_code, {"data": {field: items}}

    def calls(self, path):
        return [q for p, q, _ in self.requests if p == path]

    def graphql_calls(self):
        return [q["query"] for p, q, _ in self.requests if p == "/api/graphql/"]


@functools.lru_cache(maxsize=None)
def _shared_context(cafile=None, validate_certs=True):
    return MAKE_CONTEXT(cafile=cafile, validate_certs=validate_certs)


@pytest.fixture(autouse=True)
def fast_and_proxyless(monkeypatch):
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(http, "make_context", _shared_context)


@pytest.fixture
def nb():
    fake = FakeNautobot()
    thread = threading.Thread(target=fake.server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def backend(fake, **options):
    options.setdefault("url", fake.url)
    options.setdefault("token", TOKEN)
    options.setdefault("retries", 0)
    options.setdefault("api", "rest")
    return nautobot.NautobotBackend(options)


# ---------------------------------------------------------------- tests
def test_fetch_produces_exact_records(nb):
    records = backend(nb).fetch()
    assert records["hosts"] == EXPECTED_HOSTS
    assert records["services"] == EXPECTED_SERVICES
    assert records["dependencies"] == EXPECTED_DEPENDENCIES


def test_requests_depth_version_and_token(nb):
    backend(nb, page_size=4).fetch()
    assert [q for q in nb.calls("/api/dcim/devices/") if q["offset"] == ["0"]] == [
        {"depth": ["1"], "limit": ["4"], "offset": ["0"]}]
    assert len(nb.calls("/api/dcim/devices/")) == 2
    assert nb.calls("/api/virtualization/virtual-machines/") == [
        {"depth": ["2"], "limit": ["4"], "offset": ["0"]}]
    assert nb.calls("/api/ipam/services/") == [{"depth": ["1"], "limit": ["4"], "offset": ["0"]}]
    assert {p for p, _, _ in nb.requests} == {"/api/dcim/devices/", "/api/virtualization/virtual-machines/",
                                              "/api/ipam/services/"}
    for _, _, headers in nb.requests:
        assert headers["Accept"] == "application/json; version=3.0"
        assert headers["Authorization"] == f"Token {TOKEN}"


def test_api_version_can_be_left_to_the_server(nb):
    backend(nb, api_version="").fetch()
    assert nb.requests[0][2]["Accept"] == "application/json"


def test_unsupported_api_version(nb):
    with pytest.raises(CMDBDataError, match=r"version=2\.4` \(HTTP 406\)"):
        backend(nb, api_version="2.4").fetch()


def test_filters_map_to_nautobot_parameters_and_tags_are_ored(nb):
    records = backend(nb, filters={"site": "DC2", "status": "Active", "tags": ["prod", "db"]}).fetch()
    devices = nb.calls("/api/dcim/devices/")
    assert [q["tags"] for q in devices] == [["prod"], ["db"]]
    assert all(q["location"] == ["DC2"] and q["status"] == ["Active"] and q["depth"] == ["1"]
               for q in devices)
    vms = nb.calls("/api/virtualization/virtual-machines/")
    assert [q["tags"] for q in vms] == [["prod"], ["db"]]
    assert all(q["location"] == ["DC2"] for q in vms)
    assert [h["name"] for h in records["hosts"]] == ["mq2", "app1"]
    assert records["services"] == [{"name": "http", "host": "app1", "protocol": "tcp", "ports": [8080, 8443]}]


def test_server_ignoring_depth_is_reported(nb):
    nb.honour_depth = False
    with pytest.raises(CMDBDataError) as err:
        backend(nb).fetch()
    message = str(err.value)
    assert message.startswith(
        f"Nautobot device 'mq1' (id {uuid(100)}): `location` came back as a bare reference")
    assert "needs Nautobot 3.x" in message


def test_wrong_token(nb):
    with pytest.raises(CMDBAuthError) as err:
        backend(nb, token="f" * 40).fetch()
    assert "refused the token (HTTP 403): check the token and its permissions" in str(err.value)
    assert "f" * 40 not in str(err.value)


def test_skipped_records_are_noted(nb):
    b = backend(nb)
    b.fetch()
    assert b.skipped == [
        f"Nautobot device id {uuid(104)}: no name, skipped (name it in Nautobot to manage it)"]


def test_vm_location_of_its_own_is_preferred(nb):
    nb.data["/api/virtualization/virtual-machines/"][0]["location"] = DC1
    hosts = {h["name"]: h for h in backend(nb).fetch()["hosts"]}
    assert hosts["app1"]["site"] == "DC1"


@pytest.mark.parametrize("path, index, change, message", [
    ("/api/dcim/devices/", 0, {"tags": {"name": "prod"}},
     r"Nautobot device 'mq1' \(id 00000100-.*\): `tags` should be a list"),
    ("/api/dcim/devices/", 1, {"custom_fields": {"nospof_depends_on": {"a": 1}}},
     r"Nautobot device 'mq2' \(id 00000101-.*\): custom field nospof_depends_on must be a list"),
    ("/api/dcim/devices/", 2, {"name": ["dns1"]},
     r"Nautobot device id 00000102-.*: name must be a string"),
    ("/api/virtualization/virtual-machines/", 0, {"cluster": "prod-cluster"},
     r"Nautobot virtual machine 'app1' \(id 00000300-.*\): `cluster` should be a nested object"),
    ("/api/ipam/services/", 0, {"ports": [53, "domain"]},
     r"Nautobot service 'dns' \(id 00000400-.*\): `ports` holds 'domain'"),
    ("/api/ipam/services/", 1, {"protocol": {"label": "TCP"}},
     r"Nautobot service 'amqps' \(id 00000401-.*\): `protocol` should be tcp or udp"),
])
def test_malformed_shapes_name_the_object(nb, path, index, change, message):
    nb.data[path][index].update(change)
    with pytest.raises(CMDBDataError, match=message):
        backend(nb).fetch()


def test_unknown_filter_is_rejected():
    with pytest.raises(CMDBDataError, match=r"unknown filters \['rack'\]"):
        nautobot.NautobotBackend({"url": NB, "token": TOKEN, "filters": {"rack": "R1"}}).fetch()


# ---------------------------------------------------------------- GraphQL (the default)
def test_graphql_gives_the_same_records_as_rest(nb):
    records = backend(nb, api="graphql").fetch()
    assert records["hosts"] == EXPECTED_HOSTS
    assert records["services"] == EXPECTED_SERVICES
    assert records["dependencies"] == EXPECTED_DEPENDENCIES
    assert {p for p, _, _ in nb.requests} == {"/api/graphql/"}
    for _, _, headers in nb.requests:
        assert headers["Authorization"] == f"Token {TOKEN}"
        assert headers["Content-Type"] == "application/json"


def test_graphql_is_the_default():
    b = nautobot.NautobotBackend({"url": NB, "token": TOKEN})
    assert (b.options.get("api") or "graphql") == "graphql"


def test_graphql_pages_until_a_short_page(nb):
    records = backend(nb, api="graphql", page_size=2, max_concurrency=2).fetch()
    assert [h["name"] for h in records["hosts"]] == [h["name"] for h in EXPECTED_HOSTS]
    devices = [q for q in nb.graphql_calls() if q.startswith("query { devices(")]
    offsets = sorted(int(re.search(r"offset: (\d+)", q).group(1)) for q in devices)
    # 5 devices in pages of 2: offsets 0 and 2 (both full), then 4 (short: the end); with two
    # pages in flight, 6 may have gone out before 4 came back
    assert offsets[:3] == [0, 2, 4] and offsets[3:] in ([], [6])
    assert all("limit: 2" in q for q in devices)
    assert "_custom_field_data" in devices[0] and "location { name }" in devices[0]
    assert "primary_ip4 { address: host }" in devices[0]


def test_graphql_lists_are_read_together_within_max_concurrency(nb):
    nb.delay = 0.05
    records = backend(nb, api="graphql", page_size=1, max_concurrency=3).fetch()
    assert [h["name"] for h in records["hosts"]] == [h["name"] for h in EXPECTED_HOSTS]
    assert 2 <= nb.peak <= 3
    queries = nb.graphql_calls()
    kinds = [q.split("(")[0] for q in queries]
    # the services and virtual machines are asked for before the devices' last page
    last_device = max(i for i, k in enumerate(kinds) if k == "query { devices")
    assert kinds.index("query { services") < last_device
    assert kinds.index("query { virtual_machines") < last_device
    # each page once
    assert len(set(queries)) == len(queries)


def test_graphql_server_capping_the_page_is_an_error_not_a_short_list(nb):
    nb.delay = 0.05
    nb.graphql_cap = 2
    with pytest.raises(CMDBDataError, match=r"Nautobot GraphQL \(devices\) returned 2 objects at offset 0 with "
                                            r"limit 3 and more at offset 3: .*lower `page_size`"):
        backend(nb, api="graphql", page_size=3, max_concurrency=8).fetch()


def test_graphql_filters_and_tags_are_ored(nb):
    records = backend(nb, api="graphql", filters={"site": "DC2", "status": "Active", "tags": ["prod", "db"]}).fetch()
    devices = [q for q in nb.graphql_calls() if q.startswith("query { devices(")]
    firsts = [q for q in devices if "offset: 0," in q]
    assert sorted(re.search(r'tags: (\[.*?\])', q).group(1) for q in firsts) == ['["db"]', '["prod"]']
    assert all('location: ["DC2"]' in q and 'status: ["Active"]' in q for q in devices)
    assert [h["name"] for h in records["hosts"]] == ["mq2", "app1"]


def test_graphql_errors_name_the_list_and_the_way_out(nb):
    nb.LISTS = dict(nb.LISTS)
    del nb.LISTS["virtual_machines"]
    with pytest.raises(CMDBDataError, match=r"Nautobot GraphQL \(virtual_machines\) refused the query: Syntax "
                                            r"Error.*set `api: rest`"):
        backend(nb, api="graphql").fetch()


def test_graphql_wrong_token(nb):
    with pytest.raises(CMDBAuthError, match=r"refused the token \(HTTP 403\)") as err:
        backend(nb, api="graphql", token="e" * 40).fetch()
    assert "e" * 40 not in str(err.value)


def test_unknown_api_is_rejected(nb):
    with pytest.raises(CMDBDataError, match=r"`api` must be graphql or rest, not 'soap'"):
        backend(nb, api="soap").fetch()
