"""(c) Failures give one clear message and no traceback: a CMDB that is down, a bad
token, malformed records (no primary IP, a dependency on an unknown service)."""

import re
import socket

import pytest

from ansible_collections.nospof.platform.plugins.module_utils.cmdb import writeback
from ansible_collections.nospof.platform.plugins.modules import cmdb_host, cmdb_service

from cmdb_it import inventory

BAD_TOKEN = "0" * 40


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def one_message(out, text):
    """`text` is in exactly one of the plugin's messages (ansible-core prints a
    failed source's error twice: in its summary and under "caused by")."""
    messages = set(re.findall(r"cmdb inventory \(nautobot\): [^\n]*", out))
    assert len([m for m in messages if text in m]) == 1, out
    assert "Traceback" not in out, out


def test_cmdb_down(tmp_path, nautobot, conn, run_module):
    url = f"http://127.0.0.1:{free_port()}"
    rc, _data, out = inventory(tmp_path, nautobot, url=url)
    assert rc != 0
    one_message(out, f"cannot reach {url}/api/graphql/")
    assert "connection refused" in out
    failed, result = run_module(cmdb_host, dict(conn, url=url, name="x", role="r"))
    assert failed
    assert result["msg"].startswith(f"cannot reach {url}/api/dcim/devices/")
    assert "connection refused" in result["msg"] and "Traceback" not in str(result)


def test_bad_token(tmp_path, nautobot, conn, run_module):
    rc, _data, out = inventory(tmp_path, nautobot, token=BAD_TOKEN)
    assert rc != 0
    one_message(out, "refused the token (HTTP 403)")
    assert BAD_TOKEN not in out
    failed, result = run_module(cmdb_service, dict(conn, token=BAD_TOKEN, host="mq1", name="amqps", ports=[1]))
    assert failed
    assert "refused the token (HTTP 403)" in result["msg"] and BAD_TOKEN not in str(result)


@pytest.fixture
def malformed(conn, run_module, imported):
    """A device without a primary IP, and one depending on a service nobody offers."""
    base = dict(conn, role="bastion", site="dc2", rack="r2", device_type="Generic server", tags=["prod"])
    made = []
    for args in (dict(base, name="bad-noip"),
                 dict(base, name="bad-dep", address="10.2.0.250/24", depends_on=["no-such-service"])):
        failed, result = run_module(cmdb_host, args)
        assert not failed, result
        made.append(args["name"])
    yield made
    for name in made:
        run_module(cmdb_host, dict(conn, name=name, state="absent"))


def test_malformed_records_are_reported_once_and_skipped(tmp_path, nautobot, malformed):
    rc, data, out = inventory(tmp_path, nautobot)
    assert rc == 0, out
    one_message(out, "host 'bad-noip': has no primary address")
    one_message(out, "dependency of host 'bad-dep' on service 'no-such-service': "
                     "no host provides a service named 'no-such-service'")
    hostvars = data["_meta"]["hostvars"]
    assert "bad-noip" not in hostvars
    assert "bad-dep" in hostvars and "no-such-service" not in hostvars["bad-dep"]["nospof_dependencies"]
    assert "mq1" in hostvars  # the rest loads


def test_malformed_records_fail_strict(tmp_path, nautobot, malformed):
    rc, _data, out = inventory(tmp_path, nautobot, strict=True)
    assert rc != 0
    one_message(out, "host 'bad-noip': has no primary address")
    assert "no-such-service" not in out  # the first problem stops it


def test_module_rejects_malformed_input(conn, run_module, imported):
    api = writeback.make_api(conn)
    failed, result = run_module(cmdb_host, dict(conn, name="bad-addr", role="bastion", site="dc1",
                                                device_type="Generic server", address="bastion.example"))
    assert failed
    assert result["msg"] == ("address 'bastion.example' is not an IP address (with an optional /prefix "
                             "length): a CMDB stores the primary address as an IP")
    assert api.find("device", {"name": "bad-addr"}) is None, "the host was written before the check"
    failed, result = run_module(cmdb_host, dict(conn, name="bad-new", role="bastion"))
    assert failed
    assert result["msg"] == "host 'bad-new' does not exist in Nautobot; creating it needs device_type, site"
    failed, result = run_module(cmdb_host, dict(conn, name="bad-role", role="no-such-role", site="dc1",
                                                device_type="Generic server"))
    assert failed
    assert result["msg"].startswith("Nautobot has no role named 'no-such-role'")
