"""The indexed reads of Topology give exactly what a plain scan over every record gives.

The reference functions below are the straightforward (quadratic) definitions the
model used to compute directly; the model now answers from indexes built once. The
environment has the shape of the inventory benchmark (sites, racks, roles, shared
dns/mirror providers, every 4th host offering a service) plus odd cases: hosts
sharing an address, providers depending on their own service, duplicate records,
colliding group names and rejected records. No timing here: speed is measured by
benchmarks/, never asserted by a test.
"""

import ipaddress
import json

import pytest

from ansible_collections.nospof.platform.plugins.module_utils.topology import (
    CANONICAL_IPV4,
    Topology,
    TopologyError,
    _address,
    group_name,
)

ROLES = ["app", "web", "rabbitmq", "graphite", "opensearch", "icinga2_master", "loadbalancer", "db"]
INFRA = {"dns": 53, "mirror": 443}


def environment(size):
    hosts, services, deps = [], [], []
    for n in range(size):
        name = f"h{n:04d}"
        role = list(INFRA)[n // 4] if n < 8 else ROLES[n % len(ROLES)]
        rack = n % 40
        hosts.append({"name": name, "address": f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}/8",
                      "site": f"site{rack // 10}", "rack": f"r{rack % 10}", "roles": [role],
                      "tags": ["bench"], "status": "active", "cluster": None, "vars": {}})
        if role in INFRA:
            services.append({"name": role, "host": name, "protocol": "tcp", "ports": [INFRA[role]]})
        elif n % 4 == 0:
            services.append({"name": role, "host": name, "protocol": "tcp", "ports": [8000 + n % 8]})
        deps.extend({"host": name, "service": None, "needs": need} for need in INFRA if need != role)
    for n in range(0, size, 7):
        hosts[n].update(cluster=f"c{n % 3}", roles=[hosts[n]["roles"][0], "extra"], tags=["b", "a"],
                        vars={"ansible_host": f"h{n}.example", "x": n})
    for n in range(9, size, 17):  # shares its address with the host before it
        hosts[n]["address"] = hosts[n - 1]["address"]
    for n in range(8, size, 29):  # provides a service it depends on itself
        services.append({"name": "mirror", "host": f"h{n:04d}", "protocol": "tcp", "ports": [443, 8443]})
    for n in range(5, size, 13):  # a second service of the same name-space, unsorted ports
        services.append({"name": "dns", "host": f"h{n:04d}", "protocol": "udp", "ports": [5353, 53, 53]})
    for n in range(3, size, 11):
        deps.append({"host": f"h{n:04d}", "service": "app", "needs": "opensearch"})
        deps.append({"host": f"h{n:04d}", "service": None, "needs": "dns"})  # a duplicate
    hosts[20].update(site=None, rack="r1")
    hosts[21].update(status=None, roles=[], tags="solo")
    hosts[22]["roles"] = ["a-b", "a_b", "A B"]  # three roles, one group name
    hosts.append(dict(hosts[1]))                      # duplicate name
    hosts.append({"name": "noaddr", "address": None})  # no address
    services.append({"name": "dns", "host": "h0000", "protocol": "tcp", "ports": [53]})  # twice
    services.append({"name": "x", "host": "ghost", "ports": [1]})
    deps.append({"host": "ghost", "needs": "dns"})
    deps.append({"host": "h0001", "needs": "ghost-service"})
    return hosts, services, deps


# --------------------------------------------------------------- references
def ref_providers(topo, service):
    out = []
    for svc in sorted(topo.services, key=lambda s: s["host"]):
        if svc["name"] != service:
            continue
        host = topo.hosts[svc["host"]]
        for port in svc["ports"]:
            out.append({"host": host["name"], "address": host["address"], "port": port,
                        "protocol": svc["protocol"], "site": host["site"], "rack": host["rack"]})
    return out


def ref_dependants(topo, service, host=None):
    names = sorted({d["host"] for d in topo.dependencies if d["needs"] == service})
    if host is not None and not any(s["name"] == service and s["host"] == host for s in topo.services):
        return []
    return names


def ref_host_vars(topo, name):
    host = topo.hosts[name]
    allow = []
    for svc in topo.services:
        if svc["host"] != name:
            continue
        sources = [topo.hosts[h]["address"] for h in ref_dependants(topo, svc["name"]) if h != name]
        if sources:
            allow.append({"name": svc["name"], "proto": svc["protocol"], "ports": svc["ports"],
                          "sources": sorted(set(sources))})
    needs = sorted({d["needs"] for d in topo.dependencies if d["host"] == name})
    out = dict(host["vars"])
    out.update({
        "ansible_host": host["vars"].get("ansible_host", host["address"]),
        "nospof_address": host["address"],
        "nospof_failure_domain": {"site": host["site"], "rack": host["rack"]},
        "nospof_roles": host["roles"],
        "nospof_tags": host["tags"],
        "nospof_cluster": host["cluster"],
        "nospof_services": [{"name": s["name"], "protocol": s["protocol"], "ports": s["ports"]}
                            for s in topo.services if s["host"] == name],
        "nospof_dependencies": {service: ref_providers(topo, service) for service in needs},
        "nospof_firewall_allowlist": allow,
    })
    return out


def ref_groups(topo):
    groups = {}

    def add(group, host):
        groups.setdefault(group, [])
        if host not in groups[group]:
            groups[group].append(host)

    for name in sorted(topo.hosts):
        host = topo.hosts[name]
        for role in host["roles"]:
            add(group_name(role), name)
        if host["cluster"]:
            add(group_name("cluster", host["cluster"]), name)
        if host["site"]:
            add(group_name("site", host["site"]), name)
            if host["rack"]:
                add(group_name("rack", host["site"], host["rack"]), name)
        for tag in host["tags"]:
            add(group_name("tag", tag), name)
        if host["status"]:
            add(group_name("status", host["status"]), name)
    return groups


def ordered(value):
    """JSON text keeping dict order, so an equal but reordered result fails too.

    Firewall sources are compared as the addresses they allow: the model
    collapses whole CIDR blocks (collapse_sources), the reference lists every
    address, and both must allow exactly the same set, in address order.
    """
    if isinstance(value, dict) and "nospof_firewall_allowlist" in value:
        value = dict(value, nospof_firewall_allowlist=[
            dict(e, sources=expand(e["sources"])) for e in value["nospof_firewall_allowlist"]])
    return json.dumps(value)


def expand(sources):
    """Every address a source list allows, in address order (names last)."""
    ips, names = set(), set()
    for source in sources:
        try:
            ips.update(ipaddress.ip_network(source))  # every address, network and broadcast too
        except ValueError:
            names.add(source)
    return [str(ip) for ip in sorted(ips, key=lambda i: (i.version, i))] + sorted(names)


@pytest.fixture(scope="module")
def topo():
    return Topology.from_records(*environment(400), strict=False)


# -------------------------------------------------------------------- tests
def test_validation_keeps_first_of_each_record_and_reports_the_rest(topo):
    hosts, services, deps = environment(400)
    assert len(topo.hosts) == 400
    assert len(topo.problems) == 6
    assert "host 'h0001': duplicate host name (the CMDB has it twice)" in topo.problems
    assert "service 'dns' on host 'h0000': declared twice" in topo.problems
    assert ("dependency of host 'h0001' on service 'ghost-service': no host provides a service "
            "named 'ghost-service'") in topo.problems
    # Dependencies: the first of equal records, in input order.
    expected = []
    for dep in deps:
        record = {"host": dep["host"], "service": dep.get("service") or None, "needs": dep["needs"]}
        if dep["host"] in topo.hosts and record not in expected and dep["needs"] != "ghost-service":
            expected.append(record)
    assert topo.dependencies == expected
    with pytest.raises(TopologyError, match="host 'h0001': duplicate host name"):
        Topology.from_records(hosts, services, deps, strict=True)


def test_groups_match_the_scan(topo):
    groups = topo.groups()
    assert ordered(groups) == ordered(ref_groups(topo))
    assert groups["a_b"] == ["h0022"]
    assert len(groups["tag_bench"]) == 400 - 58  # every 7th host (h0021 too) has other tags
    assert groups["tag_solo"] == ["h0021"]
    assert topo.clusters() == {g: sorted(m) for g, m in ref_groups(topo).items()
                               if not g.startswith(("site_", "rack_", "tag_", "status_"))}


def test_host_vars_match_the_scan_for_every_host(topo):
    for name in topo.hosts:
        assert ordered(topo.host_vars(name)) == ordered(ref_host_vars(topo, name)), name


def test_firewall_sources_with_shared_addresses_and_self_dependants(topo):
    # h0008 offers mirror, needs mirror and shares its address with h0009 (also a
    # dependant): the shared address stays; h0037 needs its own mirror: its address goes.
    h8 = {e["name"]: expand(e["sources"]) for e in topo.firewall_allowlist("h0008")}
    assert topo.hosts["h0008"]["address"] in h8["mirror"]
    h37 = {e["name"]: expand(e["sources"]) for e in topo.firewall_allowlist("h0037")}
    assert topo.hosts["h0037"]["address"] not in h37["mirror"]
    assert len(h37["mirror"]) == len(h8["mirror"]) - 1
    h8 = {e["name"]: e for e in topo.firewall_allowlist("h0008")}
    assert h8["mirror"]["ports"] == [443, 8443]


def test_providers_and_dependants_match_the_scan(topo):
    for service in list(INFRA) + ROLES + ["extra", "nope"]:
        assert topo.providers(service) == ref_providers(topo, service)
        for host in (None, "h0000", "h0005", "h0008", "nope"):
            assert topo.dependants(service, host) == ref_dependants(topo, service, host)


def test_results_are_fresh_objects(topo):
    first = topo.host_vars("h0100")
    first["nospof_dependencies"]["dns"][0]["address"] = "changed"
    first["nospof_dependencies"]["dns"].clear()
    topo.dependants("dns").clear()
    topo.firewall_allowlist("h0000")[0]["sources"].clear()
    assert ordered(topo.host_vars("h0101")) == ordered(ref_host_vars(topo, "h0101"))
    assert ordered(topo.host_vars("h0000")) == ordered(ref_host_vars(topo, "h0000"))
    assert topo.dependants("dns") == ref_dependants(topo, "dns")


def test_round_trip_through_json(topo):
    again = Topology.from_dict(json.loads(json.dumps(topo.to_dict())))
    assert again.to_dict() == json.loads(json.dumps(topo.to_dict()))
    assert again.problems == topo.problems
    assert ordered(again.groups()) == ordered(topo.groups())
    for name in topo.hosts:
        assert ordered(again.host_vars(name)) == ordered(topo.host_vars(name))


def test_from_dict_appends_only_new_problems():
    data = {"hosts": [{"name": "a", "address": "10.0.0.1"}, {"name": "b"}], "problems": ["old", "old"]}
    assert Topology.from_dict(data).problems == [
        "old", "old", "host 'b': has no primary address; it cannot be reached or offered to its "
        "dependants (set one in the CMDB)"]


def test_index_follows_replaced_or_grown_records():
    topo = Topology.from_records(
        [{"name": "a", "address": "10.0.0.1"}, {"name": "b", "address": "10.0.0.2"}],
        [{"name": "s", "host": "a", "ports": [1]}], [{"host": "b", "needs": "s"}])
    assert topo.dependants("s") == ["b"]
    topo.services.append({"name": "s", "host": "b", "protocol": "tcp", "ports": [2]})
    assert [p["host"] for p in topo.providers("s")] == ["a", "b"]
    topo.dependencies = [{"host": "a", "service": None, "needs": "s"}]
    assert topo.dependants("s") == ["a"]
    assert topo.host_vars("b")["nospof_firewall_allowlist"] == [
        {"name": "s", "proto": "tcp", "ports": [2], "sources": ["10.0.0.1"]}]


def test_dependencies_with_an_unhashable_service_are_still_deduplicated():
    hosts = [{"name": "a", "address": "10.0.0.1"}]
    services = [{"name": "s", "host": "a", "ports": [1]}]
    deps = [{"host": "a", "service": ["x"], "needs": "s"}, {"host": "a", "service": ["x"], "needs": "s"},
            {"host": "a", "needs": "s"}, {"host": "a", "service": "", "needs": "s"}]
    assert Topology.from_records(hosts, services, deps).dependencies == [
        {"host": "a", "service": ["x"], "needs": "s"}, {"host": "a", "service": None, "needs": "s"}]


def test_group_names_of_odd_values_are_not_confused():
    hosts = [{"name": "a", "address": "10.0.0.1", "cluster": True},
             {"name": "b", "address": "10.0.0.2", "cluster": 1},
             {"name": "c", "address": "10.0.0.3", "cluster": "1"}]
    topo = Topology.from_records(hosts)
    assert ordered(topo.groups()) == ordered(ref_groups(topo))
    assert topo.groups()["cluster_true"] == ["a"]
    assert topo.groups()["cluster_1"] == ["b", "c"]


@pytest.mark.parametrize("text", [
    "0.0.0.0", "255.255.255.255", "10.0.0.1", "1.2.3.04", "01.2.3.4", "256.1.1.1", "1.2.3",
    "1.2.3.4.5", "1..2.3", "1.2.3.4 ", "٣.1.1.1", "10.0.0.1/24", "::1", "2001:DB8::1", "host.example",
])
def test_canonical_ipv4_shortcut_equals_ipaddress(text):
    try:
        expected = str(ipaddress.ip_address(text))
    except ValueError:
        expected = None
    assert bool(CANONICAL_IPV4.fullmatch(text)) == (expected == text and "." in text)
    try:
        result = _address(text, "host 'x'")
    except TopologyError as exc:
        result = str(exc)
    if expected is not None:
        assert result == expected
