"""roles/icinga2/files/plugins/nospof-heartbeat: payload and filter building,
then real runs against stand-ins for the Icinga 2 API on 127.0.0.1 that parse
the filter the way Icinga's DSL reads string literals and answer like Icinga.
"""

import re

import pytest

from localnet import closed_port_url  # tests/unit/localnet.py
from localserver import QuietHandler, run_program, url_args  # tests/unit/roles/icinga2/localserver.py

USER, PASSWORD = "heartbeat", "s3cret-Pa55 word"
LITERAL = r'"(?:[^"\\\n]|\\.)*"'
FILTER = re.compile(r"^host\.name==(%s) && service\.name==(%s)$" % (LITERAL, LITERAL))


def dsl_unquote(literal):
    """Read an Icinga 2 DSL string literal as its lexer does."""
    escapes = {"n": "\n", "t": "\t", "r": "\r"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(1)), literal[1:-1], flags=re.S)


class FakeIcinga(QuietHandler):
    def do_POST(self):
        server = self.server
        body = self.read_json()
        server.requests.append({"path": self.path, "accept": self.headers.get("Accept"), "body": body})
        if not self.authorized(USER, PASSWORD):
            return self.answer(401, {"error": 401, "status": "Unauthorized. Please check your user credentials."})
        if server.mode == "html":
            return self.answer(503, b"<html>starting</html>", "text/html")
        if server.mode == "500":
            return self.answer(500, {"results": [{"code": 500.0, "status": "Action execution failed: 'boom'."}]})
        if self.path != "/v1/actions/process-check-result" or body.get("type") != "Service":
            return self.answer(404, {"error": 404, "status": "The requested path could not be found."})
        match = FILTER.match(body.get("filter", ""))
        if not match:
            return self.answer(400, {"error": 400, "status": "Invalid filter: %s" % body.get("filter")})
        key = (dsl_unquote(match.group(1)), dsl_unquote(match.group(2)))
        if key not in server.services:
            return self.answer(404, {"error": 404, "status": "No objects found."})
        if server.mode == "passive-disabled":
            return self.answer(200, {"results": [{"code": 403.0, "status": "Passive checks are disabled."}]})
        server.results.append((key, body))
        self.answer(200, {"results": [{"code": 200.0, "status": "Successfully processed check result for "
                                                                "object '%s!%s'." % key}]})


@pytest.fixture(scope="module")
def heartbeat(load_plugin):
    return load_plugin("nospof-heartbeat")


@pytest.fixture
def icinga(local_server):
    """icinga(services, mode) -> a started FakeIcinga; .url, .requests, .results: (host, service), body."""
    def start(services=(("web1.example.org", "backup"),), mode="ok"):
        return local_server(FakeIcinga, services=set(services), mode=mode, requests=[], results=[])
    return start


@pytest.fixture
def secret(password_file):
    """PASSWORD in a file (conftest.py's password_file)."""
    return password_file


def send(heartbeat, urls, secret, *extra):
    proc = run_program(heartbeat.PATH, *url_args(urls), "--user", USER, "--password-file", secret, *extra)
    assert PASSWORD not in proc.stdout + proc.stderr
    return proc


# --- core ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ['plain', 'with "quotes"', 'back\\slash', 'end\\', '\\"', "new\nline",
                                  "tab\tand $macro$ && service.name==\"x\""])
def test_filter_quoting_reads_back_as_the_name(heartbeat, name):
    built = heartbeat.service_filter(name, "svc " + name)
    match = FILTER.match(built)
    assert match, built
    assert dsl_unquote(match.group(1)) == name and dsl_unquote(match.group(2)) == "svc " + name


def test_filter_shape(heartbeat):
    assert heartbeat.service_filter("H", "S") == 'host.name=="H" && service.name=="S"'
    assert heartbeat.dsl_string('a"b\\c') == r'"a\"b\\c"'


def test_control_characters_are_refused(heartbeat):
    with pytest.raises(heartbeat.np_.PluginError, match="control character"):
        heartbeat.dsl_string("bell\x07")


def test_payload(heartbeat):
    payload = heartbeat.build_payload("h", "s", 1, "late", ["duration=42s"], "job.example.org")
    assert payload == {"type": "Service", "filter": 'host.name=="h" && service.name=="s"', "exit_status": 1,
                       "plugin_output": "late", "performance_data": ["duration=42s"],
                       "check_source": "job.example.org"}
    with pytest.raises(heartbeat.np_.PluginError):
        heartbeat.build_payload("h", "", 0)
    with pytest.raises(heartbeat.np_.PluginError):
        heartbeat.build_payload("h", "s", 4)


@pytest.mark.parametrize("status, answer, error", [
    (200, {"results": [{"code": 200.0, "status": "Successfully processed"}]}, None),
    (200, {"results": [{"code": 403.0, "status": "Passive checks are disabled."}]},
     "result code 403: Passive checks are disabled."),
    (404, {"error": 404, "status": "No objects found."}, "HTTP 404: No objects found."),
    (500, {"results": [{"code": 500.0, "status": "boom"}]}, "HTTP 500, result code 500: boom"),
    (200, {"results": []}, "HTTP 200 without results (no such host or service?)"),
])
def test_interpret(heartbeat, status, answer, error):
    assert heartbeat.interpret(status, answer) == error


# --- real runs ----------------------------------------------------------------------------

def test_a_heartbeat_is_accepted(heartbeat, icinga, secret):
    server = icinga()
    proc = send(heartbeat, [server.url], secret, "--host", "web1.example.org", "--service", "backup",
                "--output", "backup done", "--perfdata", "duration=42s")
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == ""
    [(key, body)] = server.results
    assert key == ("web1.example.org", "backup")
    assert body["exit_status"] == 0 and body["plugin_output"] == "backup done"
    assert body["performance_data"] == ["duration=42s"] and body["check_source"]
    assert server.requests[0]["accept"] == "application/json"


def test_names_with_quotes_and_backslashes(heartbeat, icinga, secret):
    host, service = 'odd"host\\name', 'job "nightly" \\ 2'
    server = icinga(services=[(host, service)])
    proc = send(heartbeat, [server.url], secret, "--host", host, "--service", service, "--state", "WARNING")
    assert proc.returncode == 0, proc.stderr
    assert server.results[0][0] == (host, service) and server.results[0][1]["exit_status"] == 1


def test_host_defaults_to_the_local_fqdn(heartbeat, icinga, secret):
    import socket
    server = icinga(services=[(socket.getfqdn(), "backup")])
    proc = send(heartbeat, [server.url], secret, "--service", "backup", "--verbose")
    assert proc.returncode == 0, proc.stderr
    assert "accepted by %s" % server.url in proc.stdout


@pytest.mark.parametrize("first", ["refused", "html", "500", "unknown-service"])
def test_failover_to_the_second_master(heartbeat, icinga, secret, first):
    second = icinga()
    if first == "refused":
        first_url = closed_port_url()
    else:
        first_server = icinga(services=[] if first == "unknown-service" else [("web1.example.org", "backup")],
                              mode="ok" if first == "unknown-service" else first)
        first_url = first_server.url
    proc = send(heartbeat, [first_url, second.url], secret, "--host", "web1.example.org", "--service", "backup")
    assert proc.returncode == 0, proc.stderr
    assert len(second.results) == 1


def test_errors_are_reported_on_one_line(heartbeat, icinga, secret):
    one, two = icinga(services=[]), icinga(mode="passive-disabled")
    proc = send(heartbeat, [one.url, two.url], secret, "--host", "web1.example.org", "--service", "backup")
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1
    assert "HTTP 404: No objects found." in lines[0] and "Passive checks are disabled." in lines[0]
    assert one.url in lines[0] and two.url in lines[0]


def test_a_wrong_password_is_reported(heartbeat, icinga, write_secret):
    server = icinga()
    proc = send(heartbeat, [server.url], write_secret("not-it", "wrong"), "--host", "web1.example.org", "--service", "backup")
    assert proc.returncode == 1 and "Unauthorized" in proc.stderr and "not-it" not in proc.stderr
    assert server.results == []


@pytest.mark.parametrize("extra, message", [
    (["--host", "h"], "--service"),
    (["--service", "s", "--state", "5"], "--state"),
    (["--service", "s", "--password", PASSWORD], "only read from a file"),
])
def test_bad_arguments(heartbeat, secret, extra, message):
    proc = send(heartbeat, ["http://127.0.0.1:9"], secret, *extra)
    assert proc.returncode == 1 and message in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_an_unreadable_password_file(heartbeat, tmp_path):
    proc = send(heartbeat, ["http://127.0.0.1:9"], str(tmp_path / "missing"), "--service", "s")
    assert proc.returncode == 1 and "cannot read the secret file" in proc.stderr
