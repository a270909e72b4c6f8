#!/usr/bin/python
# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cmdb_service
short_description: Register a service on a host in NetBox or Nautobot
version_added: 0.1.0
description:
  - Creates, updates or removes an IPAM service (name, protocol, ports) on a device or
    virtual machine in NetBox 4.x or Nautobot 3.x. The M(nospof.platform.cmdb) inventory
    turns services into C(nospof_services), dependency endpoints and firewall allowlists.
  - In NetBox 4.3 and later the service is attached through C(parent_object_type) and
    C(parent_object_id); before 4.3 through C(device) or C(virtual_machine).
author: nospof developers
extends_documentation_fragment:
  - nospof.platform.cmdb
options:
  host:
    description: Name of the device or virtual machine offering the service.
    type: str
    required: true
  host_kind:
    description: Where to look the host up; V(auto) tries devices, then virtual machines.
    type: str
    choices: [auto, device, virtual_machine]
    default: auto
  name:
    description: Service name (what dependants name in C(depends_on)).
    type: str
    required: true
  protocol:
    description: Transport protocol; a new service defaults to V(tcp).
    type: str
    choices: [tcp, udp, sctp]
  ports:
    description: Port numbers. Required to create the service.
    type: list
    elements: int
  description:
    description: Free text.
    type: str
  state:
    description: V(present) creates or updates the service; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: mq1 offers AMQPS
  nospof.platform.cmdb_service:
    backend: netbox
    url: https://netbox.example.org
    token: "{{ vault_netbox_token }}"
    host: mq1
    name: amqps
    protocol: tcp
    ports: [5671]
  delegate_to: localhost

- name: Remove a service
  nospof.platform.cmdb_service:
    host: mq1
    name: amqp
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
service:
  description: The service's managed fields after the run (C(id) is null when check mode would create it).
  type: dict
  returned: always
  sample: {"id": 7, "name": "amqps", "protocol": "tcp", "ports": [5671]}
diff:
  description: The managed fields before and after.
  type: dict
  returned: when diff mode is on
"""

from ansible_collections.nospof.platform.plugins.module_utils.cmdb.base import CMDBDataError
from ansible_collections.nospof.platform.plugins.module_utils.cmdb.writeback import run_module


def service_sync(api, host_kind, host, name, desired, check_mode, state):
    """sync() for a service, whose parent is written differently per backend and version."""
    current = api.find_service(host_kind, host, name)
    fields = {k: v for k, v in desired.items() if v is not None}
    shown = {"name": None, "protocol": None, "ports": None, **{k: None for k in fields}}
    if state == "absent":
        if current is None:
            return False, None, None
        before = api.view("service", current, shown)
        if not check_mode:
            api.delete("service", current)
        return True, before, None
    if current is None:
        if not fields.get("ports"):
            raise CMDBDataError(f"service {name!r} on {host['name']} does not exist; creating it needs `ports`")
        fields.setdefault("protocol", "tcp")
        after = dict({"id": None}, **api.desired_view("service", dict(fields, name=name)))
        if not check_mode:
            created = api.create_service(host_kind, host, dict(fields, name=name))
            after = api.view("service", created, shown)
        return True, None, after
    before = api.view("service", current, shown)
    changes = {k: v for k, v in fields.items() if not api.equal("service", k, api.read("service", current, k), v)}
    if not changes:
        return False, before, before
    after = dict(before, **api.desired_view("service", changes))
    if not check_mode:
        after = api.view("service", api.update("service", current, changes), shown)
    return True, before, after


def run(module, api):
    p = module.params
    host_kind, host = api.find_host(p["host"], p["host_kind"])
    if host is None:
        where = "device or virtual machine" if p["host_kind"] == "auto" else p["host_kind"].replace("_", " ")
        raise CMDBDataError(f"{api.product} has no {where} named {p['host']!r}: register the host "
                            "first (nospof.platform.cmdb_host)")
    desired = {"protocol": p["protocol"], "ports": p["ports"], "description": p["description"]}
    if p["ports"] is not None:
        bad = [port for port in p["ports"] if not 1 <= port <= 65535]
        if bad or not p["ports"]:
            raise CMDBDataError(f"service {p['name']!r}: ports must be 1-65535 and not empty, got {p['ports']}")
    changed, before, after = service_sync(api, host_kind, host, p["name"], desired, module.check_mode,
                                          p["state"])
    if after is not None:
        after["host"] = p["host"]
    if before is not None:
        before["host"] = p["host"]
    return dict(changed=changed, service=after or {}, diff=dict(before=before or {}, after=after or {}))


def main():
    run_module(
        run,
        host=dict(type="str", required=True),
        host_kind=dict(type="str", choices=["auto", "device", "virtual_machine"], default="auto"),
        name=dict(type="str", required=True),
        protocol=dict(type="str", choices=["tcp", "udp", "sctp"]),
        ports=dict(type="list", elements="int"),
        description=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )


if __name__ == "__main__":
    main()
