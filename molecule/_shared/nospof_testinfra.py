"""Fixtures shared by every scenario's testinfra tests.

Hosts are reached with testinfra's podman backend (`podman exec`), which is
much faster than going through Ansible for every command. Fault injection
(`podman kill`, `podman network disconnect`) targets only the containers this
scenario created, found in molecule's instance config.
"""

import os
import subprocess

import pytest
import testinfra
import yaml


def _instances():
    path = os.environ["MOLECULE_INSTANCE_CONFIG"]
    with open(path, encoding="utf-8") as handle:
        return {item["instance"]: item["address"] for item in yaml.safe_load(handle)}


@pytest.fixture(scope="session")
def instances():
    """Map of inventory host name to container name."""
    return _instances()


@pytest.fixture(scope="session")
def hosts(instances):
    """Map of inventory host name to a testinfra host."""
    return {name: testinfra.get_host(f"podman://{container}") for name, container in instances.items()}


@pytest.fixture(scope="session")
def ephemeral_dir():
    return os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]


def wait_for(what, check, timeout=90, interval=2):
    """Poll check() until it returns something true; fail the test naming `what` after `timeout` s."""
    import time

    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def podman(*args, check=True):
    """Run podman on the test host against this scenario's containers."""
    return subprocess.run(["podman", *args], check=check, capture_output=True, text=True)


def run_playbook(playbook, limit=None, extra_vars=None, check=False, inventory=None):
    """Run ansible-playbook against this scenario's inventory (or `inventory`); return (rc, output)."""
    import json

    cmd = ["ansible-playbook", "-i", inventory or os.environ["MOLECULE_INVENTORY_FILE"], playbook]
    if limit:
        cmd += ["--limit", limit]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if check:
        cmd += ["--check", "--diff"]
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0"))
    return proc.returncode, proc.stdout + proc.stderr


def recap(output):
    """Parse PLAY RECAP lines into {host: {ok: n, changed: n, failed: n, ...}}."""
    import re

    hosts = {}
    for match in re.finditer(r"^(\S+)\s*:\s*((?:\w+=\d+\s*)+)$", output, re.M):
        hosts[match.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2))}
    return hosts
