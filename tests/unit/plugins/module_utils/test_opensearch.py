"""The OpenSearch helpers, and the client against real local HTTP servers (no mocks of urllib)."""

import base64
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.nospof.platform.plugins.module_utils.opensearch import (
    OpenSearchClient,
    OpenSearchError,
    canonical_key,
    differences,
    extract_current,
    is_subset,
    merge,
    normalize,
    redact_url,
)
from localnet import closed_port_url  # tests/unit/localnet.py

PASSWORD = "s3cret-Pa55word"


# -------------------------------------------------------------- normalize
def test_normalize_flattens_nested_dicts_into_dotted_keys():
    assert normalize({"index": {"number_of_replicas": 1}}) == {"index.number_of_replicas": "1"}
    assert normalize({"a": {"b": {"c": "x"}}, "d": "y"}) == {"a.b.c": "x", "d": "y"}


def test_normalize_keeps_dotted_keys_and_mixes_them_with_nested_ones():
    assert normalize({"index.refresh_interval": "30s", "index": {"number_of_shards": 3}}) == \
        {"index.refresh_interval": "30s", "index.number_of_shards": "3"}


def test_normalize_scalars_the_way_opensearch_echoes_settings():
    assert normalize(True) == "true" and normalize(False) == "false"
    assert normalize(1) == "1" and normalize(0) == "0" and normalize(0.85) == "0.85"
    assert normalize("30s") == "30s"
    assert normalize(None) is None
    assert normalize({"a": True, "b": 2, "c": None}) == {"a": "true", "b": "2", "c": None}


def test_normalize_lists_stay_lists_and_dicts_inside_them_are_normalized_on_their_own():
    value = {"index_patterns": ["logs-*", "audit-*"],
             "rules": [{"min": {"size": 5}, "on": True}, [1, False]]}
    assert normalize(value) == {"index_patterns": ["logs-*", "audit-*"],
                                "rules": [{"min.size": "5", "on": "true"}, ["1", "false"]]}
    assert normalize([1, {"a": {"b": 2}}]) == ["1", {"a.b": "2"}]


def test_normalize_keeps_an_empty_dict_under_its_key():
    assert normalize({"aliases": {}, "x": 1}) == {"aliases": {}, "x": "1"}
    assert normalize({}) == {}


# -------------------------------------------------------------- is_subset
def test_is_subset_ignores_keys_only_current_has():
    current = {"index": {"number_of_replicas": "1", "number_of_shards": "3", "uuid": "abc"}}
    assert is_subset({"index": {"number_of_replicas": 1}}, current)
    assert not is_subset({"index": {"number_of_replicas": 2}}, current)
    assert not is_subset({"index": {"codec": "best_compression"}}, current)
    assert is_subset({}, current) and is_subset({}, None)
    assert not is_subset({"a": 1}, None)


def test_is_subset_bools_and_numbers_match_their_string_echo():
    current = {"settings": {"compress": "true", "chunk_size": "64"}, "type": "fs"}
    assert is_subset({"type": "fs", "settings": {"compress": True, "chunk_size": 64}}, current)
    assert not is_subset({"settings": {"compress": False}}, current)
    assert is_subset({"a": "true"}, {"a": True})


def test_is_subset_settings_with_and_without_the_index_prefix_are_the_same_key():
    echoed = {"template": {"settings": {"index": {"number_of_shards": "1", "refresh_interval": "30s"}}}}
    assert is_subset({"template": {"settings": {"number_of_shards": 1}}}, echoed)
    assert is_subset({"template": {"settings": {"index.refresh_interval": "30s"}}}, echoed)
    assert is_subset({"template.settings.index.number_of_shards": 1}, echoed)
    assert not is_subset({"template": {"settings": {"number_of_shards": 2}}}, echoed)
    flat = {"settings": {"number_of_replicas": "2"}}
    assert is_subset({"settings": {"index": {"number_of_replicas": 2}}}, flat)
    # only right after a settings segment: a plain index.X elsewhere is a different key
    assert not is_subset({"index": {"x": 1}}, {"x": "1"})
    assert canonical_key("settings.index.a.b") == "settings.a.b"
    assert canonical_key("a.settings.index.b") == "a.settings.b"
    assert canonical_key("settings.index") == "settings.index"
    assert canonical_key("index.settings") == "index.settings"


def test_is_subset_compares_lists_whole_and_in_order():
    current = {"index_patterns": ["logs-*", "audit-*"], "composed_of": []}
    assert is_subset({"index_patterns": ["logs-*", "audit-*"]}, current)
    assert not is_subset({"index_patterns": ["logs-*"]}, current)
    assert not is_subset({"index_patterns": ["audit-*", "logs-*"]}, current)
    assert is_subset({"composed_of": []}, current)
    nested = {"states": [{"name": "hot", "actions": [{"rollover": {"min_size": "5gb"}}]}]}
    assert is_subset({"states": [{"name": "hot", "actions": [{"rollover": {"min_size": "5gb"}}]}]}, nested)
    assert not is_subset({"states": [{"name": "hot", "actions": [{"rollover": {"min_size": "1gb"}}]}]}, nested)
    assert is_subset({"l": [1, True]}, {"l": ["1", "true"]})


def test_is_subset_none_means_reset():
    current = {"persistent": {"cluster": {"routing": {"allocation": {"enable": "primaries"}}}}}
    assert not is_subset({"persistent": {"cluster.routing.allocation.enable": None}}, current)
    assert is_subset({"persistent": {"cluster.max_shards_per_node": None}}, current)
    # a reset of a parent key covers the settings below it
    assert not is_subset({"persistent": {"cluster.routing": None}}, current)
    assert differences({"persistent": {"cluster.routing.allocation.enable": None, "a": 1}}, current) == \
        ["persistent.cluster.routing.allocation.enable", "persistent.a"]


def test_merge_lays_desired_over_current_keeping_the_current_spelling():
    current = {"template": {"settings": {"index": {"number_of_shards": "1", "uuid": "u"}}}, "priority": 1}
    assert merge({"template": {"settings": {"number_of_shards": 2}}, "version": 3}, current) == {
        "template.settings.index.number_of_shards": "2", "template.settings.index.uuid": "u",
        "priority": "1", "version": "3"}
    assert merge({"persistent": {"cluster.routing": None}},
                 {"persistent": {"cluster.routing.allocation.enable": "none", "x": "1"}}) == {"persistent.x": "1"}
    assert merge({"a": 1}, None) == {"a": "1"}


# -------------------------------------------------------- extract_current
def test_extract_current_index_template_picks_the_named_one():
    answer = {"index_templates": [
        {"name": "other", "index_template": {"index_patterns": ["o-*"]}},
        {"name": "logs", "index_template": {"index_patterns": ["logs-*"], "priority": 100}},
    ]}
    assert extract_current("index_template", "logs", answer) == {"index_patterns": ["logs-*"], "priority": 100}
    assert extract_current("index_template", "none", answer) is None
    assert extract_current("index_template", "logs", {"index_templates": []}) is None


def test_extract_current_snapshot_repository_cluster_settings_and_generic():
    repo = {"type": "fs", "settings": {"location": "/srv/snap"}}
    assert extract_current("snapshot_repository", "backups", {"backups": repo}) == repo
    assert extract_current("snapshot_repository", "x", {"backups": repo}) is None
    answer = {"persistent": {"cluster": {"routing": {"allocation": {"enable": "all"}}}},
              "transient": {"cluster": {"max_shards_per_node": "5000"}}}
    assert extract_current("cluster_settings", None, answer) == {"persistent": answer["persistent"]}
    assert extract_current("cluster_settings", None, {"transient": {}}) == {"persistent": {}}
    generic = {"_id": "k", "found": True, "script": {"lang": "painless"}}
    assert extract_current("generic", "_scripts/k", generic) is generic
    with pytest.raises(ValueError):
        extract_current("pipeline", "x", {})


# ------------------------------------------------------------- the client
class Node:
    """One fake node: a ThreadingHTTPServer on 127.0.0.1 answering with (status, body) from self.answer."""

    def __init__(self, status=200, body=None, content_type="application/json"):
        self.status, self.body, self.content_type = status, body if body is not None else {"ok": True}, content_type
        self.requests = []
        node = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                node.requests.append(dict(method=self.command, path=self.path, headers=dict(self.headers),
                                          body=json.loads(raw) if raw else None))
                data = node.body if isinstance(node.body, bytes) else json.dumps(node.body).encode()
                self.send_response(node.status)
                self.send_header("Content-Type", node.content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_DELETE = do_POST = handle_any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs=dict(poll_interval=0.05), daemon=True).start()
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def nodes():
    made = []

    def make(*args, **kwargs):
        made.append(Node(*args, **kwargs))
        return made[-1]

    yield make
    for node in made:
        node.close()


def test_the_first_host_down_the_second_answers(nodes):
    node = nodes(body={"cluster_name": "nospof"})
    client = OpenSearchClient([closed_port_url(), node.url], username="admin", password=PASSWORD)
    status, data = client.request("GET", "/")
    assert (status, data) == (200, {"cluster_name": "nospof"})
    assert len(node.requests) == 1
    auth = node.requests[0]["headers"]["Authorization"]
    assert auth == "Basic " + base64.b64encode(("admin:" + PASSWORD).encode()).decode()


def test_a_5xx_node_is_skipped_and_the_body_is_sent_as_json(nodes):
    busy = nodes(status=503, body={"error": {"type": "cluster_block_exception", "reason": "not recovered"}})
    good = nodes(body={"acknowledged": True})
    client = OpenSearchClient([busy.url, good.url])
    status, data = client.request("PUT", "_index_template/logs", body={"index_patterns": ["logs-*"]})
    assert (status, data) == (200, {"acknowledged": True})
    for node in (busy, good):
        assert node.requests[0]["method"] == "PUT" and node.requests[0]["path"] == "/_index_template/logs"
        assert node.requests[0]["body"] == {"index_patterns": ["logs-*"]}
        assert node.requests[0]["headers"]["Content-Type"] == "application/json"
    assert "Authorization" not in good.requests[0]["headers"]


def test_no_host_up_lists_every_host_and_why_without_the_password(nodes):
    down = closed_port_url()
    busy = nodes(status=500, body={"error": {"type": "x", "reason": "node is shutting down"}})
    client = OpenSearchClient([down, busy.url], username="admin", password=PASSWORD, timeout=5)
    with pytest.raises(OpenSearchError) as info:
        client.request("GET", "_cluster/health")
    msg = str(info.value)
    assert down in msg and busy.url in msg
    assert "HTTP 500: node is shutting down" in msg
    assert "refused" in msg.lower()
    assert PASSWORD not in msg
    assert info.value.status is None and [a[0] for a in info.value.attempts] == [down, busy.url]


def test_credentials_in_a_host_url_are_refused_without_showing_them():
    down = closed_port_url()
    with_creds = down.replace("http://", "http://admin:%s@" % PASSWORD)
    with pytest.raises(OpenSearchError) as info:
        OpenSearchClient([with_creds])
    assert PASSWORD not in str(info.value) and down in str(info.value) and "not in the URL" in str(info.value)
    assert redact_url(with_creds) == down


def test_a_node_that_never_answers_times_out_and_the_next_one_is_used(nodes):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)  # accepts connections (backlog) but never answers
    try:
        good = nodes()
        client = OpenSearchClient(["http://127.0.0.1:%d" % silent.getsockname()[1], good.url], timeout=0.5)
        started = time.monotonic()
        assert client.request("GET", "/")[0] == 200
        assert time.monotonic() - started < 5
        client = OpenSearchClient(["http://127.0.0.1:%d" % silent.getsockname()[1]], timeout=0.3)
        with pytest.raises(OpenSearchError) as info:
            client.request("GET", "/")
        assert "timed out" in str(info.value)
    finally:
        silent.close()


def test_4xx_answers_are_returned_or_raised_according_to_ok(nodes):
    missing = nodes(status=404, body={"error": {"type": "resource_not_found_exception", "reason": "no such"}})
    other = nodes()
    client = OpenSearchClient([missing.url, other.url])
    status, data = client.request("GET", "_snapshot/x", ok=(200, 404))
    assert status == 404 and data["error"]["reason"] == "no such"
    assert other.requests == []  # a 404 is an answer: the next node is not asked
    with pytest.raises(OpenSearchError) as info:
        client.request("GET", "_snapshot/x")
    assert info.value.status == 404 and info.value.host == missing.url
    assert "HTTP 404: no such" in str(info.value) and "GET /_snapshot/x" in str(info.value)


def test_text_and_empty_answers(nodes):
    text = nodes(body=b"green\n", content_type="text/plain")
    assert OpenSearchClient([text.url]).request("GET", "_cat/health") == (200, "green\n")
    empty = nodes(body=b"")
    assert OpenSearchClient([empty.url]).request("DELETE", "x") == (200, None)


def test_bad_hosts_are_refused_up_front():
    with pytest.raises(OpenSearchError, match="at least one"):
        OpenSearchClient([])
    with pytest.raises(OpenSearchError, match="not an http"):
        OpenSearchClient(["os1:9200"])
    with pytest.raises(OpenSearchError, match="CA bundle"):
        OpenSearchClient(["https://os1:9200"], ca_path="/nonexistent/ca.crt")
