#!/usr/bin/env python3
"""Benchmark the cmdb inventory plugin against a real Nautobot with 1,000 and 10,000 devices.

    .venv/bin/python benchmarks/inventory_bench.py [--sizes 1000 10000] [--keep]

Not a test: it asserts nothing about time. It
  1. starts Nautobot with an empty database (tools/nautobot.sh start --fresh;
     the data it loads replaces whatever was there),
  2. creates the prerequisites through the REST API (sites, racks, roles,
     device type with a mgmt0 interface template, tag, custom field, prefix),
  3. loads the devices directly through Nautobot's Django ORM: a Python
     program (LOADER below) fed on stdin to the Nautobot venv's
     `nautobot-server --config=... shell`, with bulk_create per model. Per
     device: the mgmt0 interface (instantiated from the device type's
     template, as Device.save() would), an IP address in the Global namespace
     (parent prefix resolved as IPAddress.clean() would), its assignment to
     mgmt0, primary_ip4, the tag, the nospof_depends_on custom field, and a
     service every SERVICE_EVERY hosts (and on every dns/mirror host). The
     REST API then serves this like any other data (no change log entries
     are written). Loading through the REST API ran at ~3 devices/s.
  4. for each size times, cold (empty jsonfile cache) and cached:
     - `ansible-inventory --list`, and checks that every device became a
       host and that every host's dependencies resolve to providers;
     - `ansible-inventory --graph`, the same load without the dump of
       every variable (what ansible-playbook pays);
     - the load in a process of its own through InventoryManager
       (LOAD_ONCE), split into ansible-core's inventory calls and the
       plugin's own work;
     and prints that size's figures at once, plus the plugin's phases in
     process (GraphQL per list alone and the three together, topology,
     derived inventory, cache read; --rest adds the REST reads for
     comparison)
     (the inventory runs with `timeout: 300`, see TIMEOUT; every step first
     waits while a molecule or ansible-playbook run shares the machine)
  5. prints the figures against the targets (10,000 hosts: cold < 5 s,
     cached < 0.5 s), for --graph and for the plugin's own work.

Targets and figures are documented in docs/cmdb.md ("Integration tests and benchmark").
All traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".cache", "collections")
BIN = os.path.dirname(sys.executable)
SITES = 4
RACKS_PER_SITE = 10
# A realistic shape: a few providers of the shared services every host needs
# (dns, mirror), the rest spread over application roles. Every host depends on
# dns and mirror; every 4th host offers its role's service.
INFRA = {"dns": (53, 4), "mirror": (443, 4)}   # role: (port, how many hosts)
ROLES = ["app", "web", "rabbitmq", "graphite", "opensearch", "icinga2_master", "loadbalancer", "db"]
SERVICE_EVERY = 4
TARGETS = {10000: (5.0, 0.5)}
# Seconds per HTTP request for the plugin (its default is 30). On a 2-core machine one
# page of 1000 devices at depth=1 takes Nautobot 10-25 s to render, 4 pages in flight
# exceed 30 s, and the retries repeat the work: with the default the 10,000-device
# inventory failed ("timed out ... after 4 attempts"). A longer timeout gives a figure.
TIMEOUT = 300
NOTES = []


def collection_path():
    link = os.path.join(COLLECTIONS, "ansible_collections", "nospof", "platform")
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(ROOT, link)
    if COLLECTIONS not in sys.path:
        sys.path.insert(0, COLLECTIONS)


class API:
    def __init__(self, url, token):
        self.url = url.rstrip("/")
        self.headers = {"Authorization": f"Token {token}", "Accept": "application/json; version=3.0",
                        "Content-Type": "application/json"}

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=self.headers)
        try:
            with urllib.request.urlopen(req, timeout=600) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise SystemExit(f"{method} {path} failed: HTTP {exc.code} {exc.read()[:500]!r}") from None
        return json.loads(raw) if raw else None

    def one(self, path, **params):
        query = urllib.parse.urlencode(dict(params, limit=2))
        found = self.call("GET", f"{path}?{query}")["results"]
        return found[0] if found else None

    def ensure(self, path, match, body):
        obj = self.one(path, **match)
        return obj if obj else self.call("POST", path, body)


def start_nautobot(fresh=True):
    cmd = ["bash", os.path.join(ROOT, "tools", "nautobot.sh"), "start"] + (["--fresh"] if fresh else [])
    subprocess.run(cmd, check=True)
    out = subprocess.run(["bash", os.path.join(ROOT, "tools", "nautobot.sh"), "env"], check=True,
                         capture_output=True, text=True).stdout
    values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return values["NOSPOF_CMDB_URL"], values["NOSPOF_CMDB_TOKEN"]


def prerequisites(api):
    ids = {}
    ids["active"] = api.one("/api/extras/statuses/", name="Active")["id"]
    ids["namespace"] = api.one("/api/ipam/namespaces/", name="Global")["id"]
    ltype = api.ensure("/api/dcim/location-types/", {"name": "Site"},
                       {"name": "Site", "content_types": ["dcim.device", "dcim.rack", "ipam.prefix"]})
    ids["sites"] = [api.ensure("/api/dcim/locations/", {"name": f"dc{i}"},
                               {"name": f"dc{i}", "location_type": ltype["id"], "status": ids["active"]})["id"]
                    for i in range(1, SITES + 1)]
    ids["racks"] = []
    for site_no, site in enumerate(ids["sites"], 1):
        for rack in range(1, RACKS_PER_SITE + 1):
            ids["racks"].append(api.ensure(
                "/api/dcim/racks/", {"name": f"r{rack}", "location": site},
                {"name": f"r{rack}", "location": site, "status": ids["active"]})["id"])
    ids["roles"] = {role: api.ensure("/api/extras/roles/", {"name": role},
                                     {"name": role, "content_types": ["dcim.device"]})["id"]
                    for role in list(INFRA) + ROLES}
    maker = api.ensure("/api/dcim/manufacturers/", {"name": "Generic"}, {"name": "Generic"})
    ids["type"] = api.ensure("/api/dcim/device-types/", {"model": "Bench server"},
                             {"model": "Bench server", "manufacturer": maker["id"], "u_height": 1})["id"]
    # every new device gets its mgmt0 from the device type's template
    api.ensure("/api/dcim/interface-templates/", {"device_type": ids["type"], "name": "mgmt0"},
               {"device_type": ids["type"], "name": "mgmt0", "type": "virtual"})
    ids["tag"] = api.ensure("/api/extras/tags/", {"name": "prod"},
                            {"name": "prod", "content_types": ["dcim.device"]})["id"]
    if not api.one("/api/extras/custom-fields/", label="Depends on (nospof)"):
        api.call("POST", "/api/extras/custom-fields/",
                 {"key": "nospof_depends_on", "label": "Depends on (nospof)", "type": "json",
                  "content_types": ["dcim.device", "virtualization.virtualmachine"]})
    api.ensure("/api/ipam/prefixes/", {"prefix": "10.0.0.0/8"},
               {"prefix": "10.0.0.0/8", "namespace": ids["namespace"], "status": ids["active"], "type": "network"})
    return ids


def role_of(n):
    """Devices 0..7 provide dns and mirror; the rest take application roles."""
    offset = 0
    for role, (_port, count) in INFRA.items():
        if n < offset + count:
            return role
        offset += count
    return ROLES[n % len(ROLES)]


def service_of(n):
    role = role_of(n)
    if role in INFRA:
        return {"name": role, "ports": [INFRA[role][0]]}
    if n % SERVICE_EVERY == 0:
        return {"name": role, "ports": [8000 + ROLES.index(role)]}
    return None


def wait_if_busy():
    """Pause while a molecule or ansible-playbook run shares the machine."""
    while subprocess.run(["pgrep", "-f", "[m]olecule|[a]nsible-playbook"], capture_output=True).returncode == 0:
        print("  (another heavy job runs: waiting 30 s)", flush=True)
        time.sleep(30)


# Runs inside `nautobot-server shell` (Django's shell executes a program on stdin).
# The plan (what to create) comes as JSON from the file named by NOSPOF_BENCH_PLAN;
# the last stdout line is a JSON summary.
LOADER = r"""
import json, os, time
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from nautobot.dcim.models import Device, DeviceType, Interface
from nautobot.extras.models import Status, Tag, TaggedItem
from nautobot.ipam.models import IPAddress, IPAddressToInterface, Namespace, Service

plan = json.load(open(os.environ["NOSPOF_BENCH_PLAN"], encoding="utf-8"))
BATCH = 1000
timings = {}
mark = time.monotonic()

def lap(what):
    global mark
    now = time.monotonic()
    timings[what] = round(now - mark, 2)
    mark = now

active = Status.objects.get(pk=plan["status"])
namespace = Namespace.objects.get(pk=plan["namespace"])
device_type = DeviceType.objects.get(pk=plan["device_type"])
tag = Tag.objects.get(pk=plan["tag"])
rows = plan["devices"]

with transaction.atomic():
    # IP addresses first, so that devices are created with primary_ip4 set.
    ips = [IPAddress(address=row["address"], status=active, namespace=namespace) for row in rows]
    # The parent prefix, as IPAddress.clean() resolves it (closest prefix in the namespace);
    # the planned addresses all lie in one /16, so the first and last decide.
    parents = {ips[0]._get_closest_parent(ips[0].host), ips[-1]._get_closest_parent(ips[-1].host)}
    if len(parents) != 1:
        raise SystemExit(f"the bench addresses span several prefixes: {parents}")
    parent = parents.pop()
    for ip in ips:
        ip.parent = parent
    IPAddress.objects.bulk_create(ips, batch_size=BATCH)
    lap("ip addresses")

    devices = [
        Device(name=row["name"], device_type=device_type, role_id=row["role"], location_id=row["site"],
               rack_id=row["rack"], status=active, primary_ip4=ip,
               _custom_field_data={"nospof_depends_on": row["depends_on"]})
        for row, ip in zip(rows, ips)
    ]
    Device.objects.bulk_create(devices, batch_size=BATCH)
    lap("devices")

    # Components from the device type's templates, as Device.save() -> create_components()
    # does: instantiate once, copy for every device (instantiate() queries per call).
    interfaces, mgmt0 = [], {}
    skip = {"id", "device_id", "created", "last_updated"}
    for template in device_type.interface_templates.all():
        proto = template.instantiate(device=devices[0])
        values = {f.attname: getattr(proto, f.attname) for f in Interface._meta.concrete_fields
                  if f.attname not in skip}
        for device in devices:
            iface = Interface(device=device, **values)
            interfaces.append(iface)
            if template.name == "mgmt0":
                mgmt0[device.pk] = iface
    if len(mgmt0) != len(devices):
        raise SystemExit("the device type has no mgmt0 interface template")
    Interface.objects.bulk_create(interfaces, batch_size=BATCH)
    lap("interfaces")

    IPAddressToInterface.objects.bulk_create(
        [IPAddressToInterface(ip_address=ip, interface=mgmt0[device.pk]) for device, ip in zip(devices, ips)],
        batch_size=BATCH)
    lap("ip assignments")

    device_ct = ContentType.objects.get_for_model(Device)
    TaggedItem.objects.bulk_create(
        [TaggedItem(content_type=device_ct, object_id=device.pk, tag=tag) for device in devices],
        batch_size=BATCH)
    lap("tags")

    services = [Service(device=device, name=row["service"]["name"], protocol="tcp",
                        ports=row["service"]["ports"])
                for device, row in zip(devices, rows) if row["service"]]
    Service.objects.bulk_create(services, batch_size=BATCH)
    lap("services")

summary = {"devices": len(devices), "interfaces": len(interfaces), "ip_addresses": len(ips),
           "services": len(services), "parent_prefix": str(parent), "timings": timings,
           "total_devices": Device.objects.count()}
print("NOSPOF_BENCH_RESULT " + json.dumps(summary))
"""


def nautobot_shell(program, env):
    """Run `program` in `nautobot-server shell` of tools/nautobot.sh's venv; its stdout."""
    state = os.environ.get("NOSPOF_STATE_DIR", "/var/cache/nospof")
    version = os.environ.get("NOSPOF_NAUTOBOT_VERSION", "3.2.7")
    venv = os.path.join(state, f"nautobot-{version}")
    config = os.path.join(venv, "nautobot_config.py")
    env = dict(os.environ, NAUTOBOT_ROOT=os.path.join(venv, "root"), NAUTOBOT_CONFIG=config, **env)
    # A regular file as stdin: Django's shell executes stdin only if it is readable at once.
    with tempfile.TemporaryFile("w+", encoding="utf-8") as stdin:
        stdin.write(program)
        stdin.seek(0)
        proc = subprocess.run([os.path.join(venv, "bin", "nautobot-server"), f"--config={config}", "shell"],
                              stdin=stdin, capture_output=True, text=True, env=env, cwd=venv)
    if proc.returncode != 0:
        raise SystemExit(f"nautobot-server shell failed (exit {proc.returncode}):\n"
                         f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return proc.stdout


def load_devices(api, ids, start, stop):
    """Devices start..stop-1 through the ORM (see LOADER); (seconds, the loader's summary)."""
    del api  # the REST API only served the prerequisites
    wait_if_busy()
    t0 = time.monotonic()  # the load itself, not the wait for other jobs
    racks = ids["racks"]
    rows = []
    for n in range(start, stop):
        role = role_of(n)
        rack_index = n % len(racks)
        rows.append({
            "name": f"bench-{n:05d}", "role": ids["roles"][role],
            "site": ids["sites"][rack_index // RACKS_PER_SITE], "rack": racks[rack_index],
            "depends_on": [r for r in INFRA if r != role],
            "address": f"10.{((n + 1) >> 16) & 255}.{((n + 1) >> 8) & 255}.{(n + 1) & 255}/8",
            "service": service_of(n),
        })
    plan = {"status": ids["active"], "namespace": ids["namespace"], "device_type": ids["type"],
            "tag": ids["tag"], "devices": rows}
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="nospof-bench-plan-", delete=False) as handle:
        json.dump(plan, handle)
    try:
        out = nautobot_shell(LOADER, {"NOSPOF_BENCH_PLAN": handle.name})
    finally:
        os.unlink(handle.name)
    lines = [line for line in out.splitlines() if line.startswith("NOSPOF_BENCH_RESULT ")]
    if not lines:
        raise SystemExit(f"the loader printed no result:\n{out[-2000:]}")
    summary = json.loads(lines[-1].split(" ", 1)[1])
    if summary["devices"] != stop - start:
        raise SystemExit(f"the loader created {summary['devices']} devices, expected {stop - start}")
    return time.monotonic() - t0, summary


# Loads the inventory source the way ansible-playbook does (InventoryManager), in a
# process of its own, and splits the time: ansible-core's inventory calls (add_host,
# add_group, add_child, set_variable with 2.19's copying and tagging of every value)
# against the rest of the source's parse, which is the plugin's own work (fetch or
# cache read, topology, loops). Prints one JSON line.
LOAD_ONCE = r"""
import json, sys, time
from ansible.inventory import data, manager
from ansible.parsing.dataloader import DataLoader

spent = {"ansible": 0.0, "parse": 0.0}
depth = {"ansible": 0, "parse": 0}

def timed(cls, name, bucket):
    original = getattr(cls, name)
    def wrapper(self, *args, **kwargs):
        depth[bucket] += 1
        start = time.monotonic()
        try:
            return original(self, *args, **kwargs)
        finally:
            depth[bucket] -= 1
            if depth[bucket] == 0:   # calls made inside another timed call count once
                spent[bucket] += time.monotonic() - start
    setattr(cls, name, wrapper)

timed(manager._InventoryDataWrapper, "set_variable", "ansible")
for name in ("add_host", "add_group", "add_child"):
    timed(data.InventoryData, name, "ansible")
timed(manager.InventoryManager, "parse_source", "parse")
from ansible.plugins.loader import init_plugin_loader, inventory_loader
init_plugin_loader()   # the collection finder, as every ansible CLI installs it at start
# Imported before the clock starts: importing is the process start's cost (the CLI
# figures include it), not the plugin's work.
inventory_loader.get("nospof.platform.cmdb")
start = time.monotonic()
inventory = manager.InventoryManager(loader=DataLoader(), sources=[sys.argv[1]])
total = time.monotonic() - start
print(json.dumps({"total": total, "parse": spent["parse"], "ansible": spent["ansible"],
                  "plugin": spent["parse"] - spent["ansible"], "hosts": len(inventory.hosts)}))
"""


def load_in_process(source, env):
    """{total, parse, ansible, plugin, hosts}: one InventoryManager load of `source` (LOAD_ONCE)."""
    proc = subprocess.run([sys.executable, "-c", LOAD_ONCE, source], capture_output=True, text=True,
                          env=env, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"in-process inventory load failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def timed_cli(source, env, *args):
    """Seconds of one ansible-inventory run; a source that fails to parse fails the benchmark
    (ansible-inventory itself exits 0 then, which would pass for a fast figure)."""
    t0 = time.monotonic()
    proc = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", source, *args], capture_output=True,
                          text=True, env=dict(env, ANSIBLE_INVENTORY_UNPARSED_FAILED="true"), cwd=ROOT)
    elapsed = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"ansible-inventory {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return elapsed


def run_inventory(source, env):
    t0 = time.monotonic()
    proc = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", source, "--list"],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    elapsed = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"ansible-inventory failed:\n{proc.stderr[-3000:]}")
    data = json.loads(proc.stdout)
    hostvars = data["_meta"]["hostvars"]
    # every bench host depends on dns and/or mirror: resolved = each needed service has providers
    resolved = sum(1 for hv in hostvars.values()
                   if hv.get("nospof_dependencies") and all(hv["nospof_dependencies"].values()))
    if not hostvars:  # ansible-inventory exits 0 when the plugin fails: say why
        NOTES.append(f"ansible-inventory found no hosts; its stderr: {proc.stderr.strip()[-1500:]}")
        print(f"  {NOTES[-1]}", flush=True)
    return elapsed, len(hostvars), resolved


def in_process(url, token, rest=False):
    """Seconds per phase of the plugin's work, measured in this process (the backend's default
    GraphQL reads; with rest=True also its REST reads, for comparison)."""
    collection_path()
    from ansible_collections.nospof.platform.plugins.module_utils.cmdb import nautobot
    from ansible_collections.nospof.platform.plugins.module_utils.cmdb.base import CMDBError
    from ansible_collections.nospof.platform.plugins.module_utils.topology import Topology

    backend = nautobot.NautobotBackend({"url": url, "token": token, "max_concurrency": 4, "page_size": 1000,
                                        "timeout": TIMEOUT})
    client = backend.client()
    phases = {}
    try:
        # Timed apart for the figures; the plugin reads the three lists together (fetch below).
        for label, field, fields in (("GraphQL devices alone", "devices", nautobot.DEVICE_FIELDS),
                                     ("GraphQL virtual machines alone", "virtual_machines", nautobot.VM_FIELDS),
                                     ("GraphQL services alone", "services", nautobot.SERVICE_FIELDS)):
            t0 = time.monotonic()
            backend._graphql_list(client, field, fields, {})
            phases[label] = time.monotonic() - t0
        t0 = time.monotonic()
        records = backend.fetch()
        phases["fetch: the three lists together, parsed"] = time.monotonic() - t0
    except CMDBError as exc:
        NOTES.append(f"in-process fetch failed: {exc}")
        print(f"  {NOTES[-1]}", flush=True)
        return phases
    t0 = time.monotonic()
    topo = Topology.from_records(records["hosts"], records["services"], records["dependencies"], strict=False)
    phases["build topology"] = time.monotonic() - t0
    t0 = time.monotonic()
    inventory = topo.inventory()
    phases["derive the inventory (groups, group and host vars)"] = time.monotonic() - t0
    text = json.dumps(inventory)
    NOTES.append(f"{len(topo.hosts)} hosts: the inventory as JSON (what the cache holds) {len(text) / 1e6:.1f} MB, "
                 f"{len(inventory['group_vars'])} dependency groups")
    t0 = time.monotonic()
    json.loads(text)
    phases["cache read (JSON)"] = time.monotonic() - t0
    if rest:
        for label, path, depth in (("(REST devices depth=1, for comparison)", "/api/dcim/devices/", 1),
                                   ("(REST services depth=1, for comparison)", "/api/ipam/services/", 1)):
            t0 = time.monotonic()
            try:
                client.get_all(path, {"depth": depth})
                phases[label] = time.monotonic() - t0
            except CMDBError as exc:
                NOTES.append(f"{label} failed: {exc}")
    return phases


HEADER = f"{'devices':>8} {'hosts':>6} {'cold s':>8} {'hosts/s':>8} {'cached s':>9} {'hosts/s':>8}  target"


def verdict(size, cold, warm):
    target = TARGETS.get(size)
    if not target:
        return ""
    return (f"cold < {target[0]} s: {'met' if cold < target[0] else 'MISSED'}; "
            f"cached < {target[1]} s: {'met' if warm < target[1] else 'MISSED'}")


def format_loads(size, graph_cold, graph, load_cold, load_warm, floor):
    return "\n".join([
        f"  {size} hosts, floor: `ansible-inventory --graph` of a plain YAML inventory with {size} hosts "
        f"and no variables (ansible-core's own yaml plugin): {floor:.2f} s",
        f"  {size} hosts, `ansible-inventory --graph` (no dump): cold {graph_cold:.2f} s, cached {graph:.2f} s"
        f"  {verdict(size, graph_cold, graph)}",
        f"  {size} hosts, InventoryManager in process: cold {load_cold['total']:.2f} s, cached "
        f"{load_warm['total']:.2f} s; of which ansible-core's add_host/add_group/set_variable "
        f"{load_cold['ansible']:.2f} s / {load_warm['ansible']:.2f} s",
        f"  {size} hosts, the plugin's own work (the rest of the parse): cold {load_cold['plugin']:.2f} s, "
        f"cached {load_warm['plugin']:.2f} s  {verdict(size, load_cold['plugin'], load_warm['plugin'])}",
    ])


def format_row(size, hosts, cold, warm, hosts_warm):
    target = TARGETS.get(size)
    verdict = ""
    if target:
        verdict = (f"cold < {target[0]} s: {'met' if cold < target[0] else 'MISSED'}; "
                   f"cached < {target[1]} s: {'met' if warm < target[1] else 'MISSED'}")
    return f"{size:>8} {hosts:>6} {cold:>8.2f} {hosts / cold:>8.0f} {warm:>9.2f} {hosts_warm / warm:>8.0f}  {verdict}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--keep", action="store_true", help="reuse the running Nautobot and its data")
    parser.add_argument("--rest", action="store_true",
                        help="also time the REST reads (api: rest) in process, for comparison (slow: minutes)")
    args = parser.parse_args()

    url, token = start_nautobot(fresh=not args.keep)
    api = API(url, token)
    ids = prerequisites(api)
    existing = api.call("GET", "/api/dcim/devices/?limit=1&depth=0")["count"]

    work = tempfile.mkdtemp(prefix="nospof-bench-")
    source = os.path.join(work, "bench.cmdb.yml")
    cache = os.path.join(work, "cache")
    with open(source, "w", encoding="utf-8") as handle:
        json.dump({"plugin": "nospof.platform.cmdb", "backend": "nautobot", "cache": True,
                   "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": cache,
                   "cache_timeout": 3600, "timeout": TIMEOUT}, handle)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, NOSPOF_CMDB_URL=url, NOSPOF_CMDB_TOKEN=token,
               ANSIBLE_INVENTORY_ENABLED="nospof.platform.cmdb", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))

    rows, phase_rows, loads, floors = [], {}, {}, {}
    t0 = time.monotonic()
    subprocess.run([os.path.join(BIN, "ansible-inventory"), "--version"], capture_output=True, env=env)
    baseline = time.monotonic() - t0
    print(f"ansible-inventory --version alone (process start): {baseline:.2f} s", flush=True)
    for size in sorted(args.sizes):
        if existing < size:
            print(f"loading devices {existing}..{size - 1} through the ORM ...", flush=True)
            took, summary = load_devices(api, ids, existing, size)
            print(f"  loaded {size - existing} devices (+ {summary['interfaces']} interfaces, "
                  f"{summary['ip_addresses']} IPs in {summary['parent_prefix']}, {summary['services']} services) "
                  f"in {took:.1f} s ({(size - existing) / took:.0f} devices/s); ORM steps: "
                  + ", ".join(f"{k} {v:.1f} s" for k, v in summary["timings"].items()), flush=True)
            existing = api.call("GET", "/api/dcim/devices/?limit=1&depth=0")["count"]
        wait_if_busy()
        shutil.rmtree(cache, ignore_errors=True)
        cold, hosts, resolved = run_inventory(source, env)
        warm, hosts_warm, resolved_warm = run_inventory(source, env)
        # What a playbook pays: the inventory without `--list`'s dump of every variable as JSON.
        shutil.rmtree(cache, ignore_errors=True)
        graph_cold = timed_cli(source, env, "--graph")
        graph = timed_cli(source, env, "--graph")
        # The same load in process, split into the plugin's own work and ansible-core's.
        shutil.rmtree(cache, ignore_errors=True)
        load_cold = load_in_process(source, env)
        load_warm = load_in_process(source, env)
        # ansible-core's floor: its own yaml inventory plugin with as many hosts, no variables
        plain = os.path.join(work, f"plain{size}.yml")
        with open(plain, "w", encoding="utf-8") as handle:
            json.dump({"all": {"hosts": {f"bench{n:05d}": None for n in range(size)}}}, handle)
        floors[size] = timed_cli(plain, dict(env, ANSIBLE_INVENTORY_ENABLED="yaml"), "--graph")
        row = (size, hosts, cold, warm, hosts_warm)
        rows.append(row)
        loads[size] = (graph_cold, graph, load_cold, load_warm, floors[size])
        print(HEADER, flush=True)
        print(format_row(*row), flush=True)
        print(format_loads(size, *loads[size]), flush=True)
        checks = (f"  check: {existing} devices in Nautobot (REST count), {hosts} hosts cold / {hosts_warm} "
                  f"cached ({load_cold['hosts']} / {load_warm['hosts']} in process), dependencies resolved "
                  f"for {resolved} / {resolved_warm} hosts")
        ok = (hosts == hosts_warm == existing == load_cold["hosts"] == load_warm["hosts"]
              and resolved == resolved_warm == hosts)
        print(checks + (": OK" if ok else ": MISMATCH"), flush=True)
        if not ok:
            NOTES.append(f"size {size}: {checks.strip()}: MISMATCH")
        wait_if_busy()
        phase_rows[size] = in_process(url, token, rest=args.rest)
        print("  in-process phases: " + ", ".join(f"{k} {v:.2f} s" for k, v in phase_rows[size].items()),
              flush=True)

    print()
    print(f"ansible-inventory --version alone (process start): {baseline:.2f} s")
    print(HEADER)
    for row in rows:
        print(format_row(*row))
    print()
    for size in sorted(loads):
        print(format_loads(size, *loads[size]))
    print()
    print("in-process phases (seconds):")
    sizes = sorted(phase_rows)
    print(f"{'phase':<46}" + "".join(f"{s:>10}" for s in sizes))
    for phase in dict.fromkeys(p for s in sizes for p in phase_rows[s]):
        print(f"{phase:<46}" + "".join(f"{phase_rows[s].get(phase, float('nan')):>10.2f}" for s in sizes))
    for note in NOTES:
        print(note)
    shutil.rmtree(work, ignore_errors=True)
    if not args.keep:
        print("\n(the data stays in Nautobot; the next `tools/nautobot.sh start --fresh` empties it)")


if __name__ == "__main__":
    main()
