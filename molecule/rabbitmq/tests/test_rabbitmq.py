"""Behaviour of the rabbitmq role: one cluster, TLS only, no guest, quorum queues
by default, no confirmed message lost when a node dies or during a rolling
restart, and membership that follows the inventory.

Tests run in file order and later ones disturb the cluster (kill, restart,
scale in and out); each leaves all three nodes running.
"""

import json
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "_shared"))
from nospof_testinfra import podman, recap  # noqa: E402

BROKERS = ["mq1", "mq2", "mq3"]
NODES = sorted("rabbit@" + b for b in BROKERS)
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SCENARIO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def client(hosts, instances, ephemeral_dir):
    """The client host, holding the app user's password."""
    podman("cp", os.path.join(ephemeral_dir, "secrets", "app.password"),
           f"{instances['client']}:/root/app.password")
    return hosts["client"]


def amqp(client, *args, check=True):
    cmd = client.run("/usr/local/bin/amqp_client.py " + " ".join(args))
    if check:
        assert cmd.rc == 0, cmd.stdout + cmd.stderr
    return json.loads(cmd.stdout.strip().splitlines()[-1]) if cmd.stdout.strip() else {}


def cluster_status(host):
    cmd = host.run("rabbitmqctl -q cluster_status --formatter json")
    return json.loads(cmd.stdout) if cmd.rc == 0 else None


def wait_running(host, nodes, timeout=240):
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = cluster_status(host)
        if status and sorted(status["running_nodes"]) == sorted(nodes):
            return status
        time.sleep(3)
    raise AssertionError(f"running nodes never became {nodes}: {status and status['running_nodes']}")


def run(cmd, **env):
    import subprocess

    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                                   ANSIBLE_CALLBACK_RESULT_FORMAT="json", **env))
    return proc.returncode, proc.stdout + proc.stderr


def test_three_nodes_form_one_cluster(hosts):
    for name in BROKERS:
        status = cluster_status(hosts[name])
        assert status, f"{name} does not answer"
        assert sorted(status["disk_nodes"]) == NODES
        assert sorted(status["running_nodes"]) == NODES
        assert not status["partitions"]


def test_pause_minority_and_cookie_secret(hosts):
    host = hosts["mq1"]
    cmd = host.run("rabbitmqctl -q eval 'application:get_env(rabbit, cluster_partition_handling).'")
    assert cmd.stdout.strip() == "{ok,pause_minority}"
    cookie = host.file("/var/lib/rabbitmq/.erlang.cookie")
    assert cookie.user == "rabbitmq" and cookie.mode == 0o400


def test_health_module_reports_a_healthy_cluster(hosts):
    rc, out = run(["ansible", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "mq2", "-m",
                   "nospof.platform.rabbitmq_cluster_health", "-a", "quorum_critical=true"])
    assert rc == 0, out
    result = json.loads(out.split("=>", 1)[1])
    assert result["healthy"] is True
    assert sorted(result["running_nodes"]) == NODES
    assert result["alarms"] == [] and result["partitions"] == {}


def test_tls_handshake_against_the_internal_ca(client):
    for name in BROKERS:
        cmd = client.run(f"openssl s_client -connect {name}:5671 -servername {name} "
                         "-CAfile /etc/ssl/nospof/ca.crt -verify_return_error -brief </dev/null")
        assert cmd.rc == 0, cmd.stderr
        assert "Verification: OK" in cmd.stderr


def test_old_protocols_and_weak_ciphers_refused(client):
    tls11 = client.run("openssl s_client -connect mq1:5671 -tls1_1 -CAfile /etc/ssl/nospof/ca.crt </dev/null")
    assert tls11.rc != 0
    no_fs = client.run("openssl s_client -connect mq1:5671 -tls1_2 -cipher AES256-GCM-SHA384 "
                       "-CAfile /etc/ssl/nospof/ca.crt </dev/null")
    assert no_fs.rc != 0, "a TLS 1.2 cipher without forward secrecy was accepted"


def test_plain_ports_closed(client):
    for port in (5672, 15672, 15692):
        cmd = client.run(f"timeout 5 bash -c 'exec 3<>/dev/tcp/mq1/{port}'")
        assert cmd.rc != 0, f"port {port} accepts connections"


def test_management_over_https(client, ephemeral_dir, instances, tmp_path):
    with open(os.path.join(ephemeral_dir, "secrets", "admin.password"), encoding="utf-8") as handle:
        password = handle.read().strip()
    # The password goes in a curl config file, never on a command line.
    config = tmp_path / "curl.conf"
    config.write_text(f'user = "admin:{password}"\n')
    config.chmod(0o600)
    podman("cp", str(config), f"{instances['client']}:/root/curl-admin.conf")
    cmd = client.run("curl -sf -K /root/curl-admin.conf --cacert /etc/ssl/nospof/ca.crt "
                     "https://mq2:15671/api/overview")
    assert cmd.rc == 0, cmd.stderr
    assert json.loads(cmd.stdout)["cluster_name"]
    metrics = client.run("curl -sf --cacert /etc/ssl/nospof/ca.crt https://mq3:15691/metrics")
    assert metrics.rc == 0 and "rabbitmq_" in metrics.stdout


def test_guest_cannot_log_in(client, hosts):
    users = hosts["mq1"].run("rabbitmqctl -q list_users --formatter json").stdout
    assert "guest" not in [u["user"] for u in json.loads(users)]
    result = amqp(client, "login --hosts mq1 --user guest --password guest", check=False)
    assert result == {"login": False, "error": result.get("error")}, result


def test_queues_are_quorum_by_default(client, hosts):
    amqp(client, "declare --hosts mq1 --queue default-type-check")
    out = hosts["mq2"].run("rabbitmqctl -q list_queues name type --formatter json").stdout
    types = {q["name"]: q["type"] for q in json.loads(out)}
    assert types["default-type-check"] == "quorum"


def test_two_node_cluster_refused_before_any_change(tmp_path):
    small = tmp_path / "two.yml"
    small.write_text("rabbitmq_two:\n  hosts:\n    mq1:\n    mq2:\n")
    rc, out = run(["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "-i", str(small),
                   os.path.join(ROOT, "playbooks", "rabbitmq.yml"), "-e", "rabbitmq_cluster_group=rabbitmq_two"])
    assert rc != 0
    assert "needs at least three members and an odd number" in " ".join(out.split()), out
    assert all(recap(out)[h]["changed"] == 0 for h in ("mq1", "mq2"))


def test_confirmed_messages_survive_a_killed_node(client, hosts, instances):
    published = amqp(client, "publish --hosts mq1 --queue durability --count 2000 --out /tmp/confirmed.txt")
    assert published["confirmed"] == 2000
    leader = hosts["mq1"].run("rabbitmqctl -q list_queues name leader --formatter json").stdout
    victim = {q["name"]: q["leader"] for q in json.loads(leader)}["durability"].split("@")[1]
    survivors = [b for b in BROKERS if b != victim]
    podman("kill", instances[victim])
    try:
        consumed = amqp(client, f"consume --hosts {survivors[0]},{survivors[1]} --queue durability "
                        "--out /tmp/consumed.txt --idle 8")
        lost = client.run("bash -c 'comm -23 <(sort /tmp/confirmed.txt) <(sort /tmp/consumed.txt) | wc -l'")
        assert int(lost.stdout.strip()) == 0, f"{lost.stdout.strip()} confirmed messages lost"
        assert consumed["consumed"] >= 2000
    finally:
        podman("start", instances[victim])
    wait_running(hosts[survivors[0]], NODES)
    status = wait_running(hosts[victim], NODES)
    assert sorted(status["disk_nodes"]) == NODES


def test_rolling_restart_under_load_loses_nothing(client, hosts, capsys):
    client.run("rm -f /tmp/stop /tmp/rolling.txt /tmp/rolling.json")
    client.run("nohup /usr/local/bin/amqp_client.py publish --hosts mq1,mq2,mq3 --queue rolling "
               "--until /tmp/stop --rate 50 --out /tmp/rolling.txt >/tmp/rolling.json 2>/tmp/rolling.err &")
    time.sleep(3)
    rc, out = run(["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
                   os.path.join(ROOT, "playbooks", "rolling_restart.yml")])
    client.run("touch /tmp/stop")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not client.run("test -s /tmp/rolling.json").succeeded:
        time.sleep(1)
    assert rc == 0, out
    assert recap(out)["mq1"]["changed"] == 1
    result = json.loads(client.run("cat /tmp/rolling.json").stdout)
    consumed = amqp(client, "consume --hosts mq1,mq2,mq3 --queue rolling --out /tmp/rolled.txt --idle 8")
    lost = int(client.run("bash -c 'comm -23 <(sort /tmp/rolling.txt) <(sort /tmp/rolled.txt) | wc -l'")
               .stdout.strip())
    with capsys.disabled():
        print(f"\nrolling restart of 3 nodes under load: {result['confirmed']} confirmed publishes, "
              f"{result['retries']} retried after a connection loss, {consumed['consumed']} consumed, "
              f"{lost} confirmed but lost")
    assert result["confirmed"] > 100
    assert lost == 0
    wait_running(hosts["mq1"], NODES)


def test_upgrade_playbook_runs_one_node_at_a_time(hosts):
    """With the newest packages already installed the upgrade changes nothing and restarts nothing."""
    before = {b: hosts[b].run("systemctl show -p ActiveEnterTimestampMonotonic rabbitmq-server").stdout
              for b in BROKERS}
    rc, out = run(["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
                   os.path.join(ROOT, "playbooks", "rabbitmq_upgrade.yml")])
    assert rc == 0, out
    assert all(recap(out)[b]["failed"] == 0 for b in BROKERS)
    after = {b: hosts[b].run("systemctl show -p ActiveEnterTimestampMonotonic rabbitmq-server").stdout
             for b in BROKERS}
    assert after == before, "a broker restarted although nothing was upgraded"


def test_scale_in_forgets_and_scale_out_joins(hosts, tmp_path):
    """mq3 leaves the group (stopped first) and is forgotten; then it comes back as a new node and joins."""
    small = tmp_path / "small.yml"
    small.write_text("rabbitmq_small:\n  hosts:\n    mq1:\n    mq2:\n")
    inventory = ["-i", os.environ["MOLECULE_INVENTORY_FILE"], "-i", str(small)]
    playbook = os.path.join(ROOT, "playbooks", "rabbitmq.yml")
    amqp(hosts["client"], "publish --hosts mq1 --queue scaling --count 100 --out /tmp/scaling.txt")

    assert hosts["mq3"].run("systemctl stop rabbitmq-server").rc == 0
    rc, out = run(["ansible-playbook", *inventory, playbook, "-e",
                   json.dumps({"rabbitmq_cluster_group": "rabbitmq_small",
                               "rabbitmq_allow_unsafe_cluster_size": True})])
    assert rc == 0, out
    status = cluster_status(hosts["mq1"])
    assert sorted(status["disk_nodes"]) == ["rabbit@mq1", "rabbit@mq2"]

    # mq3 comes back as a fresh host (its old data is of a cluster that forgot it).
    assert hosts["mq3"].run("rm -rf /var/lib/rabbitmq/mnesia && systemctl start rabbitmq-server").rc == 0
    rc, out = run(["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], playbook])
    assert rc == 0, out
    status = wait_running(hosts["mq1"], NODES)
    assert sorted(status["disk_nodes"]) == NODES
    members = hosts["mq1"].run("rabbitmq-queues -q quorum_status scaling --formatter json").stdout
    assert "rabbit@mq3" in members, members
    consumed = amqp(hosts["client"], "consume --hosts mq3 --queue scaling --out /tmp/scaled.txt --idle 5")
    assert consumed["consumed"] == 100
