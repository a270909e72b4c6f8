# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The `netbox` backend: NetBox 4.x through its documented REST API.

Requests (each list fetched once, paginated with limit/offset, pages in
parallel up to max_concurrency; see cmdb/http.py):

    GET /api/dcim/devices/?fields=<DEVICE_FIELDS>[&site=..][&status=..][&tag=..]
    GET /api/virtualization/virtual-machines/?fields=<VM_FIELDS>[&site=..][&status=..][&tag=..]
    GET /api/ipam/services/?fields=<SERVICE_FIELDS>
    GET /api/virtualization/clusters/?fields=<CLUSTER_FIELDS>
        only when a virtual machine has no site of its own but a cluster, to
        take the cluster's site instead.

`fields=` (NetBox 4.0+) returns only the attributes read here, which skips
config contexts, counters and most related-object queries on the server;
related objects still come back in their nested (brief) form, which carries
the name/slug/address read below. `brief=1` is not used: its device and VM
representation has no site, role, address or status. NetBox ignores field
names it does not know, so one field list serves NetBox 4.0 to 4.5+.

Mapping to the host record (plugins/module_utils/topology.py):

    name      device/VM name (records without a name are skipped)
    address   primary_ip4.address without its /prefix, else primary_ip6
    site      site.name; a VM without a site takes its cluster's site
              (cluster.site before NetBox 4.2, cluster.scope when the
              cluster's scope_type is dcim.site from 4.2 on)
    rack      rack.name (devices)
    roles     [role.slug] (NetBox 4 `role`; `device_role` of NetBox 3 too)
    tags      [tag.slug]
    status    status.value
    cluster   cluster.name (VMs)
    platform  platform.slug

Dependencies come from the custom field `nospof_depends_on` on devices and
VMs: a list of service names (multiple selection, JSON list, or a
multi-object field whose objects have a name) or a comma-separated string.

Services: NetBox 4.3+ assigns a service to a `parent` object
(`parent_object_type`/`parent_object_id`), older 4.x to `device` or
`virtual_machine`; both are read. Services of FHRP groups and of hosts not
fetched (filtered out, or skipped for lacking a name) are left out.

Filters (option `filters`) map to NetBox's filter parameters:
    site   -> site=<site slug>    (NetBox filters sites by slug)
    status -> status=<value>      (active, planned, offline, ...)
    tags   -> tag=<tag slug>      (one query per tag, merged: a host needs
                                   at least one of the tags, as with the file
                                   backend; NetBox ANDs a repeated `tag`)
"""

from __future__ import annotations

from ansible_collections.nospof.platform.plugins.module_utils.cmdb.base import CMDBDataError
from ansible_collections.nospof.platform.plugins.module_utils.cmdb.http import HTTPBackend

DEVICES = "/api/dcim/devices/"
VIRTUAL_MACHINES = "/api/virtualization/virtual-machines/"
SERVICES = "/api/ipam/services/"
CLUSTERS = "/api/virtualization/clusters/"

DEVICE_FIELDS = ("id,name,status,site,rack,role,device_role,platform,primary_ip4,primary_ip6,"
                 "tags,custom_fields")
VM_FIELDS = "id,name,status,site,cluster,role,platform,primary_ip4,primary_ip6,tags,custom_fields"
SERVICE_FIELDS = ("id,name,protocol,ports,parent_object_type,parent_object_id,parent,"
                  "device,virtual_machine")
CLUSTER_FIELDS = "id,name,site,scope_type,scope"

DEPENDS_FIELD = "nospof_depends_on"
HOST_PARENT_TYPES = ("dcim.device", "virtualization.virtualmachine")


class NetBoxBackend(HTTPBackend):
    """Hosts, services and dependencies from NetBox 4.x."""

    name = "netbox"

    def __init__(self, options):
        super().__init__(options)
        self.skipped = []  # human-readable notes on records left out

    # ------------------------------------------------------------ fetch
    def fetch(self):
        client = self.client()
        queries = self.filter_queries()
        devices = client.get_all_union(DEVICES, {"fields": DEVICE_FIELDS}, queries)
        vms = client.get_all_union(VIRTUAL_MACHINES, {"fields": VM_FIELDS}, queries)
        services = client.get_all(SERVICES, {"fields": SERVICE_FIELDS})
        clusters = []
        if any(isinstance(vm, dict) and not vm.get("site") and isinstance(vm.get("cluster"), dict)
               for vm in vms):
            clusters = client.get_all(CLUSTERS, {"fields": CLUSTER_FIELDS})
        return self.parse(devices, vms, services, clusters)

    # ------------------------------------------------------------ parse
    def parse(self, devices, vms, services, clusters=()):
        """Records from the raw API objects (lists of `results` items)."""
        self.skipped = []
        cluster_sites = self._cluster_sites(clusters)
        hosts, deps = [], []
        for kind, objects in (("device", devices), ("virtual machine", vms)):
            for index, obj in enumerate(objects or []):
                host, needs = self._host(kind, index, obj, cluster_sites)
                if host is None:
                    continue
                hosts.append(host)
                deps.extend({"host": host["name"], "service": None, "needs": need} for need in needs)
        names = {h["name"] for h in hosts}
        out_services = []
        for index, obj in enumerate(services or []):
            service = self._service(index, obj, names)
            if service is not None:
                out_services.append(service)
        return {"hosts": hosts, "services": out_services, "dependencies": deps}

    def _cluster_sites(self, clusters):
        """{cluster id: site name} for clusters tied to a site."""
        out = {}
        for index, obj in enumerate(clusters or []):
            where = _where("cluster", index, obj)
            if not isinstance(obj, dict):
                raise CMDBDataError(f"{where}: expected an object, got {type(obj).__name__}")
            site = _nested(obj, "site", "name", where)
            if site is None and obj.get("scope_type") == "dcim.site":
                site = _nested(obj, "scope", "name", where)
            if site is not None:
                out[obj.get("id")] = site
        return out

    def _host(self, kind, index, obj, cluster_sites):
        where = _where(kind, index, obj)
        if not isinstance(obj, dict):
            raise CMDBDataError(f"{where}: expected an object, got {type(obj).__name__}")
        name = obj.get("name")
        if name in (None, ""):
            self.skipped.append(f"{where}: no name, skipped (name it in NetBox to manage it)")
            return None, []
        if not isinstance(name, str):
            raise CMDBDataError(f"{where}: name must be a string, got {name!r}")
        where = f"NetBox {kind} {name!r} (id {obj.get('id')})"

        site = _nested(obj, "site", "name", where)
        cluster = None
        rack = None
        if kind == "device":
            rack = _nested(obj, "rack", "name", where)
        else:
            cluster = _nested(obj, "cluster", "name", where)
            if site is None and isinstance(obj.get("cluster"), dict):
                site = cluster_sites.get(obj["cluster"].get("id"))
        roles = []
        for field in ("role", "device_role"):
            role = _nested(obj, field, "slug", where, fallback="name")
            if role and role not in roles:
                roles.append(role)
        host = {
            "name": name,
            "address": _address(obj, where),
            "site": site,
            "rack": rack,
            "roles": roles,
            "tags": _tags(obj, where),
            "status": _choice(obj, "status", where),
            "cluster": cluster,
            "platform": _nested(obj, "platform", "slug", where, fallback="name"),
            "vars": {},
        }
        return host, depends_on(obj.get("custom_fields"), where)

    def _service(self, index, obj, host_names):
        where = _where("service", index, obj)
        if not isinstance(obj, dict):
            raise CMDBDataError(f"{where}: expected an object, got {type(obj).__name__}")
        name = obj.get("name")
        if name in (None, ""):
            self.skipped.append(f"{where}: no name, skipped")
            return None
        if not isinstance(name, str):
            raise CMDBDataError(f"{where}: name must be a string, got {name!r}")
        where = f"NetBox service {name!r} (id {obj.get('id')})"
        host = _service_host(obj, where)
        if host is None:
            return None
        if host not in host_names:
            self.skipped.append(f"{where}: its host {host!r} was not fetched (filtered out or "
                                "unnamed), skipped")
            return None
        return {"name": name, "host": host, "protocol": _protocol(obj, where),
                "ports": port_numbers(obj, where)}


# ------------------------------------------------------------------ helpers
def _where(kind, index, obj):
    ident = obj.get("id") if isinstance(obj, dict) else None
    return f"NetBox {kind} id {ident}" if ident is not None else f"NetBox {kind} #{index + 1}"


def _nested(obj, field, attr, where, fallback=None):
    """obj[field][attr] of a nested object, None when the field is null or absent."""
    value = obj.get(field)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise CMDBDataError(f"{where}: `{field}` should be a nested object or null, got "
                            f"{type(value).__name__} {value!r}; is this NetBox 4.x?")
    result = value.get(attr)
    if result in (None, "") and fallback:
        result = value.get(fallback)
    if result in (None, ""):
        return None
    if not isinstance(result, str):
        raise CMDBDataError(f"{where}: `{field}.{attr}` should be a string, got {result!r}")
    return result


def _choice(obj, field, where):
    """A choice field ({"value", "label"}) as its value; a plain string is accepted."""
    value = obj.get(field)
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        inner = value.get("value")
        if inner is None or isinstance(inner, str):
            return inner or None
    raise CMDBDataError(f"{where}: `{field}` should be a choice object with a `value`, got {value!r}")


def strip_prefix(address):
    """'10.0.0.1/24' -> '10.0.0.1'."""
    return address.split("/", 1)[0].strip() or None


def _address(obj, where):
    for field in ("primary_ip4", "primary_ip6"):
        value = _nested(obj, field, "address", where)
        if value:
            return strip_prefix(value)
    return None


def _tags(obj, where):
    value = obj.get("tags")
    if value is None:
        return []
    if not isinstance(value, list):
        raise CMDBDataError(f"{where}: `tags` should be a list, got {type(value).__name__}")
    out = []
    for tag in value:
        if isinstance(tag, str):
            slug = tag
        elif isinstance(tag, dict):
            slug = tag.get("slug") or tag.get("name")
        else:
            raise CMDBDataError(f"{where}: `tags` holds {tag!r}, not a tag object")
        if isinstance(slug, str) and slug and slug not in out:
            out.append(slug)
    return out


def depends_on(custom_fields, where, field=DEPENDS_FIELD):
    """Service names from the `nospof_depends_on` custom field (list or comma-separated)."""
    if custom_fields is None:
        return []
    if not isinstance(custom_fields, dict):
        raise CMDBDataError(f"{where}: `custom_fields` should be an object, got "
                            f"{type(custom_fields).__name__}")
    value = custom_fields.get(field)
    if value in (None, "", []):
        return []
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list):
        items = []
        for item in value:
            if isinstance(item, dict):  # a multi-object custom field
                item = item.get("name") or item.get("display")
            if not isinstance(item, str):
                raise CMDBDataError(f"{where}: custom field {field} holds {item!r}; it must list "
                                    "service names")
            items.append(item)
    else:
        raise CMDBDataError(f"{where}: custom field {field} must be a list of service names or a "
                            f"comma-separated string, got {type(value).__name__} {value!r}")
    out = []
    for item in items:
        item = item.strip()
        if item and item not in out:
            out.append(item)
    return out


def _service_host(obj, where):
    """Name of the device/VM a service belongs to (NetBox 4.3+ `parent`, or older fields)."""
    parent_type = obj.get("parent_object_type")
    if "parent" in obj or parent_type is not None:
        parent = obj.get("parent")
        if isinstance(parent_type, str) and parent_type not in HOST_PARENT_TYPES:
            return None  # an FHRP group's service: no single host provides it
        if parent is None:
            return None
        if not isinstance(parent, dict):
            raise CMDBDataError(f"{where}: `parent` should be a nested object, got {parent!r}")
        # NetBox 4.3.0-4.4.3 returned parent_object_type as a number (#20554):
        # tell an FHRP group from a host by the parent's URL instead.
        if not isinstance(parent_type, str) and "/ipam/fhrp-groups/" in str(parent.get("url") or ""):
            return None
        name = parent.get("name")
        if name is not None and not isinstance(name, str):
            raise CMDBDataError(f"{where}: `parent.name` should be a string, got {name!r}")
        return name or None
    for field in ("device", "virtual_machine"):
        if obj.get(field) is not None:
            return _nested(obj, field, "name", where)
    return None


def _protocol(obj, where):
    value = _choice(obj, "protocol", where) or "tcp"
    return value.lower()


def port_numbers(obj, where):
    """The service's `ports` as a list of ints (numeric strings accepted)."""
    ports = obj.get("ports")
    if not isinstance(ports, list) or not ports:
        raise CMDBDataError(f"{where}: `ports` should be a non-empty list of port numbers, "
                            f"got {ports!r}")
    out = []
    for port in ports:
        if isinstance(port, bool) or not isinstance(port, (int, str)):
            raise CMDBDataError(f"{where}: `ports` holds {port!r}, not a port number")
        try:
            out.append(int(port))
        except ValueError:
            raise CMDBDataError(f"{where}: `ports` holds {port!r}, not a port number") from None
    return out
