"""The Graphite ring: vectors taken from carbon-c-relay 3.7.3's -t test mode."""

import pytest

from ansible_collections.nospof.platform.plugins.module_utils import graphite

CARBON = {"hash": "carbon_ch", "replication": 2, "members": [
    {"name": "s1", "address": "10.0.0.1", "port": 2004},
    {"name": "s2", "address": "10.0.0.2", "port": 2004},
    {"name": "s3", "address": "10.0.0.3", "port": 2004}]}
FNV = {"hash": "fnv1a_ch", "replication": 2, "members": [
    {"name": "metrics1", "address": "10.0.0.1", "port": 2103},
    {"name": "metrics2", "address": "10.0.0.2", "port": 2103},
    {"name": "metrics3", "address": "10.0.0.3", "port": 2103}]}


@pytest.mark.parametrize("metric,position,owners", [
    ("a.b.c", 21823, ["s3", "s1"]),
    ("stats.foo.bar", 63532, ["s2", "s3"]),
    ("collectd.host1.cpu.idle", 29184, ["s3", "s1"]),
])
def test_carbon_ch_matches_carbon_c_relay(metric, position, owners):
    assert graphite.ring_position("carbon_ch", metric) == position
    assert graphite.HashRing(CARBON).owners(metric) == owners


@pytest.mark.parametrize("metric,position,owners", [
    ("a.b.c", 34049, ["metrics2", "metrics1"]),
    ("stats.foo.bar", 49210, ["metrics2", "metrics3"]),
    ("collectd.host1.cpu.idle", 23761, ["metrics3", "metrics2"]),
    ("nospof.test.gauge", 34413, ["metrics3", "metrics2"]),
])
def test_fnv1a_ch_matches_carbon_c_relay(metric, position, owners):
    assert graphite.ring_position("fnv1a_ch", metric) == position
    assert graphite.HashRing(FNV).owners(metric) == owners


def test_fnv1a_ch_ignores_addresses():
    moved = dict(FNV, members=[dict(m, address="192.0.2.%d" % i) for i, m in enumerate(FNV["members"])])
    for metric in ("a.b.c", "stats.foo.bar", "x.y"):
        assert graphite.HashRing(moved).owners(metric) == graphite.HashRing(FNV).owners(metric)


def test_every_series_on_replication_distinct_members():
    ring = graphite.HashRing(FNV)
    for i in range(500):
        owners = ring.owners("m.%d" % i)
        assert len(owners) == 2 and len(set(owners)) == 2


def test_two_members_replication_two_means_everything_everywhere():
    two = dict(FNV, members=FNV["members"][:2])
    assert all(sorted(graphite.HashRing(two).owners("m.%d" % i)) == ["metrics1", "metrics2"] for i in range(50))


def test_plan_from_two_to_three_moves_only_what_changes_owner():
    two = dict(FNV, members=FNV["members"][:2])
    metrics = ["m.%d" % i for i in range(300)]
    holdings = {n: [m for m in metrics if n in graphite.HashRing(two).owners(m)] for n in ("metrics1", "metrics2")}
    plan = graphite.plan_transfers(holdings, FNV)
    moved = {m for t in plan["transfers"].values() for m in t}
    assert moved, "adding a member moves some series"
    assert len(moved) < len(metrics)
    for metric in moved:
        owners = graphite.HashRing(FNV).owners(metric)
        drop = [n for n in plan["prune"] if metric in plan["prune"][n]]
        keep = [n for n in ("metrics1", "metrics2") if n in owners]
        assert metric in plan["transfers"][(keep[0], "metrics3")] or metric in plan["transfers"][(drop[0], "metrics3")]
        assert len(drop) == 1 and drop[0] in ("metrics1", "metrics2")
        assert len(keep) == 1
        assert sorted(keep + ["metrics3"]) == sorted(owners)


@pytest.mark.parametrize("ring,message", [
    ({"hash": "md5", "members": [{"name": "a", "address": "x"}]}, "not one of"),
    ({"hash": "fnv1a_ch", "members": []}, "no members"),
    ({"hash": "fnv1a_ch", "members": [{"name": "a"}]}, "needs a name and an address"),
    ({"hash": "fnv1a_ch", "replication": 3, "members": FNV["members"][:2]}, "more than its 2 members"),
    ({"hash": "fnv1a_ch", "members": [{"name": "a", "address": "x"}, {"name": "a", "address": "y"}]}, "appears twice"),
    ({"hash": "fnv1a_ch", "members": [{"name": "a", "address": "x"}, {"name": "b", "address": "x"}]}, "share the address"),
])
def test_bad_rings_are_named(ring, message):
    with pytest.raises(graphite.RingError, match=message):
        graphite.validate_ring(ring)


def test_same_ring_names_the_divergent_source():
    other = dict(FNV, hash="carbon_ch")
    assert graphite.same_ring({"relay": FNV, "web": FNV}) is None
    message = graphite.same_ring({"relay": FNV, "rebalancer": other})
    assert "rebalancer" in message and "relay" in message and "carbon_ch" in message


def test_plan_two_to_three_copies_merges_and_prunes():
    two = dict(FNV, members=FNV["members"][:2])
    series = ["m.%d" % i for i in range(200)]
    holdings = {"metrics1": list(series), "metrics2": list(series), "metrics3": []}
    plan = graphite.plan_transfers(holdings, FNV)
    ring = graphite.HashRing(FNV)
    # Simulate: apply the transfers and prunes, then every series is on exactly its owners.
    after = {n: set(v) for n, v in holdings.items()}
    for (source, target), moved in plan["transfers"].items():
        assert source != target
        for s in moved:
            assert s in after[source]
            after[target].add(s)
    for node, gone in plan["prune"].items():
        for s in gone:
            assert node not in ring.owners(s)
            after[node].discard(s)
    for s in series:
        assert sorted(n for n in after if s in after[n]) == sorted(ring.owners(s))
    assert plan["counts"]["series"] == 200
    assert plan["counts"]["copies"] == sum(1 for s in series if "metrics3" in ring.owners(s))
    # Every series a node gives up goes, as a merge, to every owner.
    for node, gone in plan["prune"].items():
        for s in gone:
            for owner in ring.owners(s):
                assert s in plan["transfers"][(node, owner)]
    assert graphite.plan_transfers({"metrics1": series, "metrics2": series}, two)["transfers"] == {}


def test_plan_refuses_holders_outside_the_ring():
    with pytest.raises(graphite.RingError, match="metrics9"):
        graphite.plan_transfers({"metrics9": ["a"]}, FNV)
