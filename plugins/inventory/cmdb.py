# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: cmdb
short_description: Inventory and topology from NetBox, Nautobot or a YAML file
version_added: 0.1.0
description:
  - Reads hosts, roles, failure domains (site, rack), clusters, services and service
    dependencies from a CMDB and builds the nospof topology model once.
  - "Groups: one per role, C(cluster_<name>), C(site_<site>), C(rack_<site>_<rack>),
    C(tag_<tag>), C(status_<status>); plus O(groups) and O(keyed_groups)."
  - "Dependency groups: hosts that need the same services share one group, C(needs_<services>)
    (C(needs_nothing) for hosts that need nothing; C(needs_<hash>) for a long, taken or ambiguous
    name), which carries their C(nospof_dependencies) once as a group variable. The C(needs_)
    prefix is reserved for these groups."
  - With O(cache=true) the cache holds the derived inventory (groups, group and host variables),
    not the CMDB records, so a cached load neither asks the CMDB nor rebuilds the topology.
  - "Host variables: C(ansible_host) from the primary address, C(nospof_address),
    C(nospof_failure_domain), C(nospof_roles), C(nospof_tags), C(nospof_cluster),
    C(nospof_services), C(nospof_dependencies) (for every service the host needs, the
    endpoints of every provider: host, address, port, protocol) and
    C(nospof_firewall_allowlist) (each service the host offers, open to its dependants)."
  - Never makes a request per host; backends fetch each object kind with pagination
    and bounded concurrency and join in memory.
  - Records the topology layer rejects (no address, duplicate names, dependencies on
    unknown services) are reported, one warning each, and left out; with
    O(strict=true) the first one fails the inventory.
  - The inventory source must be named C(*.cmdb.yml) or C(*.cmdb.yaml).
author: nospof developers
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: The name of this plugin.
    required: true
    choices: [nospof.platform.cmdb]
  backend:
    description: Where the topology comes from.
    type: str
    required: true
    choices: [file, netbox, nautobot]
  path:
    description:
      - For O(backend=file), the YAML environment file, relative to this source file.
        Without it the environment is read from this source file itself (its C(hosts) and
        C(defaults) keys).
    type: str
  url:
    description: Base URL of NetBox or Nautobot.
    type: str
    env:
      - name: NOSPOF_CMDB_URL
  token:
    description: API token of NetBox or Nautobot.
    type: str
    env:
      - name: NOSPOF_CMDB_TOKEN
  validate_certs:
    description: Verify the CMDB's TLS certificate.
    type: bool
    default: true
    env:
      - name: NOSPOF_CMDB_VALIDATE_CERTS
  timeout:
    description: Seconds to wait for one HTTP response.
    type: int
    default: 30
  retries:
    description: Retries of a request that failed to connect or got HTTP 429/502/503/504.
    type: int
    default: 3
  max_concurrency:
    description: Pages fetched in parallel.
    type: int
    default: 4
  page_size:
    description: Objects per page.
    type: int
    default: 1000
  api:
    description:
      - Nautobot only - which API reads the hosts and services.
      - C(graphql) asks for exactly the fields the inventory needs, one query per page (measured 15 times faster
        than REST for 10,000 devices); C(rest) reads the REST lists at depth 1.
    type: str
    choices: [graphql, rest]
    default: graphql
  filters:
    description: Which hosts to take.
    type: dict
    default: {}
    suboptions:
      site:
        description: Site (NetBox) or location (Nautobot) name.
        type: str
      status:
        description: Host status, for example C(active).
        type: str
      tags:
        description: Tags; a host needs at least one of them.
        type: list
        elements: str
  strict:
    description: Fail on the first rejected record instead of warning and skipping it.
    type: bool
    default: false
"""

EXAMPLES = r"""
# inventories/prod/netbox.cmdb.yml
plugin: nospof.platform.cmdb
backend: netbox
url: https://netbox.example.org
# token from NOSPOF_CMDB_TOKEN
filters:
  site: dc1
  status: active
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/nospof-inventory
cache_timeout: 600

# inventories/lab/lab.cmdb.yml is the day-zero form: the environment in the
# source file itself (schema in docs/cmdb.md):
#
#   plugin: nospof.platform.cmdb
#   backend: file
#   defaults:
#     site: lab
#   hosts:
#     - name: mq1
#       address: 10.0.0.11
#       rack: r1
#       roles: [rabbitmq]
#       services: [{name: amqps, ports: [5671]}]
#       depends_on: [dns]
"""

import hashlib
import json
import os

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible_collections.nospof.platform.plugins.module_utils.cmdb.base import CMDBError
from ansible_collections.nospof.platform.plugins.module_utils.topology import (
    INVENTORY_FORMAT, Topology, TopologyError)

try:  # ansible-core >= 2.19 templates only data marked as trusted
    from ansible.template import trust_as_template
except ImportError:  # pragma: no cover - older ansible-core trusts everything
    def trust_as_template(value):
        return value


_MISSING = object()


def _trusted(value):
    """Mark templates in an operator-written file as trusted (never CMDB API data)."""
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {k: _trusted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_trusted(v) for v in value]
    return value


def load_backend(name, options):
    """Import a backend lazily so the file backend needs no HTTP code."""
    if name == "file":
        from ansible_collections.nospof.platform.plugins.module_utils.cmdb.file import FileBackend
        return FileBackend(options)
    if name == "netbox":
        from ansible_collections.nospof.platform.plugins.module_utils.cmdb.netbox import NetBoxBackend
        return NetBoxBackend(options)
    if name == "nautobot":
        from ansible_collections.nospof.platform.plugins.module_utils.cmdb.nautobot import NautobotBackend
        return NautobotBackend(options)
    raise AnsibleParserError(f"cmdb inventory: unknown backend {name!r}")


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "nospof.platform.cmdb"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith((".cmdb.yml", ".cmdb.yaml"))

    def _backend_options(self, path):
        backend = self.get_option("backend")
        options = {
            "url": (self.get_option("url") or "").rstrip("/") or None,
            "token": self.get_option("token"),
            "validate_certs": self.get_option("validate_certs"),
            "timeout": self.get_option("timeout"),
            "retries": self.get_option("retries"),
            "max_concurrency": self.get_option("max_concurrency"),
            "page_size": self.get_option("page_size"),
            "api": self.get_option("api"),
            "filters": {k: v for k, v in (self.get_option("filters") or {}).items() if v},
        }
        if backend == "file":
            rel = self.get_option("path")
            options["path"] = os.path.join(os.path.dirname(path), rel) if rel else path
        elif not options["url"]:
            raise AnsibleParserError(f"cmdb inventory {path}: backend {backend} needs `url` "
                                     "(or NOSPOF_CMDB_URL)")
        elif not options["token"]:
            raise AnsibleParserError(f"cmdb inventory {path}: backend {backend} needs `token` "
                                     "(or NOSPOF_CMDB_TOKEN)")
        return backend, options

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path)
        self._read_config_data(path)
        backend_name, options = self._backend_options(path)

        cache_key = self.get_cache_key(path)
        data = records = None
        if self.get_option("cache") and cache:
            try:
                data, records = self._cached_form(self._cache[cache_key])
            except KeyError:
                pass
        if data is None:
            try:
                if records is None:
                    # imported and built only now: a cached load needs no HTTP code
                    records = load_backend(backend_name, options).fetch()
                    topology = Topology.from_records(records.get("hosts"), records.get("services"),
                                                     records.get("dependencies"),
                                                     strict=self.get_option("strict"))
                else:  # an earlier version's cache: the records
                    try:
                        topology = Topology.from_dict(records)
                    except (AttributeError, TypeError) as exc:
                        raise TopologyError(f"the cache {cache_key} is unreadable ({exc}); clear it") from None
            except (CMDBError, TopologyError) as exc:
                raise AnsibleParserError(f"cmdb inventory ({backend_name}): {exc}") from None
            data = topology.inventory()
            if self.get_option("cache"):
                # As JSON text: the cache plugin deep-copies and encodes what it is
                # given, which for 10,000 hosts of nested dicts took a second;
                # one string is copied and encoded at C speed.
                self._cache[cache_key] = {"format": INVENTORY_FORMAT, "json": json.dumps(data)}

        for problem in data["problems"]:
            self.display.warning(f"cmdb inventory ({backend_name}): {problem}")
        self._populate(data, trust_vars=backend_name == "file")

    @staticmethod
    def _cached_form(entry):
        """(inventory, records) from a cache entry; (None, None): fetch again.

        The entry this version writes gives the inventory itself. An entry of
        records (earlier versions: a dict with a `hosts` list and no `format`)
        gives the records, to derive the inventory from and cache it anew.
        Anything else (another version's form, a damaged entry) gives neither.
        """
        if isinstance(entry, dict) and "format" in entry:
            try:
                inventory = json.loads(entry["json"]) if entry["format"] == INVENTORY_FORMAT else None
            except (KeyError, TypeError, ValueError):
                inventory = None
            if (isinstance(inventory, dict) and inventory.get("format") == INVENTORY_FORMAT
                    and all(isinstance(inventory.get(key), dict) for key in ("groups", "group_vars", "hosts"))
                    and isinstance(inventory.get("problems"), list)):
                return inventory, None
            return None, None
        if isinstance(entry, dict) and isinstance(entry.get("hosts"), list):
            return None, entry
        return None, None

    def _populate(self, data, trust_vars=False):
        """Load Topology.inventory()'s data (fresh or from the cache) into the inventory.

        nospof_dependencies is set once per dependency group, not per host: it
        is the largest variable and the same for every host that needs the same
        services, and ansible-core copies and tags every value it is given.
        """
        strict = self.get_option("strict")
        compose = self.get_option("compose")
        composed = self.get_option("groups")
        keyed = self.get_option("keyed_groups")
        # Another source of the same inventory (dc1.cmdb.yml next to dc2.cmdb.yml)
        # may already have a dependency group of this name with other endpoints:
        # then this source's group is named after its content instead.
        rename = {}
        for group, variables in data["group_vars"].items():
            existing = self.inventory.groups.get(group)
            if existing is not None and any(existing.get_vars().get(key, _MISSING) != value
                                            for key, value in variables.items()):
                digest = hashlib.sha1(json.dumps(variables, sort_keys=True).encode()).hexdigest()[:12]
                rename[group] = f"needs_{digest}"
        # Every host is in a dependency group (needs_nothing included), so this adds them all.
        for group, members in sorted(data["groups"].items()):
            group = rename.get(group, group)
            self.inventory.add_group(group)
            for name in members:
                self.inventory.add_host(name, group=group)
        shared = {}  # host -> its dependency group's variables
        for group, variables in sorted(data["group_vars"].items()):
            for key, value in variables.items():
                self.inventory.set_variable(rename.get(group, group), key, value)
            for name in data["groups"].get(group, ()):
                shared[name] = variables
        own_vars = (data.get("own_vars") or {}) if trust_vars else {}
        for name, hostvars in sorted(data["hosts"].items()):
            own = own_vars.get(name, ())
            for key, value in hostvars.items():
                if key in own:
                    # Only the vars an operator wrote in the environment file may
                    # hold templates; data from a CMDB API is never templated.
                    value = _trusted(value)
                self.inventory.set_variable(name, key, value)
            if compose or composed or keyed:
                # compose and groups see every variable the host gets from here
                allvars = dict(shared.get(name, {}), **hostvars)
                self._set_composite_vars(compose, allvars, name, strict=strict)
                self._add_host_to_composed_groups(composed, allvars, name, strict=strict)
                self._add_host_to_keyed_groups(keyed, allvars, name, strict=strict)
