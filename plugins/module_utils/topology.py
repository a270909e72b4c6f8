# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The topology model: one normalized view of hosts, failure domains, clusters,
services and dependencies, computed once from a CMDB backend and read by
everything else (inventory groups, host variables, firewall, monitoring, SPOF).

Backends (plugins/module_utils/cmdb/) return plain records; this module
validates them, naming the offending record in every error, and derives the
inventory from them.

Records (all backends produce exactly these shapes):

host:
    {"name": str, "address": str | None,      # primary IP, or a resolvable name
     "site": str | None, "rack": str | None,
     "roles": [str], "tags": [str], "status": str | None,
     "cluster": str | None, "platform": str | None,
     "vars": {str: any}}                      # extra host variables (file backend)
service:
    {"name": str, "host": str, "protocol": "tcp" | "udp", "ports": [int]}
dependency:
    {"host": str, "service": str | None,      # consumer host (and its service, if any)
     "needs": str}                            # name of the service it needs
"""

from __future__ import annotations

import hashlib
import ipaddress
import re

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$")
GROUP_SAFE = re.compile(r"[^A-Za-z0-9_]")
# An IPv4 address already in the form ipaddress prints (no leading zeros): kept as is
# without parsing it, which is most of the cost of validating a host.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
CANONICAL_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
# Dependency groups (Topology.dependency_groups) are named after what their hosts
# need, "needs_dns_mirror"; a longer name than this becomes "needs_<hash>".
DEPENDENCY_GROUP_MAX = 64
# The form of what Topology.inventory() returns. The inventory plugin's cache entry
# names it; an entry without a form holds records (earlier versions), an entry in
# another form is fetched again.
INVENTORY_FORMAT = "nospof-inventory/2"


def collapse_sources(addresses):
    """Firewall sources, exactly: IP addresses merged into the CIDR blocks they fill completely.

    A block appears only when every address in it is a source, so the set of
    allowed addresses is unchanged. Single addresses stay plain (no /32 or
    /128). IPv4 first, then IPv6, each in address order, then anything that is
    not an IP address (host names, resolved later by the base role) sorted.
    """
    v4, v6, other = [], [], []
    for address in addresses:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            other.append(address)
            continue
        (v4 if ip.version == 4 else v6).append(ip)
    out = []
    for ips in (v4, v6):
        for net in ipaddress.collapse_addresses(ips):
            out.append(str(net.network_address) if net.num_addresses == 1 else str(net))
    return out + sorted(set(other))


class TopologyError(ValueError):
    """Invalid topology data. The message names the offending record."""


def group_name(*parts):
    """An Ansible-safe group name from parts: lower case, [a-z0-9_] only."""
    text = "_".join(str(p) for p in parts if p not in (None, ""))
    text = GROUP_SAFE.sub("_", text.lower()).strip("_")
    if not text or text[0].isdigit():
        text = "g_" + text
    return text


def _str_list(value, where, field):
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise TopologyError(f"{where}: {field} must be a list of strings, got {type(value).__name__}")
    out = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise TopologyError(f"{where}: {field} holds {item!r}, not a non-empty string")
        if item.strip() not in out:
            out.append(item.strip())
    return out


def _address(value, where):
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise TopologyError(f"{where}: address must be a string, got {value!r}")
    text = value.strip()
    if "/" in text:  # CMDBs store interface addresses with a prefix length
        text = text.split("/", 1)[0]
    if CANONICAL_IPV4.fullmatch(text):
        return text
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    if re.match(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$", text):
        return text.lower()
    raise TopologyError(f"{where}: address {value!r} is neither an IP address nor a host name")


class Topology:
    """Validated topology. Build it with Topology.from_records()."""

    def __init__(self, hosts, services, dependencies, problems):
        self.hosts = hosts                # name -> host record
        self.services = services          # list of service records
        self.dependencies = dependencies  # list of dependency records
        self.problems = problems          # non-fatal findings (skipped records)

    # ------------------------------------------------------------------ build
    @classmethod
    def from_records(cls, hosts, services=(), dependencies=(), strict=True):
        """Validate records and build the model.

        strict=True raises TopologyError on the first problem. strict=False
        skips bad records and lists every problem in .problems, so an
        inventory can load the good part and report the rest.
        """
        problems = []

        def problem(message):
            if strict:
                raise TopologyError(message)
            problems.append(message)

        by_name = {}
        for index, raw in enumerate(hosts or []):
            where = f"host #{index + 1}"
            if not isinstance(raw, dict):
                problem(f"{where}: expected a mapping, got {type(raw).__name__}")
                continue
            name = raw.get("name")
            if not isinstance(name, str) or not NAME_RE.match(name):
                problem(f"{where}: name {name!r} is missing or not a valid host name")
                continue
            where = f"host {name!r}"
            if name in by_name:
                problem(f"{where}: duplicate host name (the CMDB has it twice)")
                continue
            try:
                host = {
                    "name": name,
                    "address": _address(raw.get("address"), where),
                    "site": raw.get("site") or None,
                    "rack": raw.get("rack") or None,
                    "roles": _str_list(raw.get("roles"), where, "roles"),
                    "tags": _str_list(raw.get("tags"), where, "tags"),
                    "status": raw.get("status") or None,
                    "cluster": raw.get("cluster") or None,
                    "platform": raw.get("platform") or None,
                    "vars": dict(raw.get("vars") or {}),
                }
            except TopologyError as exc:
                problem(str(exc))
                continue
            if host["address"] is None:
                problem(f"{where}: has no primary address; it cannot be reached or "
                        "offered to its dependants (set one in the CMDB)")
                continue
            by_name[name] = host

        clean_services = []
        seen_services = set()
        for index, raw in enumerate(services or []):
            where = f"service #{index + 1}"
            if not isinstance(raw, dict):
                problem(f"{where}: expected a mapping, got {type(raw).__name__}")
                continue
            name, host = raw.get("name"), raw.get("host")
            where = f"service {name!r} on host {host!r}"
            if not isinstance(name, str) or not NAME_RE.match(name or ""):
                problem(f"{where}: the service name is missing or invalid")
                continue
            if host not in by_name:
                problem(f"{where}: the host is unknown (or was skipped above)")
                continue
            protocol = str(raw.get("protocol") or "tcp").lower()
            if protocol not in ("tcp", "udp"):
                problem(f"{where}: protocol {protocol!r} must be tcp or udp")
                continue
            ports = raw.get("ports")
            if isinstance(ports, int) and not isinstance(ports, bool):
                ports = [ports]
            if not isinstance(ports, (list, tuple)) or not ports or not all(
                    isinstance(p, int) and not isinstance(p, bool) and 1 <= p <= 65535 for p in ports):
                problem(f"{where}: ports {ports!r} must be a non-empty list of numbers 1-65535")
                continue
            if (name, host) in seen_services:
                problem(f"{where}: declared twice")
                continue
            seen_services.add((name, host))
            clean_services.append({"name": name, "host": host, "protocol": protocol,
                                   "ports": sorted(set(ports))})

        provided = {s["name"] for s in clean_services}
        clean_deps = []
        seen_deps = set()  # (host, service, needs) of clean_deps: a membership test in O(1)
        for index, raw in enumerate(dependencies or []):
            if not isinstance(raw, dict):
                problem(f"dependency #{index + 1}: expected a mapping, got {type(raw).__name__}")
                continue
            host, needs = raw.get("host"), raw.get("needs")
            where = f"dependency of host {host!r} on service {needs!r}"
            if host not in by_name:
                problem(f"{where}: the host is unknown (or was skipped above)")
                continue
            if needs not in provided:
                problem(f"{where}: no host provides a service named {needs!r}")
                continue
            record = {"host": host, "service": raw.get("service") or None, "needs": needs}
            key = (host, record["service"], needs)
            try:
                hash(key)
            except TypeError:  # an unhashable `service` value: compare the records one by one
                if record not in clean_deps:
                    clean_deps.append(record)
                continue
            if key not in seen_deps:
                seen_deps.add(key)
                clean_deps.append(record)

        return cls(by_name, clean_services, clean_deps, problems)

    # ------------------------------------------------------------------ index
    def _index(self):
        """Lookups by host and by service, built once (the records are read-only once built).

        Every per-host read below is answered from these instead of a scan over all
        services or dependencies, so deriving the whole inventory stays linear in its
        size. The index is rebuilt if hosts, services or dependencies were replaced or
        grew or shrank.
        """
        key = (id(self.hosts), len(self.hosts), id(self.services), len(self.services),
               id(self.dependencies), len(self.dependencies))
        index = getattr(self, "_index_cache", None)
        if index is not None and index["key"] == key:
            return index
        services_by_host = {}   # host -> its services, in record order
        services_by_name = {}   # service -> its services, in record order
        for svc in self.services:
            services_by_host.setdefault(svc["host"], []).append(svc)
            services_by_name.setdefault(svc["name"], []).append(svc)
        for name, svcs in services_by_name.items():
            # providers() orders by host name; a stable sort keeps record order for ties
            services_by_name[name] = sorted(svcs, key=lambda s: s["host"])
        needs_by_host = {}      # host -> {services it needs}
        dependants = {}         # service -> {hosts needing it}
        for dep in self.dependencies:
            needs_by_host.setdefault(dep["host"], set()).add(dep["needs"])
            dependants.setdefault(dep["needs"], set()).add(dep["host"])
        index = {
            "key": key,
            "services_by_host": services_by_host,
            "services_by_name": services_by_name,
            "provided_by": {(s["name"], s["host"]) for s in self.services},
            "needs_by_host": {host: sorted(needs) for host, needs in needs_by_host.items()},
            "dependants": {service: sorted(hosts) for service, hosts in dependants.items()},
            "endpoints": {},    # service -> provider endpoints, computed on first use
            "sources": {},      # service -> what the firewall sources derive from
            "collapsed_sources": {},  # service -> its sources as collapse_sources() gives them
        }
        self._index_cache = index
        return index

    def _endpoints(self, service):
        """Provider endpoints of `service`, shared: callers hand out copies."""
        index = self._index()
        out = index["endpoints"].get(service)
        if out is None:
            out = []
            for svc in index["services_by_name"].get(service, ()):
                host = self.hosts[svc["host"]]
                for port in svc["ports"]:
                    out.append({"host": host["name"], "address": host["address"], "port": port,
                                "protocol": svc["protocol"], "site": host["site"], "rack": host["rack"]})
            index["endpoints"][service] = out
        return out

    def _sources(self, service):
        """(dependant names, their sorted distinct addresses, dependants per address) of `service`."""
        index = self._index()
        out = index["sources"].get(service)
        if out is None:
            names = index["dependants"].get(service, [])
            per_address = {}
            for name in names:
                address = self.hosts[name]["address"]
                per_address[address] = per_address.get(address, 0) + 1
            out = (set(names), sorted(per_address), per_address)
            index["sources"][service] = out
        return out

    # ------------------------------------------------------------------ read
    def providers(self, service):
        """Endpoints of every host providing `service`, sorted by host name."""
        return [dict(endpoint) for endpoint in self._endpoints(service)]

    def dependants(self, service, host=None):
        """Hosts that depend on `service` (optionally as provided by `host`)."""
        index = self._index()
        if host is not None and (service, host) not in index["provided_by"]:
            return []
        return list(index["dependants"].get(service, []))

    def failure_domain(self, name):
        host = self.hosts[name]
        return {"site": host["site"], "rack": host["rack"]}

    def host_services(self, name):
        return [{"name": s["name"], "protocol": s["protocol"], "ports": s["ports"]}
                for s in self._index()["services_by_host"].get(name, ())]

    def host_dependencies(self, name):
        """{service: [endpoints]} for every service `name` depends on."""
        return {service: self.providers(service) for service in self._index()["needs_by_host"].get(name, ())}

    def firewall_allowlist(self, name):
        """Allowlist entries for `name`: each service it offers, open to its dependants only.

        Sources are collapsed exactly (collapse_sources): addresses that fill a
        whole CIDR block become that block, so 10,000 dependants numbered in a
        row are a handful of networks, not 10,000 addresses per provider.
        """
        out = []
        index = self._index()
        collapsed = index["collapsed_sources"]
        for svc in index["services_by_host"].get(name, ()):
            names, addresses, per_address = self._sources(svc["name"])
            if name in names:
                # Its own address goes only if no other dependant shares it.
                if len(names) == 1:
                    continue
                own = self.hosts[name]["address"]
                if per_address[own] == 1:
                    sources = collapse_sources(a for a in addresses if a != own)
                else:
                    sources = None
            elif names:
                sources = None
            else:
                continue
            if sources is None:
                sources = collapsed.get(svc["name"])
                if sources is None:
                    sources = collapsed[svc["name"]] = collapse_sources(addresses)
            out.append({"name": svc["name"], "proto": svc["protocol"], "ports": svc["ports"],
                        "sources": list(sources)})
        return out

    def groups(self):
        """Inventory groups: per role, cluster, site, rack and tag."""
        groups = {}
        names = {}  # parts -> group name: most hosts share a handful of groups

        def add(host, *parts):
            if all(type(part) is str for part in parts):
                group = names.get(parts)
                if group is None:
                    group = names[parts] = group_name(*parts)
            else:  # odd CMDB data (1 == True as a key): not memoized
                group = group_name(*parts)
            members = groups.setdefault(group, [])
            # Hosts come one at a time, so a host already in the group is its last member.
            if not members or members[-1] != host:
                members.append(host)

        for name in sorted(self.hosts):
            host = self.hosts[name]
            for role in host["roles"]:
                add(name, role)
            if host["cluster"]:
                add(name, "cluster", host["cluster"])
            if host["site"]:
                add(name, "site", host["site"])
                if host["rack"]:
                    add(name, "rack", host["site"], host["rack"])
            for tag in host["tags"]:
                add(name, "tag", tag)
            if host["status"]:
                add(name, "status", host["status"])
        return groups

    def clusters(self):
        """{cluster or role group: [hosts]}: what the SPOF analysis judges."""
        out = {}
        for group, members in self.groups().items():
            if group.startswith(("site_", "rack_", "tag_", "status_")):
                continue
            out[group] = sorted(members)
        return out

    def dependency_groups(self, taken=None):
        """{group: {"needs": [services], "hosts": [names]}}: one group per distinct set of needs.

        A host's nospof_dependencies depends only on which services it needs
        (every dependant of a service gets the same provider endpoints), so
        hosts that need the same services can share one copy of it as a group
        variable instead of one copy each. Hosts that need nothing share
        "needs_nothing" (with {}), so the variable has the same precedence on
        every host. The group is named after the needs,
        "needs_dns_mirror"; if that name is longer than DEPENDENCY_GROUP_MAX,
        is taken by an inventory group, or two sets of needs would share it
        ("a_b" + "c" and "a" + "b_c"), it is "needs_" and a hash of the needs.
        """
        by_needs = {}
        needs_by_host = self._index()["needs_by_host"]
        for name in self.hosts:
            by_needs.setdefault(tuple(needs_by_host.get(name, ())), []).append(name)
        taken = set(self.groups() if taken is None else taken)

        def readable(needs):
            return group_name("needs", *needs) if needs else "needs_nothing"

        names = {}
        for needs in by_needs:
            names.setdefault(readable(needs), []).append(needs)
        out = {}
        for needs, hosts in sorted(by_needs.items()):
            group = readable(needs)
            if len(group) > DEPENDENCY_GROUP_MAX or group in taken or len(names[group]) > 1:
                group = "needs_" + hashlib.sha1("\0".join(needs).encode()).hexdigest()[:12]
            out[group] = {"needs": list(needs), "hosts": sorted(hosts)}
        return out

    def inventory(self):
        """The whole inventory as plain data: what the inventory plugin loads (and caches).

        {"format": INVENTORY_FORMAT,
         "groups": {group: [hosts]},                 # groups() and dependency_groups()
         "group_vars": {group: {var: value}},        # nospof_dependencies per dependency group
         "hosts": {name: {var: value}},              # host_vars() without what a group carries
         "own_vars": {name: [var]},                  # the host's own `vars` (file backend)
         "problems": [str]}
        Endpoint lists are shared between groups, not copied: treat the result
        as read-only.
        """
        groups = self.groups()
        group_vars = {}
        for group, entry in self.dependency_groups(taken=groups).items():
            groups[group] = entry["hosts"]
            group_vars[group] = {"nospof_dependencies": {s: self._endpoints(s) for s in entry["needs"]}}
        hosts = {name: self.host_vars(name, dependencies=False) for name in sorted(self.hosts)}
        return {"format": INVENTORY_FORMAT, "groups": groups, "group_vars": group_vars,
                "hosts": hosts,
                "own_vars": {n: sorted(h["vars"]) for n, h in self.hosts.items() if h["vars"]},
                "problems": list(self.problems)}

    def host_vars(self, name, dependencies=True):
        """Every variable the inventory gives `name`.

        dependencies=False leaves out nospof_dependencies, which the inventory
        carries as a variable of the host's dependency group instead.
        """
        host = self.hosts[name]
        out = dict(host["vars"])
        out.update({
            "ansible_host": host["vars"].get("ansible_host", host["address"]),
            "nospof_address": host["address"],
            "nospof_failure_domain": self.failure_domain(name),
            "nospof_roles": host["roles"],
            "nospof_tags": host["tags"],
            "nospof_cluster": host["cluster"],
            "nospof_services": self.host_services(name),
            "nospof_dependencies": self.host_dependencies(name) if dependencies else None,
            "nospof_firewall_allowlist": self.firewall_allowlist(name),
        })
        if not dependencies:
            del out["nospof_dependencies"]
        return out

    def to_dict(self):
        """Plain data (for caching and for modules)."""
        return {"hosts": [self.hosts[n] for n in sorted(self.hosts)],
                "services": self.services, "dependencies": self.dependencies,
                "problems": self.problems}

    @classmethod
    def from_dict(cls, data, strict=False):
        topo = cls.from_records(data.get("hosts"), data.get("services"), data.get("dependencies"),
                                strict=strict)
        cached = list(data.get("problems") or [])
        try:
            known = set(cached)
        except TypeError:  # not plain strings: compare one by one
            known = cached
        topo.problems = cached + [p for p in topo.problems if p not in known]
        return topo
