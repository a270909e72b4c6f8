"""The graphite filters: the ring for templates, the rebalance plan and its checks."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.nospof.platform.plugins.filter import graphite as f

RING = {"hash": "fnv1a_ch", "replication": 2, "members": [
    {"name": "metrics1", "address": "10.0.0.1", "port": 2103},
    {"name": "metrics2", "address": "10.0.0.2", "port": 2103},
    {"name": "metrics3", "address": "10.0.0.3", "port": 2103}]}


def test_filters_are_registered():
    assert set(f.FilterModule().filters()) == {
        "graphite_ring", "graphite_owners", "graphite_same_ring", "graphite_rebalance_plan",
        "graphite_rebalance_prunable", "graphite_misplaced"}


def test_owners_and_bad_ring_message():
    assert f.graphite_owners("a.b.c", RING) == ["metrics2", "metrics1"]
    with pytest.raises(AnsibleFilterError, match="graphite ring: ring hash"):
        f.graphite_ring({"hash": "nope", "members": RING["members"]})


def test_plan_is_a_list_of_transfers_and_prunable_needs_every_owner():
    series = ["m.%d" % i for i in range(60)]
    plan = f.graphite_rebalance_plan({"metrics1": series, "metrics2": series, "metrics3": []}, RING)
    assert all(set(t) == {"source", "target", "series"} for t in plan["transfers"])
    # Nothing verified: nothing may be deleted.
    assert all(v == [] for v in f.graphite_rebalance_prunable(plan, {}).values())
    # Verified everywhere: every planned prune may go.
    everything = {n: series for n in ("metrics1", "metrics2", "metrics3")}
    assert f.graphite_rebalance_prunable(plan, everything) == plan["prune"]
    # One owner short: the series stays.
    one = plan["prune"]["metrics1"][0] if plan["prune"].get("metrics1") else plan["prune"]["metrics2"][0]
    owner = plan["owners"][one][0]
    partial = dict(everything, **{owner: [s for s in series if s != one]})
    assert all(one not in v for v in f.graphite_rebalance_prunable(plan, partial).values())


def test_misplaced_names_the_series_and_nodes():
    owners = f.graphite_owners("x.y", RING)
    assert f.graphite_misplaced({o: ["x.y"] for o in owners}, RING) == []
    assert f.graphite_misplaced({"metrics1": ["x.y"], "metrics2": ["x.y"], "metrics3": ["x.y"]}, RING) == [
        "x.y on metrics1,metrics2,metrics3"]
