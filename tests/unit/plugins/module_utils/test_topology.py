import pytest

from ansible_collections.nospof.platform.plugins.module_utils.topology import (
    Topology,
    TopologyError,
    group_name,
)


def host(name, address="10.0.0.1", **kw):
    return dict({"name": name, "address": address, "site": "dc1", "rack": "r1", "roles": []}, **kw)


HOSTS = [
    host("mq1", "10.0.0.11/24", rack="r1", roles=["rabbitmq"], cluster="mq", tags=["prod"]),
    host("mq2", "10.0.0.12", rack="r2", roles=["rabbitmq"], cluster="mq"),
    host("app1", "10.0.1.1", rack="r3", roles=["app"], status="active"),
]
SERVICES = [
    {"name": "amqps", "host": "mq1", "protocol": "tcp", "ports": [5671]},
    {"name": "amqps", "host": "mq2", "protocol": "TCP", "ports": 5671},
]
DEPS = [{"host": "app1", "needs": "amqps"}]


def test_groups_per_role_cluster_site_rack_tag_status():
    groups = Topology.from_records(HOSTS, SERVICES, DEPS).groups()
    assert groups["rabbitmq"] == ["mq1", "mq2"]
    assert groups["cluster_mq"] == ["mq1", "mq2"]
    assert groups["site_dc1"] == ["app1", "mq1", "mq2"]
    assert groups["rack_dc1_r2"] == ["mq2"]
    assert groups["tag_prod"] == ["mq1"]
    assert groups["status_active"] == ["app1"]


def test_dependencies_resolve_to_every_provider_endpoint():
    topo = Topology.from_records(HOSTS, SERVICES, DEPS)
    deps = topo.host_vars("app1")["nospof_dependencies"]
    assert deps == {"amqps": [
        {"host": "mq1", "address": "10.0.0.11", "port": 5671, "protocol": "tcp", "site": "dc1", "rack": "r1"},
        {"host": "mq2", "address": "10.0.0.12", "port": 5671, "protocol": "tcp", "site": "dc1", "rack": "r2"},
    ]}


def test_host_vars():
    hv = Topology.from_records(HOSTS, SERVICES, DEPS).host_vars("mq1")
    assert hv["ansible_host"] == "10.0.0.11"
    assert hv["nospof_failure_domain"] == {"site": "dc1", "rack": "r1"}
    assert hv["nospof_services"] == [{"name": "amqps", "protocol": "tcp", "ports": [5671]}]
    assert hv["nospof_dependencies"] == {}
    # The firewall opens amqps only to the hosts that depend on it.
    assert hv["nospof_firewall_allowlist"] == [
        {"name": "amqps", "proto": "tcp", "ports": [5671], "sources": ["10.0.1.1"]}]


def test_host_vars_ansible_host_override():
    hosts = [host("a", "a.example", vars={"ansible_host": "container-a"})]
    assert Topology.from_records(hosts).host_vars("a")["ansible_host"] == "container-a"


@pytest.mark.parametrize("hosts, services, deps, message", [
    ([host("a"), host("a")], [], [], "host 'a': duplicate host name"),
    ([host("a", None)], [], [], "host 'a': has no primary address"),
    ([host("a", "not an address!")], [], [], "host 'a': address 'not an address!'"),
    ([{"address": "10.0.0.1"}], [], [], "host #1: name None"),
    ([host("a", roles="x")], [], [{"host": "a", "needs": "ghost"}],
     "dependency of host 'a' on service 'ghost': no host provides"),
    ([host("a")], [{"name": "s", "host": "b", "ports": [1]}], [], "service 's' on host 'b': the host is unknown"),
    ([host("a")], [{"name": "s", "host": "a", "ports": [0]}], [], "service 's' on host 'a': ports [0]"),
    ([host("a")], [{"name": "s", "host": "a", "protocol": "sctp", "ports": [1]}], [], "protocol 'sctp'"),
    ([host("a", roles=[1])], [], [], "host 'a': roles holds 1"),
])
def test_errors_name_the_record(hosts, services, deps, message):
    with pytest.raises(TopologyError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Topology.from_records(hosts, services, deps, strict=True)


def test_non_strict_collects_every_problem_and_keeps_the_rest():
    topo = Topology.from_records([host("a"), host("a"), host("b", None), host("c")], [],
                                 [{"host": "c", "needs": "ghost"}], strict=False)
    assert sorted(topo.hosts) == ["a", "c"]
    assert len(topo.problems) == 3


def test_round_trip_through_plain_data():
    topo = Topology.from_records(HOSTS, SERVICES, DEPS)
    again = Topology.from_dict(topo.to_dict())
    assert again.groups() == topo.groups()
    assert again.host_vars("app1") == topo.host_vars("app1")


@pytest.mark.parametrize("parts, expected", [
    (("rack", "DC-1", "R 2"), "rack_dc_1_r_2"),
    (("1st",), "g_1st"),
    (("tag", "prod"), "tag_prod"),
])
def test_group_names_are_safe(parts, expected):
    assert group_name(*parts) == expected


# ---------------------------------------------------------------- firewall sources
def test_collapse_sources_merges_only_whole_blocks():
    from ansible_collections.nospof.platform.plugins.module_utils.topology import collapse_sources

    full = [f"10.0.0.{i}" for i in range(8)]  # 10.0.0.0/29 complete
    assert collapse_sources(full) == ["10.0.0.0/29"]
    # one address missing: no block may cover it, the rest merge as far as they fill blocks
    assert collapse_sources(full[:3] + full[4:]) == ["10.0.0.0/31", "10.0.0.2", "10.0.0.4/30"]
    # single addresses stay plain; IPv4, then IPv6, then names; duplicates once
    assert collapse_sources(["mq1", "fd00::1", "10.0.0.9", "fd00::0", "10.0.0.9", "infra1"]) == [
        "10.0.0.9", "fd00::/127", "infra1", "mq1"]
    assert collapse_sources([]) == []


def test_collapse_sources_scales_to_a_numbered_estate():
    from ansible_collections.nospof.platform.plugins.module_utils.topology import collapse_sources

    addresses = [f"10.{i // 65536}.{(i // 256) % 256}.{i % 256}" for i in range(1, 10001)]
    out = collapse_sources(addresses)
    assert len(out) <= 20, out
    assert out[0] == "10.0.0.1" and out[-1] == "10.0.39.16"


def _svc(name, host_, port):
    return {"name": name, "host": host_, "protocol": "tcp", "ports": [port]}


def test_dependency_groups_gather_hosts_that_need_the_same_services():
    hosts = [host("dns1", "10.0.0.1", roles=["dns"]), host("m1", "10.0.0.2", roles=["mirror"]),
             host("a", "10.0.0.3"), host("b", "10.0.0.4"), host("c", "10.0.0.5")]
    services = [_svc("dns", "dns1", 53), _svc("mirror", "m1", 443)]
    deps = [{"host": "a", "needs": "dns"}, {"host": "a", "needs": "mirror"},
            {"host": "b", "needs": "mirror"}, {"host": "b", "needs": "dns"},
            {"host": "c", "needs": "dns"}]
    topo = Topology.from_records(hosts, services, deps)
    assert topo.dependency_groups() == {
        "needs_nothing": {"needs": [], "hosts": ["dns1", "m1"]},
        "needs_dns": {"needs": ["dns"], "hosts": ["c"]},
        "needs_dns_mirror": {"needs": ["dns", "mirror"], "hosts": ["a", "b"]},
    }


def test_dependency_group_names_fall_back_to_a_hash():
    # "a_b" + "c" and "a" + "b_c" would both be needs_a_b_c; a role group may
    # already hold a name; a long list of needs makes a long name
    long_needs = [f"service-number-{i}" for i in range(8)]
    hosts = [host("p", "10.0.0.1", roles=["needs_x"]), host("q", "10.0.0.2"), host("r", "10.0.0.3"),
             host("s", "10.0.0.4"), host("t", "10.0.0.5")]
    services = [_svc(n, "p", 1000 + i) for i, n in enumerate(["a_b", "c", "a", "b_c", "x"] + long_needs)]
    deps = ([{"host": "q", "needs": n} for n in ("a_b", "c")] + [{"host": "r", "needs": n} for n in ("a", "b_c")]
            + [{"host": "s", "needs": "x"}] + [{"host": "t", "needs": n} for n in long_needs])
    groups = Topology.from_records(hosts, services, deps).dependency_groups()
    assert groups.pop("needs_nothing") == {"needs": [], "hosts": ["p"]}
    assert len(groups) == 4
    by_host = {entry["hosts"][0]: name for name, entry in groups.items()}
    for name in by_host.values():
        assert name.startswith("needs_") and len(name) == len("needs_") + 12, name
    assert by_host["q"] != by_host["r"]
    # the same needs always give the same name
    again = Topology.from_records(hosts, services, deps).dependency_groups()
    again.pop("needs_nothing")
    assert again == groups


def test_inventory_gives_each_dependency_set_once():
    topo = Topology.from_records(HOSTS, SERVICES, DEPS)
    inv = topo.inventory()
    assert inv["format"] == "nospof-inventory/2"
    assert inv["groups"]["needs_amqps"] == ["app1"]
    # hosts that need nothing share an empty one, so it has one precedence on every host
    assert inv["groups"]["needs_nothing"] == ["mq1", "mq2"]
    assert inv["group_vars"] == {"needs_amqps": {"nospof_dependencies": topo.host_vars("app1")["nospof_dependencies"]},
                                 "needs_nothing": {"nospof_dependencies": {}}}
    assert not any("nospof_dependencies" in hostvars for hostvars in inv["hosts"].values())
    for name, hostvars in inv["hosts"].items():
        group = "needs_amqps" if name == "app1" else "needs_nothing"
        assert dict(inv["group_vars"][group], **hostvars) == topo.host_vars(name), name
    # the rest of the groups are groups()'s
    assert {g: m for g, m in inv["groups"].items() if not g.startswith("needs_")} == topo.groups()


def test_nothing_needed_and_a_service_named_nothing_do_not_share_a_group():
    hosts = [host("p", "10.0.0.1"), host("q", "10.0.0.2")]
    groups = Topology.from_records(hosts, [_svc("nothing", "p", 1)], [{"host": "q", "needs": "nothing"}]) \
        .dependency_groups()
    assert sorted(entry["needs"] for entry in groups.values()) == [[], ["nothing"]]
    assert "needs_nothing" not in groups
