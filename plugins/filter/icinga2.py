# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the icinga2 role: the check catalog computed from the topology, and
Python values written as Icinga 2 DSL.

icinga2_checks: every host gets a host check, load, memory, disk levels and
(with an NTP server) clock checks on its own agent; agents an agent connection
check, masters a cluster check. Every TCP port of every service a host
declares (nospof_services) gets a port check, TLS ports a certificate check,
and every role the host has (nospof_roles, else its groups) that role's health
checks. Every check names the runbook page it links to.
"""

from __future__ import annotations

import json
import re

from ansible.errors import AnsibleFilterError


_NAME = re.compile(r"^[A-Za-z0-9_.:@ /()+-]+$")


def _fail(msg):
    raise AnsibleFilterError("icinga2_checks: " + msg)


def _host_record(name, hv, masters):
    roles = hv.get("nospof_roles")
    if roles is None:
        roles = [g for g in hv.get("group_names", []) if g not in ("all", "ungrouped")]
    services = hv.get("nospof_services") or []
    if not isinstance(services, list):
        _fail("nospof_services of %s must be a list" % name)
    return {
        "name": name,
        "address": str(hv.get("nospof_address") or name),
        "master": name in masters,
        "roles": sorted(set(roles)),
        "services": services,
        "site": (hv.get("nospof_failure_domain") or {}).get("site") or "",
        "rack": (hv.get("nospof_failure_domain") or {}).get("rack") or "",
        # A host may set icinga2_disk_paths of its own (inventory host or group vars).
        "disk_paths": hv.get("icinga2_disk_paths"),
    }


def _check(host, name, command, runbook, local=False, vars=None, **extra):
    if not _NAME.match(name):
        _fail("check name %r of host %s has characters Icinga names should not have" % (name, host))
    if not runbook or not re.match(r"^[a-z0-9][a-z0-9-]*$", str(runbook)):
        _fail("check %r of host %s needs a runbook page name (like host-disk), got %r" % (name, host, runbook))
    item = {"host": host, "name": name, "command": command, "runbook": runbook, "local": bool(local),
            "vars": dict(vars or {})}
    item.update(extra)
    return item


def icinga2_hosts(names, hostvars, master_group_members):
    """Host records ({name, address, master, roles, services, site, rack}) of the monitored hosts."""
    masters = set(master_group_members or [])
    return [_host_record(n, hostvars[n], masters) for n in sorted(set(names))]


def icinga2_checks(names, hostvars, settings):
    """Every check of every monitored host, in a stable order.

    settings: master_group_members, config_master, disk_paths, disk_levels, ntp_server, clock_warning,
    clock_critical, load_warning, load_critical, tls_services, port_check_skip, role_checks, extra_checks.
    """
    if not isinstance(settings, dict):
        _fail("settings must be a dict")
    hosts = icinga2_hosts(names, hostvars, settings.get("master_group_members"))
    known = {h["name"] for h in hosts}
    tls = settings.get("tls_services") or {}
    # ports that do not always listen (the RabbitMQ CLI's distribution ports): no port check
    skip = settings.get("port_check_skip") or {}
    role_checks = settings.get("role_checks") or {}
    members = {}
    for host in hosts:
        for role in host["roles"]:
            members[role] = members.get(role, 0) + 1
    checks = []
    for host in hosts:
        name = host["name"]
        if host["master"]:
            checks.append(_check(name, "icinga cluster", "cluster", "icinga-master-down", local=True))
        else:
            checks.append(_check(name, "agent connection", "cluster-zone", "icinga-agent-disconnected",
                                 vars={"cluster_zone": name}))
        lw = list(settings.get("load_warning") or [2.0, 1.5, 1.2])
        lc = list(settings.get("load_critical") or [4.0, 3.0, 2.0])
        checks.append(_check(name, "load", "load", "host-load", local=True, vars={
            "load_percpu": True, "load_wload1": lw[0], "load_wload5": lw[1], "load_wload15": lw[2],
            "load_cload1": lc[0], "load_cload5": lc[1], "load_cload15": lc[2]}))
        checks.append(_check(name, "memory", "nospof-memory", "host-memory", local=True))
        paths = host["disk_paths"] if host["disk_paths"] is not None else settings.get("disk_paths")
        for path in paths or []:
            checks.append(_check(name, "disk %s" % path, "nospof-disk", "host-disk", local=True,
                                 vars={"nospof_disk_path": path},
                                 levels=list(settings.get("disk_levels") or [])))
        if settings.get("ntp_server"):
            checks.append(_check(name, "clock", "ntp_time", "host-clock", local=True,
                                 vars={"ntp_address": settings["ntp_server"],
                                       "ntp_warning": settings.get("clock_warning", 0.5),
                                       "ntp_critical": settings.get("clock_critical", 2)}))
        for svc in host["services"]:
            if not isinstance(svc, dict) or "name" not in svc:
                _fail("a service of %s has no name: %r" % (name, svc))
            proto = str(svc.get("protocol", "tcp")).lower()
            ports = svc.get("ports") or []
            # TLS ports of the service: a list, or true for every port it declares
            tls_spec = tls.get(svc["name"])
            if tls_spec is True:
                tls_spec = ports
            elif tls_spec is not None and not isinstance(tls_spec, (list, tuple)):
                _fail("tls_services[%s] must be a list of ports or true, got %r" % (svc["name"], tls_spec))
            tls_ports = set(int(p) for p in (tls_spec or []))
            skipped = set(int(p) for p in (skip.get(svc["name"]) or []))
            if proto != "tcp":
                continue
            for port in ports:
                port = int(port)
                if port in skipped:
                    continue
                checks.append(_check(name, "%s port %d" % (svc["name"], port), "tcp", "service-port-down",
                                     vars={"tcp_port": port}, service=svc["name"]))
                if port in tls_ports:
                    checks.append(_check(name, "%s certificate %d" % (svc["name"], port), "nospof-certificate",
                                         "tls-certificate-expiry", vars={"tcp_port": port}, service=svc["name"]))
        for role in host["roles"]:
            for spec in role_checks.get(role) or []:
                # Cluster health checks compare with the number of members the topology has.
                cvars = dict(spec.get("vars") or {}, nospof_role_members=members[role])
                # The port a check talks to, from the port this host declares for the service
                # (hosts of one role may listen on different ports).
                if spec.get("port_var") and spec.get("service"):
                    own = [s for s in host["services"] if isinstance(s, dict) and s.get("name") == spec["service"]]
                    if own and own[0].get("ports"):
                        cvars[spec["port_var"]] = int(own[0]["ports"][0])
                checks.append(_check(name, spec["name"], spec["command"], spec.get("runbook"),
                                     local=spec.get("local", False), vars=cvars, role=role))
    config_master = settings.get("config_master")
    if config_master:
        checks.append(_check(config_master, "acknowledgement escalation", "nospof-ack-escalation",
                             "icinga-ack-escalation"))
    for spec in settings.get("extra_checks") or []:
        if not isinstance(spec, dict) or not spec.get("host") or not spec.get("name"):
            _fail("every item of icinga2_checks needs host and name: %r" % (spec,))
        if spec["host"] not in known:
            _fail("check %r is for host %s, which is not monitored" % (spec["name"], spec["host"]))
        if spec.get("heartbeat"):
            window = spec["heartbeat"].get("window", "10m")
            checks.append(_check(spec["host"], spec["name"], "nospof-absence", spec.get("runbook", "heartbeat-missing"),
                                 vars=dict(spec.get("vars") or {}), heartbeat={"window": window}))
        else:
            if not spec.get("command"):
                _fail("check %r of host %s needs a command (or heartbeat)" % (spec["name"], spec["host"]))
            checks.append(_check(spec["host"], spec["name"], spec["command"], spec.get("runbook"),
                                 local=spec.get("local", False), vars=spec.get("vars")))
    seen = set()
    for item in checks:
        key = (item["host"], item["name"])
        if key in seen:
            _fail("two checks named %r on host %s" % (item["name"], item["host"]))
        seen.add(key)
    return checks


def _duration_ok(value):
    return isinstance(value, (int, float)) or re.match(r"^\d+(\.\d+)?(ms|s|m|h|d)?$", str(value))


def icinga2_value(value):
    """A Python value written as an Icinga 2 DSL literal (strings escaped; dicts and lists nested)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[ " + ", ".join(icinga2_value(v) for v in value) + " ]"
    if isinstance(value, dict):
        return "{ " + " ".join("%s = %s" % (icinga2_value(str(k)) if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(k))
                                           else str(k), icinga2_value(v)) + ";"
                               for k, v in value.items()) + " }" if value else "{}"
    text = str(value)
    # json.dumps escapes quotes, backslashes and control characters the way Icinga's string literals read them;
    # '$' is a macro start in Icinga strings and stays as it is on purpose (checks use $host.address$).
    return json.dumps(text)


def icinga2_duration(value):
    """Check a duration (30s, 5m, 1h or a number of seconds) and return it unquoted for the DSL."""
    if not _duration_ok(value):
        raise AnsibleFilterError("icinga2_duration: %r is not a duration like 30s, 5m or 1h" % (value,))
    return str(value)


class FilterModule:
    def filters(self):
        return {
            "icinga2_checks": icinga2_checks,
            "icinga2_hosts": icinga2_hosts,
            "icinga2_value": icinga2_value,
            "icinga2_duration": icinga2_duration,
        }
