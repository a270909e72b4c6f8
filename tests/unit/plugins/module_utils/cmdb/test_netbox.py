"""The NetBox backend against a local HTTP server answering like NetBox 4.x."""

import copy
import functools
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.nospof.platform.plugins.module_utils import topology
from ansible_collections.nospof.platform.plugins.module_utils.cmdb import http, netbox
from ansible_collections.nospof.platform.plugins.module_utils.cmdb.base import (
    CMDBAuthError,
    CMDBDataError,
)

MAKE_CONTEXT = http.make_context
TOKEN = "d1f0c3b2a1e4f5d6c7b8a9e0f1d2c3b4a5e6f7d8"
V2_TOKEN = "nbt_Kq3vX9pLmN2a.Zr8TyU1wQe5RtY7uI0oP3aS6dF9gH2jK4lZ7xC1v"
NB = "http://netbox.example.org"


# ------------------------------------------------------------ NetBox data
def site(pk, name, slug):
    return {"id": pk, "url": f"{NB}/api/dcim/sites/{pk}/", "display": name, "name": name,
            "slug": slug, "description": ""}


def role(pk, name, slug):
    return {"id": pk, "url": f"{NB}/api/dcim/device-roles/{pk}/", "display": name, "name": name,
            "slug": slug, "description": ""}


def ip(pk, address, family=4):
    return {"id": pk, "url": f"{NB}/api/ipam/ip-addresses/{pk}/", "display": address,
            "family": {"value": family, "label": f"IPv{family}"}, "address": address, "description": ""}


def tag(pk, name, slug):
    return {"id": pk, "url": f"{NB}/api/extras/tags/{pk}/", "display_url": f"{NB}/extras/tags/{pk}/",
            "display": name, "name": name, "slug": slug, "color": "9e9e9e"}


def status(value):
    return {"value": value, "label": value.capitalize()}


def nested(kind, pk, name):
    return {"id": pk, "url": f"{NB}/api/{kind}/{pk}/", "display": name, "name": name, "description": ""}


DC1, DC2 = site(1, "DC 1", "dc1"), site(2, "DC 2", "dc2")
PROD, DB = tag(1, "Prod", "prod"), tag(2, "Database", "db")
DEBIAN = {"id": 1, "url": f"{NB}/api/dcim/platforms/1/", "display": "Debian 12", "name": "Debian 12",
          "slug": "debian-12", "description": ""}

DEVICES = [
    {"id": 11, "name": "mq1", "status": status("active"), "site": DC1,
     "rack": nested("dcim/racks", 3, "R1"), "role": role(2, "RabbitMQ", "rabbitmq"),
     "platform": DEBIAN, "primary_ip4": ip(101, "10.0.0.11/24"), "primary_ip6": None,
     "tags": [PROD], "custom_fields": {"nospof_depends_on": ["dns"], "owner": "ops"}},
    {"id": 12, "name": "mq2", "status": status("active"), "site": DC2,
     "rack": nested("dcim/racks", 4, "R7"), "role": role(2, "RabbitMQ", "rabbitmq"),
     "platform": None, "primary_ip4": None, "primary_ip6": ip(102, "2001:db8::12/64", 6),
     "tags": [PROD, DB], "custom_fields": {"nospof_depends_on": "dns, ntp ,dns"}},
    {"id": 13, "name": "dns1", "status": status("active"), "site": DC1, "rack": None,
     "role": role(5, "DNS", "dns"), "platform": DEBIAN, "primary_ip4": ip(103, "10.0.0.53/24"),
     "primary_ip6": None, "tags": [], "custom_fields": {"nospof_depends_on": None}},
    # unnamed (a patch panel): skipped
    {"id": 14, "name": None, "status": status("active"), "site": DC1, "rack": None,
     "role": role(9, "Patch panel", "patch-panel"), "platform": None, "primary_ip4": None,
     "primary_ip6": None, "tags": [], "custom_fields": {}},
    # no primary address: passed through, the topology layer reports it
    {"id": 15, "name": "spare1", "status": status("planned"), "site": DC2, "rack": None,
     "role": role(2, "RabbitMQ", "rabbitmq"), "platform": None, "primary_ip4": None,
     "primary_ip6": None, "tags": [DB], "custom_fields": {}},
]

VMS = [
    {"id": 21, "name": "app1", "status": status("active"), "site": DC1,
     "cluster": nested("virtualization/clusters", 7, "vmw-prod"), "role": role(6, "App", "app"),
     "platform": DEBIAN, "primary_ip4": ip(201, "10.0.1.21/24"), "primary_ip6": None,
     "tags": [PROD], "custom_fields": {"nospof_depends_on": ["amqps", "dns"]}},
    # no site of its own: the cluster's site (NetBox 4.2+ cluster scope)
    {"id": 22, "name": "app2", "status": status("active"), "site": None,
     "cluster": nested("virtualization/clusters", 8, "kvm-edge"), "role": None,
     "platform": None, "primary_ip4": ip(202, "10.0.2.22/24"), "primary_ip6": None,
     "tags": [], "custom_fields": {"nospof_depends_on": ""}},
]

CLUSTERS = [
    {"id": 7, "name": "vmw-prod", "scope_type": "dcim.location", "scope_id": 4,
     "scope": {"id": 4, "url": f"{NB}/api/dcim/locations/4/", "display": "Hall A", "name": "Hall A",
               "slug": "hall-a", "description": "", "_depth": 0}},
    {"id": 8, "name": "kvm-edge", "scope_type": "dcim.site", "scope_id": 2, "scope": DC2},
]

SERVICES = [
    # NetBox 4.3+: parent_object_type / parent_object_id / parent
    {"id": 31, "parent_object_type": "dcim.device", "parent_object_id": 13,
     "parent": nested("dcim/devices", 13, "dns1"), "name": "dns",
     "protocol": {"value": "udp", "label": "UDP"}, "ports": [53]},
    # NetBox 4.0-4.2: device / virtual_machine
    {"id": 32, "device": nested("dcim/devices", 11, "mq1"), "virtual_machine": None,
     "name": "amqps", "protocol": {"value": "tcp", "label": "TCP"}, "ports": [5671]},
    {"id": 33, "device": None, "virtual_machine": nested("virtualization/virtual-machines", 21, "app1"),
     "name": "http", "protocol": {"value": "tcp", "label": "TCP"}, "ports": [8443, 8080]},
    # NetBox 4.3.0-4.4.3 sent parent_object_type as a number (#20554)
    {"id": 34, "parent_object_type": 77, "parent_object_id": 22,
     "parent": nested("virtualization/virtual-machines", 22, "app2"), "name": "ntp",
     "protocol": {"value": "udp", "label": "UDP"}, "ports": [123]},
    # an FHRP group's service: no host
    {"id": 35, "parent_object_type": "ipam.fhrpgroup", "parent_object_id": 1,
     "parent": {"id": 1, "url": f"{NB}/api/ipam/fhrp-groups/1/", "display": "VRRP 10",
                "protocol": "vrrp2", "group_id": 10, "description": ""},
     "name": "vip", "protocol": {"value": "tcp", "label": "TCP"}, "ports": [443]},
    # a service of the unnamed device: left out
    {"id": 36, "parent_object_type": "dcim.device", "parent_object_id": 14,
     "parent": {"id": 14, "url": f"{NB}/api/dcim/devices/14/", "display": "Patch panel (14)",
                "name": None, "description": ""},
     "name": "snmp", "protocol": {"value": "udp", "label": "UDP"}, "ports": [161]},
]

EXPECTED_HOSTS = [
    {"name": "mq1", "address": "10.0.0.11", "site": "DC 1", "rack": "R1", "roles": ["rabbitmq"],
     "tags": ["prod"], "status": "active", "cluster": None, "platform": "debian-12", "vars": {}},
    {"name": "mq2", "address": "2001:db8::12", "site": "DC 2", "rack": "R7", "roles": ["rabbitmq"],
     "tags": ["prod", "db"], "status": "active", "cluster": None, "platform": None, "vars": {}},
    {"name": "dns1", "address": "10.0.0.53", "site": "DC 1", "rack": None, "roles": ["dns"],
     "tags": [], "status": "active", "cluster": None, "platform": "debian-12", "vars": {}},
    {"name": "spare1", "address": None, "site": "DC 2", "rack": None, "roles": ["rabbitmq"],
     "tags": ["db"], "status": "planned", "cluster": None, "platform": None, "vars": {}},
    {"name": "app1", "address": "10.0.1.21", "site": "DC 1", "rack": None, "roles": ["app"],
     "tags": ["prod"], "status": "active", "cluster": "vmw-prod", "platform": "debian-12", "vars": {}},
    {"name": "app2", "address": "10.0.2.22", "site": "DC 2", "rack": None, "roles": [],
     "tags": [], "status": "active", "cluster": "kvm-edge", "platform": None, "vars": {}},
]
EXPECTED_SERVICES = [
    {"name": "dns", "host": "dns1", "protocol": "udp", "ports": [53]},
    {"name": "amqps", "host": "mq1", "protocol": "tcp", "ports": [5671]},
    {"name": "http", "host": "app1", "protocol": "tcp", "ports": [8443, 8080]},
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
class FakeNetBox:
    """Serves the lists above like NetBox: limit/offset pages, site/status/tag filters."""

    def __init__(self, max_page=1000):
        self.data = {"/api/dcim/devices/": copy.deepcopy(DEVICES),
                     "/api/virtualization/virtual-machines/": copy.deepcopy(VMS),
                     "/api/ipam/services/": copy.deepcopy(SERVICES),
                     "/api/virtualization/clusters/": copy.deepcopy(CLUSTERS)}
        self.max_page = max_page
        self.requests = []
        self.token = TOKEN
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802
                parts = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(parts.query)
                fake.requests.append((parts.path, query, dict(self.headers.items())))
                status_code, body = fake.answer(parts.path, query, self.headers)
                body = json.dumps(body).encode()
                self.send_response(status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, path, query, headers):
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        expected = "Bearer" if self.token.startswith("nbt_") else "Token"
        if (scheme, token) != (expected, self.token):
            return 403, {"detail": "Invalid v1 token"}
        if path not in self.data:
            return 404, {"detail": "Not found."}
        objects = self.data[path]
        if "site" in query:
            objects = [o for o in objects if (o.get("site") or {}).get("slug") in query["site"]]
        if "status" in query:
            objects = [o for o in objects if o["status"]["value"] in query["status"]]
        for wanted in query.get("tag", []):  # NetBox ANDs repeated tags
            objects = [o for o in objects if wanted in [t["slug"] for t in o["tags"]]]
        limit = min(int(query.get("limit", ["50"])[0]) or self.max_page, self.max_page)
        offset = int(query.get("offset", ["0"])[0])

        def link(off):
            q = dict(query, limit=[str(limit)], offset=[str(off)])
            return f"{NB}{path}?{urllib.parse.urlencode(q, doseq=True)}"

        return 200, {"count": len(objects),
                     "next": link(offset + limit) if offset + limit < len(objects) else None,
                     "previous": link(max(0, offset - limit)) if offset else None,
                     "results": objects[offset:offset + limit]}

    def calls(self, path):
        return [q for p, q, _ in self.requests if p == path]


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
    fake = FakeNetBox()
    thread = threading.Thread(target=fake.server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def backend(fake, **options):
    options.setdefault("url", fake.url)
    options.setdefault("token", fake.token)
    options.setdefault("retries", 0)
    return netbox.NetBoxBackend(options)


# ---------------------------------------------------------------- tests
def test_fetch_produces_exact_records(nb):
    records = backend(nb).fetch()
    assert records["hosts"] == EXPECTED_HOSTS
    assert records["services"] == EXPECTED_SERVICES
    assert records["dependencies"] == EXPECTED_DEPENDENCIES


def test_requests_use_fields_and_pagination(nb):
    backend(nb, page_size=2).fetch()
    devices = nb.calls("/api/dcim/devices/")
    assert devices[0] == {"fields": [netbox.DEVICE_FIELDS], "limit": ["2"], "offset": ["0"]}
    assert sorted(q["offset"][0] for q in devices) == ["0", "2", "4"]
    vms = nb.calls("/api/virtualization/virtual-machines/")
    assert vms == [{"fields": [netbox.VM_FIELDS], "limit": ["2"], "offset": ["0"]}]
    services = nb.calls("/api/ipam/services/")
    assert services[0]["fields"] == [netbox.SERVICE_FIELDS]
    assert len(services) == 3
    # app2 has no site: the clusters are read once for their sites
    assert nb.calls("/api/virtualization/clusters/")[0]["fields"] == [netbox.CLUSTER_FIELDS]
    for field in ("role", "primary_ip4", "primary_ip6", "custom_fields", "tags", "site"):
        assert field in netbox.DEVICE_FIELDS.split(",")


def test_clusters_are_not_read_when_every_vm_has_a_site(nb):
    nb.data["/api/virtualization/virtual-machines/"][1]["site"] = DC2
    assert backend(nb).fetch()["hosts"] == EXPECTED_HOSTS
    assert nb.calls("/api/virtualization/clusters/") == []


def test_cluster_site_before_netbox_4_2(nb):
    nb.data["/api/virtualization/clusters/"] = [{"id": 8, "name": "kvm-edge", "site": DC1}]
    hosts = {h["name"]: h for h in backend(nb).fetch()["hosts"]}
    assert hosts["app2"]["site"] == "DC 1"


def test_vm_in_a_cluster_scoped_to_a_location_has_no_site(nb):
    vms = nb.data["/api/virtualization/virtual-machines/"]
    vms[1]["cluster"] = nested("virtualization/clusters", 7, "vmw-prod")
    hosts = {h["name"]: h for h in backend(nb).fetch()["hosts"]}
    assert hosts["app2"]["site"] is None


def test_filters_map_to_netbox_parameters_and_tags_are_ored(nb):
    records = backend(nb, filters={"site": "dc2", "status": "active", "tags": ["prod", "db"]}).fetch()
    devices = nb.calls("/api/dcim/devices/")
    assert [q["tag"] for q in devices] == [["prod"], ["db"]]
    assert all(q["site"] == ["dc2"] and q["status"] == ["active"] for q in devices)
    assert [q["tag"] for q in nb.calls("/api/virtualization/virtual-machines/")] == [["prod"], ["db"]]
    assert "site" not in nb.calls("/api/ipam/services/")[0]
    # mq2 carries both tags: once; spare1 is planned: filtered out; app2 has neither tag
    assert [h["name"] for h in records["hosts"]] == ["mq2"]
    assert records["services"] == []  # their hosts were filtered out
    assert records["dependencies"] == [{"host": "mq2", "service": None, "needs": "dns"},
                                       {"host": "mq2", "service": None, "needs": "ntp"}]


def test_single_tag_filter(nb):
    records = backend(nb, filters={"tags": "db"}).fetch()
    assert [q.get("tag") for q in nb.calls("/api/dcim/devices/")] == [["db"]]
    assert [h["name"] for h in records["hosts"]] == ["mq2", "spare1"]


def test_unknown_filter_is_rejected():
    with pytest.raises(CMDBDataError, match=r"unknown filters \['role'\]"):
        netbox.NetBoxBackend({"url": NB, "token": TOKEN, "filters": {"role": "x"}}).fetch()


@pytest.mark.parametrize("token", [TOKEN, V2_TOKEN])
def test_token_scheme(nb, token):
    nb.token = token
    backend(nb, token=token).fetch()
    sent = nb.requests[0][2]["Authorization"]
    assert sent == (f"Bearer {token}" if token.startswith("nbt_") else f"Token {token}")
    assert nb.requests[0][2]["Accept"] == "application/json"


def test_wrong_token(nb):
    with pytest.raises(CMDBAuthError) as err:
        backend(nb, token="0" * 40).fetch()
    assert "refused the token (HTTP 403)" in str(err.value)
    assert "0" * 40 not in str(err.value)


def test_records_feed_the_topology(nb):
    records = backend(nb).fetch()
    topo = topology.Topology.from_records(records["hosts"], records["services"],
                                          records["dependencies"], strict=False)
    assert sorted(topo.hosts) == ["app1", "app2", "dns1", "mq1", "mq2"]
    assert any("'spare1'" in p and "no primary address" in p for p in topo.problems)
    assert topo.providers("dns")[0]["address"] == "10.0.0.53"


def test_skipped_records_are_noted(nb):
    b = backend(nb)
    b.fetch()
    assert b.skipped == ["NetBox device id 14: no name, skipped (name it in NetBox to manage it)"]


def test_netbox_3_device_role(nb):
    device = nb.data["/api/dcim/devices/"][0]
    device["device_role"] = device.pop("role")
    hosts = backend(nb).fetch()["hosts"]
    assert hosts[0]["roles"] == ["rabbitmq"]


def test_multi_object_custom_field(nb):
    nb.data["/api/dcim/devices/"][0]["custom_fields"]["nospof_depends_on"] = [
        {"id": 31, "url": f"{NB}/api/ipam/services/31/", "display": "dns (UDP/53)", "name": "dns"}]
    deps = backend(nb).fetch()["dependencies"]
    assert deps[0] == {"host": "mq1", "service": None, "needs": "dns"}


@pytest.mark.parametrize("path, index, change, message", [
    ("/api/dcim/devices/", 0, {"site": "DC 1"},
     r"NetBox device 'mq1' \(id 11\): `site` should be a nested object or null"),
    ("/api/dcim/devices/", 1, {"custom_fields": {"nospof_depends_on": 5}},
     r"NetBox device 'mq2' \(id 12\): custom field nospof_depends_on must be a list"),
    ("/api/dcim/devices/", 2, {"tags": "prod"},
     r"NetBox device 'dns1' \(id 13\): `tags` should be a list"),
    ("/api/dcim/devices/", 0, {"name": 42},
     r"NetBox device id 11: name must be a string"),
    ("/api/virtualization/virtual-machines/", 0, {"primary_ip4": "10.0.1.21/24"},
     r"NetBox virtual machine 'app1' \(id 21\): `primary_ip4` should be a nested object"),
    ("/api/ipam/services/", 1, {"ports": "5671"},
     r"NetBox service 'amqps' \(id 32\): `ports` should be a non-empty list"),
    ("/api/ipam/services/", 0, {"parent": "dns1"},
     r"NetBox service 'dns' \(id 31\): `parent` should be a nested object"),
])
def test_malformed_shapes_name_the_object(nb, path, index, change, message):
    nb.data[path][index].update(change)
    with pytest.raises(CMDBDataError, match=message):
        backend(nb).fetch()


def test_a_result_that_is_not_an_object(nb):
    nb.data["/api/dcim/devices/"] = ["mq1"]
    with pytest.raises(CMDBDataError, match=r"NetBox device #1: expected an object, got str"):
        backend(nb).fetch()


def test_missing_url():
    with pytest.raises(CMDBDataError, match="set `url`"):
        netbox.NetBoxBackend({"token": TOKEN}).fetch()
