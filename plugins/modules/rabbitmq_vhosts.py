#!/usr/bin/python
# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rabbitmq_vhosts
short_description: Virtual hosts with their default queue type, on RabbitMQ 3.10 and 4.x
version_added: 0.2.0
description:
  - Makes the listed virtual hosts exist with the given default queue type
    (what a queue declared without C(x-queue-type) becomes), and removes
    those marked C(state=absent).
  - RabbitMQ 4.x changes the default queue type of an existing virtual host
    in place (C(update_vhost_metadata)). RabbitMQ 3.10 (Debian 12) can only
    set it when the virtual host is created, so an existing virtual host
    without queues is recreated (its permissions must be granted again
    afterwards, which the rabbitmq role does); one that has queues is left
    alone with a warning rather than losing them.
  - Runs on a cluster node with C(rabbitmqctl). Check mode and diff supported.
author: nospof developers
options:
  vhosts:
    description: The virtual hosts.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the virtual host.
        type: str
        required: true
      default_queue_type:
        description: Default queue type.
        type: str
        choices: [quorum, classic, stream]
        default: quorum
      state:
        description: Whether it should exist.
        type: str
        choices: [present, absent]
        default: present
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: The default virtual host makes quorum queues
  nospof.platform.rabbitmq_vhosts:
    vhosts:
      - name: /
        default_queue_type: quorum
      - name: orders
"""

RETURN = r"""
recreated:
  description: Virtual hosts deleted and created again to set their default queue type (RabbitMQ 3.10).
  returned: always
  type: list
  elements: str
vhosts:
  description: The virtual hosts and their default queue types after the run.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nospof.platform.plugins.module_utils.rabbitmq import RabbitNode


def current_vhosts(node):
    rc, data, err = node.run("rabbitmqctl", ["list_vhosts", "name", "default_queue_type"])
    if rc != 0 or not isinstance(data, list):
        node.module.fail_json(msg="could not list virtual hosts: %s" % err[:500])
    return {item["name"]: (item.get("default_queue_type") or "undefined") for item in data}


def queue_count(node, vhost):
    rc, data, err = node.run("rabbitmqctl", ["list_queues", "-p", vhost, "name"])
    if rc != 0 or not isinstance(data, list):
        node.module.fail_json(msg="could not list the queues of vhost %s: %s" % (vhost, err[:500]))
    return len(data)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            vhosts=dict(type="list", elements="dict", required=True, options=dict(
                name=dict(type="str", required=True),
                default_queue_type=dict(type="str", choices=["quorum", "classic", "stream"], default="quorum"),
                state=dict(type="str", choices=["present", "absent"], default="present"),
            )),
        ),
        supports_check_mode=True,
    )
    names = [v["name"] for v in module.params["vhosts"]]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        module.fail_json(msg="virtual hosts listed twice: %s" % ", ".join(dupes))
    empty = [n for n in names if not n]
    if empty:
        module.fail_json(msg="a virtual host name may not be empty")

    node = RabbitNode(module)
    ctl = module.get_bin_path("rabbitmqctl", required=True)
    before = current_vhosts(node)
    after = dict(before)
    rc, _out, _err = module.run_command([ctl, "help", "update_vhost_metadata"])
    can_update = rc == 0
    recreated, warnings, commands = [], [], []

    for item in module.params["vhosts"]:
        name, dqt = item["name"], item["default_queue_type"]
        if item["state"] == "absent":
            if name in before:
                commands.append(["delete_vhost", name])
                after.pop(name, None)
            continue
        if name not in before:
            commands.append(["add_vhost", name, "--default-queue-type", dqt])
        elif before[name] != dqt:
            if can_update:
                commands.append(["update_vhost_metadata", name, "--default-queue-type", dqt])
            elif queue_count(node, name) == 0:
                commands.append(["delete_vhost", name])
                commands.append(["add_vhost", name, "--default-queue-type", dqt])
                recreated.append(name)
            else:
                warnings.append("vhost %s has queues and default queue type %s; this RabbitMQ can only set %s "
                                "when the vhost is created, so it was left as it is" % (name, before[name], dqt))
                continue
        else:
            continue
        after[name] = dqt

    if not module.check_mode:
        for args in commands:
            rc, out, err = module.run_command([ctl, "-q"] + args)
            if rc != 0:
                module.fail_json(msg="rabbitmqctl %s failed: %s" % (" ".join(args), (err or out).strip()[:500]),
                                 recreated=recreated)
    for warning in warnings:
        module.warn(warning)
    module.exit_json(changed=bool(commands), recreated=recreated, vhosts=after,
                     diff={"before": {"vhosts": before}, "after": {"vhosts": after}})


if __name__ == "__main__":
    main()
