import pytest

from ansible_collections.nospof.platform.plugins.module_utils.spof import (
    SpofInputError,
    analyse,
    report_text,
)


def members(*placements):
    return [{"name": f"n{i + 1}", "site": site, "rack": rack} for i, (site, rack) in enumerate(placements)]


def rules_of(findings):
    return sorted((f["group"], f["rule"]) for f in findings if f["severity"] == "error")


def test_three_nodes_in_three_racks_pass():
    assert analyse({"rabbitmq": members(("s", "r1"), ("s", "r2"), ("s", "r3"))}) == []


def test_two_quorum_nodes_fail_on_count_and_parity():
    findings = analyse({"rabbitmq": members(("s", "r1"), ("s", "r2"))})
    assert rules_of(findings) == [("rabbitmq", "min_members"), ("rabbitmq", "odd_members")]
    assert "needs at least 3" in findings[0]["message"]


def test_four_quorum_nodes_fail_on_parity():
    assert rules_of(analyse({"opensearch": members(*[("s", f"r{i}") for i in range(4)])})) == \
        [("opensearch", "odd_members")]


def test_all_in_one_rack_fails_when_the_environment_has_more_racks():
    clusters = {"rabbitmq": members(("s", "r1"), ("s", "r1"), ("s", "r1")),
                "dns": [{"name": "d1", "site": "s", "rack": "r2"}, {"name": "d2", "site": "s", "rack": "r3"}]}
    findings = analyse(clusters)
    assert ("rabbitmq", "spread_rack") in rules_of(findings)
    assert any("all 3 members are in rack s/r1" in f["message"] for f in findings)


def test_a_rack_holding_a_quorum_majority_fails():
    findings = analyse({"rabbitmq": members(("s", "r1"), ("s", "r1"), ("s", "r2"))})
    assert rules_of(findings) == [("rabbitmq", "majority_rack")]
    assert "holds 2 of 3 members" in findings[0]["message"]


def test_single_rack_environment_is_not_judged_on_spread():
    assert analyse({"rabbitmq": members(("s", "r1"), ("s", "r1"), ("s", "r1"))}) == []


def test_replicated_tier_needs_two_spread_members():
    assert rules_of(analyse({"mirror": members(("s", "r1"))},
                            all_hosts=members(("s", "r1"), ("s", "r2")))) == [("mirror", "min_members")]
    assert rules_of(analyse({"mirror": members(("s", "r1"), ("s", "r1"))},
                            all_hosts=members(("s", "r1"), ("s", "r2")))) == [("mirror", "spread_rack")]


def test_site_level_spread():
    clusters = {"dns": [{"name": "a", "site": "s1", "rack": "r1"}, {"name": "b", "site": "s1", "rack": "r2"}]}
    everyone = clusters["dns"] + [{"name": "c", "site": "s2", "rack": "r1"}]
    assert rules_of(analyse(clusters, all_hosts=everyone)) == [("dns", "spread_site")]


def test_required_group_missing():
    findings = analyse({}, {"icinga2_master": {"kind": "replicated", "required": True}})
    assert rules_of(findings) == [("icinga2_master", "present")]


@pytest.mark.parametrize("clusters, rules, message", [
    ([], None, "clusters must be a mapping"),
    ({"x": "a"}, None, "clusters\\['x'\\] must be a list"),
    ({"x": [{}]}, None, "member without a name"),
    ({}, {"x": {"kind": "bogus"}}, "kind must be one of"),
    ({}, {"x": {"kind": "quorum", "min": 0}}, "min must be a positive"),
])
def test_bad_input(clusters, rules, message):
    with pytest.raises(SpofInputError, match=message):
        analyse(clusters, rules)


def test_report_names_the_problem():
    clusters = {"rabbitmq": members(("s", "r1"), ("s", "r2"))}
    text = report_text(analyse(clusters), clusters)
    assert "[FAIL] rabbitmq (quorum, 2): n1@s/r1, n2@s/r2" in text
    assert "2 single point(s) of failure found" in text
