import os
import subprocess

import pytest
import testinfra
import yaml

PREFIX = "nospof-labtest-"


@pytest.fixture(scope="session")
def ephemeral_dir():
    return os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]


@pytest.fixture(scope="session")
def lab_hosts():
    """Inventory name -> testinfra host, for every container of the lab scenario."""
    names = subprocess.run(["podman", "ps", "--filter", "label=nospof.env=labtest", "--format", "{{.Names}}"],
                           check=True, capture_output=True, text=True).stdout.split()
    # Containers that only hold a shared network namespace (search-net) are not hosts.
    with open(os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "inventory-lab", "lab.cmdb.yml"),
              encoding="utf-8") as handle:
        hosts = {h["name"] for h in yaml.safe_load(handle)["hosts"]}
    return {n[len(PREFIX):]: testinfra.get_host(f"podman://{n}") for n in sorted(names) if n[len(PREFIX):] in hosts}
