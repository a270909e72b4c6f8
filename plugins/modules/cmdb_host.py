#!/usr/bin/python
# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cmdb_host
short_description: Register or update a host (device or virtual machine) in NetBox or Nautobot
version_added: 0.1.0
description:
  - Creates, updates or removes a device or virtual machine in NetBox 4.x or Nautobot 3.x,
    the record the M(nospof.platform.cmdb) inventory reads back.
  - Only the options you set are compared and written.
  - With O(address), makes sure the host has the interface O(interface), that the IP address
    exists and is assigned to it, and that it is the host's primary IPv4 address. In Nautobot
    the address needs a parent prefix; the enclosing network is created when no prefix holds it.
  - O(depends_on) is written to the custom field C(nospof_depends_on), which must exist (JSON,
    text or multiple-selection field on devices and virtual machines); the module fails with
    the fix when it does not.
author: nospof developers
extends_documentation_fragment:
  - nospof.platform.cmdb
options:
  name:
    description: Host name (unique among the CMDB's devices or virtual machines).
    type: str
    required: true
  kind:
    description: Whether the host is a physical device or a virtual machine.
    type: str
    choices: [device, virtual_machine]
    default: device
  role:
    description: Role name (NetBox device role name or slug; Nautobot role name). Each role is an inventory group.
    type: str
  site:
    description:
      - Failure domain, level 1. NetBox site (name or slug); Nautobot location.
      - A Nautobot virtual machine has no location of its own; it takes its cluster's, and
        the module fails when that differs from O(site).
    type: str
  rack:
    description: Rack name within O(site) (devices only).
    type: str
  status:
    description: Status (NetBox value such as V(active); Nautobot status name, matched case-insensitively).
    type: str
  platform:
    description: Platform name (NetBox name or slug).
    type: str
  cluster:
    description: Virtualization cluster. Required to create a virtual machine in Nautobot.
    type: str
  device_type:
    description: Device type (model). Required to create a device.
    type: str
  description:
    description: Free text.
    type: str
  address:
    description:
      - Primary IPv4 address with its prefix length (V(10.0.0.11/24)); without one, V(/32).
    type: str
  interface:
    description: Interface that carries O(address); created when missing.
    type: str
    default: mgmt0
  tags:
    description: Tags (they must exist). The host's tags become exactly this list.
    type: list
    elements: str
  depends_on:
    description: Names of the services this host needs (custom field C(nospof_depends_on)).
    type: list
    elements: str
  state:
    description:
      - V(present) creates or updates the host; V(absent) deletes it (its interfaces go with
        it; its IP addresses stay, unassigned).
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: Register mq1 in Nautobot
  nospof.platform.cmdb_host:
    backend: nautobot
    url: https://nautobot.example.org
    token: "{{ vault_nautobot_token }}"
    name: mq1
    role: rabbitmq
    site: dc1
    rack: r1
    status: active
    device_type: Generic server
    address: 10.0.1.11/24
    tags: [prod]
    depends_on: [dns, mirror]
  delegate_to: localhost

- name: A virtual machine, connection from the environment (NOSPOF_CMDB_*)
  nospof.platform.cmdb_host:
    name: graphite1
    kind: virtual_machine
    cluster: vmc-dc1
    role: graphite
    address: 10.0.1.31/24
  delegate_to: localhost

- name: Retire a host
  nospof.platform.cmdb_host:
    name: old1
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
host:
  description: The host's managed fields after the run (C(id) is null when check mode would create it).
  type: dict
  returned: always
  sample: {"id": 42, "name": "mq1", "role": "rabbitmq", "site": "dc1", "primary_ip4": "10.0.1.11/24"}
diff:
  description: The managed fields before and after.
  type: dict
  returned: when diff mode is on
"""

import ipaddress

from ansible_collections.nospof.platform.plugins.module_utils.cmdb.base import CMDBDataError
from ansible_collections.nospof.platform.plugins.module_utils.cmdb.writeback import (
    run_module,
    DEPENDS_FIELD,
    Resolved,
    sync,
)


def normalize_address(address):
    try:
        iface = ipaddress.ip_interface(address.strip())
    except ValueError:
        raise CMDBDataError(f"address {address!r} is not an IP address (with an optional /prefix "
                            "length): a CMDB stores the primary address as an IP") from None
    if iface.version != 4:
        raise CMDBDataError(f"address {address!r} is not IPv4: `address` sets the primary IPv4 address")
    if "/" not in address:
        return f"{iface.ip}/{iface.max_prefixlen}"
    return str(iface)


def depends_value(api, kind, names):
    """The custom field value for `names`, shaped for the field's type."""
    field_type = api.require_custom_field(DEPENDS_FIELD, kind)
    names = list(dict.fromkeys(n.strip() for n in names if n and n.strip()))
    if field_type in ("text", "longtext", "string"):
        return ",".join(names) or None
    return names


def run(module, api):
    p = module.params
    kind, name, check = p["kind"], p["name"], module.check_mode
    if p["state"] == "absent":
        changed, before, after = sync(api, kind, {"name": name}, {}, check, state="absent")
        return dict(changed=changed, host=after or {}, diff=dict(before=before or {}, after=after or {}))

    address = normalize_address(p["address"]) if p["address"] else None  # before any write
    if kind == "virtual_machine" and p["rack"]:
        raise CMDBDataError(f"host {name!r}: a virtual machine has no rack; drop `rack` or register "
                            "it as a device")
    desired = {
        "role": p["role"], "status": p["status"], "platform": p["platform"],
        "description": p["description"], "tags": p["tags"],
    }
    fields = api.kind(kind).fields
    if p["site"] is not None:
        if "site" in fields:
            desired["site"] = p["site"]
        elif not p["cluster"]:
            raise CMDBDataError(f"host {name!r}: a {api.product} virtual machine takes its site from "
                                "its cluster; set `cluster` to a cluster at that site")
    if p["rack"] is not None:
        desired["rack"] = p["rack"]
    if p["cluster"] is not None:
        if "cluster" not in fields:
            raise CMDBDataError(f"host {name!r}: {api.product} devices take no `cluster` here; "
                                "register the host as kind=virtual_machine")
        desired["cluster"] = p["cluster"]
    if p["device_type"] is not None and kind == "device":
        desired["device_type"] = p["device_type"]
    if p["depends_on"] is not None:
        desired["custom_fields"] = {DEPENDS_FIELD: depends_value(api, kind, p["depends_on"])}

    current = api.find(kind, {"name": name})
    if current is None:
        needed = ["role"] + (["device_type", "site"] if kind == "device" else [])
        if api.name == "nautobot" and kind == "virtual_machine":
            needed.append("cluster")
        if api.name == "netbox" and kind == "virtual_machine" and not (desired.get("site") or desired.get("cluster")):
            needed.append("site")
        missing = [n for n in needed if not desired.get(n)]
        if missing:
            raise CMDBDataError(f"host {name!r} does not exist in {api.product}; creating it needs "
                                f"{', '.join(missing)}")
        if not desired.get("status"):
            desired["status"] = "active"
    if "site" in desired and "site" not in fields:  # pragma: no cover - guarded above
        desired.pop("site")
    if p["site"] is not None and "site" not in fields:
        check_cluster_site(api, name, p["cluster"], p["site"])

    changed, before, after = sync(api, kind, {"name": name}, desired, check)
    before, after = dict(before or {}), dict(after or {})

    if address:
        host = api.get(kind, after["id"]) if after.get("id") is not None else None
        before.setdefault("primary_ip4", api.read(kind, current, "primary_ip4") if current else None)
        if host is None:  # check mode, host to be created
            changed = True
            after["primary_ip4"] = address
        else:
            if_kind = api.interface_kind(kind)
            lookup, extra = api.interface_fields(kind, host, p["interface"])
            if_changed, _before, if_after = sync(api, if_kind, lookup, extra, check)
            interface = api.get(if_kind, if_after["id"]) if if_after.get("id") is not None else None
            ip_changed, ip_obj = api.ensure_ip(kind, host, interface, address, check)
            ip_ref = Resolved(address, ip_obj["id"] if ip_obj else None)
            pr_changed, pr_before, pr_after = sync(api, kind, {"name": name}, {"primary_ip4": ip_ref}, check)
            changed = changed or if_changed or ip_changed or pr_changed
            before["primary_ip4"] = pr_before.get("primary_ip4") if pr_before else None
            after["primary_ip4"] = pr_after.get("primary_ip4") if pr_after else address
            if check and pr_changed:
                after["primary_ip4"] = address
    return dict(changed=changed, host=after, diff=dict(before=before, after=after))


def check_cluster_site(api, name, cluster, site):
    obj = api.find("cluster", {"name": cluster})
    if obj is None:
        return  # creating the VM fails with the missing cluster
    location = api.read("cluster", obj, "site") if "site" in api.kind("cluster").fields else None
    if location != site:
        raise CMDBDataError(f"host {name!r}: site {site!r} differs from the location of cluster "
                            f"{cluster!r} ({location!r}); in {api.product} a virtual machine's site is "
                            "its cluster's")


def main():
    run_module(
        run,
        name=dict(type="str", required=True),
        kind=dict(type="str", choices=["device", "virtual_machine"], default="device"),
        role=dict(type="str"),
        site=dict(type="str"),
        rack=dict(type="str"),
        status=dict(type="str"),
        platform=dict(type="str"),
        cluster=dict(type="str"),
        device_type=dict(type="str"),
        description=dict(type="str"),
        address=dict(type="str"),
        interface=dict(type="str", default="mgmt0"),
        tags=dict(type="list", elements="str"),
        depends_on=dict(type="list", elements="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )


if __name__ == "__main__":
    main()
