# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""RabbitMQ node and cluster health through the node's own CLI tools.

Shared by the rabbitmq_cluster_health and rabbitmq_node modules. Everything
runs on a cluster node (rabbitmqctl, rabbitmq-diagnostics and rabbitmq-queues
talk to the local node over Erlang distribution with the node's cookie), so
no management credentials are needed to judge health.

The parsing functions take decoded JSON and are unit-tested without a node.
"""

from __future__ import annotations

import json
import time


def parse_json_output(text):
    """Decode the JSON the CLI tools print with --formatter json.

    Some commands print a banner line before the document on some versions;
    take the first line that starts a JSON value.
    """
    text = (text or "").strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    for index, char in enumerate(text):
        if char in "[{" and (index == 0 or text[index - 1] == "\n"):
            try:
                return json.loads(text[index:])
            except ValueError:
                continue
    raise ValueError("not JSON: %s" % text[:200])


def judge(status, expected_nodes=None, alarms=None, quorum_critical=None):
    """The health verdict from cluster_status (and optional extra checks).

    status: decoded `rabbitmqctl cluster_status --formatter json`, or None when
    the node does not answer. expected_nodes: node names that must be running.
    alarms: decoded `rabbitmq-diagnostics alarms` (cluster-wide list) or None.
    quorum_critical: None (not checked) or a list of queue descriptions that
    would lose quorum if this node stopped.

    Returns a dict: healthy, problems (human-readable), running_nodes,
    cluster_nodes, missing_nodes, unexpected_nodes, partitions, alarms,
    quorum_critical.
    """
    result = {
        "healthy": False,
        "problems": [],
        "running_nodes": [],
        "cluster_nodes": [],
        "missing_nodes": [],
        "unexpected_nodes": [],
        "partitions": {},
        "alarms": [],
        "quorum_critical": quorum_critical or [],
    }
    if not isinstance(status, dict):
        result["problems"].append("the node does not answer cluster_status")
        return result
    running = sorted(status.get("running_nodes") or [])
    members = sorted(set((status.get("disk_nodes") or []) + (status.get("ram_nodes") or [])))
    result["running_nodes"] = running
    result["cluster_nodes"] = members
    # Without an explicit list, every current member must run.
    expected = sorted(set(expected_nodes or members))
    if expected:
        result["missing_nodes"] = [n for n in expected if n not in running]
        result["unexpected_nodes"] = [n for n in members if n not in expected]
        not_members = [n for n in expected if n not in members]
        if not_members:
            result["problems"].append("not cluster members: %s" % ", ".join(not_members))
        down = [n for n in result["missing_nodes"] if n not in not_members]
        if down:
            result["problems"].append("members not running: %s" % ", ".join(down))
    partitions = status.get("partitions") or {}
    if isinstance(partitions, list):  # older formatters
        partitions = {str(i): p for i, p in enumerate(partitions)}
    partitions = {k: v for k, v in partitions.items() if v}
    result["partitions"] = partitions
    if partitions:
        result["problems"].append("network partition seen by: %s" % ", ".join(sorted(partitions)))
    found_alarms = list(status.get("alarms") or [])
    if isinstance(alarms, dict):
        found_alarms += [a for a in alarms.get("alarms") or [] if a not in found_alarms]
    elif isinstance(alarms, list):
        found_alarms += [a for a in alarms if a not in found_alarms]
    result["alarms"] = found_alarms
    if found_alarms:
        result["problems"].append("resource alarms: %s" % ", ".join(describe_alarm(a) for a in found_alarms))
    if quorum_critical:
        result["problems"].append(
            "stopping this node would leave quorum queues without quorum: %s" % ", ".join(quorum_critical))
    result["healthy"] = not result["problems"]
    return result


def describe_alarm(alarm):
    if isinstance(alarm, dict):
        kind = alarm.get("type") or alarm.get("resource") or alarm.get("alarm") or "alarm"
        node = alarm.get("node")
        return "%s on %s" % (kind, node) if node else str(kind)
    return str(alarm)


def parse_quorum_critical(rc, data):
    """Queues named by check_if_node_is_quorum_critical (empty when it passes)."""
    if rc == 0:
        return []
    queues = []
    if isinstance(data, dict):
        for item in data.get("queues") or []:
            if isinstance(item, dict):
                queues.append("%s/%s" % (item.get("virtual_host", item.get("vhost", "?")), item.get("name", "?")))
            else:
                queues.append(str(item))
        if not queues:
            queues.append(data.get("message") or "unknown queues")
    else:
        queues.append("unknown queues (exit %s)" % rc)
    return queues


class RabbitNode:
    """The local node, through rabbitmqctl, rabbitmq-diagnostics and rabbitmq-queues."""

    def __init__(self, module, node=None, cli_timeout=30):
        self.module = module
        self.node = node
        self.cli_timeout = cli_timeout

    def _cmd(self, tool, args):
        path = self.module.get_bin_path(tool, required=True)
        cmd = [path, "-q"]
        if self.node:
            cmd += ["-n", self.node]
        return cmd + list(args) + ["--formatter", "json"]

    def run(self, tool, args):
        """(rc, decoded JSON or None, stderr)."""
        rc, out, err = self.module.run_command(self._cmd(tool, args), environ_update={"LC_ALL": "C.UTF-8"})
        data = None
        # A failing health check prints its JSON verdict on stderr.
        for text in (out, err):
            try:
                data = parse_json_output(text)
            except ValueError:
                continue
            if data is not None:
                break
        return rc, data, (err or out or "").strip()

    def cluster_status(self):
        rc, data, err = self.run("rabbitmqctl", ["cluster_status", "--timeout", str(self.cli_timeout)])
        if rc != 0 or not isinstance(data, dict):
            return None, err
        return data, ""

    def alarms(self):
        rc, data, _err = self.run("rabbitmq-diagnostics", ["alarms"])
        return data if rc == 0 else None

    def quorum_critical(self):
        rc, data, err = self.run("rabbitmq-diagnostics", ["check_if_node_is_quorum_critical"])
        if rc != 0 and data is None:
            return ["could not run the quorum-critical check: %s" % err[:300]]
        return parse_quorum_critical(rc, data)

    def health(self, expected_nodes=None, check_quorum_critical=False):
        status, err = self.cluster_status()
        if status is None:
            result = judge(None, expected_nodes)
            if err:
                result["problems"][0] += ": %s" % err[:300]
            return result
        critical = self.quorum_critical() if check_quorum_critical else None
        return judge(status, expected_nodes, self.alarms(), critical)

    def wait(self, expected_nodes, check_quorum_critical, timeout, interval):
        """Poll health until healthy or timeout; return (result, waited seconds)."""
        started = time.monotonic()
        while True:
            result = self.health(expected_nodes, check_quorum_critical)
            waited = time.monotonic() - started
            if result["healthy"] or waited >= timeout:
                return result, round(waited, 1)
            time.sleep(min(interval, max(0.0, timeout - waited)))
