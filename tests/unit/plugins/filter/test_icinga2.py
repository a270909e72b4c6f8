"""The icinga2 role's check catalog (nospof.platform.icinga2_checks) and DSL writer.

The catalog is computed from the topology; every check must link to a runbook
page that exists in docs/runbooks/, for the lab environment's real topology
(read by the inventory plugin) and for every role check the role ships.
"""

import json
import os
import subprocess
import sys

import pytest
import yaml

from ansible.errors import AnsibleFilterError
from ansible_collections.nospof.platform.plugins.filter.icinga2 import (icinga2_checks, icinga2_duration,
                                                                       icinga2_hosts, icinga2_value)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
RUNBOOKS = os.path.join(ROOT, "docs", "runbooks")

with open(os.path.join(ROOT, "roles", "icinga2", "defaults", "main.yml"), encoding="utf-8") as _h:
    DEFAULTS = yaml.safe_load(_h)


def settings(**over):
    base = {
        "master_group_members": ["m1", "m2"],
        "config_master": "m1",
        "disk_paths": DEFAULTS["icinga2_disk_paths"],
        "disk_levels": DEFAULTS["icinga2_disk_levels"],
        "ntp_server": "",
        "tls_services": DEFAULTS["icinga2_tls_services"],
        "port_check_skip": DEFAULTS["icinga2_port_check_skip"],
        "role_checks": DEFAULTS["icinga2_role_checks"],
        "extra_checks": [],
    }
    base.update(over)
    return base


HOSTVARS = {
    "m1": {"group_names": ["icinga2_master"]},
    "m2": {"group_names": ["icinga2_master"]},
    "mq1": {"nospof_roles": ["rabbitmq"], "nospof_address": "10.0.0.5",
            "nospof_services": [{"name": "amqps", "protocol": "tcp", "ports": [5671]},
                                {"name": "epmd", "protocol": "tcp", "ports": [4369]}]},
    "dns1": {"group_names": ["dns"], "nospof_services": [{"name": "dns", "protocol": "udp", "ports": [53]}]},
}


def by_key(checks):
    return {(c["host"], c["name"]): c for c in checks}


def test_every_host_gets_health_checks_on_its_own_agent():
    checks = by_key(icinga2_checks(list(HOSTVARS), HOSTVARS, settings()))
    for host in HOSTVARS:
        for name in ("load", "memory", "disk /"):
            assert checks[(host, name)]["local"] is True
    assert checks[("mq1", "disk /")]["levels"] == [10, 5, 2]
    # agents are watched from the masters; masters watch each other
    assert checks[("mq1", "agent connection")]["vars"] == {"cluster_zone": "mq1"}
    assert not checks[("mq1", "agent connection")]["local"]
    assert ("m1", "agent connection") not in checks and checks[("m1", "icinga cluster")]["local"]


def test_services_get_port_and_certificate_checks_and_roles_their_health():
    checks = by_key(icinga2_checks(list(HOSTVARS), HOSTVARS, settings()))
    assert checks[("mq1", "amqps port 5671")]["vars"] == {"tcp_port": 5671}
    assert checks[("mq1", "amqps certificate 5671")]["command"] == "nospof-certificate"
    assert ("mq1", "epmd certificate 4369") not in checks
    assert ("mq1", "epmd port 4369") in checks
    # UDP has no port check (the role's own answer check covers it)
    assert not [k for k in checks if k[0] == "dns1" and "port" in k[1]]
    assert checks[("dns1", "dns answer")]["command"] == "dig"
    assert checks[("mq1", "rabbitmq publish-consume")]["vars"] == {"nospof_rabbitmq_mode": "e2e", "nospof_role_members": 1}


def test_nodes_of_one_role_on_different_ports_get_checks_on_their_own_port():
    """OpenSearch nodes that share a network namespace listen on ports of their own: the cluster check
    and the certificate check (opensearch: true, every declared port) follow each host's declaration."""
    hv = {"m1": {"group_names": ["icinga2_master"]}, "m2": {"group_names": ["icinga2_master"]}}
    for i, port in enumerate((9200, 9201, 9202), start=1):
        hv["os%d" % i] = {"nospof_roles": ["opensearch"],
                          "nospof_services": [{"name": "opensearch", "protocol": "tcp", "ports": [port]}]}
    checks = by_key(icinga2_checks(list(hv), hv, settings()))
    assert checks[("os2", "opensearch cluster health")]["vars"] == {"nospof_opensearch_port": 9201,
                                                                   "nospof_role_members": 3}
    assert checks[("os3", "opensearch certificate 9202")]["vars"] == {"tcp_port": 9202}
    assert ("os3", "opensearch certificate 9200") not in checks
    # a host that declares no such service keeps the command's default port
    hv["os4"] = {"nospof_roles": ["opensearch"]}
    assert "nospof_opensearch_port" not in by_key(icinga2_checks(list(hv), hv, settings()))[
        ("os4", "opensearch cluster health")]["vars"]
    with pytest.raises(AnsibleFilterError, match=r"tls_services\[opensearch\] must be a list of ports or true"):
        icinga2_checks(list(hv), hv, settings(tls_services={"opensearch": "yes"}))


def test_ports_that_do_not_always_listen_get_no_port_check():
    hv = dict(HOSTVARS, mq1=dict(HOSTVARS["mq1"], nospof_services=[
        {"name": "rabbitmq-cluster", "protocol": "tcp", "ports": [4369, 25672, 35672, 35682]}]))
    names = {c["name"] for c in icinga2_checks(list(hv), hv, settings()) if c["host"] == "mq1"}
    assert {"rabbitmq-cluster port 4369", "rabbitmq-cluster port 25672"} <= names
    assert not {"rabbitmq-cluster port 35672", "rabbitmq-cluster port 35682"} & names


def test_escalation_check_runs_once_for_the_zone():
    checks = icinga2_checks(list(HOSTVARS), HOSTVARS, settings())
    assert [(c["host"], c["name"]) for c in checks if c["command"] == "nospof-ack-escalation"] == \
        [("m1", "acknowledgement escalation")]


def test_host_disk_paths_and_extra_checks():
    hv = dict(HOSTVARS, mq1=dict(HOSTVARS["mq1"], icinga2_disk_paths=["/", "/var/lib/rabbitmq"]))
    extra = [{"host": "mq1", "name": "heartbeat backup", "heartbeat": {"window": "1h"}},
             {"host": "m2", "name": "anomaly x", "command": "nospof-anomaly", "runbook": "metric-anomaly",
              "vars": {"nospof_anomaly_target": "x"}}]
    checks = by_key(icinga2_checks(list(hv), hv, settings(extra_checks=extra)))
    assert ("mq1", "disk /var/lib/rabbitmq") in checks
    assert checks[("mq1", "heartbeat backup")]["heartbeat"] == {"window": "1h"}
    assert checks[("mq1", "heartbeat backup")]["runbook"] == "heartbeat-missing"
    assert checks[("m2", "anomaly x")]["vars"]["nospof_anomaly_target"] == "x"


@pytest.mark.parametrize("extra, message", [
    ([{"host": "nowhere", "name": "x", "command": "tcp", "runbook": "host-down"}], "not monitored"),
    ([{"host": "m1", "name": "x", "command": "tcp"}], "needs a runbook"),
    ([{"host": "m1", "name": "x", "runbook": "host-down"}], "needs a command"),
    ([{"host": "m1", "name": "load", "command": "tcp", "runbook": "host-down"}], "two checks named"),
    ([{"host": "m1", "name": 'bad"name', "command": "tcp", "runbook": "host-down"}], "characters"),
    ([{"name": "x"}], "needs host and name"),
])
def test_bad_checks_are_refused_with_the_reason(extra, message):
    with pytest.raises(AnsibleFilterError, match=message):
        icinga2_checks(list(HOSTVARS), HOSTVARS, settings(extra_checks=extra))


def test_hosts_carry_address_roles_and_failure_domain():
    hv = dict(HOSTVARS, mq1=dict(HOSTVARS["mq1"], nospof_failure_domain={"site": "s1", "rack": "r2"}))
    hosts = {h["name"]: h for h in icinga2_hosts(list(hv), hv, ["m1", "m2"])}
    assert hosts["mq1"]["address"] == "10.0.0.5" and hosts["m1"]["address"] == "m1"
    assert hosts["mq1"]["rack"] == "r2" and hosts["m1"]["master"] and not hosts["mq1"]["master"]
    assert hosts["dns1"]["roles"] == ["dns"]


def test_every_role_check_the_role_ships_has_a_runbook_page():
    for role, specs in DEFAULTS["icinga2_role_checks"].items():
        for spec in specs:
            assert os.path.exists(os.path.join(RUNBOOKS, spec["runbook"] + ".md")), (role, spec)


def lab_hostvars():
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"))
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-inventory"), "-i",
                           os.path.join(ROOT, "inventories", "lab", "lab.cmdb.yml"), "--list"],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    # --list marks strings from the CMDB as unsafe ({"__ansible_unsafe": "x"}): unwrap them.
    data = json.loads(proc.stdout, object_hook=lambda d: d["__ansible_unsafe"] if list(d) == ["__ansible_unsafe"] else d)
    return data["_meta"]["hostvars"], data


def test_every_check_generated_for_the_lab_links_to_an_existing_runbook():
    hostvars, data = lab_hostvars()
    masters = sorted(data.get("icinga2_master", {}).get("hosts", [])) or sorted(hostvars)[:2]
    checks = icinga2_checks(sorted(hostvars), hostvars, settings(master_group_members=masters,
                                                                 config_master=masters[0], ntp_server="ntp"))
    assert len(checks) > 10 * len(hostvars) // 2
    missing = sorted({c["runbook"] for c in checks if not os.path.exists(os.path.join(RUNBOOKS, c["runbook"] + ".md"))})
    assert missing == []
    # every TCP port the lab declares is checked
    for host, hv in hostvars.items():
        for svc in hv.get("nospof_services", []):
            if svc["protocol"] == "tcp":
                for port in set(svc["ports"]) - set(DEFAULTS["icinga2_port_check_skip"].get(svc["name"], [])):
                    assert any(c["host"] == host and c["name"] == "%s port %d" % (svc["name"], port) for c in checks)


@pytest.mark.parametrize("value, text", [
    ("plain", '"plain"'),
    ('a "quoted" \\ value\n', '"a \\"quoted\\" \\\\ value\\n"'),
    (True, "true"), (3, "3"), (2.5, "2.5"), (None, "null"),
    (["a", 1], '[ "a", 1 ]'),
    ({"k": "v", "two words": 1}, '{ k = "v"; "two words" = 1; }'),
    ({}, "{}"),
])
def test_values_are_written_as_icinga_dsl(value, text):
    assert icinga2_value(value) == text


def test_durations_are_checked():
    assert icinga2_duration("30s") == "30s" and icinga2_duration(60) == "60"
    with pytest.raises(AnsibleFilterError, match="not a duration"):
        icinga2_duration("30 seconds; exit")
