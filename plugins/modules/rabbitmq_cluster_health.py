#!/usr/bin/python
# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rabbitmq_cluster_health
short_description: Report or wait for the health of a RabbitMQ cluster, seen from one node
version_added: 0.2.0
description:
  - Runs on a cluster node and asks it, through C(rabbitmqctl) and
    C(rabbitmq-diagnostics) (the node's Erlang cookie, no HTTP credentials),
    which nodes are members and running, whether any resource alarm
    (memory, disk) is raised, whether a network partition is seen and,
    optionally, whether stopping this node would leave a quorum queue without
    quorum.
  - With O(wait=true) it polls until every check passes and fails with the
    remaining problems after O(timeout) seconds; use it to wait for health
    between restarts. Without O(wait) it only reports.
  - Read-only; runs the same in check mode.
author: nospof developers
options:
  expected_nodes:
    description:
      - Node names (C(rabbit@host)) that must be cluster members and running.
      - Empty means every current member of the node's cluster.
    type: list
    elements: str
    default: []
  node:
    description: Node to ask (default the local node).
    type: str
  quorum_critical:
    description:
      - Also check that stopping this node would not leave any quorum queue
        (or stream) without quorum. Wait with this before stopping a node.
    type: bool
    default: false
  wait:
    description: Poll until healthy; fail after O(timeout).
    type: bool
    default: false
  timeout:
    description: Seconds to wait when O(wait=true).
    type: int
    default: 300
  interval:
    description: Seconds between polls.
    type: int
    default: 5
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
notes:
  - Needs the RabbitMQ CLI tools and read access to the node's Erlang cookie (run as root).
"""

EXAMPLES = r"""
- name: Wait until all three nodes run and nothing is alarmed or partitioned
  nospof.platform.rabbitmq_cluster_health:
    expected_nodes: [rabbit@mq1, rabbit@mq2, rabbit@mq3]
    wait: true
    timeout: 300

- name: Wait until this node can stop without a quorum queue losing quorum
  nospof.platform.rabbitmq_cluster_health:
    quorum_critical: true
    wait: true
"""

RETURN = r"""
healthy:
  description: Whether every check passed.
  returned: always
  type: bool
problems:
  description: What is wrong, one sentence each.
  returned: always
  type: list
  elements: str
running_nodes:
  description: Members that run.
  returned: always
  type: list
  elements: str
cluster_nodes:
  description: All members (disk and RAM nodes).
  returned: always
  type: list
  elements: str
missing_nodes:
  description: Expected nodes that do not run.
  returned: always
  type: list
  elements: str
unexpected_nodes:
  description: Members that are not in O(expected_nodes) (for example a node removed from the inventory but not yet forgotten).
  returned: always
  type: list
  elements: str
alarms:
  description: Resource alarms raised in the cluster.
  returned: always
  type: list
partitions:
  description: Partitions seen, by node.
  returned: always
  type: dict
quorum_critical:
  description: Queues that would lose quorum if this node stopped (only with O(quorum_critical=true)).
  returned: always
  type: list
  elements: str
waited:
  description: Seconds spent waiting.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nospof.platform.plugins.module_utils.rabbitmq import RabbitNode


def main():
    module = AnsibleModule(
        argument_spec=dict(
            expected_nodes=dict(type="list", elements="str", default=[]),
            node=dict(type="str"),
            quorum_critical=dict(type="bool", default=False),
            wait=dict(type="bool", default=False),
            timeout=dict(type="int", default=300),
            interval=dict(type="int", default=5),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["timeout"] < 0 or params["interval"] < 1:
        module.fail_json(msg="timeout must be >= 0 and interval >= 1")
    bad = [n for n in params["expected_nodes"] if "@" not in n]
    if bad:
        module.fail_json(msg="expected_nodes must be node names like rabbit@host; got: %s" % ", ".join(bad))
    node = RabbitNode(module, params["node"])
    if params["wait"]:
        result, waited = node.wait(params["expected_nodes"], params["quorum_critical"],
                                   params["timeout"], params["interval"])
    else:
        result, waited = node.health(params["expected_nodes"], params["quorum_critical"]), 0.0
    result["waited"] = waited
    if params["wait"] and not result["healthy"]:
        module.fail_json(msg="RabbitMQ cluster not healthy after %s s: %s"
                         % (params["timeout"], "; ".join(result["problems"])), **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
