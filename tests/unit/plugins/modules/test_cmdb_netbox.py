"""The cmdb_* modules in NetBox mode, against the local fake NetBox 4 (conftest.py)."""

import socket

import pytest

from ansible_collections.nospof.platform.plugins.modules import (
    cmdb_deployment,
    cmdb_host,
    cmdb_object,
    cmdb_service,
)



def conn(netbox, **extra):
    return dict(backend="netbox", url=netbox.url, token=netbox.token, **extra)


HOST = dict(name="mq1", role="rabbitmq", site="dc1", rack="r1", status="active",
            device_type="Generic server", address="10.0.1.11/24", tags=["prod"],
            depends_on=["dns", "mirror"])


def writes(netbox):
    return [(m, p) for m, p, _q, _b in netbox.writes()]


# ------------------------------------------------------------------ cmdb_host
def test_host_created_with_interface_ip_and_primary(netbox, run_module):
    ids = netbox.seed_basics()
    failed, result = run_module(cmdb_host, conn(netbox, **HOST))
    assert not failed, result
    assert result["changed"] is True
    assert writes(netbox) == [
        ("POST", "/api/dcim/devices/"),
        ("POST", "/api/dcim/interfaces/"),
        ("POST", "/api/ipam/ip-addresses/"),
        ("PATCH", f"/api/dcim/devices/{result['host']['id']}/"),
    ]
    posted = netbox.writes()[0][3]
    assert posted == {"name": "mq1", "role": ids["rabbitmq"], "site": ids["dc1"], "rack": ids["r1"],
                      "status": "active", "device_type": ids["server"], "tags": [ids["prod"]],
                      "custom_fields": {"nospof_depends_on": ["dns", "mirror"]}}
    iface = netbox.writes()[1][3]
    assert iface == {"name": "mgmt0", "device": result["host"]["id"], "type": "virtual"}
    ip = netbox.writes()[2][3]
    assert ip["address"] == "10.0.1.11/24"
    assert ip["assigned_object_type"] == "dcim.interface"
    assert ip["status"] == "active"
    device = netbox.find("dcim/devices", name="mq1")[0]
    assert netbox.objects["ipam/ip-addresses"][device["primary_ip4"]]["address"] == "10.0.1.11/24"
    assert result["host"]["primary_ip4"] == "10.0.1.11/24"
    assert result["diff"]["before"] == {"primary_ip4": None}
    assert result["diff"]["after"]["role"] == "RabbitMQ"


def test_host_second_run_changes_nothing(netbox, run_module):
    netbox.seed_basics()
    run_module(cmdb_host, conn(netbox, **HOST))
    count = len(netbox.writes())
    failed, result = run_module(cmdb_host, conn(netbox, **HOST))
    assert not failed, result
    assert result["changed"] is False
    assert len(netbox.writes()) == count
    assert result["diff"]["before"] == result["diff"]["after"]


def test_host_check_mode_reports_without_writing(netbox, run_module):
    netbox.seed_basics()
    failed, result = run_module(cmdb_host, conn(netbox, **HOST), check=True)
    assert not failed, result
    assert result["changed"] is True
    assert netbox.writes() == []
    assert result["host"]["id"] is None
    assert result["diff"]["after"]["primary_ip4"] == "10.0.1.11/24"
    # and on an existing host, a change in check mode is reported, not made
    run_module(cmdb_host, conn(netbox, **HOST))
    count = len(netbox.writes())
    failed, result = run_module(cmdb_host, conn(netbox, **dict(HOST, rack="r2")), check=True)
    assert result["changed"] is True
    assert result["diff"]["before"]["rack"] == "r1" and result["diff"]["after"]["rack"] == "r2"
    assert len(netbox.writes()) == count


def test_host_update_sends_only_changed_fields(netbox, run_module):
    ids = netbox.seed_basics()
    run_module(cmdb_host, conn(netbox, **HOST))
    before = len(netbox.writes())
    failed, result = run_module(cmdb_host, conn(netbox, name="mq1", rack="r2", depends_on=["dns"]))
    assert not failed, result
    assert result["changed"] is True
    new = netbox.writes()[before:]
    assert len(new) == 1
    method, path, _q, body = new[0]
    assert method == "PATCH" and path.startswith("/api/dcim/devices/")
    assert body == {"rack": ids["r2"],
                    "custom_fields": {"nospof_depends_on": ["dns"], "nospof_deployments": None}}
    assert result["diff"]["before"] == {"id": result["host"]["id"], "name": "mq1", "rack": "r1",
                                        "custom_fields": {"nospof_depends_on": ["dns", "mirror"]}}
    assert result["diff"]["after"]["custom_fields"] == {"nospof_depends_on": ["dns"]}


def test_host_absent(netbox, run_module):
    netbox.seed_basics()
    run_module(cmdb_host, conn(netbox, **HOST))
    failed, result = run_module(cmdb_host, conn(netbox, name="mq1", state="absent"))
    assert not failed and result["changed"] is True
    assert netbox.find("dcim/devices", name="mq1") == []
    failed, result = run_module(cmdb_host, conn(netbox, name="mq1", state="absent"))
    assert not failed and result["changed"] is False


def test_virtual_machine(netbox, run_module):
    ids = netbox.seed_basics()
    args = conn(netbox, name="vm1", kind="virtual_machine", role="rabbitmq", site="dc1", cluster="vmc1",
                address="10.0.2.5/24")
    failed, result = run_module(cmdb_host, args)
    assert not failed, result
    assert writes(netbox)[:3] == [("POST", "/api/virtualization/virtual-machines/"),
                                  ("POST", "/api/virtualization/interfaces/"),
                                  ("POST", "/api/ipam/ip-addresses/")]
    assert netbox.writes()[0][3]["cluster"] == ids["vmc1"]
    assert netbox.writes()[2][3]["assigned_object_type"] == "virtualization.vminterface"
    count = len(netbox.writes())
    failed, result = run_module(cmdb_host, args)
    assert not failed and result["changed"] is False and len(netbox.writes()) == count


def test_host_missing_custom_field_is_one_clear_message(netbox, run_module):
    netbox.seed_basics(custom_fields=())
    failed, result = run_module(cmdb_host, conn(netbox, **HOST))
    assert failed
    assert "no custom field 'nospof_depends_on'" in result["msg"]
    assert "cmdb_import.yml" in result["msg"]
    assert "Traceback" not in result["msg"]
    assert netbox.writes() == []


def test_host_missing_role_and_address_taken(netbox, run_module):
    netbox.seed_basics()
    failed, result = run_module(cmdb_host, conn(netbox, **dict(HOST, role="nosuchrole")))
    assert failed
    assert result["msg"].startswith("NetBox has no device role named 'nosuchrole'")
    run_module(cmdb_host, conn(netbox, **HOST))
    failed, result = run_module(cmdb_host, conn(netbox, **dict(HOST, name="mq2")))
    assert failed
    assert "10.0.1.11/24 is already assigned to mq1" in result["msg"]


def test_bad_token_and_unreachable(netbox, run_module):
    netbox.seed_basics()
    failed, result = run_module(cmdb_host, dict(conn(netbox, **HOST), token="f" * 40))
    assert failed
    assert "refused the token (HTTP 403)" in result["msg"] and "f" * 40 not in result["msg"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    failed, result = run_module(cmdb_host, dict(conn(netbox, **HOST), url=f"http://127.0.0.1:{port}"))
    assert failed
    assert "connection refused" in result["msg"] and "Traceback" not in result["msg"]


def test_connection_from_environment(netbox, run_module, monkeypatch):
    netbox.seed_basics()
    monkeypatch.setenv("NOSPOF_CMDB_BACKEND", "netbox")
    monkeypatch.setenv("NOSPOF_CMDB_URL", netbox.url)
    monkeypatch.setenv("NOSPOF_CMDB_TOKEN", netbox.token)
    failed, result = run_module(cmdb_host, dict(HOST))
    assert not failed, result
    assert netbox.token not in str(result)


# --------------------------------------------------------------- cmdb_service
@pytest.mark.parametrize("version", ["4.4.6", "4.2.9"])
def test_service_parent_by_version(netbox, run_module, version):
    netbox.version = version
    netbox.seed_basics()
    run_module(cmdb_host, conn(netbox, **HOST))
    device_id = netbox.find("dcim/devices", name="mq1")[0]["id"]
    count = len(netbox.writes())
    args = conn(netbox, host="mq1", name="amqps", protocol="tcp", ports=[5671])
    failed, result = run_module(cmdb_service, args)
    assert not failed, result
    assert result["changed"] is True
    method, path, _q, body = netbox.writes()[count]
    assert (method, path) == ("POST", "/api/ipam/services/")
    if version.startswith("4.4"):
        assert body == {"name": "amqps", "protocol": "tcp", "ports": [5671],
                        "parent_object_type": "dcim.device", "parent_object_id": device_id}
    else:
        assert body == {"name": "amqps", "protocol": "tcp", "ports": [5671], "device": device_id}
    failed, result = run_module(cmdb_service, args)
    assert not failed and result["changed"] is False
    assert len(netbox.writes()) == count + 1
    failed, result = run_module(cmdb_service, dict(args, ports=[5671, 5672]))
    assert result["changed"] is True
    assert netbox.writes()[-1][3] == {"ports": [5671, 5672]}
    assert result["diff"]["before"]["ports"] == [5671] and result["diff"]["after"]["ports"] == [5671, 5672]


def test_service_check_mode_and_unknown_host(netbox, run_module):
    netbox.seed_basics()
    run_module(cmdb_host, conn(netbox, **HOST))
    count = len(netbox.writes())
    failed, result = run_module(cmdb_service, conn(netbox, host="mq1", name="amqps", ports=[5671]), check=True)
    assert not failed and result["changed"] is True and len(netbox.writes()) == count
    failed, result = run_module(cmdb_service, conn(netbox, host="nope", name="amqps", ports=[5671]))
    assert failed and "no device or virtual machine named 'nope'" in result["msg"]


# ------------------------------------------------------------ cmdb_deployment
def test_deployment_idempotent(netbox, run_module):
    netbox.seed_basics()
    run_module(cmdb_host, conn(netbox, **HOST))
    args = conn(netbox, host="mq1", role="rabbitmq", version="3.12.1", at="2025-01-01T00:00:00Z")
    failed, result = run_module(cmdb_deployment, args)
    assert not failed, result
    assert result["changed"] is True
    device = netbox.find("dcim/devices", name="mq1")[0]
    assert device["custom_fields"]["nospof_deployments"] == {
        "rabbitmq": {"version": "3.12.1", "at": "2025-01-01T00:00:00Z"}}
    count = len(netbox.writes())
    # same version, a later run: nothing changes, not even the timestamp
    failed, result = run_module(cmdb_deployment, dict(args, at=None))
    assert not failed and result["changed"] is False and len(netbox.writes()) == count
    assert result["deployment"]["at"] == "2025-01-01T00:00:00Z"
    # check mode with a new version: reported, not written
    failed, result = run_module(cmdb_deployment, dict(args, version="3.13.0", at=None), check=True)
    assert result["changed"] is True and len(netbox.writes()) == count
    assert result["diff"]["before"]["nospof_deployments"]["rabbitmq"]["version"] == "3.12.1"
    assert result["diff"]["after"]["nospof_deployments"]["rabbitmq"]["version"] == "3.13.0"
    # force: same version, new timestamp
    failed, result = run_module(cmdb_deployment, dict(args, at="2025-02-02T00:00:00Z", force=True))
    assert result["changed"] is True
    assert netbox.writes()[-1][3]["custom_fields"]["nospof_deployments"]["rabbitmq"]["at"] == "2025-02-02T00:00:00Z"
    # another role keeps the first
    run_module(cmdb_deployment, dict(args, role="base", version="1"))
    assert set(netbox.find("dcim/devices", name="mq1")[0]["custom_fields"]["nospof_deployments"]) == {"rabbitmq", "base"}


def test_deployment_needs_custom_field(netbox, run_module):
    netbox.seed_basics(custom_fields=("nospof_depends_on",))
    run_module(cmdb_host, conn(netbox, **HOST))
    failed, result = run_module(cmdb_deployment, conn(netbox, host="mq1", role="x", version="1"))
    assert failed and "no custom field 'nospof_deployments'" in result["msg"]


# ---------------------------------------------------------------- cmdb_object
def test_object_custom_field_and_slugs(netbox, run_module):
    args = conn(netbox, kind="custom_field", name="nospof_depends_on",
                data={"type": "json", "label": "Depends on", "content_types": ["dcim.device"]})
    failed, result = run_module(cmdb_object, args)
    assert not failed, result
    assert netbox.writes()[0][3] == {"name": "nospof_depends_on", "type": "json", "label": "Depends on",
                                     "object_types": ["dcim.device"]}
    failed, result = run_module(cmdb_object, args)
    assert result["changed"] is False
    # content types are merged, never trimmed
    failed, result = run_module(cmdb_object, dict(args, data={"content_types": ["virtualization.virtualmachine"]}))
    assert result["changed"] is True
    assert netbox.writes()[-1][3] == {"object_types": ["dcim.device", "virtualization.virtualmachine"]}
    failed, result = run_module(cmdb_object, dict(args, data={"content_types": ["dcim.device"]}))
    assert result["changed"] is False
    failed, result = run_module(cmdb_object, conn(netbox, kind="site", name="DC 3"))
    assert netbox.writes()[-1][3] == {"name": "DC 3", "slug": "dc-3"}
    failed, result = run_module(cmdb_object, conn(netbox, kind="rack", name="r9", data={"site": "DC 3"}))
    assert not failed, result
    site_id = netbox.find("dcim/sites", name="DC 3")[0]["id"]
    assert netbox.writes()[-1][3] == {"name": "r9", "site": site_id}
    failed, result = run_module(cmdb_object, conn(netbox, kind="rack", name="r9", data={"site": "DC 3"}))
    assert result["changed"] is False
    failed, result = run_module(cmdb_object, conn(netbox, kind="status", name="Active"))
    assert failed and "fixed choices" in result["msg"]
    failed, result = run_module(cmdb_object, conn(netbox, kind="tag", name="x", data={"colour": "red"}))
    assert failed and "unknown field(s) ['colour']" in result["msg"]


def test_host_moved_to_a_rack_of_the_same_name_in_another_site(netbox, run_module):
    ids = netbox.seed_basics()
    rack_dc2 = netbox.add("dcim/racks", name="r1", site=ids["dc2"], status="active")
    run_module(cmdb_host, conn(netbox, **HOST))
    count = len(netbox.writes())
    failed, result = run_module(cmdb_host, conn(netbox, name="mq1", site="dc2", rack="r1"))
    assert not failed, result
    assert netbox.writes()[count:][0][3] == {"site": ids["dc2"], "rack": rack_dc2}
    failed, result = run_module(cmdb_host, conn(netbox, name="mq1", site="dc2", rack="r1"))
    assert result["changed"] is False
