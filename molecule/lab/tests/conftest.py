import os
import subprocess

import pytest
import testinfra

PREFIX = "nospof-labtest-"


@pytest.fixture(scope="session")
def ephemeral_dir():
    return os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]


@pytest.fixture(scope="session")
def lab_hosts():
    """Inventory name -> testinfra host, for every container of the lab scenario."""
    names = subprocess.run(["podman", "ps", "--filter", "label=nospof.env=labtest", "--format", "{{.Names}}"],
                           check=True, capture_output=True, text=True).stdout.split()
    return {n[len(PREFIX):]: testinfra.get_host(f"podman://{n}") for n in sorted(names)}
