#!/usr/bin/python
# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cmdb_object
short_description: Ensure a supporting object (site, rack, role, tag, custom field, ...) in NetBox or Nautobot
version_added: 0.1.0
description:
  - Creates, updates or removes the objects hosts refer to, by name, with the same
    compare-only-what-is-set core as M(nospof.platform.cmdb_host).
  - Fields are named the same way for both CMDBs and mapped to each one's API
    (C(site) is a NetBox site or a Nautobot location; C(content_types) is NetBox's
    C(object_types)). Related objects in O(data) are given by name.
  - Lists of content types are merged, never trimmed, so an existing status or role
    keeps the object types it already applies to.
  - NetBox slugs are derived from the name on creation.
author: nospof developers
extends_documentation_fragment:
  - nospof.platform.cmdb
options:
  kind:
    description:
      - The object kind. V(location_type), V(status) and V(prefix) are Nautobot only.
      - "Fields in O(data) per kind: V(site) status, description, location_type (Nautobot);
        V(rack) site, status; V(role) color, content_types (Nautobot), vm_role (NetBox);
        V(status) color, content_types; V(device_type) manufacturer, u_height;
        V(tag) color, content_types (Nautobot); V(custom_field) type, label, content_types;
        V(cluster) type, site (Nautobot); V(location_type) content_types, nestable;
        V(prefix) status, type."
    type: str
    required: true
    choices: [site, location_type, rack, role, status, manufacturer, device_type, platform, tag,
              custom_field, cluster_type, cluster, prefix]
  name:
    description: The object's name (a device type's model, a custom field's key, a prefix in CIDR form).
    type: str
    required: true
  data:
    description: Other fields to manage, by generic name (see O(kind)).
    type: dict
    default: {}
  state:
    description: V(present) creates or updates; V(absent) deletes.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: A rack in site dc1
  nospof.platform.cmdb_object:
    kind: rack
    name: r1
    data:
      site: dc1
  delegate_to: localhost

- name: The custom field the inventory reads dependencies from (Nautobot)
  nospof.platform.cmdb_object:
    backend: nautobot
    kind: custom_field
    name: nospof_depends_on
    data:
      type: json
      label: Depends on (nospof)
      content_types: [dcim.device, virtualization.virtualmachine]
  delegate_to: localhost
"""

RETURN = r"""
object:
  description: The object's managed fields after the run (C(id) is null when check mode would create it).
  type: dict
  returned: always
diff:
  description: The managed fields before and after.
  type: dict
  returned: when diff mode is on
"""

from ansible_collections.nospof.platform.plugins.module_utils.cmdb.base import CMDBDataError
from ansible_collections.nospof.platform.plugins.module_utils.cmdb.writeback import (
    run_module,
    sync,
)

KINDS = ["site", "location_type", "rack", "role", "status", "manufacturer", "device_type", "platform",
         "tag", "custom_field", "cluster_type", "cluster", "prefix"]


def run(module, api):
    p = module.params
    kind = p["kind"]
    if kind not in api.KINDS:
        raise CMDBDataError(f"{api.product} has no {kind.replace('_', ' ')} objects to manage"
                            + (": NetBox statuses are fixed choices (active, planned, ...)"
                               if kind == "status" else ""))
    spec = api.kind(kind)
    data = dict(p["data"] or {})
    unknown = sorted(set(data) - set(spec.fields) - {"name"})
    if unknown:
        raise CMDBDataError(f"{api.product} {api.label(kind)}: unknown field(s) {unknown} in `data`; "
                            f"known: {sorted(f for f in spec.fields if f != 'name')}")
    lookup = {"name": p["name"]}
    if kind == "rack" and data.get("site"):
        lookup["site"] = data.pop("site")
    changed, before, after = sync(api, kind, lookup, data, module.check_mode, state=p["state"])
    return dict(changed=changed, object=after or {}, diff=dict(before=before or {}, after=after or {}))


def main():
    run_module(
        run,
        kind=dict(type="str", required=True, choices=KINDS),
        name=dict(type="str", required=True),
        data=dict(type="dict", default={}),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )


if __name__ == "__main__":
    main()
