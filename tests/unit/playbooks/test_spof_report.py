"""playbooks/spof_report.yml on the lab and on broken copies of it."""

import os
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
LAB = os.path.join(ROOT, "inventories", "lab", "lab.cmdb.yml")


def run_report(inventory, *extra):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(inventory),
           os.path.join(ROOT, "playbooks", "spof_report.yml"), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    return proc.returncode, proc.stdout + proc.stderr


def lab_copy(tmp_path, mutate):
    with open(LAB, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    mutate(data)
    path = tmp_path / "copy.cmdb.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_lab_passes(tmp_path):
    rc, out = run_report(LAB, "-e", f"nospof_spof_report_path={tmp_path}/r.json")
    assert rc == 0, out
    assert "no single point of failure found" in out
    assert '"ok": true' in (tmp_path / "r.json").read_text()


def test_two_rabbitmq_nodes_fail(tmp_path):
    path = lab_copy(tmp_path, lambda d: d.update(hosts=[h for h in d["hosts"] if h["name"] != "mq3"]))
    rc, out = run_report(path)
    assert rc != 0
    assert "rabbitmq: 2 member(s) (mq1, mq2); a quorum cluster needs at least 3" in out
    assert "refusing to deploy" in out


def test_all_rabbitmq_in_one_rack_fail(tmp_path):
    def one_rack(data):
        for host in data["hosts"]:
            if host["name"].startswith("mq"):
                host["rack"] = "r1"
    rc, out = run_report(lab_copy(tmp_path, one_rack))
    assert rc != 0
    assert "rabbitmq: all 3 members are in rack lab/r1" in out


def test_override_deploys_anyway(tmp_path):
    path = lab_copy(tmp_path, lambda d: d.update(hosts=[h for h in d["hosts"] if h["name"] != "mq3"]))
    rc, out = run_report(path, "-e", "nospof_allow_spof=true")
    assert rc == 0, out
    assert "deploying anyway" in out
