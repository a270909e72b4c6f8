"""Integration tests against a real Nautobot (tools/nautobot.sh).

The session starts Nautobot with `tools/nautobot.sh start --fresh` (an empty,
migrated database restored from the cached dump; the first run on a machine
installs and migrates, ~4 minutes) and reads its URL and token from
`tools/nautobot.sh env`. Nothing is skipped: if Nautobot cannot start, every
test errors with the script's reason.

All traffic goes to 127.0.0.1.
"""

import json
import subprocess

import pytest

from cmdb_it import DATA, NAUTOBOT_SH, Settings, run_playbook  # noqa: F401 - sets up the collection path

from ansible.module_utils.testing import patch_module_args  # noqa: E402


@pytest.fixture(scope="session")
def nautobot():
    """{"url", "token"} of a running Nautobot with an empty database."""
    proc = subprocess.run(["bash", NAUTOBOT_SH, "start", "--fresh"], capture_output=True, text=True,
                          timeout=1200)
    if proc.returncode != 0:
        pytest.fail(f"tools/nautobot.sh start failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}",
                    pytrace=False)
    proc = subprocess.run(["bash", NAUTOBOT_SH, "env"], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        pytest.fail(f"tools/nautobot.sh env failed: {proc.stderr}", pytrace=False)
    values = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    return Settings(url=values["NOSPOF_CMDB_URL"], token=values["NOSPOF_CMDB_TOKEN"])





@pytest.fixture(scope="session")
def imported(nautobot):
    """The test environment imported into Nautobot with playbooks/cmdb_import.yml (first run's output)."""
    rc, out = run_playbook(nautobot, "playbooks/cmdb_import.yml", "-e", f"cmdb_env_file={DATA}")
    if rc != 0:
        pytest.fail(f"playbooks/cmdb_import.yml failed:\n{out[-6000:]}", pytrace=False)
    return out





@pytest.fixture
def run_module(capsys):
    """run_module(module, args, check=False, diff=True) -> (failed, result), in process."""

    def run(module, args, check=False, diff=True):
        args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                module.main()
        result = json.loads(capsys.readouterr().out)
        return bool(result.get("failed")), result

    return run


@pytest.fixture
def conn(nautobot):
    return Settings(backend="nautobot", url=nautobot["url"], token=nautobot["token"])
