"""(b) The write-back modules against Nautobot: create, then no change; check mode; diff.

Uses the prerequisites the import created (sites dc1/dc2, racks, roles, tags,
custom fields, cluster vmc-dc1); every host made here is removed again.
"""

import pytest

from ansible_collections.nospof.platform.plugins.module_utils.cmdb import writeback
from ansible_collections.nospof.platform.plugins.modules import (
    cmdb_deployment,
    cmdb_host,
    cmdb_object,
    cmdb_service,
)

HOST = dict(name="wb-mq9", role="rabbitmq", site="dc1", rack="r1", status="active",
            device_type="Generic server", address="10.1.0.99/24", tags=["prod"], depends_on=["dns"])


@pytest.fixture
def api(nautobot, imported):
    return writeback.make_api({"backend": "nautobot", "url": nautobot["url"], "token": nautobot["token"]})


@pytest.fixture
def cleanup(conn, run_module):
    names = []
    yield names
    for name, kind in names:
        run_module(cmdb_host, dict(conn, name=name, kind=kind, state="absent"))


def test_host_check_create_rerun_and_change(api, conn, run_module, cleanup):
    cleanup.append(("wb-mq9", "device"))
    args = dict(conn, **HOST)

    failed, result = run_module(cmdb_host, args, check=True)
    assert not failed, result
    assert result["changed"] is True and result["host"]["id"] is None
    assert api.find("device", {"name": "wb-mq9"}) is None, "check mode created the device"

    failed, result = run_module(cmdb_host, args)
    assert not failed, result
    assert result["changed"] is True
    assert result["diff"]["before"] == {"primary_ip4": None}
    after = result["diff"]["after"]
    assert (after["name"], after["role"], after["site"], after["rack"], after["tags"]) == \
        ("wb-mq9", "rabbitmq", "dc1", "r1", ["prod"])
    assert after["status"].lower() == "active"
    assert after["primary_ip4"] == "10.1.0.99/24"
    assert after["custom_fields"] == {"nospof_depends_on": ["dns"]}
    device = api.find("device", {"name": "wb-mq9"})
    assert device["primary_ip4"]["address"] == "10.1.0.99/24"
    assert device["location"]["name"] == "dc1" and device["rack"]["name"] == "r1"

    failed, result = run_module(cmdb_host, args)
    assert not failed, result
    assert result["changed"] is False
    assert result["diff"]["before"] == result["diff"]["after"]

    failed, result = run_module(cmdb_host, dict(args, rack="r2", depends_on=["dns", "mirror"]), check=True)
    assert not failed and result["changed"] is True
    assert (result["diff"]["before"]["rack"], result["diff"]["after"]["rack"]) == ("r1", "r2")
    assert result["diff"]["after"]["custom_fields"] == {"nospof_depends_on": ["dns", "mirror"]}
    assert api.find("device", {"name": "wb-mq9"})["rack"]["name"] == "r1", "check mode changed the rack"

    failed, result = run_module(cmdb_host, dict(args, rack="r2", depends_on=["dns", "mirror"]))
    assert not failed and result["changed"] is True
    device = api.find("device", {"name": "wb-mq9"})
    assert device["rack"]["name"] == "r2"
    assert device["custom_fields"]["nospof_depends_on"] == ["dns", "mirror"]
    failed, result = run_module(cmdb_host, dict(args, rack="r2", depends_on=["dns", "mirror"]))
    assert result["changed"] is False

    # a new address moves the primary IP; the old one stays, unassigned from primary
    failed, result = run_module(cmdb_host, dict(conn, name="wb-mq9", address="10.1.0.98/24"))
    assert not failed, result
    assert result["changed"] is True
    assert (result["diff"]["before"]["primary_ip4"], result["diff"]["after"]["primary_ip4"]) == \
        ("10.1.0.99/24", "10.1.0.98/24")


def test_virtual_machine(api, conn, run_module, cleanup):
    cleanup.append(("wb-vm9", "virtual_machine"))
    args = dict(conn, name="wb-vm9", kind="virtual_machine", role="graphite", cluster="vmc-dc1",
                site="dc1", address="10.1.1.99/24")
    failed, result = run_module(cmdb_host, args)
    assert not failed, result
    assert result["changed"] is True
    vm = api.find("virtual_machine", {"name": "wb-vm9"})
    assert vm["cluster"]["name"] == "vmc-dc1" and vm["primary_ip4"]["address"] == "10.1.1.99/24"
    failed, result = run_module(cmdb_host, args)
    assert not failed and result["changed"] is False
    failed, result = run_module(cmdb_host, dict(args, site="dc2"))
    assert failed
    assert "differs from the location of cluster 'vmc-dc1'" in result["msg"]


def test_service(api, conn, run_module, cleanup):
    cleanup.append(("wb-svc9", "device"))
    run_module(cmdb_host, dict(conn, **dict(HOST, name="wb-svc9", address="10.1.0.97/24")))
    args = dict(conn, host="wb-svc9", name="amqp9", protocol="tcp", ports=[5672])
    failed, result = run_module(cmdb_service, args, check=True)
    assert not failed and result["changed"] is True
    assert api.find_service("device", api.find("device", {"name": "wb-svc9"}), "amqp9") is None
    failed, result = run_module(cmdb_service, args)
    assert not failed and result["changed"] is True
    assert result["diff"]["before"] == {}
    assert result["service"]["ports"] == [5672]
    failed, result = run_module(cmdb_service, args)
    assert not failed and result["changed"] is False
    failed, result = run_module(cmdb_service, dict(args, ports=[5672, 5673]), check=True)
    assert result["changed"] is True
    assert (result["diff"]["before"]["ports"], result["diff"]["after"]["ports"]) == ([5672], [5672, 5673])
    host = api.find("device", {"name": "wb-svc9"})
    assert api.read("service", api.find_service("device", host, "amqp9"), "ports") == [5672]
    failed, result = run_module(cmdb_service, dict(args, state="absent"))
    assert result["changed"] is True and api.find_service("device", host, "amqp9") is None


def test_deployment(api, conn, run_module, cleanup):
    cleanup.append(("wb-dep9", "device"))
    run_module(cmdb_host, dict(conn, **dict(HOST, name="wb-dep9", address="10.1.0.96/24")))
    args = dict(conn, host="wb-dep9", role="rabbitmq", version="3.12.1")
    failed, result = run_module(cmdb_deployment, args)
    assert not failed and result["changed"] is True
    first_at = result["deployment"]["at"]
    failed, result = run_module(cmdb_deployment, args)
    assert not failed and result["changed"] is False and result["deployment"]["at"] == first_at
    failed, result = run_module(cmdb_deployment, dict(args, version="3.13.0"), check=True)
    assert result["changed"] is True
    assert result["diff"]["before"]["nospof_deployments"]["rabbitmq"]["version"] == "3.12.1"
    assert result["diff"]["after"]["nospof_deployments"]["rabbitmq"]["version"] == "3.13.0"
    stored = api.find("device", {"name": "wb-dep9"})["custom_fields"]["nospof_deployments"]
    assert stored == {"rabbitmq": {"version": "3.12.1", "at": first_at}}
    failed, result = run_module(cmdb_deployment, dict(args, force=True, at="2030-01-01T00:00:00Z"))
    assert result["changed"] is True
    stored = api.find("device", {"name": "wb-dep9"})["custom_fields"]["nospof_deployments"]
    assert stored["rabbitmq"]["at"] == "2030-01-01T00:00:00Z"


def test_object(api, conn, run_module):
    args = dict(conn, kind="tag", name="wb-tag9", data={"content_types": ["dcim.device"]})
    try:
        failed, result = run_module(cmdb_object, args)
        assert not failed and result["changed"] is True
        failed, result = run_module(cmdb_object, args)
        assert result["changed"] is False
        failed, result = run_module(cmdb_object, dict(args, data={"content_types": ["virtualization.virtualmachine"]}),
                                    check=True)
        assert result["changed"] is True
        assert result["diff"]["after"]["content_types"] == ["dcim.device", "virtualization.virtualmachine"]
        assert api.read("tag", api.find("tag", {"name": "wb-tag9"}), "content_types") == ["dcim.device"]
    finally:
        run_module(cmdb_object, dict(args, state="absent"))
    assert api.find("tag", {"name": "wb-tag9"}) is None
