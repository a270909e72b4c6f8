# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Single-point-of-failure analysis of a topology.

Input: clusters as {group: [{"name", "site", "rack"}, ...]} (what the
inventory plugin derives from the CMDB) and rules per group. Output: a list
of findings, each {"group", "severity": "error"|"warning", "rule", "message"}.

Rules:
- quorum (RabbitMQ, OpenSearch cluster managers): at least 3 members, an odd
  number, and no single failure domain (site, then rack) may hold a majority,
  since losing it would stop the cluster.
- replicated (mirrors, DNS, VIP holders, Graphite storage, Icinga masters):
  at least 2 members, and not all in one failure domain.
Failure-domain rules apply at a level (site or rack) only where the
environment has more than one domain at that level.
"""

from __future__ import annotations

import json

DEFAULT_RULES = {
    "rabbitmq": {"kind": "quorum"},
    "opensearch": {"kind": "quorum"},
    "mirror": {"kind": "replicated"},
    "dns": {"kind": "replicated"},
    "loadbalancer": {"kind": "replicated"},
    "graphite": {"kind": "replicated"},
    "icinga2_master": {"kind": "replicated"},
}

KINDS = {"quorum": 3, "replicated": 2}


class SpofInputError(ValueError):
    """The analysis input is malformed; the message names the entry."""


def _domain(member, level):
    if level == "site":
        return member.get("site") or "(no site)"
    return f"{member.get('site') or '(no site)'}/{member.get('rack') or '(no rack)'}"


def _validate(clusters, rules):
    if not isinstance(clusters, dict):
        raise SpofInputError("clusters must be a mapping of group name to members")
    for group, members in clusters.items():
        if not isinstance(members, list):
            raise SpofInputError(f"clusters[{group!r}] must be a list of members")
        for member in members:
            if not isinstance(member, dict) or not member.get("name"):
                raise SpofInputError(f"clusters[{group!r}] has a member without a name: {member!r}")
    if not isinstance(rules, dict):
        raise SpofInputError("rules must be a mapping of group name to a rule")
    for group, rule in rules.items():
        if not isinstance(rule, dict) or rule.get("kind") not in KINDS:
            raise SpofInputError(f"rules[{group!r}]: kind must be one of {sorted(KINDS)}, got {rule!r}")
        minimum = rule.get("min", KINDS[rule["kind"]])
        if not isinstance(minimum, int) or minimum < 1:
            raise SpofInputError(f"rules[{group!r}]: min must be a positive number")


def analyse(clusters, rules=None, all_hosts=None):
    """Judge each ruled group. all_hosts (list of members) tells which failure
    domains the environment has; it defaults to the union of the clusters."""
    rules = DEFAULT_RULES if rules is None else rules
    _validate(clusters, rules)
    everyone = all_hosts if all_hosts is not None else [m for ms in clusters.values() for m in ms]
    levels = [lvl for lvl in ("site", "rack") if len({_domain(m, lvl) for m in everyone}) > 1]
    findings = []

    def add(group, severity, rule, message):
        findings.append({"group": group, "severity": severity, "rule": rule, "message": message})

    for group in sorted(rules):
        rule = rules[group]
        kind = rule["kind"]
        minimum = rule.get("min", KINDS[kind])
        members = sorted({m["name"]: m for m in clusters.get(group, [])}.values(), key=lambda m: m["name"])
        count = len(members)
        if count == 0:
            if rule.get("required"):
                add(group, "error", "present", f"{group}: no members, but the group is required")
            continue
        names = ", ".join(m["name"] for m in members)
        if count < minimum:
            what = "a quorum cluster" if kind == "quorum" else "a replicated tier"
            add(group, "error", "min_members",
                f"{group}: {count} member(s) ({names}); {what} needs at least {minimum}, "
                f"so losing one node {'stops the cluster' if kind == 'quorum' else 'stops the service'}")
        if kind == "quorum" and count % 2 == 0:
            add(group, "error", "odd_members",
                f"{group}: {count} members ({names}); a quorum cluster needs an odd number "
                f"(with {count}, a split into {count // 2}+{count // 2} leaves no majority)")
        for level in levels:
            domains = {}
            for m in members:
                domains.setdefault(_domain(m, level), []).append(m["name"])
            if count >= 2 and len(domains) == 1:
                (only,) = domains
                add(group, "error", f"spread_{level}",
                    f"{group}: all {count} members are in {level} {only}; losing that {level} "
                    f"stops the {'cluster' if kind == 'quorum' else 'service'}")
            elif kind == "quorum" and count >= 3:
                majority = count // 2 + 1
                for domain, in_domain in sorted(domains.items()):
                    if len(in_domain) >= majority:
                        add(group, "error", f"majority_{level}",
                            f"{group}: {level} {domain} holds {len(in_domain)} of {count} members "
                            f"({', '.join(in_domain)}); losing it loses quorum")
    return findings


def report_text(findings, clusters, rules=None):
    """A human-readable report."""
    rules = DEFAULT_RULES if rules is None else rules
    lines = ["SPOF analysis", "============="]
    for group in sorted(rules):
        members = clusters.get(group, [])
        if not members:
            continue
        mine = [f for f in findings if f["group"] == group]
        status = "FAIL" if any(f["severity"] == "error" for f in mine) else "ok"
        placement = ", ".join(f"{m['name']}@{_domain(m, 'rack')}" for m in sorted(members, key=lambda m: m["name"]))
        lines.append(f"[{status:>4}] {group} ({rules[group]['kind']}, {len(members)}): {placement}")
        for finding in mine:
            lines.append(f"       {finding['severity']}: {finding['message']}")
    errors = sum(1 for f in findings if f["severity"] == "error")
    lines.append(f"{errors} single point(s) of failure found" if errors else "no single point of failure found")
    return "\n".join(lines)


def to_json(findings, clusters):
    return json.dumps({"findings": findings, "clusters": clusters,
                       "ok": not any(f["severity"] == "error" for f in findings)},
                      indent=2, sort_keys=True)
