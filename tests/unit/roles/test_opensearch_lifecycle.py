"""Unit tests for roles/opensearch/files/nospof-opensearch-lifecycle.

The script has no .py suffix, so it is loaded by path. The pure functions are
tested directly; main() runs once against a fake OpenSearch on 127.0.0.1.
"""

import http.server
import importlib.machinery
import importlib.util
import json
import os
import threading
import time
import urllib.parse

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(ROOT, "roles", "opensearch", "files", "nospof-opensearch-lifecycle")


def load_script():
    loader = importlib.machinery.SourceFileLoader("nospof_opensearch_lifecycle", SCRIPT)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


lifecycle = load_script()

DAY_MS = 86400 * 1000
NOW_MS = 1_700_000_000_000


def entry(name, created_ms):
    return {"index": name, "creation.date": str(created_ms)}


# --- script file -----------------------------------------------------------

def test_script_is_executable_with_python3_shebang():
    with open(SCRIPT, encoding="utf-8") as handle:
        assert handle.readline() == "#!/usr/bin/python3\n"
    assert os.access(SCRIPT, os.X_OK)


# --- parse_duration --------------------------------------------------------

@pytest.mark.parametrize("text,seconds", [
    ("1s", 1), ("90s", 90), ("1m", 60), ("15m", 900), ("1h", 3600),
    ("36h", 129600), ("1d", 86400), ("14d", 1209600), ("365d", 31536000),
])
def test_parse_duration(text, seconds):
    assert lifecycle.parse_duration(text) == seconds


@pytest.mark.parametrize("text", [
    "", "14", "d", "14w", "14D", "1.5d", "-1d", "+1d", " 1d", "1d ", "1 d",
    "0d", "0s", "1dd", "1d1h", "5gb", "1ms", None, 14, 1.0, True, ["1d"],
])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError):
        lifecycle.parse_duration(text)


# --- rollover_conditions ---------------------------------------------------

def test_conditions_omit_nulls():
    policy = {"rollover": {"max_age": "1d", "max_size": "5gb", "max_docs": None}}
    assert lifecycle.rollover_conditions(policy) == {"max_age": "1d", "max_size": "5gb"}


def test_conditions_all_set_and_verbatim():
    policy = {"rollover": {"max_age": "12h", "max_size": "500mb", "max_docs": 1000000}}
    assert lifecycle.rollover_conditions(policy) == {"max_age": "12h", "max_size": "500mb", "max_docs": 1000000}


@pytest.mark.parametrize("rollover", [
    {"max_age": None, "max_size": None, "max_docs": None}, {}, None,
])
def test_conditions_empty(rollover):
    assert lifecycle.rollover_conditions({"rollover": rollover}) == {}


@pytest.mark.parametrize("unit", ["b", "kb", "mb", "gb", "tb"])
def test_conditions_size_units(unit):
    assert lifecycle.rollover_conditions({"rollover": {"max_size": "5" + unit}}) == {"max_size": "5" + unit}


@pytest.mark.parametrize("rollover", [
    {"max_age": "1w"}, {"max_age": "0d"}, {"max_age": 86400},
    {"max_size": "5g"}, {"max_size": "5GB"}, {"max_size": "1.5gb"}, {"max_size": "0gb"}, {"max_size": 5},
    {"max_docs": 0}, {"max_docs": -1}, {"max_docs": "100"}, {"max_docs": True}, {"max_docs": 1.5},
    {"max_primary_shard_size": "5gb"}, ["max_age"],
])
def test_conditions_reject_bad_values(rollover):
    with pytest.raises(ValueError):
        lifecycle.rollover_conditions({"rollover": rollover})


# --- write_index -----------------------------------------------------------

def test_write_index_flagged():
    response = {
        "logs-000003": {"aliases": {"logs": {"is_write_index": False}}},
        "logs-000002": {"aliases": {"logs": {"is_write_index": True}}},
        "logs-000001": {"aliases": {"logs": {"is_write_index": False}}},
    }
    assert lifecycle.write_index(response, "logs") == "logs-000002"


def test_write_index_single_unflagged():
    assert lifecycle.write_index({"logs-000001": {"aliases": {"logs": {}}}}, "logs") == "logs-000001"


def test_write_index_no_flag_newest_by_name_numeric():
    response = {
        "logs-000009": {"aliases": {"logs": {}}},
        "logs-000010": {"aliases": {"logs": {}}},
        "logs-000002": {"aliases": {"logs": {"is_write_index": False}}},
    }
    assert lifecycle.write_index(response, "logs") == "logs-000010"
    unpadded = {"logs-9": {"aliases": {"logs": {}}}, "logs-10": {"aliases": {"logs": {}}}}
    assert lifecycle.write_index(unpadded, "logs") == "logs-10"


def test_write_index_no_flag_newest_by_creation_date():
    response = {"logs-b": {"aliases": {"logs": {}}}, "logs-a": {"aliases": {"logs": {}}}}
    dates = {"logs-a": NOW_MS, "logs-b": NOW_MS - DAY_MS}
    assert lifecycle.write_index(response, "logs", dates) == "logs-a"


def test_write_index_ignores_other_aliases():
    response = {
        "logs-000001": {"aliases": {"logs": {}, "other": {"is_write_index": True}}},
        "other-000001": {"aliases": {"other": {"is_write_index": True}}},
    }
    assert lifecycle.write_index(response, "logs") == "logs-000001"


@pytest.mark.parametrize("response", [{}, {"x-1": {"aliases": {"other": {}}}}, {"x-1": {}}, None, []])
def test_write_index_none(response):
    assert lifecycle.write_index(response, "logs") is None


# --- indices_to_delete -----------------------------------------------------

def test_old_indices_deleted_oldest_first():
    indices = [
        entry("logs-000003", NOW_MS - 1 * DAY_MS),
        entry("logs-000001", NOW_MS - 30 * DAY_MS),
        entry("logs-000002", NOW_MS - 20 * DAY_MS),
    ]
    assert lifecycle.indices_to_delete(indices, "logs-000003", 14 * 86400, NOW_MS) == ["logs-000001", "logs-000002"]


def test_write_index_never_deleted_even_when_old():
    indices = [entry("logs-000001", NOW_MS - 100 * DAY_MS), entry("logs-000002", NOW_MS - 90 * DAY_MS)]
    assert lifecycle.indices_to_delete(indices, "logs-000002", 14 * 86400, NOW_MS) == ["logs-000001"]
    assert lifecycle.indices_to_delete(indices[1:], "logs-000002", 1, NOW_MS) == []


def test_boundary_exactly_retention_is_kept():
    limit = 14 * 86400
    indices = [
        entry("logs-exact", NOW_MS - limit * 1000),
        entry("logs-older", NOW_MS - limit * 1000 - 1),
        entry("logs-younger", NOW_MS - limit * 1000 + 1),
    ]
    assert lifecycle.indices_to_delete(indices, None, limit, NOW_MS) == ["logs-older"]


def test_no_write_index_known_deletes_by_age_only():
    indices = [entry("logs-1", NOW_MS - 15 * DAY_MS), entry("logs-2", NOW_MS)]
    assert lifecycle.indices_to_delete(indices, None, 14 * 86400, NOW_MS) == ["logs-1"]


def test_entries_without_usable_creation_date_kept():
    indices = [
        {"index": "logs-a"}, {"index": "logs-b", "creation.date": None},
        {"index": "logs-c", "creation.date": "soon"}, {"creation.date": "0"},
        entry("logs-d", 0),
    ]
    assert lifecycle.indices_to_delete(indices, None, 86400, NOW_MS) == ["logs-d"]


def test_creation_date_as_number_accepted():
    indices = [{"index": "logs-1", "creation.date": NOW_MS - 2 * DAY_MS}]
    assert lifecycle.indices_to_delete(indices, None, 86400, NOW_MS) == ["logs-1"]


def test_nothing_to_delete():
    assert lifecycle.indices_to_delete([], "logs-1", 86400, NOW_MS) == []


# --- configuration ---------------------------------------------------------

def base_config(**overrides):
    config = {
        "url": "https://127.0.0.1:9200", "ca": "/ca.pem", "cert": "/admin.pem", "key": "/admin-key.pem",
        "node_name": "os1",
        "policies": [{"alias": "logs", "pattern": "logs-*",
                      "rollover": {"max_age": "1d", "max_size": "5gb", "max_docs": None},
                      "delete_after": "14d"}],
    }
    config.update(overrides)
    return config


def with_policy(**overrides):
    policy = dict(base_config()["policies"][0])
    policy.update(overrides)
    return base_config(policies=[policy])


def test_example_config_valid():
    assert lifecycle.validate_config(base_config())
    assert lifecycle.validate_config(with_policy(delete_after=None))
    http_config = {"url": "http://127.0.0.1:9200", "node_name": "os1", "policies": []}
    assert lifecycle.validate_config(http_config)


@pytest.mark.parametrize("config", [
    [], "x",
    base_config(extra=1),
    base_config(url="ftp://x"), base_config(url="https://"), base_config(url="https://h:9200/path"),
    {key: value for key, value in base_config().items() if key != "ca"},
    {key: value for key, value in base_config().items() if key != "node_name"},
    base_config(node_name=""), base_config(policies={}),
    base_config(policies=["logs"]),
    with_policy(delete_after="2w"), with_policy(delete_after="0d"), with_policy(delete_after=14),
    with_policy(rollover={"max_age": "1y"}), with_policy(rollover={"max_age": None, "max_size": None}),
    with_policy(rollover={"max_docs": None, "min_docs": 1}),
    with_policy(alias="logs*"), with_policy(alias=""), with_policy(pattern="*"), with_policy(pattern="a,b"),
    with_policy(retention="14d"),
    base_config(policies=[with_policy()["policies"][0], with_policy()["policies"][0]]),
])
def test_bad_config_rejected(config):
    with pytest.raises(lifecycle.ConfigError):
        lifecycle.validate_config(config)


def test_missing_policy_keys_rejected():
    for key in ("alias", "pattern", "rollover", "delete_after"):
        policy = {k: v for k, v in base_config()["policies"][0].items() if k != key}
        with pytest.raises(lifecycle.ConfigError):
            lifecycle.validate_config(base_config(policies=[policy]))


def test_main_config_errors_exit_1_before_any_request(tmp_path, capsys):
    assert lifecycle.main(["--config", str(tmp_path / "missing.json")]) == 1
    err = capsys.readouterr().err
    assert "not found" in err and len(err.strip().splitlines()) == 1

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert lifecycle.main(["--config", str(bad)]) == 1
    assert "not valid JSON" in capsys.readouterr().err

    # Unknown key with an unroutable URL: rejected before any connection.
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps(base_config(url="http://192.0.2.1:9", colour="red")))
    assert lifecycle.main(["--config", str(unknown)]) == 1
    assert "unknown key(s): colour" in capsys.readouterr().err


def test_main_connection_failure_exit_1(tmp_path, capsys):
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"url": f"http://127.0.0.1:{port}", "node_name": "os1", "policies": []}))
    assert lifecycle.main(["--config", str(path), "--timeout", "5"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot connect" in err[0]


def test_main_https_missing_tls_files_exit_1(tmp_path, capsys):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(base_config(ca=str(tmp_path / "nope.pem"))))
    assert lifecycle.main(["--config", str(path)]) == 1
    assert "TLS" in capsys.readouterr().err


# --- end to end against a fake OpenSearch ----------------------------------

class FakeOpenSearch:
    """Just enough of the OpenSearch REST API, recording every request."""

    def __init__(self, manager, indices, alias_response):
        self.manager = manager
        self.indices = indices
        self.alias_response = alias_response
        self.requests = []
        self.fail_rollover = False
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                fake.requests.append((self.command, self.path, body))
                parsed = urllib.parse.urlsplit(self.path)
                path = urllib.parse.unquote(parsed.path)
                if self.command == "GET" and path == "/_cat/cluster_manager":
                    return self.reply(200, [{"id": "x", "host": "10.0.0.1", "ip": "10.0.0.1", "node": fake.manager}])
                if self.command == "POST" and path == "/logs/_rollover":
                    if fake.fail_rollover:
                        return self.reply(403, {"error": {"type": "security_exception", "reason": "no permissions"},
                                                "status": 403})
                    return self.reply(200, {"acknowledged": True, "shards_acknowledged": True,
                                            "old_index": "logs-000002", "new_index": "logs-000003",
                                            "rolled_over": True, "dry_run": False,
                                            "conditions": {"[max_age: 1d]": True}})
                if self.command == "GET" and path == "/_cat/indices/logs-*":
                    query = urllib.parse.parse_qs(parsed.query)
                    assert query == {"format": ["json"], "h": ["index,creation.date"]}
                    return self.reply(200, fake.indices)
                if self.command == "GET" and path == "/_alias/logs":
                    return self.reply(200, fake.alias_response)
                if self.command == "DELETE" and path.startswith("/logs-"):
                    return self.reply(200, {"acknowledged": True})
                return self.reply(404, {"error": {"type": "not_found", "reason": path}, "status": 404})

            do_GET = do_POST = do_DELETE = handle_any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def methods(self):
        return [method for method, _path, _body in self.requests]


def test_main_end_to_end(tmp_path, capsys):
    now = int(time.time() * 1000)
    indices = [
        {"index": "logs-000001", "creation.date": str(now - 30 * DAY_MS)},  # old: deleted
        {"index": "logs-000002", "creation.date": str(now - 20 * DAY_MS)},  # old, but see below
        {"index": "logs-000003", "creation.date": str(now)},
    ]
    # After the rollover the write index is logs-000003; logs-000002 is old
    # and no longer written: deleted too. An old write index is tested below.
    alias_response = {
        "logs-000001": {"aliases": {"logs": {"is_write_index": False}}},
        "logs-000002": {"aliases": {"logs": {"is_write_index": False}}},
        "logs-000003": {"aliases": {"logs": {"is_write_index": True}}},
    }
    with FakeOpenSearch("os2", indices, alias_response) as fake:
        config = tmp_path / "lifecycle.json"
        config.write_text(json.dumps({
            "url": fake.url, "node_name": "os1",
            "policies": [{"alias": "logs", "pattern": "logs-*",
                          "rollover": {"max_age": "1d", "max_size": "5gb", "max_docs": None},
                          "delete_after": "14d"}],
        }))

        # 1. Not the cluster manager: one GET, nothing else.
        assert lifecycle.main(["--config", str(config)]) == 0
        assert "not the cluster manager" in capsys.readouterr().out
        assert fake.methods() == ["GET"]

        # 2. The cluster manager: rollover with the non-null conditions, then
        #    the old non-write indices deleted.
        fake.manager = "os1"
        fake.requests.clear()
        assert lifecycle.main(["--config", str(config)]) == 0
        out = capsys.readouterr().out
        posts = [(path, body) for method, path, body in fake.requests if method == "POST"]
        assert posts == [("/logs/_rollover", {"conditions": {"max_age": "1d", "max_size": "5gb"}})]
        deletes = [path for method, path, _body in fake.requests if method == "DELETE"]
        assert deletes == ["/logs-000001", "/logs-000002"]
        assert "rolled over from logs-000002 to logs-000003" in out
        assert "deleted logs-000001" in out and "deleted logs-000002" in out

        # 3. Old write index (no flag; newest holder counts): never deleted.
        fake.indices = [
            {"index": "logs-000001", "creation.date": str(now - 30 * DAY_MS)},
            {"index": "logs-000002", "creation.date": str(now - 20 * DAY_MS)},
        ]
        fake.alias_response = {"logs-000001": {"aliases": {"logs": {}}},
                               "logs-000002": {"aliases": {"logs": {}}}}
        fake.requests.clear()
        assert lifecycle.main(["--config", str(config)]) == 0
        capsys.readouterr()
        assert [path for method, path, _body in fake.requests if method == "DELETE"] == ["/logs-000001"]

        # 4. --dry-run: reads only, says what it would do.
        fake.indices = indices
        fake.alias_response = alias_response
        fake.requests.clear()
        assert lifecycle.main(["--config", str(config), "--dry-run"]) == 0
        out = capsys.readouterr().out
        assert set(fake.methods()) == {"GET"}
        assert "would delete logs-000001" in out and "would delete logs-000002" in out
        assert "would roll over" in out

        # 5. --any-node acts without asking who the manager is.
        fake.manager = "os3"
        fake.requests.clear()
        assert lifecycle.main(["--config", str(config), "--any-node", "--dry-run"]) == 0
        capsys.readouterr()
        assert not any(path.startswith("/_cat/cluster_manager") for _m, path, _b in fake.requests)
        assert set(fake.methods()) == {"GET"}

        # 6. An HTTP error: one line on stderr, exit 1, nothing deleted.
        fake.manager = "os1"
        fake.fail_rollover = True
        fake.requests.clear()
        assert lifecycle.main(["--config", str(config)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "HTTP 403" in err[0] and "no permissions" in err[0]
        assert "DELETE" not in fake.methods()
