"""Every module and plugin's documentation (with its doc fragments) must parse:
ansible-doc is what users read, and a YAML slip there hides a module's options."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def plugins(kind):
    folder = os.path.join(ROOT, "plugins", kind)
    return sorted(f[:-3] for f in os.listdir(folder) if f.endswith(".py") and not f.startswith("_"))


CASES = [("module", n) for n in plugins("modules")] + [("connection", n) for n in plugins("connection")] \
    + [("inventory", n) for n in plugins("inventory")] + [("lookup", n) for n in plugins("lookup")]


@pytest.mark.parametrize("kind, name", CASES)
def test_documentation_parses(kind, name):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"))
    proc = subprocess.run([os.path.join(BIN, "ansible-doc"), "-t", kind, "-j", f"nospof.platform.{name}"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)[f"nospof.platform.{name}"]["doc"]
    assert doc.get("short_description")
    if kind == "module":
        assert doc.get("options") is not None and "check_mode" in doc.get("attributes", {})
