"""Icinga 2 HA: two masters, two agents (the Graphite pair).

Every state and notification is read from the running masters through
Icinga's REST API and from the notification log each master writes; faults
are real (a stopped daemon, a killed master container, a filled filesystem).
"""

import json
import os
import shlex
import time

import pytest

from nospof_testinfra import podman, run_playbook, wait_for

MASTERS = ["m1", "m2"]
AGENTS = ["a1", "a2"]
API_USER = "scenario-test:scenario-test-password"
LOG = "/var/log/icinga2/nospof-notifications.log"
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
RUNBOOKS = os.path.join(ROOT, "docs", "runbooks")


class Icinga:
    def __init__(self, hosts):
        self.hosts = hosts

    def call(self, master, method, path, body=None):
        cmd = ["curl", "-sS", "--max-time", "20", "--cacert", "/etc/ssl/nospof/ca.crt", "-u", API_USER,
               "-H", "Accept: application/json", "-X", "POST" if method == "QUERY" else method,
               "https://%s:5665%s" % (master, path)]
        if method == "QUERY":
            cmd += ["-H", "X-HTTP-Method-Override: GET"]
        if body is not None:
            cmd += ["-d", json.dumps(body)]
        out = self.hosts[master].run(" ".join(shlex.quote(c) for c in cmd))
        if out.rc != 0:
            return None
        try:
            return json.loads(out.stdout)
        except ValueError:
            return None

    def service(self, master, host, name, attrs=("state", "state_type", "last_check_result", "acknowledgement",
                                                  "last_hard_state", "notes_url")):
        data = self.call(master, "QUERY", "/v1/objects/services",
                         {"filter": "host.name==h && service.name==s", "filter_vars": {"h": host, "s": name},
                          "attrs": list(attrs)})
        if not data or not data.get("results"):
            return None
        return data["results"][0]["attrs"]

    def reschedule(self, master, host, name):
        return self.call(master, "POST", "/v1/actions/reschedule-check",
                         {"type": "Service", "filter": "host.name==h && service.name==s",
                          "filter_vars": {"h": host, "s": name}, "force": True})


@pytest.fixture(scope="module")
def icinga(hosts):
    return Icinga(hosts)


def notifications(hosts, masters=MASTERS):
    """Every notification recorded by the masters, as dicts."""
    lines = []
    for m in masters:
        out = hosts[m].run("cat %s 2>/dev/null" % LOG).stdout
        lines += [json.loads(line) for line in out.splitlines() if line.strip()]
    return lines


def hard_state(icinga, master, host, name, state):
    svc = icinga.service(master, host, name)
    return svc if svc and svc["state"] == state and svc["state_type"] == 1 else None


def test_masters_are_connected_to_each_other_and_to_both_agents(icinga):
    for m in MASTERS:
        def connected():
            data = icinga.call(m, "GET", "/v1/status/ApiListener")
            if not data:
                return None
            api_status = data["results"][0]["status"]["api"]
            return api_status if not api_status["not_conn_endpoints"] else None
        status = wait_for("%s connected to every endpoint" % m, connected, timeout=120)
        assert set(status["conn_endpoints"]) == set(MASTERS + AGENTS) - {m}


def test_agents_run_their_checks_and_everything_is_ok(icinga):
    def all_ok():
        data = icinga.call("m1", "QUERY", "/v1/objects/services",
                           {"attrs": ["host_name", "name", "state", "last_check", "last_check_result"]})
        if not data:
            return None
        # The heartbeat and the anomaly check are tested on their own below.
        results = [r["attrs"] for r in data["results"]
                   if not r["attrs"]["name"].startswith(("heartbeat", "anomaly"))]
        bad = [(r["host_name"], r["name"], r["state"], (r["last_check_result"] or {}).get("output"))
               for r in results if r["state"] != 0 or r["last_check"] <= 0]
        return results if not bad else print("not OK yet:", bad)
    results = wait_for("every generated check OK", all_ok, timeout=240, interval=5)
    names = {(r["host_name"], r["name"]) for r in results}
    for h in MASTERS + AGENTS:
        assert {(h, "load"), (h, "memory"), (h, "disk /")} <= names
    for h in AGENTS:
        assert {(h, "agent connection"), (h, "carbon-relay port 2003"), (h, "graphite-web port 8443"),
                (h, "graphite-web certificate 8443"), (h, "graphite freshness")} <= names
    # a local check really ran on the agent, not on a master
    disk = icinga.service("m1", "a1", "disk /srv/fill")
    assert disk["last_check_result"]["check_source"] == "a1"
    print("checks OK:", len(results))


def test_every_check_links_to_a_runbook_page_that_exists(icinga):
    data = icinga.call("m2", "QUERY", "/v1/objects/services", {"attrs": ["host_name", "name", "notes_url"]})
    services = [r["attrs"] for r in data["results"]]
    # 4 hosts x (load, memory, disk /), a1 disk /srv/fill, 2 agent connections, 2 cluster checks,
    # 2 agents x (relay port, web port, web certificate, freshness), escalation, anomaly, heartbeat
    assert len(services) == 12 + 1 + 2 + 2 + 8 + 3
    for svc in services:
        url = svc["notes_url"]
        assert url, svc
        page = url.rsplit("/", 1)[-1]
        assert page.endswith(".md") and os.path.exists(os.path.join(RUNBOOKS, page)), (svc["name"], url)
    hosts = icinga.call("m2", "QUERY", "/v1/objects/hosts", {"attrs": ["name", "notes_url"]})["results"]
    assert {h["attrs"]["name"] for h in hosts} == set(MASTERS + AGENTS)
    for h in hosts:
        assert os.path.exists(os.path.join(RUNBOOKS, h["attrs"]["notes_url"].rsplit("/", 1)[-1]))


def test_no_default_api_user_and_tls_with_forward_secrecy(hosts):
    m1 = hosts["m1"]
    out = m1.run("curl -sS -o /dev/null -w '%{http_code}' --cacert /etc/ssl/nospof/ca.crt -u root:icinga "
                 "https://m1:5665/v1/status")
    assert out.stdout == "401"
    users = m1.run("icinga2 object list --type ApiUser").stdout
    assert "root" not in [line.split("'")[1] for line in users.splitlines() if line.startswith("Object '")]
    # a static-RSA suite is refused; an ECDHE one is accepted
    refused = m1.run("openssl s_client -connect m1:5665 -tls1_2 -cipher AES128-GCM-SHA256 </dev/null")
    assert refused.rc != 0
    accepted = m1.run("openssl s_client -connect m1:5665 -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256 "
                      "-CAfile /etc/ssl/nospof/ca.crt </dev/null")
    assert accepted.rc == 0 and "Verify return code: 0" in accepted.stdout


SERVICE = "carbon-relay port 2003"


def test_stopped_service_turns_critical_with_exactly_one_notification_then_failover(hosts, icinga, instances):
    before = len([n for n in notifications(hosts) if n["service"] == SERVICE])
    hosts["a1"].run("systemctl stop carbon-c-relay")
    try:
        svc = wait_for("%s CRITICAL (hard)" % SERVICE, lambda: hard_state(icinga, "m1", "a1", SERVICE, 2), timeout=90)

        def problem_sent():
            sent = [n for n in notifications(hosts) if n["service"] == SERVICE]
            return sent[before:] if len(sent) > before else None
        wait_for("the problem notification", problem_sent, timeout=60)
        # more check cycles pass (and both masters hold the state): still exactly one
        time.sleep(25)
        sent = [n for n in notifications(hosts) if n["service"] == SERVICE][before:]
        assert [(n["type"], n["state"], n["user"]) for n in sent] == [("PROBLEM", "CRITICAL", "oncall")], sent
        owner = svc["last_check_result"]["check_source"]
        assert owner in MASTERS
        other = [m for m in MASTERS if m != owner][0]
        print("check owned by", owner, "; notification sent by", sent[0]["endpoint"])

        # Kill the master that ran the check; the other must take over.
        podman("kill", instances[owner])
        killed_at = time.monotonic()
        hosts["a1"].run("systemctl start carbon-c-relay")
        started_at = time.monotonic()

        def recovered():
            got = [n for n in notifications(hosts, [other]) if n["service"] == SERVICE and n["type"] == "RECOVERY"]
            return got or None
        got = wait_for("recovery notified by %s" % other, recovered, timeout=240, interval=1)
        detected = time.monotonic()
        svc = icinga.service(other, "a1", SERVICE)
        assert svc["state"] == 0 and svc["last_check_result"]["check_source"] == other
        time.sleep(20)
        got = [n for n in notifications(hosts, [other]) if n["service"] == SERVICE and n["type"] == "RECOVERY"]
        assert len(got) == 1, got
        print("FAILOVER: %s killed; recovery detected and notified once by %s %.1f s after the relay started "
              "(%.1f s after the kill)" % (owner, other, detected - started_at, detected - killed_at))
    finally:
        hosts["a1"].run("systemctl start carbon-c-relay")
        for m in MASTERS:
            podman("start", instances[m], check=False)
    for m in MASTERS:
        wait_for("%s back and connected" % m,
                 lambda m=m: (icinga.call(m, "GET", "/v1/status/ApiListener") or {}).get("results")
                 and not icinga.call(m, "GET", "/v1/status/ApiListener")["results"][0]["status"]["api"][
                     "not_conn_endpoints"], timeout=180, interval=3)


def ui_problems(hosts, master, user="viewer:scenario-viewer-pw"):
    """The problems Icinga Web 2 on `master` lists (from that master's own Icinga DB), as {(host, service): state}."""
    out = hosts[master].run(
        "curl -sS --max-time 20 --cacert /etc/ssl/nospof/ca.crt -u %s "
        "'https://%s/icingaweb2/icingadb/services?service.state.is_problem=y&format=json'" % (user, master))
    if out.rc != 0:
        return None
    try:
        return {(s["host"]["name"], s["name"]): int(s["state"]["soft_state"]) for s in json.loads(out.stdout)}
    except (ValueError, KeyError, TypeError):
        return None


def test_icinga_web_on_both_masters_shows_the_same_problems(hosts, icinga):
    """Each master has its own Redis, Icinga DB and database; both UIs list the same problems."""
    for m in MASTERS:
        assert hosts[m].run("curl -s -o /dev/null -w '%%{http_code}' --cacert /etc/ssl/nospof/ca.crt "
                            "https://%s/icingaweb2/" % m).stdout == "401"
        assert hosts[m].run("curl -s -o /dev/null -w '%%{http_code}' http://%s/icingaweb2/" % m).stdout == "000"
    relay = ("a2", SERVICE)
    hosts["a2"].run("systemctl stop carbon-c-relay")
    try:
        def both_show():
            views = {m: ui_problems(hosts, m) for m in MASTERS}
            if all(v is not None and v.get(relay) == 2 for v in views.values()):
                return views
            return None
        views = wait_for("the stopped relay on both UIs", both_show, timeout=120, interval=3)
        # the same problems on both (the anomaly/heartbeat checks may be settling: compare after they agree)
        views = wait_for("identical problem lists", lambda: (lambda v: v if v["m1"] == v["m2"] else None)(
            {m: ui_problems(hosts, m) for m in MASTERS}), timeout=60, interval=3)
        api = icinga.call("m1", "QUERY", "/v1/objects/services", {"filter": "service.state != 0",
                                                                   "attrs": ["host_name", "name", "state"]})
        api_problems = {(r["attrs"]["host_name"], r["attrs"]["name"]) for r in api["results"]}
        assert relay in api_problems
        print("UI problems on both masters:", sorted(views["m1"]))
    finally:
        hosts["a2"].run("systemctl start carbon-c-relay")
    wait_for("the relay recovered on both UIs",
             lambda: all(relay not in (ui_problems(hosts, m) or {relay: 2}) for m in MASTERS), timeout=120, interval=3)


DISK = "disk /srv/fill"


def fill_to(host, free_pct):
    """Fill a1's 20 MiB tmpfs so that about free_pct percent stays free."""
    host.run("rm -f /srv/fill/blob")
    st = host.run("stat -f -c '%b %S %a' /srv/fill").stdout.split()
    blocks, size, avail = int(st[0]), int(st[1]), int(st[2])
    target_free = blocks * free_pct / 100.0
    fill_kib = int((avail - target_free) * size / 1024)
    host.run("dd if=/dev/zero of=/srv/fill/blob bs=1K count=%d status=none" % fill_kib)


def acknowledge(icinga, host, name):
    ack = icinga.call("m1", "POST", "/v1/actions/acknowledge-problem",
                      {"type": "Service", "filter": "host.name==h && service.name==s",
                       "filter_vars": {"h": host, "s": name}, "author": "scenario", "comment": "cleaning up",
                       "sticky": True, "notify": False})
    assert ack["results"][0]["code"] == 200, ack


def disk_notifications(hosts):
    return [n for n in notifications(hosts) if n["service"] == DISK]


def test_escalating_acknowledgement(hosts, icinga):
    """Levels 10, 5, 2 % free. Acknowledged problems stay quiet while steady and are notified once when they
    cross the next level: WARNING -> CRITICAL (Icinga's own problem notification, released when the
    acknowledgement is removed) and CRITICAL -> deeper CRITICAL (a custom notification)."""
    a1 = hosts["a1"]
    try:
        base = len(disk_notifications(hosts))
        fill_to(a1, 8)
        icinga.reschedule("m1", "a1", DISK)
        wait_for("disk WARNING (hard)", lambda: hard_state(icinga, "m1", "a1", DISK, 1), timeout=90)
        wait_for("the WARNING notification", lambda: disk_notifications(hosts)[base:], timeout=60)
        acknowledge(icinga, "a1", DISK)
        base = len(disk_notifications(hosts))
        # steady while acknowledged: several check cycles (10 s), no notification
        time.sleep(30)
        assert len(disk_notifications(hosts)) == base
        assert icinga.service("m1", "a1", DISK)["acknowledgement"] == 2
        for free, level, kind, state in ((3, 2, "PROBLEM", "CRITICAL"), (1, 3, "CUSTOM", "CRITICAL")):
            fill_to(a1, free)
            icinga.reschedule("m1", "a1", DISK)
            wait_for("notification at level %d" % level, lambda: disk_notifications(hosts)[base:], timeout=120)
            time.sleep(20)
            sent = disk_notifications(hosts)[base:]
            assert [(n["type"], n["state"], n["user"]) for n in sent] == [(kind, state, "oncall")], sent
            assert icinga.service("m1", "a1", DISK)["acknowledgement"] == 0
            print("ESCALATION to level %d: one %s notification (%s)" % (level, kind, sent[0]["comment"] or
                                                                        sent[0]["output"]))
            acknowledge(icinga, "a1", DISK)
            base = len(disk_notifications(hosts))
            time.sleep(20)
            assert len(disk_notifications(hosts)) == base
    finally:
        a1.run("rm -f /srv/fill/blob")


ANOMALY = "anomaly test.anomaly.series"


def send_points(host, value, start, end):
    """Points every 10 s from start to end (inclusive) through a1's relay (both replicas get them)."""
    lines = "".join("test.anomaly.series %s %d\n" % (value, t) for t in range(start - start % 10, end + 1, 10))
    host.run("printf %s | timeout 10 bash -c 'cat > /dev/tcp/127.0.0.1/2003'" % shlex.quote(lines))


def test_anomaly_flat_series_ok_then_spike_critical(hosts, icinga):
    a1 = hosts["a1"]
    now = int(time.time())
    send_points(a1, 42, now - 1800, now)  # half an hour of a flat series

    def judged(state, value):
        # the series keeps arriving while the check is judged
        send_points(a1, value, int(time.time()) - 30, int(time.time()))
        time.sleep(3)
        icinga.reschedule("m1", "a1", ANOMALY)
        time.sleep(3)
        svc = icinga.service("m1", "a1", ANOMALY)
        return svc if svc and svc["state"] == state and svc["last_check_result"] else None
    svc = wait_for("flat series OK", lambda: judged(0, 42), timeout=120, interval=5)
    print("flat:", svc["last_check_result"]["output"])
    svc = wait_for("spike CRITICAL", lambda: judged(2, 900), timeout=120, interval=5)
    print("spike:", svc["last_check_result"]["output"])


HEARTBEAT = "heartbeat nightly-backup"


def test_heartbeat_ok_then_critical_after_its_window(hosts, icinga):
    a2 = hosts["a2"]
    a2.run("install -m 0600 /dev/null /root/hb.pw && echo scenario-heartbeat-pw > /root/hb.pw")
    send = ("/usr/lib/nospof/icinga2-plugins/nospof-heartbeat --url https://m1:5665 --url https://m2:5665 "
            "--ca-file /etc/ssl/nospof/ca.crt --user nospof-heartbeat --password-file /root/hb.pw "
            "--host a2 --service %s --output 'backup done'" % shlex.quote(HEARTBEAT))
    out = a2.run(send)
    assert out.rc == 0, out.stderr
    # the heartbeat user may report heartbeat services only
    forged = a2.run(send.replace(shlex.quote(HEARTBEAT), shlex.quote("disk /")))
    assert forged.rc != 0
    wait_for("heartbeat OK", lambda: (icinga.service("m1", "a2", HEARTBEAT) or {}).get("state") == 0 or None,
             timeout=30)
    sent_at = time.monotonic()
    svc = wait_for("heartbeat CRITICAL after its 30 s window",
                   lambda: hard_state(icinga, "m1", "a2", HEARTBEAT, 2), timeout=120, interval=2)
    print("HEARTBEAT: silent job CRITICAL %.0f s after its last heartbeat (window 30 s): %s"
          % (time.monotonic() - sent_at, svc["last_check_result"]["output"]))
    assert time.monotonic() - sent_at >= 30
    assert a2.run(send).rc == 0
    wait_for("heartbeat OK again", lambda: (icinga.service("m1", "a2", HEARTBEAT) or {}).get("state") == 0 or None,
             timeout=30)


def test_bad_input_is_refused_before_anything_changes(hosts):
    before = hosts["m1"].run("md5sum /etc/icinga2/zones.d/master/*.conf").stdout
    rc, out = run_playbook(os.path.join(ROOT, "playbooks", "monitoring.yml"),
                           extra_vars={"icinga2_disk_levels": [5, 10]})
    assert rc != 0 and "icinga2_disk_levels must be distinct percentages" in out
    assert hosts["m1"].run("md5sum /etc/icinga2/zones.d/master/*.conf").stdout == before


def test_configuration_that_does_not_validate_is_rolled_back(hosts, icinga):
    before = hosts["m1"].run("md5sum /etc/icinga2/zones.d/global-templates/*.conf").stdout
    rc, out = run_playbook(os.path.join(ROOT, "playbooks", "monitoring.yml"),
                           extra_vars={"icinga2_host_check_command": "no-such-command"})
    assert rc != 0 and "does not validate, so it was rolled back" in out, out[-3000:]
    assert hosts["m1"].run("md5sum /etc/icinga2/zones.d/global-templates/*.conf").stdout == before
    assert hosts["m1"].service("icinga2").is_running
    assert icinga.call("m1", "GET", "/v1/status/ApiListener")["results"]
