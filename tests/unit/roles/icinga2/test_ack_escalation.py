"""roles/icinga2/files/plugins/check_nospof_ack_escalation: the pure decide()
and perfdata parsing, then whole runs against a stand-in for the Icinga 2 REST
API on 127.0.0.1 that keeps real state (services with their acknowledgements
and custom variables, comments, notifications) and records every request, so
the tests assert what the plugin actually sent.
"""

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
    return load_plugin("check_nospof_ack_escalation")


USER, PASSWORD = "nospof-ack-escalation", "s3cret-Pa55 word"
ACK_AT = 1700000000.123456
SERVICE_FILTER = "service.acknowledgement > 0 && service.vars.nospof_levels"
SERVICE_ATTRS = ["name", "host_name", "display_name", "acknowledgement", "acknowledgement_last_change",
                 "last_check_result", "vars", "state", "state_type"]
BY_NAME = "host.name==h && service.name==s"
COMMENT_FILTER = "comment.entry_type == 4 && comment.host_name == h && comment.service_name == s"


# ------------------------------------------------------------ fake Icinga API
class FakeIcinga(QuietHandler):
    """Answers like Icinga 2's /v1 API for the requests the plugin makes."""

    def do_GET(self):
        self.answer(405, {"error": 405, "status": "the plugin must POST with X-HTTP-Method-Override"})

    def do_POST(self):
        api = self.server.api
        body = self.read_json()
        override = self.headers.get("X-HTTP-Method-Override")
        api.requests.append({"path": self.path, "override": override, "body": body})
        if not self.authorized(USER, PASSWORD):
            return self.answer(401, {"error": 401, "status": "Unauthorized. Please check your user credentials."})
        with api.lock:
            if override == "GET" and self.path == "/v1/objects/services":
                return self.answer(*api.query_services(body))
            if override == "GET" and self.path == "/v1/objects/comments":
                return self.answer(*api.query_comments(body))
            if override is None and self.path.startswith("/v1/objects/services/"):
                return self.answer(*api.modify(urllib.parse.unquote(self.path[len("/v1/objects/services/"):]), body))
            if override is None and self.path == "/v1/actions/remove-acknowledgement":
                return self.answer(*api.remove_ack(body))
            if override is None and self.path == "/v1/actions/send-custom-notification":
                return self.answer(*api.notify(body))
        self.answer(404, {"error": 404, "status": "The requested path '%s' could not be found." % self.path})


class IcingaState:
    def __init__(self, services, comments=(), old=False, broken=()):
        self.services = {"%s!%s" % (s["host_name"], s["name"]): s for s in services}
        self.comments = list(comments)
        self.old = old            # Icinga without acknowledgement_last_change
        self.broken = set(broken)  # services whose remove-acknowledgement fails
        self.requests, self.notifications = [], []
        self.lock = threading.Lock()

    # helpers the fake uses
    def targets(self, body):
        if body.get("type") != "Service" or body.get("filter") != BY_NAME:
            return None
        names = body.get("filter_vars") or {}
        return [s for s in self.services.values() if s["host_name"] == names.get("h") and s["name"] == names.get("s")]

    def query_services(self, body):
        if body.get("filter") != SERVICE_FILTER:
            return 400, {"error": 400, "status": "unexpected filter %r" % body.get("filter")}
        attrs = body.get("attrs")
        if self.old and "acknowledgement_last_change" in attrs:
            return 400, {"error": 400, "status": "Invalid field specified: acknowledgement_last_change"}
        results = []
        for full, svc in sorted(self.services.items()):
            if svc.get("acknowledgement", 0) > 0 and (svc.get("vars") or {}).get("nospof_levels"):
                results.append({"name": full, "type": "Service", "meta": {}, "joins": {},
                                "attrs": {a: svc[a] for a in attrs if a in svc}})
        return 200, {"results": results}

    def query_comments(self, body):
        if body.get("filter") != COMMENT_FILTER:
            return 400, {"error": 400, "status": "unexpected filter %r" % body.get("filter")}
        names = body.get("filter_vars") or {}
        results = [{"name": "%s!%s!c%d" % (c["host_name"], c["service_name"], i), "type": "Comment",
                    "attrs": dict(c)} for i, c in enumerate(self.comments)
                   if c["entry_type"] == 4 and c["host_name"] == names.get("h")
                   and c["service_name"] == names.get("s")]
        return 200, {"results": results}

    def modify(self, full, body):
        svc = self.services.get(full)
        if svc is None:
            return 404, {"error": 404, "status": "No objects found."}
        for key, value in body["attrs"].items():
            assert key.startswith("vars.")
            svc.setdefault("vars", {})[key[len("vars."):]] = value
        return 200, {"results": [{"code": 200.0, "name": full, "status": "Attributes updated.", "type": "Service"}]}

    def remove_ack(self, body):
        targets = self.targets(body)
        if not targets:
            return 404, {"error": 404, "status": "No objects found."}
        svc = targets[0]
        full = "%s!%s" % (svc["host_name"], svc["name"])
        if full in self.broken:
            return 500, {"results": [{"code": 500.0, "status": "Action execution failed: 'boom'."}]}
        svc["acknowledgement"] = 0
        svc["acknowledgement_last_change"] = time.time()
        self.comments = [c for c in self.comments
                         if not (c["host_name"] == svc["host_name"] and c["service_name"] == svc["name"])]
        return 200, {"results": [{"code": 200.0, "status": "Successfully removed acknowledgement for '%s'." % full}]}

    def notify(self, body):
        targets = self.targets(body)
        if not targets:
            return 404, {"error": 404, "status": "No objects found."}
        if not body.get("author") or not body.get("comment"):
            return 403, {"results": [{"code": 403.0, "status": "Parameters 'author' and 'comment' are required."}]}
        self.notifications.append(body)
        full = "%s!%s" % (targets[0]["host_name"], targets[0]["name"])
        return 200, {"results": [{"code": 200.0, "status": "Successfully sent custom notification for '%s'." % full}]}

    # what the tests look at
    def changes(self):
        """Requests that change state (everything but the override-GET queries)."""
        return [r for r in self.requests if r["override"] != "GET"]


@pytest.fixture
def icinga(local_server):
    """icinga(services, **IcingaState arguments) -> the IcingaState behind a started FakeIcinga, with its .url."""
    def start(services, **kwargs):
        api = IcingaState(services, **kwargs)
        api.url = local_server(FakeIcinga, api=api).url
        return api
    return start


def service(host="web1", name="disk", level=1, ack=1, ack_at=ACK_AT, recorded=None, dict_perf=False,
            output="DISK WARNING - 9% free on /", levels=True):
    perf = ["free=9%;10;5;0;100"]
    if level is not None:
        perf.append({"type": "PerfdataValue", "label": "level", "value": float(level), "min": 0.0, "max": 3.0,
                     "warn": None, "crit": None, "unit": "", "counter": False}
                    if dict_perf else "level=%s;;;0;3" % level)
    svc = {"host_name": host, "name": name, "display_name": "Disk " + name, "acknowledgement": ack,
           "last_check_result": {"output": output + "\n/: 9% free", "performance_data": perf, "state": 1.0},
           "vars": {"nospof_levels": levels}, "state": 1.0}
    if ack_at is not None:
        svc["acknowledgement_last_change"] = ack_at
    if recorded is not None:
        svc["vars"]["nospof_ack"] = recorded
    return svc


# password_file (PASSWORD in a file) and run (argv -> Result) are fixtures of conftest.py
def args(api_or_urls, password_file, *more):
    return url_args(api_or_urls) + ["--user", USER, "--password-file", password_file, "--timeout", "5s"] + list(more)


# ---------------------------------------------------------------- decide()
def test_decide_new_acknowledgement_records_the_level(plugin):
    action = plugin.decide({"vars": {"nospof_levels": True}}, 1, ACK_AT)
    assert action == plugin.Action(plugin.RECORD, level=1, at=ACK_AT)


def test_decide_record_of_an_older_acknowledgement_is_a_new_acknowledgement(plugin):
    attrs = {"vars": {"nospof_ack": {"at": ACK_AT - 3600, "level": 1}}}
    assert plugin.decide(attrs, 3, ACK_AT).kind == plugin.RECORD


def test_decide_same_deeper_lower(plugin):
    attrs = {"vars": {"nospof_ack": {"at": ACK_AT, "level": 2}}}
    assert plugin.decide(attrs, 2, ACK_AT).kind == plugin.NOTHING
    assert plugin.decide(attrs, 1, ACK_AT).kind == plugin.NOTHING
    assert plugin.decide(attrs, 0, ACK_AT).kind == plugin.NOTHING
    action = plugin.decide(attrs, 3, ACK_AT)
    assert (action.kind, action.recorded, action.level, action.at) == (plugin.ESCALATE, 2, 3, ACK_AT)


def test_decide_waits_for_the_hard_state_before_escalating(plugin):
    # A soft result may still change; when it turns hard as a new state, Icinga would notify as well.
    attrs = {"vars": {"nospof_ack": {"at": ACK_AT, "level": 1}}, "state_type": 0}
    assert plugin.decide(attrs, 2, ACK_AT).kind == plugin.NOTHING
    attrs["state_type"] = 1
    assert plugin.decide(attrs, 2, ACK_AT).kind == plugin.ESCALATE


def test_decide_leaves_the_notification_to_icinga_when_the_state_changed(plugin):
    # Acknowledged at WARNING, now CRITICAL: Icinga held back its problem notification and sends it once the
    # acknowledgement is removed, so a custom one would be a second notification.
    attrs = {"vars": {"nospof_ack": {"at": ACK_AT, "level": 1, "state": 1}}, "state": 2, "state_type": 1}
    action = plugin.decide(attrs, 2, ACK_AT)
    assert (action.kind, action.notify) == (plugin.ESCALATE, False)
    attrs["vars"]["nospof_ack"]["state"] = 2
    assert (plugin.decide(attrs, 3, ACK_AT).notify) is True
    # a record without a state (an older plugin) notifies
    del attrs["vars"]["nospof_ack"]["state"]
    assert plugin.decide(attrs, 3, ACK_AT).notify is True


def test_decide_tolerates_the_time_round_trip_but_not_another_acknowledgement(plugin):
    attrs = {"vars": {"nospof_ack": {"at": ACK_AT + 0.0000004, "level": 1}}}
    assert plugin.decide(attrs, 2, ACK_AT).kind == plugin.ESCALATE
    attrs = {"vars": {"nospof_ack": {"at": ACK_AT + 1, "level": 1}}}
    assert plugin.decide(attrs, 2, ACK_AT).kind == plugin.RECORD


def test_decide_without_level_or_with_a_malformed_record(plugin):
    assert plugin.decide({"vars": {}}, None, ACK_AT).kind == plugin.SKIP
    assert plugin.decide({"vars": {"nospof_ack": "junk"}}, 2, ACK_AT).kind == plugin.RECORD
    assert plugin.decide({"vars": {"nospof_ack": {"at": ACK_AT, "level": "x"}}}, 2, ACK_AT).kind == plugin.RECORD
    assert plugin.decide({"vars": None}, 2, ACK_AT).kind == plugin.RECORD


@pytest.mark.parametrize("perfdata, level", [
    (["free=9%;10;5;0;100", "level=2;;;0;3"], 2),
    (["'level'=3;;;0;3"], 3),
    (["level=1.0"], 1),
    ([{"type": "PerfdataValue", "label": "level", "value": 2.0}], 2),
    ("free=9% level=2;;;0;3", 2),
    (["'free space'=9%", "level=0;;;0;3"], 0),
    (["levels=2", "my level=2"], None),
    (["level=U"], None),
    ([], None),
    (None, None),
])
def test_level_from_perfdata(plugin, perfdata, level):
    assert plugin.level_from_perfdata(perfdata) == level


# ------------------------------------------------------ runs against the API
def test_new_acknowledgement_records_the_level(run, icinga, password_file):
    api = icinga([service(level=1)])
    result = run(args(api, password_file))
    assert result.state == OK, result.render("T")
    assert api.changes() == [{"path": "/v1/objects/services/web1%21disk", "override": None,
                              "body": {"attrs": {"vars.nospof_ack": {"at": ACK_AT, "level": 1, "state": 1}}}}]
    assert api.services["web1!disk"]["vars"]["nospof_ack"] == {"at": ACK_AT, "level": 1, "state": 1}
    query = api.requests[0]
    assert query == {"path": "/v1/objects/services", "override": "GET",
                     "body": {"filter": SERVICE_FILTER, "attrs": SERVICE_ATTRS}}
    assert result.summary == "watching 1 acknowledged problems with levels; escalated 0"
    assert result.perf == ["watched=1;;;0", "escalated=0;;;0"]


def test_steady_level_does_nothing(run, icinga, password_file):
    api = icinga([service(level=1, recorded={"at": ACK_AT, "level": 1})])
    result = run(args(api, password_file))
    assert result.state == OK
    assert api.changes() == []
    assert api.notifications == []


def test_first_run_records_then_deeper_level_escalates_once(run, icinga, password_file):
    api = icinga([service(level=1)])
    assert run(args(api, password_file)).state == OK
    # The disk falls from 9% to 4%: level 2.
    svc = api.services["web1!disk"]
    svc["last_check_result"] = {"output": "DISK CRITICAL - 4% free on /\nmore", "performance_data":
                                ["free=4%;10;5;0;100", "level=2;;;0;3"], "state": 2.0}
    api.requests.clear()
    result = run(args(api, password_file))
    assert result.state == OK
    assert result.summary == "watching 1 acknowledged problems with levels; escalated 1: web1!disk"
    assert result.perf == ["watched=1;;;0", "escalated=1;;;0"]
    assert any("escalated web1!disk: level 1 -> 2" in line for line in result.details)
    assert api.changes() == [
        {"path": "/v1/actions/remove-acknowledgement", "override": None,
         "body": {"type": "Service", "filter": BY_NAME, "filter_vars": {"h": "web1", "s": "disk"}}},
        {"path": "/v1/actions/send-custom-notification", "override": None,
         "body": {"type": "Service", "filter": BY_NAME, "filter_vars": {"h": "web1", "s": "disk"},
                  "author": "nospof-ack-escalation", "force": False,
                  "comment": "Disk disk got worse after it was acknowledged: level 1 -> 2 "
                             "(DISK CRITICAL - 4% free on /); the acknowledgement was removed"}}]
    assert api.services["web1!disk"]["acknowledgement"] == 0
    assert len(api.notifications) == 1
    # The acknowledgement is gone: the next run watches nothing and sends nothing more.
    api.requests.clear()
    result = run(args(api, password_file))
    assert result.summary.startswith("watching 0 ")
    assert api.changes() == []
    assert len(api.notifications) == 1


def test_lower_level_does_nothing(run, icinga, password_file):
    api = icinga([service(level=1, recorded={"at": ACK_AT, "level": 2})])
    result = run(args(api, password_file))
    assert result.state == OK
    assert api.changes() == []
    assert "watching web1!disk: level 1, acknowledged at level 2" in result.details


def test_dict_perfdata_escalates_too(run, icinga, password_file):
    api = icinga([service(level=3, dict_perf=True, recorded={"at": ACK_AT, "level": 1})])
    result = run(args(api, password_file))
    assert [r["path"] for r in api.changes()] == ["/v1/actions/remove-acknowledgement",
                                                   "/v1/actions/send-custom-notification"]
    assert "level 1 -> 3" in api.notifications[0]["comment"]
    assert result.perf[1] == "escalated=1;;;0"


def test_new_acknowledgement_after_an_escalation_records_again(run, icinga, password_file):
    api = icinga([service(level=2, ack_at=ACK_AT + 600, recorded={"at": ACK_AT, "level": 1})])
    run(args(api, password_file))
    assert [r["body"] for r in api.changes()] == [{"attrs": {"vars.nospof_ack": {"at": ACK_AT + 600, "level": 2, "state": 1}}}]
    assert api.notifications == []


def test_service_without_level_is_reported_and_skipped(run, icinga, password_file):
    api = icinga([service(level=None), service(host="db1", level=1, recorded={"at": ACK_AT, "level": 1})])
    result = run(args(api, password_file))
    assert result.state == OK
    assert api.changes() == []
    assert "skipped web1!disk: no 'level' in its performance data" in result.details
    assert result.summary == "watching 2 acknowledged problems with levels; escalated 0; 1 without a level"


def test_comment_fallback_when_icinga_has_no_acknowledgement_last_change(run, icinga, password_file):
    comments = [
        {"host_name": "web1", "service_name": "disk", "entry_type": 4, "entry_time": ACK_AT - 10, "author": "a"},
        {"host_name": "web1", "service_name": "disk", "entry_type": 4, "entry_time": ACK_AT, "author": "b"},
        {"host_name": "web1", "service_name": "disk", "entry_type": 1, "entry_time": ACK_AT + 99, "author": "c"},
        {"host_name": "web2", "service_name": "disk", "entry_type": 4, "entry_time": ACK_AT + 50, "author": "d"},
    ]
    api = icinga([service(level=2, ack_at=None)], comments=comments, old=True)
    result = run(args(api, password_file))
    assert result.state == OK, result.render("T")
    queries = [r for r in api.requests if r["override"] == "GET"]
    assert queries[0]["body"]["attrs"] == SERVICE_ATTRS          # first try: 400 invalid field
    assert "acknowledgement_last_change" not in queries[1]["body"]["attrs"]
    assert queries[2] == {"path": "/v1/objects/comments", "override": "GET", "body": {
        "filter": COMMENT_FILTER, "filter_vars": {"h": "web1", "s": "disk"},
        "attrs": ["entry_time", "entry_type", "host_name", "service_name"]}}
    assert api.services["web1!disk"]["vars"]["nospof_ack"] == {"at": ACK_AT, "level": 2, "state": 1}
    # Next run with the same acknowledgement and a deeper level escalates.
    api.services["web1!disk"]["last_check_result"]["performance_data"] = ["level=3;;;0;3"]
    run(args(api, password_file))
    assert len(api.notifications) == 1


def test_comment_fallback_when_the_attribute_is_absent_from_the_answer(run, icinga, password_file):
    comments = [{"host_name": "web1", "service_name": "disk", "entry_type": 4, "entry_time": ACK_AT}]
    api = icinga([service(level=1, ack_at=None)], comments=comments)
    run(args(api, password_file))
    assert api.services["web1!disk"]["vars"]["nospof_ack"] == {"at": ACK_AT, "level": 1, "state": 1}


def test_names_with_quotes_and_backslashes_travel_in_filter_vars(run, icinga, password_file):
    host, name = 'web"1\\', 'disk "/var" \\ x'
    api = icinga([service(host=host, name=name, level=3, recorded={"at": ACK_AT, "level": 1})])
    result = run(args(api, password_file))
    assert result.state == OK, result.render("T")
    assert len(api.notifications) == 1
    for request in api.changes():
        assert request["body"]["filter"] == BY_NAME
        assert request["body"]["filter_vars"] == {"h": host, "s": name}
    assert api.services[host + "!" + name]["acknowledgement"] == 0


def test_one_failing_service_is_warning_the_others_are_handled(run, icinga, password_file):
    api = icinga([service(host="a", level=2, recorded={"at": ACK_AT, "level": 1}),
                  service(host="b", level=2, recorded={"at": ACK_AT, "level": 1})], broken={"a!disk"})
    result = run(args(api, password_file))
    assert result.state == WARNING
    assert result.summary == ("watching 2 acknowledged problems with levels; escalated 1: b!disk; "
                              "failed 1: a!disk")
    assert [n["filter_vars"]["h"] for n in api.notifications] == ["b"]
    assert any(line.startswith("failed a!disk: ") and "boom" in line for line in result.details)


def test_dry_run_changes_nothing(run, icinga, password_file):
    api = icinga([service(host="new", level=1),
                  service(host="worse", level=3, recorded={"at": ACK_AT, "level": 1})])
    result = run(args(api, password_file, "--dry-run"))
    assert result.state == OK
    assert api.changes() == []
    assert api.notifications == []
    assert "nospof_ack" not in api.services["new!disk"]["vars"]
    assert result.summary.startswith("dry run, nothing changed: ")
    assert "would escalate 1: worse!disk" in result.summary
    assert "would record new!disk: acknowledged at level 1" in result.details
    assert any(line.startswith("would escalate worse!disk: level 1 -> 3 (DISK WARNING")
               for line in result.details)


def test_api_down_is_unknown(run, password_file):
    result = run(args([closed_port_url()], password_file))
    assert result.state == UNKNOWN
    assert "cannot query the Icinga API" in result.summary


def test_refused_credentials_are_unknown(run, icinga, write_secret):
    api = icinga([service()])
    result = run(args(api, write_secret("nope", "wrong")))
    assert result.state == UNKNOWN
    assert "401" in result.summary and "credentials refused" in result.summary
    assert "nope" not in result.summary


def test_failover_from_a_refused_url(run, icinga, password_file):
    api = icinga([service(level=2, recorded={"at": ACK_AT, "level": 1})])
    result = run(args([closed_port_url(), api.url], password_file))
    assert result.state == OK
    assert len(api.notifications) == 1


def test_bad_arguments_are_unknown(run, password_file):
    assert run(["--user", USER]).state == UNKNOWN
    for argv in (["--password", "hunter2"], ["--password=hunter2"], ["--pass", "hunter2"]):
        result = run(["--user", USER, "--password-file", password_file] + argv)
        assert result.state == UNKNOWN and "bad arguments" in result.summary
        assert "hunter2" not in result.summary
    assert run(["--user", USER, "--password-file", password_file, "--timeout", "soon"]).state == UNKNOWN
    result = run(["--user", USER, "--password-file", "/nonexistent/secret"])
    assert result.state == UNKNOWN and "cannot read the secret file" in result.summary


def test_plugin_file_runs_as_a_program(plugin, run, icinga, password_file):
    api = icinga([service(level=2, recorded={"at": ACK_AT, "level": 1})])
    proc = run_program(plugin.PATH, *args(api, password_file))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("ACK_ESCALATION OK - watching 1 acknowledged problems with levels; "
                                  "escalated 1: web1!disk | watched=1;;;0 escalated=1;;;0\n")
    assert PASSWORD not in proc.stdout + proc.stderr
    helptext = run_program(plugin.PATH, "--help")
    assert helptext.returncode == 0 and "--password-file" in helptext.stdout and "--dry-run" in helptext.stdout
