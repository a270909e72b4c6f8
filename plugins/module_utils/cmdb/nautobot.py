# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The `nautobot` backend: Nautobot 3.x through its GraphQL API (default) or REST API.

GraphQL (option `api: graphql`, the default): one query per page of each
list, asking for exactly the fields read below:

    POST /api/graphql/  {"query": "query { devices(limit: 1000, offset: 0[, location: [..]]
                                    [, status: [..]][, tags: [..]]) { <fields> } }"}

and likewise `virtual_machines` and `services`. GraphQL lists carry no
count, so each list is read page by page until a page comes back short,
with up to max_concurrency pages in flight across all the lists (devices,
virtual machines, services; one devices and one VM list per tag filter), a
new page as soon as one comes back. Custom fields come as
`_custom_field_data`. Nautobot answers it with a few SQL queries per page,
where REST depth=1 runs two per device and expands every nested object
through its serializer: for 10,000 devices about 3.5 s against 180 s on the
test machine (docs/cmdb.md).

REST (option `api: rest`): each list fetched once, paginated with
limit/offset, pages in parallel up to max_concurrency (see cmdb/http.py),
all with
`Accept: application/json; version=3.0` (Nautobot's documented Accept-header
API versioning; option `api_version`, empty for the server's default):

    GET /api/dcim/devices/?depth=1[&location=..][&status=..][&tags=..]
    GET /api/virtualization/virtual-machines/?depth=2[&location=..][&status=..][&tags=..]
    GET /api/ipam/services/?depth=1

Why depth: at the default depth=0 every related object (role, platform,
status, primary_ip4, tags, location, rack, cluster) is only
{id, object_type, url}. depth=1 expands them one level, which gives the
names read below. A virtual machine has no location of its own: it reaches
one only through its cluster, and at depth=1 `cluster.location` is still a
bare reference. Rather than a third list (/api/dcim/locations/ or
/api/virtualization/clusters/) joined in memory, virtual machines are
requested with depth=2, which expands `cluster.location` to an object with
its name. VMs are usually far fewer than devices, so the heavier depth costs
little; devices and services stay at depth=1.

Nautobot 3 restricts a related object the token may not view to
{id, object_type, url, display}; `display` is then used for its name.

Mapping to the host record (plugins/module_utils/topology.py):

    name      device/VM name (records without a name are skipped)
    address   primary_ip4.address without its /prefix, else primary_ip6
    site      location.name (devices), cluster.location.name (VMs)
    rack      rack.name (devices)
    roles     [role.name] (the generic extras.role)
    tags      [tag.name]
    status    status.name, lower-cased ("Active" -> "active")
    cluster   cluster.name (VMs)
    platform  platform.name

Dependencies come from the custom field whose key is `nospof_depends_on`
(`custom_fields` is keyed by custom field key): a list of service names or a
comma-separated string.

Services: `device` or `virtual_machine` (the host), `protocol` (a choice
object {"value", "label"} or a string), `ports`. Services of hosts not
fetched (filtered out, or skipped for lacking a name) are left out.

Filters (option `filters`) map to Nautobot's filter parameters:
    site   -> location=<location name or id>  (includes child locations)
    status -> status=<status name>            (as named in Nautobot, e.g. Active)
    tags   -> tags=<tag name>                 (one query per tag, merged: a host
                                               needs at least one of the tags)
"""

from __future__ import annotations

import json
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from ansible_collections.nospof.platform.plugins.module_utils.cmdb.base import CMDBDataError
from ansible_collections.nospof.platform.plugins.module_utils.cmdb.http import HTTPBackend, dedupe_by_id
from ansible_collections.nospof.platform.plugins.module_utils.cmdb.netbox import (
    depends_on,
    port_numbers,
    strip_prefix,
)

GRAPHQL = "/api/graphql/"
# The same fields REST depth=1 (depth=2 for a VM's cluster location) gives,
# in one query per page instead of two SQL queries per device. The primary
# addresses are asked for as `host` (the address without its prefix length,
# a column) under the name `address` the parser reads: Nautobot builds
# `address` per object, which cost 2 s of its CPU per 100,000 devices.
_HOST_FIELDS = ("id name status { name } role { name } platform { name } primary_ip4 { address: host } "
                "primary_ip6 { address: host } tags { name } _custom_field_data")
DEVICE_FIELDS = _HOST_FIELDS + " location { name } rack { name }"
VM_FIELDS = _HOST_FIELDS + " cluster { name location { name } }"
SERVICE_FIELDS = "id name protocol ports device { name } virtual_machine { name }"
# filter option -> GraphQL argument (Nautobot's filter set names)
GRAPHQL_FILTERS = {"location": "location", "status": "status", "tags": "tags"}

DEVICES = "/api/dcim/devices/"
VIRTUAL_MACHINES = "/api/virtualization/virtual-machines/"
SERVICES = "/api/ipam/services/"

API_VERSION = "3.0"


class NautobotBackend(HTTPBackend):
    """Hosts, services and dependencies from Nautobot 3.x."""

    name = "nautobot"
    token_scheme = "Token"
    filter_params = {"site": "location", "status": "status", "tags": "tags"}

    def __init__(self, options):
        super().__init__(options)
        self.skipped = []  # human-readable notes on records left out

    # ------------------------------------------------------------ fetch
    def accept(self):
        """Nautobot's versioned Accept header (`api_version` option; empty for plain JSON)."""
        version = self.options.get("api_version", API_VERSION)
        return f"application/json; version={version}" if version else "application/json"

    def fetch(self):
        client = self.client()
        queries = self.filter_queries()
        api = self.options.get("api") or "graphql"
        if api == "graphql":
            queries = list(queries or [{}])
            lists = ([("devices", DEVICE_FIELDS, q) for q in queries]
                     + [("virtual_machines", VM_FIELDS, q) for q in queries]
                     + [("services", SERVICE_FIELDS, {})])
            results = self._graphql_lists(client, lists)
            n = len(queries)
            devices = dedupe_by_id([obj for part in results[:n] for obj in part])
            vms = dedupe_by_id([obj for part in results[n:2 * n] for obj in part])
            return self.parse(devices, vms, results[-1])
        if api != "rest":
            raise CMDBDataError(f"nautobot backend: `api` must be graphql or rest, not {api!r}")
        devices = client.get_all_union(DEVICES, {"depth": 1}, queries)
        vms = client.get_all_union(VIRTUAL_MACHINES, {"depth": 2}, queries)
        services = client.get_all(SERVICES, {"depth": 1})
        return self.parse(devices, vms, services)

    # ---------------------------------------------------------- GraphQL
    def _graphql_list(self, client, field, fields, filters):
        """Every object of one GraphQL list field (see _graphql_lists)."""
        return self._graphql_lists(client, [(field, fields, filters)])[0]

    def _graphql_lists(self, client, lists):
        """Every object of each (field, fields, filters) list, the lists read together.

        GraphQL lists carry no count: each list is read in pages of page_size
        by limit/offset until a page comes back short. Up to max_concurrency
        pages are in flight at any time, across all the lists, and a new one
        goes out as soon as one comes back (to the list with the fewest pages
        in flight), so the small lists are read while the devices are and no
        page waits for a slower one. Pages asked for past a list's end come
        back empty. Each list is returned in offset order, each `id` once.
        """
        size = client.page_size
        limit = max(1, int(client.max_concurrency))
        pages = [{} for _ in lists]       # list index -> {offset: objects}
        following = [0] * len(lists)      # list index -> next offset to ask for
        ended = [False] * len(lists)
        busy = [0] * len(lists)           # list index -> pages in flight
        inflight = {}

        with ThreadPoolExecutor(max_workers=limit) as pool:
            def fill():
                while len(inflight) < limit:
                    open_lists = [i for i in range(len(lists)) if not ended[i]]
                    if not open_lists:
                        return
                    index = min(open_lists, key=lambda i: (busy[i], i))
                    offset = following[index]
                    following[index] += size
                    busy[index] += 1
                    field, fields, filters = lists[index]
                    future = pool.submit(self._graphql_page, client, field, fields, filters, size, offset)
                    inflight[future] = (index, offset)

            try:
                fill()
                while inflight:
                    done, _pending = wait(inflight, return_when=FIRST_COMPLETED)
                    for future in done:
                        index, offset = inflight.pop(future)
                        busy[index] -= 1
                        objects = future.result()
                        pages[index][offset] = objects
                        if len(objects) < size:
                            ended[index] = True
                    fill()
            except BaseException:
                # no new pages; an interrupt does not wait for the ones being answered
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        out = []
        for (field, _fields, _filters), got in zip(lists, pages):
            offsets = sorted(got)
            end = next(offset for offset in offsets if len(got[offset]) < size)
            late = [offset for offset in offsets if offset > end and got[offset]]
            if late:
                # Pages asked for past the end came back with objects: the server
                # answers fewer than `limit` per page (or the data grew meanwhile).
                raise CMDBDataError(
                    f"Nautobot GraphQL ({field}) returned {len(got[end])} objects at offset {end} with "
                    f"limit {size} and more at offset {late[0]}: the server caps the page size below "
                    f"page_size, or the data changed while it was read; lower `page_size` and retry")
            out.append(dedupe_by_id([obj for offset in offsets for obj in got[offset]]))
        return out

    @staticmethod
    def _graphql_page(client, field, fields, filters, limit, offset):
        args = [f"limit: {int(limit)}", f"offset: {int(offset)}"]
        for key, value in sorted(filters.items()):
            args.append(f"{GRAPHQL_FILTERS[key]}: {json.dumps([str(value)])}")
        query = "query { %s(%s) { %s } }" % (field, ", ".join(args), fields)
        answer = client.post_json(GRAPHQL, {"query": query})
        if not isinstance(answer, dict):
            raise CMDBDataError(f"Nautobot GraphQL ({field}) did not answer with an object: {answer!r:.200}")
        errors = answer.get("errors")
        if errors:
            first = errors[0].get("message") if isinstance(errors, list) and isinstance(errors[0], dict) else errors
            raise CMDBDataError(
                f"Nautobot GraphQL ({field}) refused the query: {str(first)[:300]}; this backend needs "
                "Nautobot 3.x (set `api: rest` to use the REST API instead)")
        data = answer.get("data")
        items = data.get(field) if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise CMDBDataError(f"Nautobot GraphQL ({field}) answered without a `{field}` list: "
                                f"{str(answer)[:200]}")
        for item in items:
            # the REST shape the parser reads: custom fields under `custom_fields`
            if isinstance(item, dict) and "_custom_field_data" in item:
                item["custom_fields"] = item.pop("_custom_field_data")
        return items

    # ------------------------------------------------------------ parse
    def parse(self, devices, vms, services):
        """Records from the raw API objects (lists of `results` items)."""
        self.skipped = []
        hosts, deps = [], []
        for kind, objects in (("device", devices), ("virtual machine", vms)):
            for index, obj in enumerate(objects or []):
                host, needs = self._host(kind, index, obj)
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

    def _host(self, kind, index, obj):
        where = _where(kind, index, obj)
        if not isinstance(obj, dict):
            raise CMDBDataError(f"{where}: expected an object, got {type(obj).__name__}")
        name = obj.get("name")
        if name in (None, ""):
            self.skipped.append(f"{where}: no name, skipped (name it in Nautobot to manage it)")
            return None, []
        if not isinstance(name, str):
            raise CMDBDataError(f"{where}: name must be a string, got {name!r}")
        where = f"Nautobot {kind} {name!r} (id {obj.get('id')})"

        rack = cluster = None
        site = _ref(obj, "location", where)
        if kind == "device":
            rack = _ref(obj, "rack", where)
        else:
            cluster = _ref(obj, "cluster", where)
            if site is None and isinstance(obj.get("cluster"), dict):
                site = _ref(obj["cluster"], "location", where, field_path="cluster.location")
        role = _ref(obj, "role", where)
        status = _ref(obj, "status", where)
        host = {
            "name": name,
            "address": _address(obj, where),
            "site": site,
            "rack": rack,
            "roles": [role] if role else [],
            "tags": _tags(obj, where),
            "status": status.lower() if status else None,
            "cluster": cluster,
            "platform": _ref(obj, "platform", where),
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
        where = f"Nautobot service {name!r} (id {obj.get('id')})"
        host = _ref(obj, "device", where) or _ref(obj, "virtual_machine", where)
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
    return f"Nautobot {kind} id {ident}" if ident is not None else f"Nautobot {kind} #{index + 1}"


def _ref(obj, field, where, attr="name", field_path=None):
    """A related object's `attr` (its name by default); None when the field is null.

    An object the token may not view comes back as {id, object_type, url,
    display}: its `display` stands in. A bare {id, object_type, url} means
    Nautobot did not expand the reference (depth not honoured).
    """
    field_path = field_path or field
    value = obj.get(field)
    if value is None:
        return None
    if isinstance(value, dict):
        result = value.get(attr)
        if result in (None, ""):
            result = value.get("display")
        if isinstance(result, str) and result:
            return result
        if result in (None, ""):
            raise CMDBDataError(
                f"{where}: `{field_path}` came back as a bare reference without `{attr}` "
                f"({value.get('object_type') or 'unknown type'} {value.get('id')}); the server did "
                "not expand it: this backend needs Nautobot 3.x (depth query parameter)")
        raise CMDBDataError(f"{where}: `{field_path}.{attr}` should be a string, got {result!r}")
    raise CMDBDataError(f"{where}: `{field_path}` should be a nested object or null, got "
                        f"{type(value).__name__} {value!r}; the server did not expand it: this "
                        "backend needs Nautobot 3.x (depth query parameter)")


def _address(obj, where):
    for field in ("primary_ip4", "primary_ip6"):
        value = obj.get(field)
        if value is None:
            continue
        if isinstance(value, dict) and not value.get("address") and value.get("host"):
            return value["host"]
        address = _ref(obj, field, where, attr="address")
        if address:
            return strip_prefix(address)
    return None


def _tags(obj, where):
    value = obj.get("tags")
    if value is None:
        return []
    if not isinstance(value, list):
        raise CMDBDataError(f"{where}: `tags` should be a list, got {type(value).__name__}")
    out = []
    for index, tag in enumerate(value):
        name = _ref({"tag": tag}, "tag", where, field_path=f"tags[{index}]")
        if name and name not in out:
            out.append(name)
    return out


def _protocol(obj, where):
    value = obj.get("protocol")
    if value is None:
        return "tcp"
    if isinstance(value, dict):
        value = value.get("value")
    if not isinstance(value, str) or not value:
        raise CMDBDataError(f"{where}: `protocol` should be tcp or udp (a string or a choice "
                            f"object with `value`), got {obj.get('protocol')!r}")
    return value.lower()
