"""The metrics tier: statsd and collectd data on both storage nodes, read back
from either, through the loss of one node.

Tests run in file order: the kill test comes after the steady-state ones.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "_shared"))
from nospof_testinfra import podman, recap, run_playbook, wait_for  # noqa: E402

SCENARIO_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STORAGE = ["metrics1", "metrics2"]
WHISPER = "/var/lib/graphite/whisper"
COUNTER = "collectd.client.statsd.derive-nospof_test_requests"
GAUGE = "collectd.client.statsd.gauge-nospof_test_queue"
ADDRESSES = {"metrics1": "10.213.62.11", "metrics2": "10.213.62.12"}


def statsd(host, *lines):
    """Send statsd lines to the client's collectd over loopback UDP."""
    payload = "\n".join(lines)
    script = ("import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
              "s.sendto(sys.argv[1].encode(), ('127.0.0.1', 8125))")
    host.check_output("python3 -c %s %s", script, payload)


def render(host, node, target, window="-10min"):
    """graphite-web's render API on `node`, over HTTPS verified against the CA, from `host`."""
    url = f"https://{ADDRESSES[node]}:8443/render?target={target}&from={window}&format=json"
    script = ("import json,ssl,sys,urllib.request as u; "
              "c=ssl.create_default_context(cafile='/etc/ssl/nospof/ca.crt'); "
              "print(u.urlopen(sys.argv[1], context=c, timeout=20).read().decode())")
    out = host.run("python3 -c %s %s", script, url)
    if out.rc != 0:
        return None
    return json.loads(out.stdout)


def values(series):
    return [point[0] for s in series or [] for point in s["datapoints"] if point[0] is not None]


def whisper_path(metric):
    return f"{WHISPER}/{metric.replace('.', '/')}.wsp"


def whisper_values(host, metric):
    out = host.run("whisper-fetch --from=%s %s", str(int(time.time()) - 3600), whisper_path(metric))
    if out.rc != 0:
        return []
    return [float(v) for _, v in (line.split() for line in out.stdout.splitlines()) if v != "None"]


def test_services_listen_and_default_ports_stay_closed(hosts):
    for name in STORAGE:
        listening = hosts[name].check_output("ss -Htln | awk '{print $4}'")
        for port in (":2003", ":2103", ":7002", ":8443"):
            assert port in listening, f"{name} does not listen on {port}"
        # carbon's pickle receiver is on loopback only; no UDP receiver.
        assert "127.0.0.1:2104" in listening
        assert ":2003" not in hosts[name].check_output("ss -Huln | awk '{print $4}'")
    client = hosts["client"].check_output("ss -Htln | awk '{print $4}'")
    assert "127.0.0.1:2003" in client, "the client's local relay listens on loopback"
    assert "0.0.0.0:2003" not in client
    assert "127.0.0.1:8125" in hosts["client"].check_output("ss -Huln | awk '{print $4}'")


def test_relay_graphite_web_and_ring_agree(hosts):
    """The relay's routes (its own test mode) and graphite-web's carbonlink ring
    place every series on the same nodes."""
    metrics = [f"nospof.ring.m{i}" for i in range(40)] + [COUNTER, GAUGE]
    stdin = "\\n".join(f"{m} 1 1" for m in metrics)
    for name in STORAGE:
        host = hosts[name]
        routes = host.check_output(f"printf '{stdin}\\n' | carbon-c-relay -t -f /etc/carbon-c-relay.conf")
        relay = []
        for block in routes.split("match\n")[1:]:
            lines = [line.strip() for line in block.splitlines()]
            relay.append(sorted(ADDRESS_NAMES[line.rsplit(":", 1)[0]] for line in lines if line.endswith(":2103")))
        assert len(relay) == len(metrics)
        script = ("import os,json,sys; os.environ['DJANGO_SETTINGS_MODULE']='graphite.settings'; "
                  "import django; django.setup(); from graphite.carbonlink import CarbonLink; "
                  "from django.conf import settings; pool=CarbonLink(); "
                  "print(json.dumps([sorted(n[1] for n in list(pool.hash_ring.get_nodes(m))[:settings.REPLICATION_FACTOR]) "
                  "for m in sys.argv[1].split()]))")
        web = json.loads(host.check_output("cd /tmp && python3 -c %s %s", script, " ".join(metrics)))
        assert web == relay, f"graphite-web's carbonlink ring and the relay disagree on {name}"


ADDRESS_NAMES = {v: k for k, v in ADDRESSES.items()}


def test_statsd_counter_and_gauge_land_on_both_nodes(hosts):
    client = hosts["client"]
    # Over several flush intervals: a counter's first reading is its baseline
    # (collectd stores rates), so increments must span more than one flush.
    for _ in range(9):
        statsd(client, "nospof_test_requests:5|c", "nospof_test_queue:17|g")
        time.sleep(2)
    for name in STORAGE:
        for metric in (COUNTER, GAUGE):
            wait_for(f"{metric} on {name}", lambda: hosts[name].file(whisper_path(metric)).exists)
    wait_for("the gauge's value in whisper on both nodes",
             lambda: all(17.0 in whisper_values(hosts[n], GAUGE) for n in STORAGE))


def test_render_api_answers_from_either_node(hosts):
    client = hosts["client"]
    for name in STORAGE:
        series = wait_for(f"the gauge from {name}", lambda: values(render(client, name, GAUGE)))
        assert 17.0 in series
        counter = wait_for(f"the counter from {name}", lambda: values(render(client, name, COUNTER)))
        assert any(v > 0 for v in counter)


def test_system_metrics_from_every_host(hosts):
    for name in STORAGE + ["client"]:
        wait_for(f"collectd load of {name} on metrics1",
                 lambda: hosts["metrics1"].file(f"{WHISPER}/collectd/{name}/load").is_directory)


def test_http_is_refused_and_tls_has_forward_secrecy(hosts):
    client = hosts["client"]
    script = ("import ssl,socket; c=ssl.create_default_context(cafile='/etc/ssl/nospof/ca.crt'); "
              "c.maximum_version=ssl.TLSVersion.TLSv1_2; "
              "s=c.wrap_socket(socket.create_connection(('10.213.62.11',8443)), server_hostname='10.213.62.11'); "
              "print(s.cipher()[0])")
    cipher = client.check_output("python3 -c %s", script)
    assert cipher.startswith("ECDHE-"), cipher
    plain = client.run("python3 -c %s", "import urllib.request as u; u.urlopen('http://10.213.62.11:8443/', timeout=5)")
    assert plain.rc != 0


def test_check_mode_on_the_converged_tier_changes_nothing():
    rc, out = run_playbook(os.path.join(SCENARIO_DIR, "converge.yml"), check=True)
    assert rc == 0, out[-3000:]
    assert all(r.get("changed", 0) == 0 for r in recap(out).values()), out[-3000:]


def test_replication_above_the_member_count_is_refused_before_any_change():
    rc, out = run_playbook(os.path.join(SCENARIO_DIR, "converge.yml"), extra_vars={"graphite_replication": 3})
    assert rc != 0
    assert "graphite_replication is 3 but 'graphite' has 2 member(s)" in " ".join(out.split())
    assert all(r.get("changed", 0) == 0 for r in recap(out).values())


def test_points_arrive_with_a_node_killed_and_the_node_catches_up(hosts, instances):
    client = hosts["client"]
    podman("kill", instances["metrics1"])
    try:
        start = time.monotonic()
        for _ in range(6):
            statsd(client, "nospof_test_queue:4242|g")
            time.sleep(2)
        seen = wait_for("the new gauge value from metrics2 with metrics1 down",
                        lambda: 4242.0 in values(render(client, "metrics2", GAUGE)), timeout=120)
        print(f"\nnew point readable from metrics2 {time.monotonic() - start:.1f}s after metrics1 was killed")
        assert seen
        assert 4242.0 in whisper_values(hosts["metrics2"], GAUGE) or wait_for(
            "4242 in metrics2's whisper", lambda: 4242.0 in whisper_values(hosts["metrics2"], GAUGE))
    finally:
        podman("start", instances["metrics1"])
    metrics1 = hosts["metrics1"]
    wait_for("metrics1's services", lambda: metrics1.run(
        "systemctl is-active carbon-cache carbon-c-relay graphite-web").rc == 0, timeout=120)
    # The relays queued metrics1's copy while it was down and deliver it now.
    wait_for("the point sent while metrics1 was down in metrics1's own whisper file",
             lambda: 4242.0 in whisper_values(metrics1, GAUGE), timeout=180)
    for name in STORAGE:
        assert 4242.0 in wait_for(f"the gauge from {name} after the return",
                                  lambda: values(render(client, name, GAUGE)), timeout=120)
    # And new points reach both again.
    statsd(client, "nospof_test_queue:777|g")
    wait_for("a new point on both nodes",
             lambda: all(777.0 in whisper_values(hosts[n], GAUGE) for n in STORAGE), timeout=120)


REBALANCE_SERIES = 300


def _ring_module():
    import importlib.util

    path = os.path.join(SCENARIO_DIR, "..", "..", "plugins", "module_utils", "graphite.py")
    spec = importlib.util.spec_from_file_location("nospof_graphite_ring", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _grown_inventory(ephemeral_dir):
    """This scenario's inventory with metrics3 moved into the graphite group."""
    import shutil

    import yaml

    source = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
    target = os.path.join(ephemeral_dir, "inventory-grown")
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    path = os.path.join(target, os.path.basename(os.environ["MOLECULE_INVENTORY_FILE"]))
    with open(path, encoding="utf-8") as handle:
        inventory = yaml.safe_load(handle)
    inventory["graphite"]["hosts"]["metrics3"] = inventory["all"]["hosts"]["metrics3"]
    inventory["spare"]["hosts"] = {}
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(inventory, handle)
    return path


def _holders(hosts, nodes):
    out = {}
    for node in nodes:
        listing = hosts[node].run("cd %s && find nospof/rebalance -name '*.wsp' 2>/dev/null", WHISPER).stdout
        for line in listing.split():
            out.setdefault(line[:-4].replace("/", "."), []).append(node)
    return out


def test_rebalance_from_two_to_three_nodes(hosts, ephemeral_dir):
    """Every series readable before, during and after; afterwards each is on
    exactly its two owners, with its points."""
    import threading

    client = hosts["client"]
    names = [f"nospof.rebalance.s{i:03d}" for i in range(REBALANCE_SERIES)]
    now = int(time.time())
    script = ("import socket,sys,time; s=socket.create_connection(('127.0.0.1',2003)); "
              "n=int(sys.argv[1]); t=int(sys.argv[2]); "
              "s.sendall(''.join('nospof.rebalance.s%03d %d %d\\n' % (i, i + 1, t - k * 10) "
              "for i in range(n) for k in range(6)).encode()); s.close()")
    client.check_output("python3 -c %s %s %s", script, str(REBALANCE_SERIES), str(now))
    wait_for("every test series on both storage nodes", lambda: all(
        len(nodes) == 2 for nodes in _holders(hosts, STORAGE).values()) and len(_holders(hosts, STORAGE)) == len(names),
        timeout=180)

    def readable(node):
        data = render(client, node, "nospof.rebalance.*", window="-30min")
        return sum(1 for s in data or [] if any(p[0] is not None for p in s["datapoints"]))

    assert readable("metrics1") == len(names)

    inventory = _grown_inventory(ephemeral_dir)
    # The operator's step: metrics3 joins the group (certificate, then
    # playbooks/metrics.yml gives every relay and graphite-web the new ring).
    rc, out = run_playbook(os.path.join(SCENARIO_DIR, "converge.yml"), inventory=inventory)
    assert rc == 0, out[-4000:]
    ADDRESSES["metrics3"] = "10.213.62.13"

    counts, stop = [], threading.Event()

    def poll():
        nodes = ["metrics1", "metrics2", "metrics3"]
        i = 0
        while not stop.is_set():
            counts.append((nodes[i % 3], readable(nodes[i % 3])))
            i += 1
            time.sleep(1)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        playbook = os.path.join(SCENARIO_DIR, "..", "..", "playbooks", "graphite_rebalance.yml")
        rc, plan = run_playbook(playbook, inventory=inventory, check=True)
        assert rc == 0, plan[-4000:]
        assert "not where the ring puts them" in plan
        assert not _holders(hosts, ["metrics3"]), "check mode moved nothing"
        started = time.monotonic()
        rc, out = run_playbook(playbook, inventory=inventory)
        took = time.monotonic() - started
        assert rc == 0, out[-4000:]
    finally:
        stop.set()
        poller.join(timeout=60)
    counts.append(("metrics3", readable("metrics3")))
    import re

    figures = re.search(r"(\d+) series, (\d+) not where the ring puts them", plan)
    print(f"\nrebalance from 2 to 3 nodes of {figures.group(1)} series ({figures.group(2)} misplaced, "
          f"{REBALANCE_SERIES} of them test series): {took:.1f}s (playbook); "
          f"{len(counts)} reads during it, fewest series readable: {min(c for _, c in counts)}")
    assert len(counts) >= 3
    assert all(c == len(names) for _, c in counts), [x for x in counts if x[1] != len(names)][:5]

    ring = _ring_module().HashRing({"hash": "fnv1a_ch", "replication": 2, "members": [
        {"name": n, "address": ADDRESSES[n], "port": 2103} for n in ("metrics1", "metrics2", "metrics3")]})
    holders = _holders(hosts, ["metrics1", "metrics2", "metrics3"])
    assert sorted(holders) == sorted(names)
    wrong = {s: nodes for s, nodes in holders.items() if sorted(nodes) != sorted(ring.owners(s))}
    assert not wrong, list(wrong.items())[:5]
    for s in names[:: 30]:
        expected = float(int(s[-3:]) + 1)
        for node in ring.owners(s):
            assert whisper_values(hosts[node], s).count(expected) >= 5, (s, node)
