# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The `file` backend: a YAML description of an environment, for day zero.

Schema (documented in docs/cmdb.md):

    defaults:            # optional; merged under every host
      site: lab
      vars: {...}
    hosts:
      - name: mq1
        address: 10.0.0.11        # or a resolvable name
        site: lab
        rack: r1
        roles: [rabbitmq]
        tags: [prod]
        status: active
        cluster: mq
        services:
          - {name: amqps, protocol: tcp, ports: [5671]}
        depends_on: [dns]          # service names this host needs
        vars: {...}                # extra host variables
"""

from __future__ import annotations

import os

try:
    import yaml
except ImportError:  # pragma: no cover
    yaml = None

from ansible_collections.nospof.platform.plugins.module_utils.cmdb.base import (
    Backend,
    CMDBDataError,
    CMDBUnavailable,
)

HOST_KEYS = {"name", "address", "site", "rack", "roles", "tags", "status", "cluster",
             "platform", "services", "depends_on", "vars"}


class FileBackend(Backend):
    name = "file"

    def fetch(self):
        path = self.options.get("path")
        if not path:
            raise CMDBDataError("the file backend needs `path`: the YAML environment file")
        if not os.path.exists(path):
            raise CMDBUnavailable(f"environment file {path} does not exist")
        try:
            with open(path, encoding="utf-8") as handle:
                # libyaml's safe loader where PyYAML has it: the same documents, ~10 times faster
                # on a large environment file.
                data = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
        except yaml.YAMLError as exc:
            raise CMDBDataError(f"{path} is not valid YAML: {exc}") from None
        return self.parse(data, path)

    def parse(self, data, source="environment"):
        if not isinstance(data, dict):
            raise CMDBDataError(f"{source}: the top level must be a mapping with `hosts`")
        unknown = set(data) - {"defaults", "hosts", "plugin", "backend", "path", "filters",
                               "compose", "groups", "keyed_groups", "strict", "cache",
                               "cache_plugin", "cache_timeout", "cache_connection", "cache_prefix",
                               "leading_separator", "use_extra_vars"}
        if unknown:
            raise CMDBDataError(f"{source}: unknown top-level keys {sorted(unknown)}")
        defaults = data.get("defaults") or {}
        if not isinstance(defaults, dict):
            raise CMDBDataError(f"{source}: defaults must be a mapping")
        raw_hosts = data.get("hosts")
        if not isinstance(raw_hosts, list):
            raise CMDBDataError(f"{source}: `hosts` must be a list of hosts")
        filters = self.options.get("filters") or {}
        hosts, services, deps = [], [], []
        for index, raw in enumerate(raw_hosts):
            if not isinstance(raw, dict):
                raise CMDBDataError(f"{source}: host #{index + 1} must be a mapping, got {type(raw).__name__}")
            unknown = set(raw) - HOST_KEYS
            if unknown:
                raise CMDBDataError(f"{source}: host {raw.get('name', '#' + str(index + 1))!r} "
                                    f"has unknown keys {sorted(unknown)}")
            merged = dict(defaults, **raw)
            merged["vars"] = dict(defaults.get("vars") or {}, **(raw.get("vars") or {}))
            if not _matches(merged, filters):
                continue
            name = merged.get("name")
            hosts.append({k: merged.get(k) for k in
                          ("name", "address", "site", "rack", "roles", "tags", "status",
                           "cluster", "platform", "vars")})
            for svc in raw.get("services") or []:
                if not isinstance(svc, dict):
                    raise CMDBDataError(f"{source}: host {name!r}: each service must be a mapping")
                services.append({"name": svc.get("name"), "host": name,
                                 "protocol": svc.get("protocol", "tcp"), "ports": svc.get("ports")})
            needs = merged.get("depends_on") or []
            if isinstance(needs, str):
                needs = [needs]
            for need in needs:
                deps.append({"host": name, "service": None, "needs": need})
        return {"hosts": hosts, "services": services, "dependencies": deps}


def _matches(host, filters):
    site = filters.get("site")
    if site and host.get("site") not in ([site] if isinstance(site, str) else site):
        return False
    status = filters.get("status")
    if status and (host.get("status") or "active") not in ([status] if isinstance(status, str) else status):
        return False
    tags = filters.get("tags")
    if tags and not set(tags) & set(host.get("tags") or []):
        return False
    return True
