#!/usr/bin/python
# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cmdb_deployment
short_description: Record a deployment on a host in NetBox or Nautobot
version_added: 0.1.0
description:
  - Records which version of a role was deployed on a host, and when, in the host's JSON
    custom field C(nospof_deployments), a mapping of role to C({version, at}).
  - Idempotent. When the role is already recorded with the same version nothing changes,
    not even the timestamp; the timestamp moves only when the version changes or with
    O(force=true).
  - The custom field must exist on devices and virtual machines (C(playbooks/cmdb_import.yml)
    creates it); the module fails with the fix when it does not.
author: nospof developers
extends_documentation_fragment:
  - nospof.platform.cmdb
options:
  host:
    description: Name of the device or virtual machine.
    type: str
    required: true
  host_kind:
    description: Where to look the host up; V(auto) tries devices, then virtual machines.
    type: str
    choices: [auto, device, virtual_machine]
    default: auto
  role:
    description: The role (or component) deployed.
    type: str
    required: true
  version:
    description: The version deployed. Required with O(state=present).
    type: str
  at:
    description: When it was deployed (ISO 8601); defaults to now, in UTC.
    type: str
  force:
    description: Record the deployment (with a new timestamp) even when this version is already recorded.
    type: bool
    default: false
  state:
    description: V(present) records the deployment; V(absent) removes the role's record.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: Record the RabbitMQ version just deployed
  nospof.platform.cmdb_deployment:
    host: "{{ inventory_hostname }}"
    role: rabbitmq
    version: "{{ rabbitmq_version }}"
  delegate_to: localhost

- name: Record a redeployment of the same version
  nospof.platform.cmdb_deployment:
    host: mq1
    role: rabbitmq
    version: "3.12.1"
    force: true
  delegate_to: localhost
"""

RETURN = r"""
deployment:
  description: The role's record after the run (empty after O(state=absent)).
  type: dict
  returned: always
  sample: {"version": "3.12.1", "at": "2025-11-26T10:00:00Z"}
deployments:
  description: The host's whole C(nospof_deployments) mapping after the run.
  type: dict
  returned: always
diff:
  description: The mapping before and after.
  type: dict
  returned: when diff mode is on
"""

import datetime
import json

from ansible_collections.nospof.platform.plugins.module_utils.cmdb.base import CMDBDataError
from ansible_collections.nospof.platform.plugins.module_utils.cmdb.writeback import (
    run_module,
    DEPLOYMENTS_FIELD,
    sync,
)


def now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def current_mapping(api, kind, host):
    value = (api.read(kind, host, "custom_fields") or {}).get(DEPLOYMENTS_FIELD)
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise CMDBDataError(f"host {host.get('name')!r}: custom field {DEPLOYMENTS_FIELD} holds "
                                f"{value[:80]!r}, not JSON; fix or clear it") from None
    if not isinstance(value, dict):
        raise CMDBDataError(f"host {host.get('name')!r}: custom field {DEPLOYMENTS_FIELD} should hold a "
                            f"mapping of role to {{version, at}}, got {type(value).__name__}")
    return value


def run(module, api):
    p = module.params
    if p["state"] == "present" and not p["version"]:
        raise CMDBDataError("recording a deployment needs `version`")
    kind, host = api.find_host(p["host"], p["host_kind"])
    if host is None:
        raise CMDBDataError(f"{api.product} has no device or virtual machine named {p['host']!r}: "
                            "register the host first (nospof.platform.cmdb_host)")
    field_type = api.require_custom_field(DEPLOYMENTS_FIELD, kind)
    before = current_mapping(api, kind, host)
    after = dict(before)
    role = p["role"]
    if p["state"] == "absent":
        after.pop(role, None)
    else:
        record = before.get(role)
        same = isinstance(record, dict) and str(record.get("version")) == str(p["version"])
        if not same or p["force"]:
            after[role] = {"version": str(p["version"]), "at": p["at"] or now()}
    if after == before:
        return dict(changed=False, deployment=before.get(role) or {}, deployments=before,
                    diff=dict(before={DEPLOYMENTS_FIELD: before}, after={DEPLOYMENTS_FIELD: before}))
    value = after if field_type != "text" and field_type != "longtext" else json.dumps(after, sort_keys=True)
    changed, _before, _after = sync(api, kind, {"name": p["host"]},
                                    {"custom_fields": {DEPLOYMENTS_FIELD: value}}, module.check_mode)
    return dict(changed=changed, deployment=after.get(role) or {}, deployments=after,
                diff=dict(before={DEPLOYMENTS_FIELD: before}, after={DEPLOYMENTS_FIELD: after}))


def main():
    run_module(
        run,
        host=dict(type="str", required=True),
        host_kind=dict(type="str", choices=["auto", "device", "virtual_machine"], default="auto"),
        role=dict(type="str", required=True),
        version=dict(type="str"),
        at=dict(type="str"),
        force=dict(type="bool", default=False),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )


if __name__ == "__main__":
    main()
