"""Health verdicts of module_utils/rabbitmq.py from CLI output as RabbitMQ 3.10 and 4.0 print it."""

import json

import pytest

from ansible_collections.nospof.platform.plugins.module_utils.rabbitmq import (
    judge,
    parse_json_output,
    parse_quorum_critical,
)

NODES = ["rabbit@mq1", "rabbit@mq2", "rabbit@mq3"]


def status(running=NODES, disk=NODES, partitions=None, alarms=None):
    return {"disk_nodes": list(disk), "ram_nodes": [], "running_nodes": list(running),
            "partitions": partitions or {}, "alarms": alarms or [], "cluster_name": "rabbit@mq1"}


def test_a_whole_cluster_is_healthy():
    result = judge(status(), NODES)
    assert result["healthy"] and result["problems"] == []
    assert result["running_nodes"] == NODES and result["missing_nodes"] == []


def test_without_expected_nodes_every_member_must_run():
    result = judge(status(running=NODES[:2]))
    assert not result["healthy"]
    assert result["missing_nodes"] == ["rabbit@mq3"]
    assert result["problems"] == ["members not running: rabbit@mq3"]


def test_an_expected_node_that_is_not_a_member_is_named():
    result = judge(status(running=NODES[:2], disk=NODES[:2]), NODES)
    assert result["problems"] == ["not cluster members: rabbit@mq3"]


def test_a_removed_but_unforgotten_member_is_reported_not_fatal():
    result = judge(status(running=NODES[:2]), NODES[:2])
    assert result["healthy"]
    assert result["unexpected_nodes"] == ["rabbit@mq3"]


def test_partitions_and_alarms_make_it_unhealthy():
    result = judge(status(partitions={"rabbit@mq1": ["rabbit@mq3"], "rabbit@mq2": []}),
                   NODES, alarms={"alarms": [{"type": "disk", "node": "rabbit@mq2"}]})
    assert not result["healthy"]
    assert result["partitions"] == {"rabbit@mq1": ["rabbit@mq3"]}
    assert "network partition seen by: rabbit@mq1" in result["problems"]
    assert "resource alarms: disk on rabbit@mq2" in result["problems"]


def test_a_node_that_does_not_answer():
    result = judge(None, NODES)
    assert not result["healthy"]
    assert result["problems"] == ["the node does not answer cluster_status"]


def test_quorum_critical_queues_are_listed():
    failing = {"message": "Node rabbit@mq1 reported local queues with minimum online quorum",
               "queues": [{"name": "orders", "virtual_host": "/", "type": "quorum",
                           "readable_name": "queue 'orders' in vhost '/'"}]}
    assert parse_quorum_critical(0, {"result": "ok"}) == []
    critical = parse_quorum_critical(69, failing)
    assert critical == ["//orders"]
    result = judge(status(), NODES, quorum_critical=critical)
    assert not result["healthy"]
    assert "would leave quorum queues without quorum: //orders" in result["problems"][0]


def test_quorum_critical_without_a_queue_list_still_fails():
    assert parse_quorum_critical(1, {"message": "boom"}) == ["boom"]
    assert parse_quorum_critical(2, None) == ["unknown queues (exit 2)"]


@pytest.mark.parametrize("text, expected", [
    ('{"a": 1}', {"a": 1}),
    ('Some banner\n[{"name": "/"}]\n', [{"name": "/"}]),
    ("", None),
])
def test_json_output_with_and_without_banner(text, expected):
    assert parse_json_output(text) == expected


def test_json_output_that_is_not_json():
    with pytest.raises(ValueError):
        parse_json_output("Error: unable to perform an operation on node")


def test_cluster_status_as_printed_by_rabbitmq_4_0():
    printed = json.dumps({"alarms": [], "cluster_tags": [], "disk_nodes": ["rabbit@probe"], "ram_nodes": [],
                          "running_nodes": ["rabbit@probe"], "partitions": {},
                          "versions": {"rabbit@probe": {"rabbitmq_version": "4.0.5"}}})
    assert judge(parse_json_output(printed))["healthy"]
