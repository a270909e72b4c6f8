"""roles/icinga2/files/plugins/check_nospof_rabbitmq against a stand-in for the
RabbitMQ management HTTP API on 127.0.0.1. The stand-in keeps real in-memory
queues (publish appends, get pops), so the e2e tests only pass when the plugin
really publishes and consumes; it records every request for exact assertions.
"""

import collections
import threading
import time
import urllib.parse

import pytest

from localnet import closed_port_url  # tests/unit/localnet.py
from localserver import QuietHandler, run_program, url_args  # tests/unit/roles/icinga2/localserver.py

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3


@pytest.fixture(scope="module")
def plugin(load_plugin):
    """The plugin as a module (tests/unit/roles/icinga2/conftest.py loads it from its path)."""
    return load_plugin("check_nospof_rabbitmq")


USER, PASSWORD = "nospof-monitoring", "Rabbit pa55:word"
QUEUE = "nospof.monitoring.e2e"
QUORUM_QUEUE = {"durable": True, "auto_delete": False, "arguments": {"x-queue-type": "quorum"}}
GET_BODY = {"count": 10, "ackmode": "ack_requeue_false", "encoding": "auto"}


def node(name, running=True, partitions=(), mem_alarm=False, disk_free_alarm=False, **extra):
    if not running:  # a stopped member: RabbitMQ lists little more than its name
        return {"name": name, "running": False, "type": "disc"}
    data = {"name": name, "running": True, "type": "disc", "partitions": list(partitions), "mem_alarm": mem_alarm,
            "disk_free_alarm": disk_free_alarm, "mem_used": 150000000, "disk_free": 9000000000}
    data.update(extra)
    return data


THREE = [node("rabbit@mq1"), node("rabbit@mq2"), node("rabbit@mq3")]


# ------------------------------------------------------ fake management API
class FakeManagement(QuietHandler):
    def handle_any(self, method):
        broker = self.server.broker
        body = self.read_json()
        broker.requests.append({"method": method, "path": self.path, "body": body})
        if not self.authorized(USER, PASSWORD):
            return self.answer(401, {"error": "not_authorized", "reason": "Login failed"})
        # split first, decode each segment after: an unencoded vhost '/' does not match
        parts = [urllib.parse.unquote(p) for p in self.path.split("/")[1:]]
        with broker.lock:
            self.answer(*broker.route(method, parts, body))

    def do_GET(self):
        self.handle_any("GET")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_POST(self):
        self.handle_any("POST")


NOT_FOUND = (404, {"error": "Object Not Found", "reason": "Not Found"})


class Broker:
    def __init__(self, nodes=THREE, quorum="ok", vhosts=("/",), routing=True, swallow=False, delay=0.0):
        self.nodes, self.quorum, self.vhosts = nodes, quorum, set(vhosts)
        self.routing, self.swallow, self.delay = routing, swallow, delay
        self.queues = {}      # (vhost, name) -> {"args": ..., "messages": deque of (visible_at, payload)}
        self.requests = []
        self.lock = threading.Lock()

    def add_queue(self, vhost, name, payloads=()):
        self.queues[(vhost, name)] = {"args": dict(QUORUM_QUEUE),
                                      "messages": collections.deque((0, p) for p in payloads)}

    def route(self, method, parts, body):
        if parts == ["api", "nodes"] and method == "GET":
            return 200, self.nodes
        if parts == ["api", "health", "checks", "node-is-quorum-critical"] and method == "GET":
            if self.quorum == "missing":
                return NOT_FOUND
            if self.quorum == "failed":
                return 503, {"status": "failed", "reason": "There are quorum queues that would lose their quorum "
                             "if the target node is shut down", "queues": [
                                 {"name": "orders", "virtual_host": "/", "type": "quorum"}]}
            return 200, {"status": "ok"}
        if len(parts) == 4 and parts[:2] == ["api", "queues"]:
            key = (parts[2], parts[3])
            if method == "GET":
                if key not in self.queues:
                    return NOT_FOUND
                return 200, {"name": key[1], "vhost": key[0], "type": "quorum", "durable": True,
                             "arguments": {"x-queue-type": "quorum"}, "messages": len(self.queues[key]["messages"])}
            if method == "PUT":
                if key[0] not in self.vhosts:
                    return NOT_FOUND
                if key in self.queues:
                    return (204, None) if self.queues[key]["args"] == body else \
                        (400, {"error": "bad_request", "reason": "inequivalent arg 'x-queue-type'"})
                self.queues[key] = {"args": body, "messages": collections.deque()}
                return 201, None
        if len(parts) == 5 and parts[:2] == ["api", "exchanges"] and parts[3:] == ["amq.default", "publish"] \
                and method == "POST":
            if parts[2] not in self.vhosts:
                return NOT_FOUND
            key = (parts[2], body["routing_key"])
            if not self.routing or key not in self.queues:
                return 200, {"routed": False}
            if not self.swallow:
                self.queues[key]["messages"].append((time.monotonic() + self.delay, body["payload"]))
            return 200, {"routed": True}
        if len(parts) == 5 and parts[:2] == ["api", "queues"] and parts[4] == "get" and method == "POST":
            key = (parts[2], parts[3])
            if key not in self.queues:
                return NOT_FOUND
            if set(body) != {"count", "ackmode", "encoding"}:
                return 400, {"error": "bad_request", "reason": "count, ackmode and encoding are required"}
            messages = self.queues[key]["messages"]
            out = []
            while messages and len(out) < body["count"] and messages[0][0] <= time.monotonic():
                payload = messages[0][1] if body["ackmode"] == "ack_requeue_true" else messages.popleft()[1]
                out.append({"payload_bytes": len(payload), "redelivered": False, "exchange": "",
                            "routing_key": key[1], "message_count": len(messages),
                            "properties": {"delivery_mode": 2}, "payload": payload, "payload_encoding": "string"})
                if body["ackmode"] == "ack_requeue_true":
                    break
            return 200, out
        return NOT_FOUND


@pytest.fixture
def broker(local_server):
    """broker(**Broker arguments) -> the Broker behind a started FakeManagement server, with its .url."""
    def start(**kwargs):
        broker = Broker(**kwargs)
        broker.url = local_server(FakeManagement, broker=broker).url
        return broker
    return start


# password_file (PASSWORD in a file) and run (argv -> Result) are fixtures of conftest.py
def args(urls, password_file, *more):
    return url_args(urls) + ["--user", USER, "--password-file", password_file] + list(more)


# --------------------------------------------------------------- pure core
def test_evaluate_nodes_counts_and_names_every_problem(plugin):
    nodes = [node("rabbit@a", partitions=["rabbit@c"]), node("rabbit@b", disk_free_alarm=True, mem_alarm=True),
             node("rabbit@c", running=False)]
    state, problems, notes, running, total = plugin.evaluate_nodes(nodes, expected=3)
    assert (state, running, total) == (CRITICAL, 2, 3)
    assert problems == ["not running: rabbit@c", "2 nodes running, 3 expected",
                        "network partition: rabbit@a cannot see rabbit@c",
                        "memory and disk free space alarm on rabbit@b (publishers are blocked)"]
    assert notes == []


def test_evaluate_nodes_all_well_and_maintenance_is_a_note(plugin):
    state, problems, notes, running, total = plugin.evaluate_nodes(
        [node("rabbit@a"), node("rabbit@b", being_drained=True)], expected=2)
    assert (state, problems, running, total) == (OK, [], 2, 2)
    assert notes == ["rabbit@b is in maintenance mode (being drained)"]


def test_evaluate_quorum_critical(plugin):
    assert plugin.evaluate_quorum_critical(200, {"status": "ok"}) == (OK, None)
    assert plugin.evaluate_quorum_critical(404, {"error": "Object Not Found"})[0] == OK
    state, text = plugin.evaluate_quorum_critical(503, {"status": "failed", "reason": "would lose quorum"})
    assert state == WARNING and text == "a node cannot be stopped without losing quorum: would lose quorum"
    assert plugin.evaluate_quorum_critical(500, {"error": "internal"})[0] == UNKNOWN


# ------------------------------------------------------------- mode cluster
def test_cluster_all_running(run, broker, password_file):
    mq = broker()
    result = run(args(mq, password_file, "--mode", "cluster", "--expected-nodes", "3"))
    assert result.state == OK, result.render("T")
    assert result.summary == "3 of 3 nodes running (3 expected)"
    assert result.perf == ["nodes_running=3;;3:;0", "nodes_total=3;;;0"]
    assert [(r["method"], r["path"]) for r in mq.requests] == [
        ("GET", "/api/nodes"), ("GET", "/api/health/checks/node-is-quorum-critical")]


def test_cluster_node_down_is_critical(run, broker, password_file):
    mq = broker(nodes=[node("rabbit@mq1"), node("rabbit@mq2"), node("rabbit@mq3", running=False)])
    result = run(args(mq, password_file, "--mode", "cluster"))
    assert result.state == CRITICAL
    assert result.summary == "2 of 3 nodes running: not running: rabbit@mq3"
    assert result.perf == ["nodes_running=2;;;0", "nodes_total=3;;;0"]


def test_cluster_fewer_members_than_expected_is_critical(run, broker, password_file):
    mq = broker(nodes=THREE[:2])
    result = run(args(mq, password_file, "--mode", "cluster", "--expected-nodes", "3"))
    assert result.state == CRITICAL
    assert "2 nodes running, 3 expected" in result.summary
    assert run(args(mq, password_file, "--mode", "cluster")).state == OK


def test_cluster_partition_is_critical(run, broker, password_file):
    mq = broker(nodes=[node("rabbit@mq1", partitions=["rabbit@mq3"]), node("rabbit@mq2"),
                       node("rabbit@mq3", partitions=["rabbit@mq1"])])
    result = run(args(mq, password_file, "--mode", "cluster"))
    assert result.state == CRITICAL
    assert "network partition: rabbit@mq1 cannot see rabbit@mq3" in result.summary
    assert "network partition: rabbit@mq3 cannot see rabbit@mq1" in result.summary


@pytest.mark.parametrize("alarm, text", [("mem_alarm", "memory alarm on rabbit@mq2"),
                                         ("disk_free_alarm", "disk free space alarm on rabbit@mq2")])
def test_cluster_alarm_is_critical_and_names_the_node(run, broker, password_file, alarm, text):
    mq = broker(nodes=[node("rabbit@mq1"), node("rabbit@mq2", **{alarm: True}), node("rabbit@mq3")])
    result = run(args(mq, password_file, "--mode", "cluster"))
    assert result.state == CRITICAL
    assert text in result.summary


def test_cluster_quorum_critical_is_warning(run, broker, password_file):
    mq = broker(quorum="failed")
    result = run(args(mq, password_file, "--mode", "cluster"))
    assert result.state == WARNING
    assert result.summary == ("3 of 3 nodes running: a node cannot be stopped without losing quorum: There are "
                              "quorum queues that would lose their quorum if the target node is shut down: "
                              "orders (vhost /)")


def test_cluster_without_the_quorum_health_check_skips_it(run, broker, password_file):
    mq = broker(quorum="missing")
    result = run(args(mq, password_file, "--mode", "cluster"))
    assert result.state == OK
    assert result.summary == "3 of 3 nodes running"
    assert any("skipped" in line for line in result.details)


def test_cluster_failover_from_a_refused_url(run, broker, password_file):
    mq = broker()
    result = run(args([closed_port_url(), mq.url], password_file, "--mode", "cluster"))
    assert result.state == OK
    assert len(mq.requests) == 2


def test_no_url_answers_is_unknown(run, password_file):
    result = run(args([closed_port_url(), closed_port_url()], password_file, "--mode", "cluster"))
    assert result.state == UNKNOWN
    assert "no server answered" in result.summary


def test_refused_credentials_are_unknown(run, broker, write_secret):
    mq = broker()
    wrong = write_secret("guest", "wrong")
    for mode in ("cluster", "e2e"):
        result = run(args(mq, wrong, "--mode", mode))
        assert result.state == UNKNOWN
        assert "credentials refused" in result.summary and "401" in result.summary
    assert mq.queues == {}


# ----------------------------------------------------------------- mode e2e
def test_e2e_declares_the_queue_publishes_and_consumes(run, broker, password_file):
    mq = broker()
    result = run(args(mq, password_file, "--mode", "e2e", "--timeout", "5s"))
    assert result.state == OK, result.render("T")
    assert result.summary.startswith("published and consumed a message through queue %r on vhost '/' in " % QUEUE)
    assert result.perf[0].startswith("rtt=") and result.perf[0].endswith("s;;;0;5")
    requests = mq.requests
    assert [(r["method"], r["path"]) for r in requests] == [
        ("GET", "/api/queues/%2F/nospof.monitoring.e2e"),
        ("PUT", "/api/queues/%2F/nospof.monitoring.e2e"),
        ("POST", "/api/exchanges/%2F/amq.default/publish"),
        ("POST", "/api/queues/%2F/nospof.monitoring.e2e/get")]
    assert requests[1]["body"] == QUORUM_QUEUE
    publish = requests[2]["body"]
    token = publish["payload"]
    assert publish == {"properties": {"delivery_mode": 2}, "routing_key": QUEUE, "payload": token,
                       "payload_encoding": "string"}
    assert requests[3]["body"] == GET_BODY
    assert mq.queues[("/", QUEUE)]["args"] == QUORUM_QUEUE
    assert len(mq.queues[("/", QUEUE)]["messages"]) == 0        # consumed, not requeued
    # The next run uses the queue as it is and another token.
    mq.requests.clear()
    assert run(args(mq, password_file, "--mode", "e2e")).state == OK
    assert [r["method"] for r in mq.requests] == ["GET", "POST", "POST"]
    assert mq.requests[1]["body"]["payload"] != token


def test_e2e_drains_stale_tokens_of_earlier_runs(run, broker, password_file):
    mq = broker()
    stale = ["nospof-e2e mon1 1700000000 %032x" % i for i in range(13)]
    mq.add_queue("/", QUEUE, stale)
    result = run(args(mq, password_file, "--mode", "e2e"))
    assert result.state == OK, result.render("T")
    assert "drained 13 stale messages (earlier runs)" in result.details
    assert len(mq.queues[("/", QUEUE)]["messages"]) == 0
    assert [r["method"] for r in mq.requests].count("PUT") == 0
    assert [r["path"] for r in mq.requests].count("/api/queues/%2F/nospof.monitoring.e2e/get") == 2


def test_e2e_waits_for_a_slow_message(run, broker, password_file):
    mq = broker(delay=0.6)
    started = time.monotonic()
    result = run(args(mq, password_file, "--mode", "e2e", "--timeout", "5s"))
    assert result.state == OK, result.render("T")
    assert time.monotonic() - started >= 0.6
    assert [r["path"] for r in mq.requests].count("/api/queues/%2F/nospof.monitoring.e2e/get") >= 2
    rtt = float(result.perf[0].split("=")[1].split("s")[0])
    assert 0.6 <= rtt < 5


def test_e2e_not_routed_is_critical(run, broker, password_file):
    mq = broker(routing=False)
    result = run(args(mq, password_file, "--mode", "e2e"))
    assert result.state == CRITICAL
    assert "was not routed" in result.summary
    assert not any(r["path"].endswith("/get") for r in mq.requests)


def test_e2e_message_that_never_arrives_is_critical_within_the_timeout(run, broker, password_file):
    mq = broker(swallow=True)
    mq.add_queue("/", QUEUE, ["something else"])
    started = time.monotonic()
    result = run(args(mq, password_file, "--mode", "e2e", "--timeout", "2s"))
    elapsed = time.monotonic() - started
    assert result.state == CRITICAL
    assert result.summary == "the message published to queue %r on vhost '/' did not come back within 2 s" % QUEUE
    assert 2 <= elapsed < 5
    assert "drained 1 other messages" in result.details


def test_e2e_cannot_declare_the_queue_is_critical(run, broker, password_file):
    mq = broker(vhosts=())
    result = run(args(mq, password_file, "--mode", "e2e", "--vhost", "/"))
    assert result.state == CRITICAL
    assert result.summary.startswith("cannot declare the quorum queue")


def test_e2e_vhost_and_queue_are_url_encoded(run, broker, password_file):
    mq = broker(vhosts=("prod/eu",))
    result = run(args(mq, password_file, "--mode", "e2e", "--vhost", "prod/eu", "--queue", "mon e2e"))
    assert result.state == OK, result.render("T")
    assert [r["path"] for r in mq.requests] == [
        "/api/queues/prod%2Feu/mon%20e2e", "/api/queues/prod%2Feu/mon%20e2e",
        "/api/exchanges/prod%2Feu/amq.default/publish", "/api/queues/prod%2Feu/mon%20e2e/get"]


def test_e2e_failover_sticks_to_the_node_that_answered(plugin, broker, password_file):
    mq = broker()
    dead = closed_port_url()
    api = plugin.Api([dead, mq.url], None, USER, PASSWORD, 5)
    result = plugin.e2e(api, "/", QUEUE, 5)
    assert result.state == OK
    assert api.urls == [mq.url, dead]


def test_bad_arguments_are_unknown(run, password_file):
    base = ["--user", USER, "--password-file", password_file]
    for argv in ([], ["--mode", "queues"], ["--mode", "cluster", "--expected-nodes", "0"],
                 ["--mode", "cluster", "--expected-nodes", "three"], ["--mode", "e2e", "--timeout", "0s"],
                 ["--mode", "e2e", "--queue", ""]):
        result = run(base + argv)
        assert result.state == UNKNOWN and "bad arguments" in result.summary, argv
    result = run(base + ["--mode", "e2e", "--password", "hunter2"])
    assert result.state == UNKNOWN and "hunter2" not in result.summary


def test_plugin_file_runs_as_a_program(plugin, run, broker, password_file):
    mq = broker(nodes=[node("rabbit@mq1"), node("rabbit@mq2", mem_alarm=True)])
    proc = run_program(plugin.PATH, *args(mq, password_file, "--mode", "cluster"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ("RABBITMQ CRITICAL - 2 of 2 nodes running: memory alarm on rabbit@mq2 (publishers are "
                           "blocked) | nodes_running=2;;;0 nodes_total=2;;;0\n")
    helptext = run_program(plugin.PATH, "--help")
    assert helptext.returncode == 0 and "--expected-nodes" in helptext.stdout
