#!/usr/bin/python
# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rabbitmq_node
short_description: Restart one RabbitMQ cluster node safely
version_added: 0.2.0
description:
  - "Restarts the local RabbitMQ node without costing any quorum queue its
    quorum, in one step that can be throttled to one host at a time (a
    handler with C(throttle: 1), or a play with C(serial: 1))."
  - "It waits until stopping the node is safe (no quorum queue or stream
    would lose quorum, no partition, every expected node running), restarts
    the service, waits for the node to boot, then waits until every expected
    node runs again with no alarm or partition."
  - In check mode it reports C(changed) and does nothing.
author: nospof developers
options:
  state:
    description: C(restarted) is the only action.
    type: str
    choices: [restarted]
    default: restarted
  service:
    description: The systemd unit.
    type: str
    default: rabbitmq-server
  expected_nodes:
    description: Nodes that must run before the restart and again after it (default every current member).
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds for each wait (before the stop, for the boot, for the cluster after).
    type: int
    default: 300
  interval:
    description: Seconds between polls.
    type: int
    default: 5
  force:
    description: Restart even when the node is quorum-critical (never needed in normal operation).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Restart this node once the cluster can spare it
  nospof.platform.rabbitmq_node:
    state: restarted
    expected_nodes: [rabbit@mq1, rabbit@mq2, rabbit@mq3]
  throttle: 1
"""

RETURN = r"""
before:
  description: Health before the restart.
  returned: success
  type: dict
after:
  description: Health after the restart.
  returned: success
  type: dict
waited_before:
  description: Seconds waited for the node to become safe to stop.
  returned: success
  type: float
restart_seconds:
  description: Seconds from the stop to a healthy cluster.
  returned: success
  type: float
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nospof.platform.plugins.module_utils.rabbitmq import RabbitNode


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["restarted"], default="restarted"),
            service=dict(type="str", default="rabbitmq-server"),
            expected_nodes=dict(type="list", elements="str", default=[]),
            timeout=dict(type="int", default=300),
            interval=dict(type="int", default=5),
            force=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["timeout"] < 1 or params["interval"] < 1:
        module.fail_json(msg="timeout and interval must be >= 1")
    if module.check_mode:
        module.exit_json(changed=True, msg="would restart %s once the cluster can spare it" % params["service"])

    node = RabbitNode(module)
    expected = params["expected_nodes"]
    before, waited_before = node.wait(expected, not params["force"], params["timeout"], params["interval"])
    if not before["healthy"] and not params["force"]:
        module.fail_json(msg="not restarting: the cluster cannot spare this node after %s s: %s"
                         % (params["timeout"], "; ".join(before["problems"])), before=before)

    started = time.monotonic()
    systemctl = module.get_bin_path("systemctl", required=True)
    rc, out, err = module.run_command([systemctl, "restart", params["service"]])
    if rc != 0:
        module.fail_json(msg="systemctl restart %s failed: %s" % (params["service"], (err or out).strip()),
                         before=before)
    ctl = module.get_bin_path("rabbitmqctl", required=True)
    rc, out, err = module.run_command([ctl, "-q", "await_startup", "--timeout", str(params["timeout"])])
    if rc != 0:
        module.fail_json(msg="the node did not finish booting within %s s: %s"
                         % (params["timeout"], (err or out).strip()[:500]), before=before)
    after, _waited = node.wait(expected, False, params["timeout"], params["interval"])
    if not after["healthy"]:
        module.fail_json(msg="the node restarted but the cluster is not healthy after %s s: %s"
                         % (params["timeout"], "; ".join(after["problems"])), before=before, after=after)
    module.exit_json(changed=True, before=before, after=after, waited_before=waited_before,
                     restart_seconds=round(time.monotonic() - started, 1))


if __name__ == "__main__":
    main()
