"""Helpers of the Nautobot integration tests (constants, ansible-playbook and ansible-inventory runs)."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, ".cache", "collections")
link = os.path.join(COLLECTIONS, "ansible_collections", "nospof", "platform")
if not os.path.exists(link):
    os.makedirs(os.path.dirname(link), exist_ok=True)
    os.symlink(ROOT, link)
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

DATA = os.path.join(ROOT, "tests", "integration", "data", "env.cmdb.yml")
BIN = os.path.dirname(sys.executable)
NAUTOBOT_SH = os.path.join(ROOT, "tools", "nautobot.sh")


def ansible_env(extra=None):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR="1",
               ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    env.pop("ANSIBLE_INVENTORY", None)
    env.update(extra or {})
    return env


class Settings(dict):
    """A dict whose repr hides the token (pytest prints fixture values on failure)."""

    def __repr__(self):
        return repr({k: ("***" if k == "token" else v) for k, v in self.items()})


def run_playbook(nautobot, playbook, *extra, check=False):
    env = ansible_env({"NOSPOF_CMDB_URL": nautobot["url"], "NOSPOF_CMDB_TOKEN": nautobot["token"],
                       "NOSPOF_CMDB_BACKEND": "nautobot"})
    cmd = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", os.path.join(ROOT, playbook), *extra]
    if check:
        cmd.append("--check")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
    return proc.returncode, proc.stdout + proc.stderr


def inventory(tmp_path, nautobot=None, source=None, strict=False, extra=None, url=None, token=None):
    """(rc, data or None, output) of `ansible-inventory --list` on a cmdb source.

    Only the cmdb plugin may parse it, and an unparsed source fails, so a
    broken CMDB gives the plugin's own message and a non-zero exit.
    """
    env = ansible_env({"ANSIBLE_INVENTORY_ENABLED": "nospof.platform.cmdb",
                       "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"})
    if source is None:
        source = tmp_path / "nautobot.cmdb.yml"
        config = {"plugin": "nospof.platform.cmdb", "backend": "nautobot", "strict": strict,
                  "retries": 1}
        config.update(extra or {})
        source.write_text(json.dumps(config))
        env.update(NOSPOF_CMDB_URL=url or nautobot["url"], NOSPOF_CMDB_TOKEN=token or nautobot["token"])
    proc = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", str(source), "--list"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    data = None
    if proc.returncode == 0:
        data = json.loads(proc.stdout)
    return proc.returncode, data, proc.stdout + proc.stderr
