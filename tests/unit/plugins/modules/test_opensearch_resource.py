"""opensearch_resource against a local fake OpenSearch (http.server on 127.0.0.1).

The fake keeps templates, snapshot repositories, persistent cluster settings,
indices and stored scripts in memory and echoes them the way OpenSearch 2.x
does: settings as strings, index settings nested under `index`, wrappers
around templates and repositories, 404 with an error object for what is
missing. Every request is recorded so tests can assert what was written.
"""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.nospof.platform.plugins.modules import opensearch_resource
from localnet import closed_port_url  # tests/unit/localnet.py

PASSWORD = "0pen-S3arch-admin"


def echo(value):
    """A value the way OpenSearch echoes a setting: bools lowercased, numbers as strings."""
    if isinstance(value, dict):
        return {k: echo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [echo(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return None if value is None else str(value)


def nest(flat):
    """{"a.b": 1} -> {"a": {"b": 1}}."""
    out = {}
    for key, value in flat.items():
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def flat(value, prefix=""):
    out = {}
    for key, item in value.items():
        name = prefix + "." + key if prefix else key
        if isinstance(item, dict):
            out.update(flat(item, name))
        else:
            out[name] = item
    return out


def index_settings(settings):
    """Index settings as OpenSearch echoes them: nested under index, as strings."""
    out = {}
    for key, value in flat(settings or {}).items():
        out[key[6:] if key.startswith("index.") else key] = echo(value)
    return {"index": nest(out)}


def missing(kind, name):
    return 404, {"error": {"type": kind, "reason": "[%s] missing" % name}, "status": 404}


class FakeOpenSearch:
    def __init__(self):
        self.templates, self.repositories, self.indices, self.docs = {}, {}, {}, {}
        self.persistent = {}  # flat
        self.transient = {"cluster.max_shards_per_node": "5000"}
        self.requests = []
        self.lock = threading.Lock()
        self.password = None

    def writes(self):
        return [r for r in self.requests if r[0] in ("PUT", "DELETE", "POST")]

    def handle(self, method, path, body):
        parts = path.strip("/").split("/")
        if parts[0] == "_index_template" and len(parts) == 2:
            return self.template(method, parts[1], body)
        if parts[0] == "_snapshot" and len(parts) == 2:
            return self.repository(method, parts[1], body)
        if parts == ["_cluster", "settings"]:
            return self.cluster_settings(method, body)
        if parts[0] == "_scripts" and len(parts) == 2:
            return self.script(method, parts[1], body)
        if len(parts) == 1 and not parts[0].startswith("_"):
            return self.index(method, parts[0], body)
        return 400, {"error": {"type": "illegal_argument_exception", "reason": "no handler for " + path}}

    def template(self, method, name, body):
        if method == "GET":
            if name not in self.templates:
                return missing("resource_not_found_exception", name)
            stored = json.loads(json.dumps(self.templates[name]))
            template = stored.setdefault("template", {})
            if "settings" in template:
                template["settings"] = index_settings(template["settings"])
            stored.setdefault("composed_of", [])
            return 200, {"index_templates": [{"name": name, "index_template": stored}]}
        if method == "PUT":
            if not body or not body.get("index_patterns"):
                return 400, {"error": {"type": "action_request_validation_exception",
                                       "reason": "Validation Failed: 1: index patterns are missing;"}}
            self.templates[name] = body
            return 200, {"acknowledged": True}
        if name not in self.templates:
            return missing("index_template_missing_exception", name)
        del self.templates[name]
        return 200, {"acknowledged": True}

    def repository(self, method, name, body):
        if method == "GET":
            if name not in self.repositories:
                return missing("repository_missing_exception", name)
            return 200, {name: self.repositories[name]}
        if method == "PUT":
            self.repositories[name] = {"type": body["type"], "settings": echo(body.get("settings", {}))}
            return 200, {"acknowledged": True}
        if name not in self.repositories:
            return missing("repository_missing_exception", name)
        del self.repositories[name]
        return 200, {"acknowledged": True}

    def cluster_settings(self, method, body):
        if method == "GET":
            return 200, {"persistent": nest(self.persistent), "transient": nest(self.transient)}
        if method != "PUT":
            return 405, {"error": "method not allowed"}
        for key, value in flat(body.get("persistent", {})).items():
            if value is None:
                self.persistent = {k: v for k, v in self.persistent.items()
                                   if k != key and not k.startswith(key + ".")}
            else:
                self.persistent[key] = echo(value)
        return 200, {"acknowledged": True, "persistent": body.get("persistent", {}), "transient": {}}

    def index(self, method, name, body):
        if method == "GET":
            if name not in self.indices:
                return missing("index_not_found_exception", name)
            stored = self.indices[name]
            settings = index_settings(stored.get("settings"))
            settings["index"].update({"uuid": "Xyz", "creation_date": "1700000000000"})
            settings["index"].setdefault("number_of_shards", "1")
            settings["index"].setdefault("number_of_replicas", "1")
            return 200, {name: {"aliases": stored.get("aliases", {}), "mappings": stored.get("mappings", {}),
                                "settings": settings}}
        if method == "PUT":
            if name in self.indices:
                return 400, {"error": {"type": "resource_already_exists_exception",
                                       "reason": "index [%s] already exists" % name}}
            self.indices[name] = body or {}
            return 200, {"acknowledged": True, "shards_acknowledged": True, "index": name}
        if name not in self.indices:
            return missing("index_not_found_exception", name)
        del self.indices[name]
        return 200, {"acknowledged": True}

    def script(self, method, name, body):
        if method == "GET":
            if name not in self.docs:
                return 404, {"_id": name, "found": False}
            return 200, {"_id": name, "found": True, "script": self.docs[name]}
        if method == "PUT":
            self.docs[name] = body["script"]
            return 200, {"acknowledged": True}
        self.docs.pop(name, None)
        return 200, {"acknowledged": True}


def make_handler(fake):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def handle_any(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            with fake.lock:
                fake.requests.append((self.command, self.path, body))
                if fake.password is not None and self.headers.get("Authorization") != \
                        "Basic " + base64.b64encode(("admin:" + fake.password).encode()).decode():
                    status, data = 401, {"error": "Unauthorized"}
                else:
                    status, data = fake.handle(self.command, self.path, body)
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_PUT = do_DELETE = handle_any

    return Handler


@pytest.fixture
def cluster():
    fake = FakeOpenSearch()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(fake))
    thread = threading.Thread(target=server.serve_forever, kwargs=dict(poll_interval=0.05), daemon=True)
    thread.start()
    fake.url = "http://127.0.0.1:%d" % server.server_address[1]
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def run(run_module, cluster):
    """run(kind, name, body, **more) -> (failed, result), against [a dead node, the fake]."""

    def go(kind, name=None, body=None, check=False, **more):
        args = dict(hosts=[closed_port_url(), cluster.url], kind=kind, timeout=5, **more)
        if name is not None:
            args["name"] = name
        if body is not None:
            args["body"] = body
        return run_module(opensearch_resource, args, check=check)

    return go


TEMPLATE = {"index_patterns": ["logs-*"], "priority": 100,
            "template": {"settings": {"number_of_replicas": 1, "index.refresh_interval": "30s"},
                         "mappings": {"dynamic": False, "properties": {"@timestamp": {"type": "date"}}}}}


def test_template_created_through_the_second_host_then_unchanged(cluster, run):
    failed, result = run("index_template", "logs", TEMPLATE)
    assert not failed, result
    assert result["changed"] and result["path"] == "_index_template/logs"
    assert result["current"] is None and result["response"] == {"acknowledged": True}
    assert result["diff"]["before"] == {}
    assert result["diff"]["after"]["template.settings.number_of_replicas"] == "1"
    assert result["diff"]["after"]["index_patterns"] == ["logs-*"]
    assert cluster.templates["logs"] == TEMPLATE
    assert [r[:2] for r in cluster.requests] == [("GET", "/_index_template/logs"), ("PUT", "/_index_template/logs")]

    failed, result = run("index_template", "logs", TEMPLATE)
    assert not failed and not result["changed"] and "response" not in result
    # read back as OpenSearch echoes it: settings under index, as strings
    assert result["current"]["template"]["settings"] == {
        "index": {"number_of_replicas": "1", "refresh_interval": "30s"}}
    assert result["diff"]["before"] == result["diff"]["after"]
    assert len(cluster.writes()) == 1


def test_template_change_is_written_and_shown_in_the_diff(cluster, run):
    run("index_template", "logs", TEMPLATE)
    changed = json.loads(json.dumps(TEMPLATE))
    changed["template"]["settings"]["number_of_replicas"] = 2
    failed, result = run("index_template", "logs", changed)
    assert not failed and result["changed"]
    before, after = result["diff"]["before"], result["diff"]["after"]
    assert before["template.settings.index.number_of_replicas"] == "1"
    assert after["template.settings.index.number_of_replicas"] == "2"
    assert {k for k in after if before.get(k) != after[k]} == {"template.settings.index.number_of_replicas"}
    assert cluster.templates["logs"]["template"]["settings"]["number_of_replicas"] == 2


def test_check_mode_reports_the_change_and_writes_nothing(cluster, run):
    failed, result = run("index_template", "logs", TEMPLATE, check=True)
    assert not failed and result["changed"] and "response" not in result
    failed, result = run("cluster_settings", body={"persistent": {"cluster.routing.allocation.enable": "primaries"}},
                         check=True)
    assert not failed and result["changed"]
    failed, result = run("index", "audit-000001", {"settings": {"number_of_shards": 1}}, check=True)
    assert not failed and result["changed"]
    assert cluster.writes() == [] and cluster.templates == {} and cluster.persistent == {} and cluster.indices == {}


def test_cluster_settings_set_then_reset_with_none(cluster, run):
    cluster.persistent["cluster.max_shards_per_node"] = "3000"
    enable = {"persistent": {"cluster.routing.allocation.enable": "primaries"}}
    failed, result = run("cluster_settings", body=enable)
    assert not failed and result["changed"] and result["path"] == "_cluster/settings"
    assert result["current"] == {"persistent": {"cluster": {"max_shards_per_node": "3000"}}}
    assert cluster.persistent == {"cluster.max_shards_per_node": "3000", "cluster.routing.allocation.enable": "primaries"}
    failed, result = run("cluster_settings", body=enable)
    assert not failed and not result["changed"]

    reset = {"persistent": {"cluster": {"routing": {"allocation": {"enable": None}}}}}
    failed, result = run("cluster_settings", body=reset)
    assert not failed and result["changed"]
    assert result["diff"]["before"]["persistent.cluster.routing.allocation.enable"] == "primaries"
    assert result["diff"]["after"] == {"persistent.cluster.max_shards_per_node": "3000"}
    method, path, sent = cluster.writes()[-1]
    assert (method, path) == ("PUT", "/_cluster/settings")
    assert sent == {"persistent": {"cluster": {"routing": {"allocation": {"enable": None}}}}}  # sent as null
    assert cluster.persistent == {"cluster.max_shards_per_node": "3000"}
    writes = len(cluster.writes())
    failed, result = run("cluster_settings", body=reset)
    assert not failed and not result["changed"] and len(cluster.writes()) == writes


def test_cluster_settings_refuses_absent_and_transient(cluster, run):
    failed, result = run("cluster_settings", state="absent")
    assert failed and "not possible for cluster_settings" in result["msg"]
    failed, result = run("cluster_settings", body={"transient": {"a": 1}})
    assert failed and "transient" in result["msg"]
    assert cluster.requests == []


def test_index_created_only_once(cluster, run):
    body = {"settings": {"number_of_shards": 3}, "aliases": {"audit": {"is_write_index": True}}}
    failed, result = run("index", "audit-000001", body)
    assert not failed and result["changed"] and result["response"]["index"] == "audit-000001"
    assert result["diff"] == {"before": {}, "after": {"settings.number_of_shards": "3",
                                                      "aliases.audit.is_write_index": "true"}}
    failed, result = run("index", "audit-000001", body)
    assert not failed and not result["changed"]
    assert result["current"]["settings"]["index"]["number_of_shards"] == "3"
    # never modified afterwards, even when the body says otherwise
    failed, result = run("index", "audit-000001", {"settings": {"number_of_shards": 5}})
    assert not failed and not result["changed"]
    assert [r[:2] for r in cluster.writes()] == [("PUT", "/audit-000001")]
    assert cluster.indices["audit-000001"] == body


def test_state_absent_deletes_what_exists_and_then_nothing(cluster, run):
    run("index_template", "logs", TEMPLATE)
    run("index", "audit-000001", {})
    for kind, name, store in (("index_template", "logs", cluster.templates),
                              ("index", "audit-000001", cluster.indices)):
        failed, result = run(kind, name, state="absent", check=True)
        assert not failed and result["changed"] and name in store
        failed, result = run(kind, name, state="absent")
        assert not failed and result["changed"] and result["response"] == {"acknowledged": True}
        assert result["diff"]["after"] == {} and result["diff"]["before"]
        assert name not in store
        failed, result = run(kind, name, state="absent")
        assert not failed and not result["changed"] and result["current"] is None
    assert [r[0] for r in cluster.writes()] == ["PUT", "PUT", "DELETE", "DELETE"]


def test_snapshot_repository_bools_match_their_echo(cluster, run):
    body = {"type": "fs", "settings": {"location": "/srv/opensearch-snapshots", "compress": True}}
    failed, result = run("snapshot_repository", "backups", body)
    assert not failed and result["changed"] and result["path"] == "_snapshot/backups"
    assert cluster.repositories["backups"]["settings"]["compress"] == "true"
    failed, result = run("snapshot_repository", "backups", body)
    assert not failed and not result["changed"]
    assert result["current"] == {"type": "fs", "settings": {"location": "/srv/opensearch-snapshots",
                                                            "compress": "true"}}
    failed, result = run("snapshot_repository", "backups", state="absent")
    assert not failed and result["changed"] and cluster.repositories == {}


def test_generic_path(cluster, run):
    body = {"script": {"lang": "painless", "source": "doc['bytes'].value / 1024"}}
    failed, result = run("generic", "/_scripts/kilobytes", body)
    assert not failed and result["changed"] and result["path"] == "_scripts/kilobytes"
    failed, result = run("generic", "_scripts/kilobytes", body)
    assert not failed and not result["changed"] and result["current"]["found"] is True
    assert len(cluster.writes()) == 1


def test_no_host_answers_fails_with_every_host_and_no_password(cluster, run_module):
    down1, down2 = closed_port_url(), closed_port_url()
    failed, result = run_module(opensearch_resource, dict(
        hosts=[down1, down2], kind="index_template", name="logs", body=TEMPLATE,
        url_username="admin", url_password=PASSWORD))
    assert failed and down1 in result["msg"] and down2 in result["msg"]
    assert "no OpenSearch host answered GET /_index_template/logs" in result["msg"]
    assert PASSWORD not in json.dumps(result)


def test_basic_auth_is_sent(cluster, run):
    cluster.password = PASSWORD
    failed, result = run("index_template", "logs", TEMPLATE)
    assert failed and "HTTP 401" in result["msg"]
    failed, result = run("index_template", "logs", TEMPLATE, url_username="admin", url_password=PASSWORD)
    assert not failed and result["changed"]


def test_a_refused_write_fails_with_the_reason(cluster, run):
    cluster.indices["taken"] = {}
    # the fake refuses a template without patterns; the module refuses it before asking
    failed, result = run("index_template", "logs", {"priority": 1})
    assert failed and "index_patterns" in result["msg"] and cluster.requests == []
    cluster.repositories["r"] = {"type": "fs", "settings": {}}

    def bad_put(method, path, body, original=cluster.handle):
        if method == "PUT":
            return 400, {"error": {"type": "repository_verification_exception",
                                   "reason": "[r] path is not accessible on master node"}}
        return original(method, path, body)

    cluster.handle = bad_put
    failed, result = run("snapshot_repository", "r", {"type": "fs", "settings": {"location": "/x"}})
    assert failed and not result["changed"]
    assert "HTTP 400: [r] path is not accessible on master node" in result["msg"]
    assert result["current"] == {"type": "fs", "settings": {}}


@pytest.mark.parametrize("args, words", [
    (dict(kind="index_template", name="Logs"), "plain index template name"),
    (dict(kind="index", name="_all"), "not starting with '_'"),
    (dict(kind="index", name="a b"), "plain index name"),
    (dict(kind="snapshot_repository", name=".."), "plain snapshot repository name"),
    (dict(kind="index_template"), "missing: name"),
    (dict(kind="generic", name="_scripts/../x"), "'..' segments"),
    (dict(kind="generic", name="a b"), "spaces"),
    (dict(kind="index", name="x", body=["a"]), "body"),
    (dict(kind="snapshot_repository", name="r", body={"settings": {}}), "needs its type"),
    (dict(kind="index", name="x", timeout=0), "timeout must be positive"),
])
def test_bad_input_is_refused_before_any_request(cluster, run_module, args, words):
    failed, result = run_module(opensearch_resource, dict(args, hosts=[cluster.url]))
    assert failed and words in result["msg"], result["msg"]
    assert cluster.requests == []
