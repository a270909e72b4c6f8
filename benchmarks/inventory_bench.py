#!/usr/bin/env python3
"""Benchmark the cmdb inventory plugin against a real Nautobot with 1,000 and 10,000 devices.

    .venv/bin/python benchmarks/inventory_bench.py [--sizes 1000 10000] [--keep]

Not a test: it asserts nothing about time. It
  1. starts Nautobot with an empty database (tools/nautobot.sh start --fresh;
     the data it loads replaces whatever was there),
  2. creates the prerequisites, then devices in bulk through the REST API
     (list POSTs of 250 objects, 3 requests in flight): per device a mgmt0
     interface, an IP address, the address assignment, one service, the
     primary IPv4 (bulk PATCH) and a nospof_depends_on custom field,
  3. for each size times `ansible-inventory --list` cold (empty jsonfile
     cache) and warm (from the cache), plus the plugin's phases in process
     (HTTP fetch per object kind, topology build, host variables), and
  4. prints a table against the targets (10,000 hosts: cold < 5 s, cached < 0.5 s).

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
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".cache", "collections")
BIN = os.path.dirname(sys.executable)
CHUNK = 250
PARALLEL = 3
SITES = 4
RACKS_PER_SITE = 10
# A realistic shape: a few providers of the shared services every host needs
# (dns, mirror), the rest spread over application roles. Every host depends on
# dns and mirror; every 4th host offers its role's service.
INFRA = {"dns": (53, 4), "mirror": (443, 4)}   # role: (port, how many hosts)
ROLES = ["app", "web", "rabbitmq", "graphite", "opensearch", "icinga2_master", "loadbalancer", "db"]
SERVICE_EVERY = 4
TARGETS = {10000: (5.0, 0.5)}
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

    def bulk(self, method, path, objects):
        """List POST/PATCH in chunks, PARALLEL in flight; the created objects in order."""
        chunks = [objects[i:i + CHUNK] for i in range(0, len(objects), CHUNK)]

        def send(chunk):
            wait_if_busy()
            return self.call(method, path, chunk)

        with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            results = list(pool.map(send, chunks))
        return [obj for chunk in results for obj in (chunk or [])]


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


def load_devices(api, ids, start, stop):
    """Devices start..stop-1 with mgmt0 (from the template), IP, assignment, primary IP, services."""
    t0 = time.monotonic()
    devices = []
    for n in range(start, stop):
        role = role_of(n)
        rack_index = n % len(ids["racks"])
        devices.append({
            "name": f"bench-{n:05d}", "device_type": ids["type"], "role": ids["roles"][role],
            "location": ids["sites"][rack_index // RACKS_PER_SITE], "rack": ids["racks"][rack_index],
            "status": ids["active"], "tags": [ids["tag"]],
            "custom_fields": {"nospof_depends_on": [r for r in INFRA if r != role]},
        })
    created = api.bulk("POST", "/api/dcim/devices/", devices)
    by_device = {}
    offset = 0
    while True:
        page = api.call("GET", f"/api/dcim/interfaces/?name=mgmt0&depth=0&limit=1000&offset={offset}")
        for iface in page["results"]:
            by_device[iface["device"]["id"]] = iface["id"]
        offset += len(page["results"])
        if not page["next"]:
            break
    ips = api.bulk("POST", "/api/ipam/ip-addresses/", [
        {"address": f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}/8", "status": ids["active"],
         "namespace": ids["namespace"]} for n in range(start + 1, stop + 1)])
    api.bulk("POST", "/api/ipam/ip-address-to-interface/", [
        {"ip_address": ip["id"], "interface": by_device[d["id"]]} for ip, d in zip(ips, created)])
    api.bulk("PATCH", "/api/dcim/devices/", [
        {"id": d["id"], "primary_ip4": ip["id"]} for d, ip in zip(created, ips)])
    services = []
    for n, device in zip(range(start, stop), created):
        service = service_of(n)
        if service:
            services.append(dict(service, device=device["id"], protocol="tcp"))
    api.bulk("POST", "/api/ipam/services/", services)
    return time.monotonic() - t0


def run_inventory(source, env):
    t0 = time.monotonic()
    proc = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", source, "--list"],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    elapsed = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"ansible-inventory failed:\n{proc.stderr[-3000:]}")
    data = json.loads(proc.stdout)
    return elapsed, len(data["_meta"]["hostvars"])


def in_process(url, token):
    """Seconds per phase of the plugin's work, measured in this process."""
    collection_path()
    from ansible_collections.nospof.platform.plugins.module_utils.cmdb.nautobot import NautobotBackend
    from ansible_collections.nospof.platform.plugins.module_utils.topology import Topology

    backend = NautobotBackend({"url": url, "token": token, "max_concurrency": 4, "page_size": 1000})
    client = backend.client()
    phases = {}
    t0 = time.monotonic()
    devices = client.get_all("/api/dcim/devices/", {"depth": 1})
    phases["GET devices depth=1"] = time.monotonic() - t0
    t0 = time.monotonic()
    vms = client.get_all("/api/virtualization/virtual-machines/", {"depth": 2})
    phases["GET virtual machines depth=2"] = time.monotonic() - t0
    t0 = time.monotonic()
    services = client.get_all("/api/ipam/services/", {"depth": 1})
    phases["GET services depth=1"] = time.monotonic() - t0
    t0 = time.monotonic()
    records = backend.parse(devices, vms, services)
    phases["parse records"] = time.monotonic() - t0
    t0 = time.monotonic()
    topo = Topology.from_records(records["hosts"], records["services"], records["dependencies"], strict=False)
    phases["build topology"] = time.monotonic() - t0
    t0 = time.monotonic()
    topo.groups()
    for name in topo.hosts:
        topo.host_vars(name)
    phases["groups + host vars"] = time.monotonic() - t0
    t0 = time.monotonic()
    client.get_all("/api/dcim/devices/", {"depth": 0})
    phases["(GET devices depth=0, for comparison)"] = time.monotonic() - t0
    t0 = time.monotonic()
    try:
        answer = API(url, token).call("POST", "/api/graphql/", {"query": GRAPHQL})
        if answer.get("errors"):
            NOTES.append(f"GraphQL answered errors: {str(answer['errors'])[:300]}")
        else:
            NOTES.append(f"GraphQL returned {len(answer['data']['devices'])} devices")
    except SystemExit as exc:
        NOTES.append(f"GraphQL failed: {str(exc)[:300]}")
    phases["(GraphQL devices, same fields)"] = time.monotonic() - t0
    return phases


GRAPHQL = """query { devices { name status { name } role { name } location { name } rack { name }
  platform { name } primary_ip4 { address } tags { name } cf_nospof_depends_on } }"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--keep", action="store_true", help="reuse the running Nautobot and its data")
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
                   "cache_timeout": 3600}, handle)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, NOSPOF_CMDB_URL=url, NOSPOF_CMDB_TOKEN=token,
               ANSIBLE_INVENTORY_ENABLED="nospof.platform.cmdb", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))

    rows, phase_rows = [], {}
    t0 = time.monotonic()
    subprocess.run([os.path.join(BIN, "ansible-inventory"), "--version"], capture_output=True, env=env)
    baseline = time.monotonic() - t0
    for size in sorted(args.sizes):
        if existing < size:
            print(f"loading devices {existing}..{size - 1} ...", flush=True)
            took = load_devices(api, ids, existing, size)
            print(f"  loaded {size - existing} devices (+ interfaces, IPs, services) in {took:.1f} s "
                  f"({(size - existing) / took:.0f} devices/s)", flush=True)
            existing = size
        shutil.rmtree(cache, ignore_errors=True)
        cold, hosts = run_inventory(source, env)
        warm, hosts_warm = run_inventory(source, env)
        rows.append((size, hosts, cold, warm, hosts_warm))
        phase_rows[size] = in_process(url, token)

    print()
    print(f"ansible-inventory --version alone (process start): {baseline:.2f} s")
    print(f"{'devices':>8} {'hosts':>6} {'cold s':>8} {'hosts/s':>8} {'cached s':>9} {'hosts/s':>8}  target")
    for size, hosts, cold, warm, hosts_warm in rows:
        target = TARGETS.get(size)
        verdict = ""
        if target:
            verdict = (f"cold < {target[0]} s: {'met' if cold < target[0] else 'MISSED'}; "
                       f"cached < {target[1]} s: {'met' if warm < target[1] else 'MISSED'}")
        print(f"{size:>8} {hosts:>6} {cold:>8.2f} {hosts / cold:>8.0f} {warm:>9.2f} {hosts_warm / warm:>8.0f}  {verdict}")
    print()
    print("in-process phases (seconds):")
    sizes = sorted(phase_rows)
    print(f"{'phase':<40}" + "".join(f"{s:>10}" for s in sizes))
    for phase in phase_rows[sizes[0]]:
        print(f"{phase:<40}" + "".join(f"{phase_rows[s].get(phase, float('nan')):>10.2f}" for s in sizes))
    for note in NOTES:
        print(note)
    shutil.rmtree(work, ignore_errors=True)
    if not args.keep:
        print("\n(the data stays in Nautobot; the next `tools/nautobot.sh start --fresh` empties it)")


if __name__ == "__main__":
    main()
