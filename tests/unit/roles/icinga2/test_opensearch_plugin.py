"""roles/icinga2/files/plugins/check_nospof_opensearch against OpenSearch
stand-ins on 127.0.0.1 that answer /_cluster/health the way a node does in
each situation: healthy, security plugin not initialized (plain text 503),
credentials refused (plain text 401 / JSON 403), no cluster manager (JSON 503).
"""


import pytest

from localnet import closed_port_url  # tests/unit/localnet.py
from localserver import QuietHandler, basic_auth, run_program, url_args  # tests/unit/roles/icinga2/localserver.py

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3


@pytest.fixture(scope="module")
def plugin(load_plugin):
    """The plugin as a module (tests/unit/roles/icinga2/conftest.py loads it from its path)."""
    return load_plugin("check_nospof_opensearch")


USER, PASSWORD = "nospof-monitoring", "Open Search:pa55"


def health(status="green", nodes=3, data=3, unassigned=0, relocating=0, initializing=0, pct=100.0, **extra):
    body = {"cluster_name": "nospof-logs", "status": status, "timed_out": False, "number_of_nodes": nodes,
            "number_of_data_nodes": data, "discovered_master": True, "discovered_cluster_manager": True,
            "active_primary_shards": 20, "active_shards": 40, "relocating_shards": relocating,
            "initializing_shards": initializing, "unassigned_shards": unassigned, "delayed_unassigned_shards": 0,
            "number_of_pending_tasks": 0, "number_of_in_flight_fetch": 0, "task_max_waiting_in_queue_millis": 0,
            "active_shards_percent_as_number": pct}
    body.update(extra)
    return body


class FakeNode(QuietHandler):
    """server.mode: a health dict | 'text503' | 'unauthorized' | 'forbidden' | 'no_manager'."""

    def do_GET(self):
        server = self.server
        server.requests.append((self.path, self.headers.get("Authorization")))
        mode = server.mode
        if mode == "text503":
            return self.answer(503, b"OpenSearch Security not initialized.", "text/plain; charset=UTF-8")
        if mode == "unauthorized" or not self.authorized(USER, PASSWORD):
            return self.answer(401, b"Unauthorized", "text/plain; charset=UTF-8",
                               [("WWW-Authenticate", 'Basic realm="OpenSearch Security"')])
        if mode == "forbidden":
            body = {"error": {"root_cause": [{"type": "security_exception", "reason": "no permissions for "
                    "[cluster:monitor/health] and User [name=nospof-monitoring, backend_roles=[], "
                    "requestedTenant=null]"}], "type": "security_exception", "reason": "no permissions for "
                    "[cluster:monitor/health]"}, "status": 403}
            return self.answer(403, body, "application/json; charset=UTF-8")
        if mode == "no_manager":
            body = {"error": {"root_cause": [{"type": "cluster_manager_not_discovered_exception", "reason": None}],
                              "type": "cluster_manager_not_discovered_exception", "reason": None}, "status": 503}
            return self.answer(503, body, "application/json; charset=UTF-8")
        if self.path != "/_cluster/health":
            return self.answer(404, b'{"error":"no handler","status":404}', "application/json")
        self.answer(200, mode, "application/json; charset=UTF-8")


@pytest.fixture
def node(local_server):
    """node(mode) -> a started FakeNode server; .url, .mode (may be changed), .requests: (path, Authorization)."""
    return lambda mode: local_server(FakeNode, mode=mode, requests=[])


# password_file (PASSWORD in a file) and run (argv -> Result) are fixtures of conftest.py
def args(urls, password_file, *more):
    return url_args(urls) + ["--user", USER, "--password-file", password_file, "--timeout", "5s"] + list(more)


# --------------------------------------------------------------- pure core
@pytest.mark.parametrize("status, state", [("green", OK), ("yellow", WARNING), ("red", CRITICAL),
                                           ("purple", UNKNOWN)])
def test_evaluate_status(plugin, status, state):
    assert plugin.evaluate(health(status)).state == state


@pytest.mark.parametrize("nodes, expected, state", [(3, 3, OK), (4, 3, OK), (2, 3, WARNING),
                                                    (1, 3, CRITICAL), (3, 5, OK), (2, 5, CRITICAL),
                                                    (3, 4, WARNING), (2, 4, CRITICAL)])
def test_evaluate_expected_nodes(plugin, nodes, expected, state):
    # 3 of 5 is a majority but fewer than expected: WARNING
    result = plugin.evaluate(health(nodes=nodes), expected)
    assert result.state == (WARNING if (nodes, expected) == (3, 5) else state)


def test_evaluate_expected_nodes_does_not_hide_red(plugin):
    assert plugin.evaluate(health("red", nodes=2), 3).state == CRITICAL


def test_evaluate_reports_shards_and_perfdata(plugin):
    result = plugin.evaluate(health("yellow", unassigned=5, relocating=1, initializing=2, pct=87.5), 3)
    assert result.summary == ("cluster 'nospof-logs' is yellow: 3 nodes (3 data), 5 unassigned, 1 relocating, "
                              "2 initializing shards, 87.5% of shards active")
    assert result.perf == ["nodes=3;3:;2:;0", "unassigned_shards=5;;;0", "active_shards_pct=87.5%;;;0;100"]


# ------------------------------------------------------------ against nodes
def test_green_is_ok_and_sends_the_credentials(run, node, password_file):
    server = node(health())
    result = run(args([server.url], password_file))
    assert result.state == OK, result.render("T")
    assert result.summary == ("cluster 'nospof-logs' is green: 3 nodes (3 data), 0 unassigned, 0 relocating, "
                              "0 initializing shards, 100% of shards active")
    assert result.perf == ["nodes=3;;;0", "unassigned_shards=0;;;0", "active_shards_pct=100%;;;0;100"]
    assert server.requests == [("/_cluster/health", basic_auth(USER, PASSWORD))]


def test_yellow_is_warning_red_is_critical(run, node, password_file):
    assert run(args([node(health("yellow", unassigned=2)).url], password_file)).state == WARNING
    result = run(args([node(health("red", unassigned=7, pct=80.0)).url], password_file))
    assert result.state == CRITICAL
    assert "7 unassigned" in result.summary and "80% of shards active" in result.summary


def test_expected_nodes_against_a_node(run, node, password_file):
    server = node(health(nodes=2, data=2))
    result = run(args([server.url], password_file, "--expected-nodes", "3"))
    assert result.state == WARNING
    assert result.summary.endswith("; 2 of 3 expected nodes")
    server.mode = health(nodes=1, data=1)
    result = run(args([server.url], password_file, "--expected-nodes", "3"))
    assert result.state == CRITICAL
    assert result.summary.endswith("; 1 of 3 expected nodes, fewer than a majority (2)")


def test_security_not_initialized_fails_over_to_the_next_node(run, node, password_file):
    starting, ready = node("text503"), node(health())
    result = run(args([starting.url, ready.url], password_file))
    assert result.state == OK
    assert len(starting.requests) == 1 and len(ready.requests) == 1
    assert "answered by %s/_cluster/health" % ready.url in result.details


def test_no_cluster_manager_fails_over_to_the_next_node(run, node, password_file):
    cut_off, fine = node("no_manager"), node(health())
    assert run(args([cut_off.url, fine.url], password_file)).state == OK


def test_no_node_answers_json_is_critical(run, node, password_file):
    first, second = node("text503"), node("no_manager")
    result = run(args([first.url, closed_port_url(), second.url], password_file))
    assert result.state == CRITICAL
    assert result.summary.startswith("no node answered: ")
    assert "OpenSearch Security not initialized." in result.summary
    assert "Connection refused" in result.summary
    assert "cluster_manager_not_discovered_exception" in result.summary


def test_unreachable_cluster_is_critical(run, password_file):
    result = run(args([closed_port_url()], password_file))
    assert result.state == CRITICAL
    assert result.summary.startswith("no node answered: ")


@pytest.mark.parametrize("mode, status", [("unauthorized", "401"), ("forbidden", "403")])
def test_refused_credentials_are_unknown_and_not_retried(run, node, password_file, mode, status):
    refusing, other = node(mode), node(health())
    result = run(args([refusing.url, other.url], password_file))
    assert result.state == UNKNOWN
    assert result.summary.startswith("credentials refused by %s/_cluster/health (HTTP %s" % (refusing.url, status))
    assert other.requests == []
    assert PASSWORD not in result.summary


def test_wrong_password_is_unknown(run, node, write_secret):
    server = node(health())
    result = run(args([server.url], write_secret("admin", "wrong")))
    assert result.state == UNKNOWN and "credentials refused" in result.summary


def test_bad_arguments_are_unknown(run, password_file):
    for argv in (["--expected-nodes", "0"], ["--expected-nodes", "x"], ["--timeout", "later"],
                 ["--user", USER], ["--password-file", password_file], ["--password", "hunter2"]):
        result = run(argv)
        assert result.state == UNKNOWN and result.summary.startswith("bad "), argv
        assert "hunter2" not in result.summary


def test_plugin_file_runs_as_a_program(plugin, run, node, password_file):
    server = node(health("yellow", unassigned=1, pct=97.5))
    proc = run_program(plugin.PATH, *args([server.url], password_file, "--expected-nodes", "3"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[0] == (
        "OPENSEARCH WARNING - cluster 'nospof-logs' is yellow: 3 nodes (3 data), 1 unassigned, 0 relocating, "
        "0 initializing shards, 97.5% of shards active | nodes=3;3:;2:;0 unassigned_shards=1;;;0 "
        "active_shards_pct=97.5%;;;0;100")
    proc = run_program(plugin.PATH, "--url", closed_port_url(), "--timeout", "2s")
    assert proc.returncode == 2 and proc.stdout.startswith("OPENSEARCH CRITICAL - no node answered: ")
