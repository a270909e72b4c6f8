"""The cmdb inventory plugin with the file backend, loaded the way Ansible loads it."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
LAB = os.path.join(ROOT, "inventories", "lab", "lab.cmdb.yml")


def inventory(path, *args):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"),
               ANSIBLE_INVENTORY_UNPARSED_FAILED="true", ANSIBLE_NOCOLOR="1")
    ansible_inventory = os.path.join(os.path.dirname(sys.executable), "ansible-inventory")
    return subprocess.run([ansible_inventory, "-i", str(path), *args], capture_output=True, text=True, env=env)


def unwrapped(text):
    """--list --export output, with the values it marks unsafe ({"__ansible_unsafe": value}) unwrapped."""
    return json.loads(text, object_hook=lambda d: d["__ansible_unsafe"] if list(d) == ["__ansible_unsafe"] else d)


def cached(entry):
    """What the jsonfile cache plugin holds: ansible-core 2.19 keeps the value as JSON text in `__payload__`."""
    data = json.loads(entry.read_text())
    return json.loads(data["__payload__"]) if "__payload__" in data else data


def write_env(tmp_path, data, name="env.cmdb.yml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(dict({"plugin": "nospof.platform.cmdb", "backend": "file"}, **data)))
    return path


def test_lab_graph_shows_role_cluster_and_rack_groups():
    out = inventory(LAB, "--graph")
    assert out.returncode == 0, out.stderr
    for group in ("@rabbitmq:", "@cluster_mq:", "@mirror:", "@dns:", "@rack_lab_r3:", "@site_lab:"):
        assert group in out.stdout


def test_lab_host_vars():
    out = inventory(LAB, "--host", "mq2")
    assert out.returncode == 0, out.stderr
    hv = yaml.safe_load(out.stdout)
    assert hv["nospof_failure_domain"] == {"site": "lab", "rack": "r2"}
    assert {e["host"] for e in hv["nospof_dependencies"]["dns"]} == {"infra1", "infra2"}
    assert hv["nospof_dependencies"]["rabbitmq-cluster"][0]["port"] == 4369
    amqps = [e for e in hv["nospof_firewall_allowlist"] if e["name"] == "rabbitmq-cluster"][0]
    # the other members, and the Icinga masters, which check its ports
    assert amqps["sources"] == ["mon1", "mon2", "mq1", "mq3"]


def test_keyed_groups_and_compose(tmp_path):
    path = write_env(tmp_path, {
        "hosts": [{"name": "a", "address": "10.0.0.1", "site": "s", "rack": "r", "platform": "debian12"}],
        "keyed_groups": [{"key": "nospof_failure_domain.rack", "prefix": "r"}],
        "compose": {"is_a": "nospof_address == '10.0.0.1'"},
    })
    out = inventory(path, "--list")
    assert out.returncode == 0, out.stderr
    data = yaml.safe_load(out.stdout)
    assert "a" in data["r_r"]["hosts"]
    assert data["_meta"]["hostvars"]["a"]["is_a"] is True


def test_problems_are_warnings_and_bad_records_are_left_out(tmp_path):
    path = write_env(tmp_path, {"hosts": [
        {"name": "ok", "address": "10.0.0.1"},
        {"name": "noaddr"},
        {"name": "ok", "address": "10.0.0.2"},
        {"name": "dep", "address": "10.0.0.3", "depends_on": ["ghost"]},
    ]})
    out = inventory(path, "--list")
    assert out.returncode == 0, out.stderr
    assert "host 'noaddr': has no primary address" in out.stderr
    assert "host 'ok': duplicate host name" in out.stderr
    assert "no host provides a service named 'ghost'" in out.stderr
    assert "Traceback" not in out.stderr
    hostvars = yaml.safe_load(out.stdout)["_meta"]["hostvars"]
    assert sorted(hostvars) == ["dep", "ok"]


def test_strict_fails_with_one_clear_message(tmp_path):
    path = write_env(tmp_path, {"strict": True, "hosts": [{"name": "noaddr"}]})
    out = inventory(path, "--list")
    assert out.returncode != 0
    assert "host 'noaddr': has no primary address" in out.stderr
    assert "Traceback" not in out.stderr


def test_malformed_file_gives_one_clear_message(tmp_path):
    path = write_env(tmp_path, {"hosts": [{"name": "a", "adress": "10.0.0.1"}]})
    out = inventory(path, "--list")
    assert out.returncode != 0
    assert "host 'a' has unknown keys ['adress']" in out.stderr
    assert "Traceback" not in out.stderr


def test_cmdb_down_gives_one_clear_message(tmp_path):
    path = tmp_path / "nb.cmdb.yml"
    path.write_text("plugin: nospof.platform.cmdb\nbackend: netbox\nurl: http://127.0.0.1:9\n"
                    "token: 0123456789abcdef0123456789abcdef01234567\nretries: 0\ntimeout: 2\n")
    out = inventory(path, "--list")
    assert out.returncode != 0
    assert "cannot reach" in out.stderr
    assert "0123456789abcdef" not in out.stderr
    assert "Traceback" not in out.stderr


def test_cache_serves_the_second_load(tmp_path):
    env_path = tmp_path / "topology.yml"
    env_path.write_text(yaml.safe_dump({"hosts": [{"name": "a", "address": "10.0.0.1", "roles": ["x"]}]}))
    path = write_env(tmp_path, {"path": "topology.yml", "cache": True,
                                "cache_plugin": "ansible.builtin.jsonfile",
                                "cache_connection": str(tmp_path / "cache"), "cache_timeout": 600})
    assert "@x:" in inventory(path, "--graph").stdout
    env_path.unlink()  # the source is gone; the cache still answers
    out = inventory(path, "--graph")
    assert out.returncode == 0, out.stderr
    assert "@x:" in out.stdout
    shutil.rmtree(tmp_path / "cache")


def test_dependencies_are_one_group_variable_per_set_of_needs(tmp_path):
    path = write_env(tmp_path, {"hosts": [
        {"name": "dns1", "address": "10.0.0.1", "services": [{"name": "dns", "ports": [53]}]},
        {"name": "a", "address": "10.0.0.2", "depends_on": ["dns"]},
        {"name": "b", "address": "10.0.0.3", "depends_on": ["dns"]},
    ]})
    out = inventory(path, "--list", "--export")
    assert out.returncode == 0, out.stderr
    data = unwrapped(out.stdout)
    want = {"dns": [{"host": "dns1", "address": "10.0.0.1", "port": 53, "protocol": "tcp",
                     "site": None, "rack": None}]}
    assert data["needs_dns"]["hosts"] == ["a", "b"]
    assert data["needs_dns"]["vars"] == {"nospof_dependencies": want}
    hostvars = data["_meta"]["hostvars"]
    assert not any("nospof_dependencies" in hv for hv in hostvars.values())
    assert data["needs_nothing"] == {"hosts": ["dns1"], "vars": {"nospof_dependencies": {}}}
    # what a play sees: the host's variables with its groups'
    merged = yaml.safe_load(inventory(path, "--host", "b").stdout)
    assert merged["nospof_dependencies"] == want


def test_cache_of_records_from_an_older_version_is_still_read(tmp_path):
    env_path = tmp_path / "topology.yml"
    env_path.write_text(yaml.safe_dump({"hosts": [
        {"name": "dns1", "address": "10.0.0.1", "roles": ["x"], "services": [{"name": "dns", "ports": [53]}]},
        {"name": "a", "address": "10.0.0.2", "depends_on": ["dns"]}]}))
    cache = tmp_path / "cache"
    path = write_env(tmp_path, {"path": "topology.yml", "cache": True, "cache_plugin": "ansible.builtin.jsonfile",
                                "cache_connection": str(cache), "cache_timeout": 600})
    assert inventory(path, "--graph").returncode == 0
    (entry,) = list(cache.iterdir())
    assert cached(entry)["format"] == "nospof-inventory/2"
    # what earlier versions cached: the records themselves
    sys.path.insert(0, os.path.join(ROOT, ".cache", "collections"))
    from ansible_collections.nospof.platform.plugins.module_utils.topology import Topology
    records = Topology.from_records(yaml.safe_load(env_path.read_text())["hosts"], (), ()).to_dict()
    entry.write_text(json.dumps({"__payload__": json.dumps(records)}))
    env_path.unlink()
    out = inventory(path, "--host", "dns1")
    assert out.returncode == 0, out.stderr
    assert yaml.safe_load(out.stdout)["nospof_roles"] == ["x"]
    assert cached(entry)["format"] == "nospof-inventory/2"


@pytest.mark.parametrize("entry_value", [
    {"format": "nospof-inventory/99", "x": 1},                           # another version's form
    {"format": "nospof-inventory/2", "json": "{\"format\": \"nospof-inventory/2\"}"},  # damaged
    {"format": "nospof-inventory/2", "json": "not json"},
    "a string",
    [1, 2],
])
def test_cache_in_an_unknown_form_is_refetched(tmp_path, entry_value):
    env_path = tmp_path / "topology.yml"
    env_path.write_text(yaml.safe_dump({"hosts": [{"name": "a", "address": "10.0.0.1", "roles": ["x"]}]}))
    cache = tmp_path / "cache"
    path = write_env(tmp_path, {"path": "topology.yml", "cache": True, "cache_plugin": "ansible.builtin.jsonfile",
                                "cache_connection": str(cache), "cache_timeout": 600})
    assert inventory(path, "--graph").returncode == 0
    (entry,) = list(cache.iterdir())
    assert isinstance(cached(entry)["json"], str)  # the inventory as JSON text, one string to copy
    entry.write_text(json.dumps({"__payload__": json.dumps(entry_value)}))
    out = inventory(path, "--graph")
    assert out.returncode == 0, out.stderr
    assert "@x:" in out.stdout
    assert cached(entry)["format"] == "nospof-inventory/2"


def test_two_sources_with_the_same_needs_keep_their_own_endpoints(tmp_path):
    """dc1.cmdb.yml and dc2.cmdb.yml in one inventory: both have hosts needing `dns`, each its own."""
    for dc in (1, 2):
        (tmp_path / f"dc{dc}.cmdb.yml").write_text(yaml.safe_dump({
            "plugin": "nospof.platform.cmdb", "backend": "file", "hosts": [
                {"name": f"dns{dc}", "address": f"10.{dc}.0.1", "services": [{"name": "dns", "ports": [53]}]},
                {"name": f"web{dc}", "address": f"10.{dc}.0.2", "depends_on": ["dns"]}]}))
    for dc in (1, 2):
        out = inventory(tmp_path, "--host", f"web{dc}")
        assert out.returncode == 0, out.stderr
        assert [e["host"] for e in yaml.safe_load(out.stdout)["nospof_dependencies"]["dns"]] == [f"dns{dc}"]
