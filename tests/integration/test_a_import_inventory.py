"""(a) Day zero -> day one: import a file environment into Nautobot, read it back.

playbooks/cmdb_import.yml loads tests/integration/data/env.cmdb.yml (14
hosts, 2 sites, 4 racks, devices and virtual machines, services,
dependencies) into Nautobot; the nautobot backend of the cmdb inventory must
then yield the same groups and dependency endpoints as the file itself.
"""

import re

from cmdb_it import DATA, inventory, run_playbook

TOPOLOGY_GROUPS = re.compile(r"^(site_|rack_|cluster_|tag_|status_)")


def groups_of(data):
    """{group: sorted hosts} for every group with hosts, `all`/`ungrouped` left out."""
    out = {}
    for group, body in data.items():
        if group in ("_meta", "all", "ungrouped") or not isinstance(body, dict):
            continue
        if body.get("hosts"):
            out[group] = sorted(body["hosts"])
    return out


def plain(value):
    """Values without ansible-inventory's {"__ansible_unsafe": ...} wrapping."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def hostvars(data):
    return plain(data["_meta"]["hostvars"])


def test_second_import_changes_nothing(nautobot, imported):
    assert "failed=0" in imported
    rc, out = run_playbook(nautobot, "playbooks/cmdb_import.yml", "-e", f"cmdb_env_file={DATA}")
    assert rc == 0, out[-4000:]
    recap = re.search(r"localhost\s+:\s+ok=\d+\s+changed=(\d+)", out)
    assert recap and recap.group(1) == "0", out[-4000:]


def test_import_check_mode_on_imported_data_reports_nothing(nautobot, imported):
    rc, out = run_playbook(nautobot, "playbooks/cmdb_import.yml", "-e", f"cmdb_env_file={DATA}", check=True)
    assert rc == 0, out[-4000:]
    assert re.search(r"localhost\s+:\s+ok=\d+\s+changed=0\b", out), out[-4000:]


def test_groups_match_the_file(tmp_path, nautobot, imported):
    rc, expected, out = inventory(tmp_path, source=DATA)
    assert rc == 0, out
    rc, actual, out = inventory(tmp_path, nautobot, strict=True)
    assert rc == 0, out
    assert "[WARNING]" not in out, out
    assert groups_of(actual) == groups_of(expected)
    # the data, spelled out: roles, clusters (VMs), sites, racks, tags, statuses
    groups = groups_of(actual)
    assert groups["rabbitmq"] == ["mq1", "mq2", "mq3"]
    assert groups["graphite"] == ["graphite1", "graphite2"]
    assert groups["cluster_vmc_dc1"] == ["graphite1", "icinga1"]
    assert groups["cluster_vmc_dc2"] == ["graphite2", "icinga2"]
    assert groups["site_dc2"] == ["graphite2", "icinga2", "infra2", "lb2", "mirror2", "mq3"]
    assert groups["rack_dc1_r1"] == ["infra1", "lb1", "mq1"]
    assert groups["rack_dc1_r2"] == ["bastion1", "mirror1", "mq2"]
    assert groups["rack_dc2_r1"] == ["infra2", "mq3"]
    assert groups["rack_dc2_r2"] == ["lb2", "mirror2"]
    assert groups["tag_edge"] == ["bastion1", "lb1", "lb2"]
    assert groups["tag_staging"] == ["icinga2"]
    assert groups["status_planned"] == ["icinga2"]
    assert len(hostvars(actual)) == 14
    assert {g for g in groups if TOPOLOGY_GROUPS.match(g)} == \
        {g for g in groups_of(expected) if TOPOLOGY_GROUPS.match(g)}


def test_dependencies_and_services_match_the_file(tmp_path, nautobot, imported):
    _rc, expected, _out = inventory(tmp_path, source=DATA)
    rc, actual, out = inventory(tmp_path, nautobot)
    assert rc == 0, out
    for name, want in hostvars(expected).items():
        got = hostvars(actual)[name]
        for key in ("nospof_dependencies", "nospof_failure_domain", "nospof_address", "nospof_roles",
                    "nospof_cluster"):
            assert got[key] == want[key], f"{name}: {key}"
        for key in ("nospof_services", "nospof_firewall_allowlist"):  # the CMDB orders services by name
            assert sorted(got[key], key=lambda s: s["name"]) == sorted(want[key], key=lambda s: s["name"]), \
                f"{name}: {key}"
        assert sorted(got["nospof_tags"]) == sorted(want["nospof_tags"]), name
        assert got["ansible_host"] == want["nospof_address"]
    lb1 = hostvars(actual)["lb1"]
    assert lb1["nospof_dependencies"]["amqps"] == [
        {"host": "mq1", "address": "10.1.0.41", "port": 5671, "protocol": "tcp", "site": "dc1", "rack": "r1"},
        {"host": "mq2", "address": "10.1.0.42", "port": 5671, "protocol": "tcp", "site": "dc1", "rack": "r2"},
        {"host": "mq3", "address": "10.2.0.41", "port": 5671, "protocol": "tcp", "site": "dc2", "rack": "r1"},
    ]
    icinga2 = hostvars(actual)["icinga2"]
    assert [e["host"] for e in icinga2["nospof_dependencies"]["carbon"]] == ["graphite1", "graphite1",
                                                                            "graphite2", "graphite2"]
    assert icinga2["nospof_failure_domain"] == {"site": "dc2", "rack": None}
    mq1 = hostvars(actual)["mq1"]
    amqps = next(rule for rule in mq1["nospof_firewall_allowlist"] if rule["name"] == "amqps")
    assert amqps["sources"] == ["10.1.0.31", "10.1.1.21", "10.2.0.31", "10.2.1.21"]


def test_inventory_cache(tmp_path, nautobot, imported):
    cache = tmp_path / "cache"
    extra = {"cache": True, "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": str(cache),
             "cache_timeout": 600}
    rc, first, out = inventory(tmp_path, nautobot, extra=extra)
    assert rc == 0, out
    assert list(cache.iterdir()), "the jsonfile cache was not written"
    rc, second, out = inventory(tmp_path, nautobot, extra=extra)
    assert rc == 0, out
    assert groups_of(first) == groups_of(second)


def test_graphql_and_rest_read_the_same_inventory(tmp_path, nautobot, imported):
    """The default GraphQL reads and the REST reads (api: rest) give the same inventory, also filtered
    (location, status, tags: the filter argument names exist in Nautobot's GraphQL schema)."""
    for filters in ({}, {"site": "dc2"}, {"status": "Planned"}, {"tags": ["edge", "staging"]}):
        rc, graphql, out = inventory(tmp_path, nautobot, extra={"filters": filters})
        assert rc == 0, (filters, out)
        # a filtered inventory may lack the providers of what its hosts need: the same warnings both ways
        warnings = sorted(line for line in out.splitlines() if "[WARNING]" in line)
        assert filters or not warnings, warnings
        rc, rest, out = inventory(tmp_path, nautobot, extra={"filters": filters, "api": "rest"})
        assert rc == 0, (filters, out)
        assert sorted(line for line in out.splitlines() if "[WARNING]" in line) == warnings, filters
        assert groups_of(graphql) == groups_of(rest), filters
        assert hostvars(graphql) == hostvars(rest), filters
        assert len(hostvars(graphql)) == {"{}": 14, "{'site': 'dc2'}": 6, "{'status': 'Planned'}": 1,
                                          "{'tags': ['edge', 'staging']}": 4}[str(filters)]
