"""The log shipper's delivery program (roles/log_shipper/files/nospof-log-shipper),
run as rsyslog's omprog runs it, against a small OpenSearch stand-in on
127.0.0.1 that answers like a real node does in each situation tested.
"""

import http.server
import json
import os
import subprocess
import sys
import threading

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PROGRAM = os.path.join(ROOT, "roles", "log_shipper", "files", "nospof-log-shipper")


class Node(http.server.BaseHTTPRequestHandler):
    """mode: 'ok' | 'text503' (security not initialized) | 'reject429:N' | 'bad400'."""

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        lines = self.rfile.read(length).decode().splitlines()
        server = self.server
        server.requests += 1
        if server.mode == "text503":
            body, status, ctype = b"OpenSearch Security not initialized.", 503, "text/plain"
        else:
            items = []
            for action, doc in zip(lines[::2], lines[1::2]):
                meta = json.loads(action)["create"]
                assert json.loads(doc)
                if server.mode.startswith("reject429") and server.rejections > 0:
                    server.rejections -= 1
                    items.append({"create": {"status": 429, "error": {"type": "es_rejected_execution_exception"}}})
                elif server.mode == "bad400":
                    items.append({"create": {"status": 400, "error": {"type": "mapper_parsing_exception"}}})
                elif meta["_id"] in server.stored:
                    items.append({"create": {"status": 409}})
                else:
                    server.stored[meta["_id"]] = doc
                    items.append({"create": {"status": 201}})
            body, status, ctype = json.dumps({"errors": False, "items": items}).encode(), 200, "application/json"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def start_node(mode="ok"):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Node)
    server.mode, server.requests, server.stored = mode, 0, {}
    server.rejections = int(mode.split(":")[1]) if ":" in mode else 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def run(tmp_path):
    procs = []

    def start(servers):
        config = tmp_path / "shipper.json"
        config.write_text(json.dumps({"servers": servers, "index": "logs", "user": "logwriter",
                                      "password": "secret-password", "ca": "", "timeout": 2,
                                      "error_file": str(tmp_path / "rejected.log"),
                                      "rescue_file": str(tmp_path / "rescue.jsonl"), "backoff_max": 0}))
        proc = subprocess.Popen([sys.executable, PROGRAM, "--config", str(config)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, bufsize=1)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "OK"

        def send(line):
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
            return proc.stdout.readline().strip()

        send.proc = proc
        return send

    yield start
    for proc in procs:
        if not proc.stdin.closed:
            proc.stdin.close()
        proc.wait(timeout=10)


def doc(i):
    return json.dumps({"@timestamp": "2026-11-27T08:00:00Z", "host": "h", "program": "p", "message": f"line {i}"})


def transaction(send, lines):
    assert send("BEGIN TRANSACTION") == "OK"
    for line in lines:
        assert send(line) == "DEFER_COMMIT"
    return send("COMMIT TRANSACTION")


def url(server):
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_a_transaction_is_confirmed_once_stored(run):
    node = start_node()
    send = run([url(node)])
    assert transaction(send, [doc(i) for i in range(50)]) == "OK"
    assert len(node.stored) == 50


def test_no_node_answering_keeps_the_transaction_for_a_retry(run):
    send = run(["http://127.0.0.1:9", "http://127.0.0.1:1"])
    answer = transaction(send, [doc(1)])
    assert answer.startswith("Error: ") and "127.0.0.1:9" in answer and "127.0.0.1:1" in answer
    assert "secret-password" not in answer


def test_a_node_answering_plain_text_is_skipped_for_the_next(run):
    starting, ready = start_node("text503"), start_node()
    send = run([url(starting), url(ready)])
    assert transaction(send, [doc(i) for i in range(5)]) == "OK"
    assert starting.requests == 1 and len(ready.stored) == 5


def test_only_plain_text_answers_mean_retry_later(run):
    starting = start_node("text503")
    send = run([url(starting)])
    assert transaction(send, [doc(1)]).startswith("Error: ")


def test_a_resent_transaction_stores_each_line_once(run):
    node = start_node("reject429:2")
    send = run([url(node)])
    lines = [doc(i) for i in range(5)]
    assert transaction(send, lines).startswith("Error: ")   # two lines refused for now
    assert len(node.stored) == 3
    assert transaction(send, lines) == "OK"                 # rsyslog sends the whole batch again
    assert len(node.stored) == 5


def test_documents_opensearch_will_never_take_go_to_the_error_file(run, tmp_path):
    node = start_node("bad400")
    send = run([url(node)])
    assert transaction(send, [doc(1)]) == "OK"
    rejected = (tmp_path / "rejected.log").read_text().splitlines()
    assert len(rejected) == 1 and "mapper_parsing_exception" in rejected[0]


def test_single_lines_outside_transactions(run):
    node = start_node()
    send = run([url(node)])
    assert send(doc(7)) == "OK"
    assert len(node.stored) == 1


def stop(send):
    """rsyslog stopping: it closes the program's stdin."""
    send.proc.stdin.close()
    assert send.proc.wait(timeout=10) == 0


def test_the_failed_batch_is_rescued_when_rsyslog_stops_and_delivered_first_after(run, tmp_path):
    # rsyslog drops the batch of a suspended action when it stops (its
    # issues 2710/5364): the program keeps it and sends it before anything else.
    send = run(["http://127.0.0.1:9"])
    lost = [doc(i) for i in range(3)]
    assert transaction(send, lost).startswith("Error: ")
    # Rescued at the failure already: rsyslog may kill the program rather than wait for it.
    assert (tmp_path / "rescue.jsonl").read_text().splitlines() == lost
    stop(send)
    assert (tmp_path / "rescue.jsonl").read_text().splitlines() == lost
    node = start_node()
    send = run([url(node)])
    assert transaction(send, [doc(9)]) == "OK"
    assert sorted(json.loads(d)["message"] for d in node.stored.values()) == ["line 0", "line 1", "line 2", "line 9"]
    assert not (tmp_path / "rescue.jsonl").exists()


def test_rescued_lines_stay_until_stored_and_are_not_stored_twice(run, tmp_path):
    send = run(["http://127.0.0.1:9"])
    assert transaction(send, [doc(1)]).startswith("Error: ")
    stop(send)
    send = run(["http://127.0.0.1:9"])                       # still down after the restart
    assert transaction(send, [doc(2)]).startswith("Error: ")
    stop(send)                                               # both kept, each once
    assert (tmp_path / "rescue.jsonl").read_text().splitlines() == [doc(1), doc(2)]
    node = start_node()
    send = run([url(node)])
    assert transaction(send, [doc(1), doc(3)]) == "OK"       # rsyslog had kept doc(1) after all
    assert len(node.stored) == 3


def test_nothing_is_rescued_after_a_delivered_batch(run, tmp_path):
    node = start_node()
    send = run([url(node)])
    assert transaction(send, [doc(1)]) == "OK"
    stop(send)
    assert not (tmp_path / "rescue.jsonl").exists()


def test_bad_configuration_is_reported(tmp_path):
    config = tmp_path / "bad.json"
    config.write_text("{}")
    proc = subprocess.run([sys.executable, PROGRAM, "--config", str(config)], capture_output=True, text=True)
    assert proc.returncode == 1 and "bad configuration" in proc.stderr
