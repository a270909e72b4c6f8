#!/usr/bin/python
# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: spof_check
short_description: Judge a topology for single points of failure
version_added: 0.1.0
description:
  - Reads the inventory groups and each host's failure domain (site and rack,
    C(nospof_failure_domain) from the cmdb inventory plugin) and applies the
    collection's SPOF rules.
  - Quorum clusters (RabbitMQ, OpenSearch cluster managers) need at least three members,
    an odd count, and no failure domain holding a majority.
  - Replicated tiers (mirrors, DNS, VIP holders, Graphite storage, Icinga masters) need at
    least two members, not all in one failure domain.
  - Failure-domain rules apply at the site or rack level only where the environment has
    more than one domain at that level.
  - Runs on the controller; writes a JSON report when O(report_path) is given.
author: nospof developers
options:
  groups:
    description: The inventory's groups (pass C({{ groups }})).
    type: dict
    required: true
  failure_domains:
    description: "Map of host name to C({site, rack}) (from C(nospof_failure_domain))."
    type: dict
    default: {}
  rules:
    description:
      - "Map of group name to a rule C({kind: quorum|replicated, min: N, required: bool})."
      - Defaults to the collection's rules for rabbitmq, opensearch, mirror, dns,
        loadbalancer, graphite and icinga2_master.
    type: dict
  report_path:
    description: Where to write the JSON report. Not written in check mode.
    type: path
  fail_on_spof:
    description: Fail when an error-level finding exists.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Refuse to deploy a topology with a single point of failure
  nospof.platform.spof_check:
    groups: "{{ groups }}"
    failure_domains: "{{ __domains }}"
    report_path: "{{ playbook_dir }}/../.cache/spof-report.json"
    fail_on_spof: "{{ not (nospof_allow_spof | default(false)) }}"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
ok:
  description: True when no error-level finding exists.
  type: bool
  returned: always
findings:
  description: Each finding with its group, severity, rule and message.
  type: list
  elements: dict
  returned: always
report:
  description: The human-readable report.
  type: str
  returned: always
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.nospof.platform.plugins.module_utils.spof import (
    DEFAULT_RULES,
    SpofInputError,
    analyse,
    report_text,
    to_json,
)


def build_clusters(groups, domains, rules):
    clusters = {}
    for group in rules:
        members = []
        for name in groups.get(group) or []:
            domain = domains.get(name) or {}
            members.append({"name": name, "site": domain.get("site"), "rack": domain.get("rack")})
        clusters[group] = members
    everyone = []
    for name in sorted(set(groups.get("all") or []) | set(domains)):
        domain = domains.get(name) or {}
        everyone.append({"name": name, "site": domain.get("site"), "rack": domain.get("rack")})
    return clusters, everyone


def main():
    module = AnsibleModule(
        argument_spec=dict(
            groups=dict(type="dict", required=True),
            failure_domains=dict(type="dict", default={}),
            rules=dict(type="dict"),
            report_path=dict(type="path"),
            fail_on_spof=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    rules = module.params["rules"] or DEFAULT_RULES
    try:
        clusters, everyone = build_clusters(module.params["groups"], module.params["failure_domains"], rules)
        findings = analyse(clusters, rules, everyone)
    except SpofInputError as exc:
        module.fail_json(msg=f"SPOF analysis input is invalid: {exc}")
    report = report_text(findings, clusters, rules)
    ok = not any(f["severity"] == "error" for f in findings)
    changed = False
    path = module.params["report_path"]
    if path:
        content = to_json(findings, clusters) + "\n"
        old = None
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                old = handle.read()
        if old != content:
            changed = True
            if not module.check_mode:
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
                with open(path, "w", encoding="utf-8") as handle:
                    handle.write(content)
    result = dict(changed=changed, ok=ok, findings=findings, report=report)
    if not ok and module.params["fail_on_spof"]:
        errors = [f["message"] for f in findings if f["severity"] == "error"]
        module.fail_json(msg="The topology has single points of failure; refusing to continue "
                             "(set nospof_allow_spof: true to override): " + "; ".join(errors), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
