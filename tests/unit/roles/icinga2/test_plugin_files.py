"""Every program in roles/icinga2/files/plugins is installed as an executable
Python 3 program that says it is managed by the collection."""

import os

import pytest

from conftest import PLUGINS

PROGRAMS = sorted(f for f in os.listdir(PLUGINS) if not f.endswith(".py") and not f.startswith("."))


@pytest.mark.parametrize("name", PROGRAMS)
def test_plugin_file_is_a_managed_executable_program(name):
    path = os.path.join(PLUGINS, name)
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    assert lines[0] == "#!/usr/bin/python3"
    assert lines[1] == "# Managed by nospof.platform (roles/icinga2/files/plugins). Do not edit on the host."
    assert os.access(path, os.X_OK)
