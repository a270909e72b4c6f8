"""The search tier: a green cluster of three with TLS and the security plugin,
logs from every host found by search, nothing acknowledged lost when a node
dies, logs kept while the tier is down, snapshot and restore, rolling restart.

Tests run in file order: the fault tests come after the steady-state ones.
"""

import json
import os
import subprocess
import sys
import time
import uuid

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "_shared"))
from nospof_testinfra import podman, recap, run_playbook, wait_for  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
NODES = ["os1", "os2", "os3"]
# The nodes share one address (see molecule.yml) and listen on their own ports.
PORTS = {"os1": 9200, "os2": 9201, "os3": 9202, "os4": 9203}  # os4 joins in the last test
ENDPOINTS = ",".join(f"{n}:{PORTS[n]}" for n in NODES)
CA = "/etc/ssl/nospof/ca.crt"


def secret(ephemeral_dir, user):
    with open(os.path.join(ephemeral_dir, "secrets", user), encoding="utf-8") as handle:
        return handle.read().split()[0]


@pytest.fixture(scope="module")
def client(hosts):
    return hosts["client"]


@pytest.fixture(scope="module")
def api(client, ephemeral_dir):
    """api(method, path, body=None, user='osadmin', node='os1') -> (status, parsed body)."""

    def call(method, path, body=None, user="osadmin", node="os1", password=None):
        args = ["curl", "-s", "-o", "/tmp/api.out", "-w", "%{http_code}", "--cacert", CA, "-X", method,
                "-H", "content-type: application/json", f"https://{node}:{PORTS[node]}{path}"]
        if user:
            args += ["-u", f"{user}:{password or secret(ephemeral_dir, user)}"]
        if body is not None:
            args += ["--data-binary", json.dumps(body) if not isinstance(body, str) else body]
        out = client.run(" ".join("'" + a.replace("'", "'\\''") + "'" for a in args))
        text = client.run("cat /tmp/api.out").stdout
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
        return int(out.stdout or 0), parsed

    return call


def health(api, node="os1"):
    status, body = api("GET", "/_cluster/health", node=node)
    return body if status == 200 else None


def wait_green(api, nodes=3, node="os1", timeout=300):
    return wait_for(f"a green cluster of {nodes}", lambda: (
        (h := health(api, node)) and h["status"] == "green" and h["number_of_nodes"] == nodes and h), timeout)


def search_count(api, index, query, user="logreader"):
    status, body = api("GET", f"/{index}/_count?q={query}", user=user)
    return body["count"] if status == 200 else -1


PLUGINS = os.path.join(ROOT, "roles", "icinga2", "files", "plugins")
CHECK_DIR = "/usr/local/lib/nospof-check"


@pytest.fixture(scope="module")
def os_check(client, instances, ephemeral_dir):
    """os_check(*args, password=None) -> (exit code, output) of the Icinga plugin
    check_nospof_opensearch, run on the client as the `monitoring` user (role
    nospof_monitor) against the live cluster."""
    client.check_output(f"mkdir -p {CHECK_DIR}")
    for name in ("nospof_plugin.py", "check_nospof_opensearch"):
        podman("cp", os.path.join(PLUGINS, name), f"{instances['client']}:{CHECK_DIR}/{name}")

    def run(*args, password=None):
        client.run("umask 077; printf '%%s\\n' %s > /root/os-monitoring.pass",
                   password or secret(ephemeral_dir, "monitoring"))
        out = client.run(f"python3 {CHECK_DIR}/check_nospof_opensearch --ca-file {CA} --user monitoring "
                         "--password-file /root/os-monitoring.pass " + " ".join(args))
        return out.rc, out.stdout + out.stderr

    return run


def urls(*nodes):
    return " ".join(f"--url https://{n}:{PORTS[n]}" for n in nodes)


def test_three_nodes_form_a_green_cluster(api, hosts):
    h = wait_green(api)
    assert h["number_of_nodes"] == 3 and h["cluster_name"] == "nospof"
    status, nodes = api("GET", "/_cat/nodes?format=json&h=name,node.role")
    assert status == 200 and sorted(n["name"] for n in nodes) == NODES
    for name in NODES:
        config = hosts[name].file("/etc/opensearch/opensearch.yml").content_string
        assert "cluster.initial_cluster_manager_nodes" not in config, f"{name} still has the bootstrap list"


def test_plain_http_and_anonymous_requests_are_refused(client, api):
    plain = client.run("curl -s -m 5 -o /dev/null -w '%{http_code}' http://os1:9200/")
    assert plain.stdout.strip() in ("000", ""), "plain HTTP answered"
    assert api("GET", "/", user=None)[0] == 401
    assert api("GET", "/", user="admin", password="admin")[0] == 401, "the demo admin user exists"
    status, users = api("GET", "/_plugins/_security/api/internalusers")
    assert status == 200 and sorted(users) == ["logreader", "logwriter", "monitoring", "osadmin"]


def test_tls_has_forward_secrecy_only(client):
    def handshake(*opts):
        return client.run("openssl s_client -connect os2:9201 -CAfile %s %s < /dev/null" % (CA, " ".join(opts)))

    good = handshake("-tls1_2")
    assert good.rc == 0 and "ECDHE" in good.stdout, good.stdout[-500:]
    assert handshake("-tls1_2", "-cipher", "AES128-GCM-SHA256").rc != 0, "static RSA key exchange accepted"
    assert handshake("-tls1_1").rc != 0, "TLS 1.1 accepted"


def test_reader_reads_but_cannot_write(api):
    status, _ = api("POST", "/logs/_doc", {"message": "reader write"}, user="logreader")
    assert status == 403
    assert api("GET", "/logs/_search?size=1", user="logreader")[0] == 200
    assert api("POST", "/logs/_doc", {"message": "writer write", "host": "test"}, user="logwriter")[0] == 201


def test_monitoring_check_reads_the_live_cluster(os_check, capsys):
    rc, out = os_check(urls("os1", "os2", "os3"), "--expected-nodes 3")
    assert rc == 0 and out.startswith("OPENSEARCH OK") and "is green: 3 nodes" in out, out
    assert "nodes=3;3:;2:" in out, out
    rc, out = os_check(urls("os1"), "--expected-nodes 4")
    assert rc == 1 and "3 of 4 expected nodes" in out, out
    # A node that does not answer (os4 runs no OpenSearch yet): the next URL answers.
    rc, out = os_check(urls("os4", "os2"), "--expected-nodes 3")
    assert rc == 0 and "answered by https://os2:9201" in out, out
    rc, out = os_check(urls("os1"), password="not-the-password")
    assert rc == 3 and "credentials refused" in out and "not-the-password" not in out, out
    with capsys.disabled():
        print(f"\ncheck_nospof_opensearch against the cluster: {out.splitlines()[0][:120]}")


def test_log_indices_have_a_replica_and_a_write_alias(api):
    status, aliases = api("GET", "/_alias/logs")
    assert status == 200
    writers = [i for i, a in aliases.items() if a["aliases"]["logs"].get("is_write_index")]
    assert len(writers) == 1
    status, settings = api("GET", f"/{writers[0]}/_settings")
    assert settings[writers[0]]["settings"]["index"]["number_of_replicas"] == "1"


def test_a_logger_line_is_found_by_search_within_seconds(client, api, capsys):
    token = f"nospof{uuid.uuid4().hex}"
    start = time.monotonic()
    client.check_output("logger -t nospoftest -p user.warning %s", token)
    wait_for("the line in OpenSearch", lambda: search_count(api, "logs", token) == 1, timeout=60, interval=1)
    took = time.monotonic() - start
    _, hits = api("GET", f"/logs/_search?q={token}", user="logreader")
    doc = hits["hits"]["hits"][0]["_source"]
    assert doc["program"] == "nospoftest" and doc["severity"] == "warning" and token in doc["message"]
    assert doc["host"] and doc["@timestamp"]
    with capsys.disabled():
        print(f"\nlogger line found by search after {took:.1f} s")


def test_every_host_ships_logs(hosts, api):
    for name, host in hosts.items():
        if name == "osnet":  # holds the nodes' network namespace, nothing else
            continue
        token = f"from{name}{uuid.uuid4().hex[:8]}"
        host.check_output("logger -t nospoftest %s", token)
        wait_for(f"a line from {name}", lambda: search_count(api, "logs", token) == 1, timeout=60, interval=1)


def test_lifecycle_rolls_over_and_deletes_past_retention(hosts, api):
    assert api("PUT", "/lctest-000001", {"aliases": {"lctest": {"is_write_index": True}},
                                         "settings": {"number_of_replicas": 1}})[0] == 200
    assert api("POST", "/lctest/_doc?refresh=true", {"message": "one"})[0] == 201
    config = {"url": "https://10.213.63.10:9200", "ca": "/etc/opensearch/tls/ca.pem",
              "cert": "/etc/opensearch-admin/admin.pem", "key": "/etc/opensearch-admin/admin-key.pem",
              "node_name": "os1",
              "policies": [{"alias": "lctest", "pattern": "lctest-*", "rollover": {"max_docs": 1},
                            "delete_after": "1s"}]}
    hosts["os1"].run("echo %s > /tmp/lc.json", json.dumps(config))
    time.sleep(2)
    out = hosts["os1"].run("nospof-opensearch-lifecycle --config /tmp/lc.json --any-node")
    assert out.rc == 0, out.stdout + out.stderr
    out = hosts["os1"].run("nospof-opensearch-lifecycle --config /tmp/lc.json --any-node")
    assert out.rc == 0, out.stdout + out.stderr
    status, indices = api("GET", "/_cat/indices/lctest-*?format=json&h=index")
    assert [i["index"] for i in indices] == ["lctest-000002"], indices
    # The installed job acts on one node only: the elected cluster manager.
    acted = [n for n in NODES
             if "not the cluster manager" not in hosts[n].run("nospof-opensearch-lifecycle --dry-run").stdout]
    assert len(acted) == 1, acted


def test_reconverge_in_check_mode_changes_nothing():
    rc, out = run_playbook(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "converge.yml"),
                           check=True)
    assert rc == 0, out[-3000:]
    assert all(v["changed"] == 0 for v in recap(out).values()), out[-3000:]


def test_two_node_cluster_refused_before_any_change(tmp_path):
    small = tmp_path / "two.yml"
    small.write_text("opensearch_two:\n  hosts:\n    os1:\n    os2:\n")
    proc = subprocess.run(["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "-i", str(small),
                           os.path.join(ROOT, "playbooks", "search.yml"), "-e", "opensearch_cluster_group=opensearch_two"],
                          capture_output=True, text=True, env=dict(os.environ, ANSIBLE_NOCOLOR="1"))
    rc, out = proc.returncode, proc.stdout + proc.stderr
    assert rc != 0
    assert "fewer than three eligible nodes" in " ".join(out.split()), out[-2000:]
    assert all(recap(out)[h]["changed"] == 0 for h in ("os1", "os2"))


def test_no_acknowledged_document_is_lost_when_a_node_is_killed(client, api, instances, ephemeral_dir, capsys,
                                                               os_check):
    assert api("PUT", "/durability", {"settings": {"number_of_shards": 3, "number_of_replicas": 1}})[0] == 200
    wait_green(api)
    env = f"OS_USER=osadmin OS_PASSWORD={secret(ephemeral_dir, 'osadmin')}"
    client.run("rm -f /tmp/os-client.stop /tmp/acked.txt")
    client.run(f"{env} nohup os-client index --hosts {ENDPOINTS} --index durability --out /tmp/acked.txt "
               "--seconds 120 > /tmp/index.json 2>&1 &")
    wait_for("documents being acknowledged", lambda: int(client.run("wc -l < /tmp/acked.txt").stdout or 0) > 50)
    podman("kill", instances["os2"])
    killed_at = int(client.run("wc -l < /tmp/acked.txt").stdout)
    try:
        wait_for("writes going on without os2",
                 lambda: int(client.run("wc -l < /tmp/acked.txt").stdout) > killed_at + 200, timeout=120)
        client.run("touch /tmp/os-client.stop")
        wait_for("the writer to stop", lambda: client.run("cat /tmp/index.json").stdout.strip(), timeout=60)
        writer = json.loads(client.run("cat /tmp/index.json").stdout)
        check = json.loads(client.check_output(f"{env} os-client missing --hosts os1:9200,os3:9202 --index durability "
                                               "--ids /tmp/acked.txt"))
        assert check["missing"] == 0, check
        assert check["checked"] == writer["acked"] > killed_at
        # The monitoring check sees the lost node (WARNING: 2 of 3, still a majority).
        rc, out = wait_for("the monitoring check to see 2 of 3 nodes",
                           lambda: (r := os_check(urls("os1", "os2", "os3"), "--expected-nodes 3"))[0] == 1 and r)
        assert "2 of 3 expected nodes" in out, out
        with capsys.disabled():
            print(f"\nkilled os2 after {killed_at} acknowledged documents; {writer['acked']} acknowledged in all "
                  f"({writer['failovers']} failed attempts moved on to the next node); missing afterwards: 0")
    finally:
        podman("start", instances["os2"])
    h = wait_green(api, node="os1", timeout=300)
    assert h["number_of_nodes"] == 3


def test_logs_written_while_the_tier_is_down_arrive_after(hosts, client, api, capsys):
    """Lines logged while every node is down wait in rsyslog's disk-assisted
    queue, and survive a restart of rsyslog in the middle of the outage (the
    queue is saved to disk on shutdown and read back at start)."""
    token = f"outage{uuid.uuid4().hex[:12]}"
    for name in NODES:
        hosts[name].check_output("systemctl stop opensearch")
    try:
        for i in range(20):
            client.check_output("logger -t nospoftest %s %s", token, str(i))
        time.sleep(5)
        client.check_output("systemctl restart rsyslog")
        for i in range(20, 40):
            client.check_output("logger -t nospoftest %s %s", token, str(i))
        time.sleep(5)
        queued = client.check_output("du -sb /var/spool/rsyslog | cut -f1")
    finally:
        for name in NODES:
            hosts[name].run("systemctl start opensearch")
    wait_green(api, timeout=300)
    start = time.monotonic()
    deadline = start + 180
    while search_count(api, "logs", token) != 40 and time.monotonic() < deadline:
        time.sleep(2)
    _, hits = api("GET", f"/logs/_search?q={token}&size=100", user="logreader")
    found = sorted(int(h["_source"]["message"].split()[-1]) for h in hits["hits"]["hits"])
    assert found == list(range(40)), (
        f"lines found (index): {found}; rejected: {client.run('tail -5 /var/log/nospof-log-shipper-rejected.log').stdout}"
        f"; rsyslog: {client.run('journalctl -u rsyslog -n 15 --no-pager -o cat').stdout[-2500:]}")
    with capsys.disabled():
        print(f"\n40 lines logged with the search tier down, rsyslog restarted after 20 ({queued} bytes in the "
              f"queue directory), arrived {time.monotonic() - start:.1f} s after it was green")


def test_snapshot_and_restore_round_trip(api):
    api("POST", "/durability/_refresh")
    _, before = api("GET", "/durability/_count")
    name = f"test-{int(time.time())}"
    rc, out = run_playbook(os.path.join(ROOT, "playbooks", "opensearch_snapshot.yml"),
                           extra_vars={"snapshot_name": name, "snapshot_indices": ["durability"]})
    assert rc == 0, out[-3000:]
    rc, out = run_playbook(os.path.join(ROOT, "playbooks", "opensearch_restore.yml"),
                           extra_vars={"snapshot_name": name, "snapshot_indices": ["durability"]})
    assert rc == 0, out[-3000:]
    api("POST", "/restored-durability/_refresh")
    _, after = api("GET", "/restored-durability/_count")
    assert after["count"] == before["count"] > 0


def test_rolling_restart_one_node_at_a_time(api, hosts):
    started = {n: hosts[n].check_output("systemctl show -p ActiveEnterTimestampMonotonic opensearch") for n in NODES}
    rc, out = run_playbook(os.path.join(ROOT, "playbooks", "rolling_restart.yml"),
                           extra_vars={"rolling_restart_tiers": ["opensearch"]})
    assert rc == 0, out[-3000:]
    for n in NODES:
        assert hosts[n].check_output("systemctl show -p ActiveEnterTimestampMonotonic opensearch") != started[n]
    wait_green(api)
    status, settings = api("GET", "/_cluster/settings")
    assert "enable" not in json.dumps(settings.get("persistent", {})), settings


def test_scale_out_to_a_fourth_node(api, hosts, os_check, tmp_path, capsys):
    """Adding a host to the group is the whole scale-out. The running members
    learn the new node's certificate subject (a static setting) by restarting
    one at a time, each once the cluster is green; only then does the new node
    start and join, and the balancer gives it shards. The cluster answers and
    is never red meanwhile."""
    import threading

    def started(name):
        return int(hosts[name].check_output("systemctl show -p ActiveEnterTimestampMonotonic --value opensearch")
                   or 0)

    before = {n: started(n) for n in NODES}
    four = tmp_path / "four.yml"
    four.write_text("opensearch:\n  hosts:\n    os4:\n")
    command = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "-i", str(four),
               os.path.join(ROOT, "playbooks", "search.yml"), "-e", json.dumps({"nospof_log_agents": "os4"})]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    seen, stop = [], threading.Event()

    def poll():
        while not stop.is_set():
            h = health(api, node="os3") or health(api, node="os1") or health(api, node="os2")
            seen.append((h or {}).get("status", "no answer"))
            time.sleep(2)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    begin = time.monotonic()
    try:
        proc = subprocess.run(command, capture_output=True, text=True, env=env)
    finally:
        stop.set()
        poller.join(timeout=30)
    took = time.monotonic() - begin
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    h = wait_green(api, nodes=4)
    assert h["number_of_nodes"] == 4
    after = {n: started(n) for n in NODES}
    assert all(after[n] > before[n] for n in NODES), "every running member restarted to accept os4"
    assert started("os4") > max(after.values()), "os4 started after the others had restarted"
    for n in NODES:
        assert "127.0.0.1:9303" in hosts[n].file("/etc/opensearch/opensearch.yml").content_string
    assert "red" not in seen and "no answer" not in seen, seen
    # The balancer moves copies of existing indices to the new node.
    wait_for("shards of the durability index on os4", lambda: any(
        s["node"] == "os4" for s in api("GET", "/_cat/shards/durability?format=json&h=node")[1]), timeout=180)
    rc, out = os_check(urls("os4", "os1"), "--expected-nodes 4")
    assert rc == 0 and "is green: 4 nodes" in out, out
    # A second run with the fourth node changes nothing.
    proc = subprocess.run(command + ["--check", "--diff"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert all(v["changed"] == 0 for v in recap(proc.stdout).values()), proc.stdout[-3000:]
    with capsys.disabled():
        print(f"\nscale-out to four nodes: search.yml took {took:.0f} s (os1-os3 restarted one at a time, then "
              f"os4 joined); cluster health every 2 s meanwhile: {len(seen)} answers, "
              f"{seen.count('yellow')} yellow, none red")
