"""The lab from bare containers: every tier wired to the others.

Figures (both site.yml durations, number of hosts) are printed from the runs
the converge and idempotence steps kept."""

import glob
import os
import re
import subprocess

import yaml

ZONE = "lab.nospof.internal"
VIP = "10.213.59.250"
CLIENT = os.path.join(os.path.dirname(__file__), "..", "..", "rabbitmq", "files", "amqp_client.py")


def inventory_hosts(ephemeral_dir):
    with open(os.path.join(ephemeral_dir, "inventory-lab", "lab.cmdb.yml"), encoding="utf-8") as handle:
        return [h["name"] for h in yaml.safe_load(handle)["hosts"]]


def test_both_runs_are_recorded_and_the_second_changed_nothing(ephemeral_dir, lab_hosts):
    runs = sorted(glob.glob(os.path.join(ephemeral_dir, "site-run-*.log")))
    assert len(runs) >= 2, runs
    figures = []
    for path in runs:
        text = re.sub(r"\x1b\[[0-9;]*m", "", open(path, encoding="utf-8").read())
        recap = {m.group(1): int(m.group(2)) for m in re.finditer(r"(?m)^(\S+)\s+: ok=\d+\s+changed=(\d+)", text)}
        seconds = float(re.search(r"seconds: ([\d.]+)", text).group(1))
        figures.append((os.path.basename(path), seconds, sum(recap.values()), len(recap) - ("localhost" in recap)))
    for name, seconds, changed, hosts in figures:
        print(f"lab {name}: {hosts} hosts, {seconds:.0f} s, {changed} changes")
    assert figures[-1][2] == 0
    assert figures[0][3] == len(lab_hosts) == len(inventory_hosts(ephemeral_dir))


def test_every_host_installs_through_the_mirror_pair(lab_hosts):
    for name, host in lab_hosts.items():
        listed = [line.split()[0].rstrip("/") for line in host.file("/etc/apt/mirrors/nospof-debian.list").content_string.splitlines()
                  if line.strip() and not line.startswith("#")]
        assert listed == ["https://infra1/debian", "https://infra2/debian"], name
        assert host.file("/etc/apt/sources.list.d/debian.sources").exists is False, name


def test_every_host_resolves_hosts_services_and_vips_through_both_servers(lab_hosts):
    servers = sorted(lab_hosts[s].check_output("hostname -I").split()[0] for s in ("infra1", "infra2"))
    for name, host in lab_hosts.items():
        resolv = host.file("/etc/resolv.conf").content_string
        assert sorted(re.findall(r"(?m)^nameserver\s+(\S+)", resolv)) == servers, name
        assert host.run("getent hosts mq1.%s", ZONE).rc == 0, name
        assert host.check_output("getent hosts mq").split()[0] == VIP, name
    srv = lab_hosts["infra1"].check_output("dig +short -t SRV _amqps._tcp.%s @127.0.0.1", ZONE)
    assert sorted(line.split()[-1].rstrip(".") for line in srv.splitlines()) == [
        f"mq{i}.{ZONE}" for i in (1, 2, 3)]


def test_rabbitmq_answers_through_the_vip_and_only_there(lab_hosts, ephemeral_dir):
    client = lab_hosts["metrics1"]
    install = client.run("DEBIAN_FRONTEND=noninteractive apt-get install -y python3-pika")
    assert install.rc == 0, install.stdout + install.stderr  # through the mirrors
    subprocess.run(["podman", "cp", CLIENT, "nospof-labtest-metrics1:/usr/local/bin/amqp_client.py"], check=True)
    subprocess.run(["podman", "cp", os.path.join(ephemeral_dir, "inventory-lab", ".secrets", "rabbitmq", "admin.password"),
                    "nospof-labtest-metrics1:/root/admin.password"], check=True)
    args = "--hosts mq --user admin --password-file /root/admin.password --queue lab-e2e"
    pub = client.run(f"python3 /usr/local/bin/amqp_client.py publish {args} --count 20 --out /root/confirmed.txt")
    assert pub.rc == 0, pub.stdout + pub.stderr
    con = client.run(f"python3 /usr/local/bin/amqp_client.py consume {args} --out /root/consumed.txt")
    assert con.rc == 0, con.stdout + con.stderr
    confirmed = set(client.file("/root/confirmed.txt").content_string.split())
    consumed = set(client.file("/root/consumed.txt").content_string.split())
    assert len(confirmed) == 20 and confirmed <= consumed
    # The brokers' firewall opens AMQPS to the load balancers only (the dependency graph).
    direct = client.run("timeout 5 python3 -c %s",
                        "import socket; socket.create_connection(('mq1', 5671), timeout=3)")
    assert direct.rc != 0


def test_the_vip_is_held_by_exactly_one_load_balancer(lab_hosts):
    holders = [n for n in ("infra1", "infra2") if VIP in lab_hosts[n].check_output("ip -4 -o addr show")]
    assert len(holders) == 1, holders


def test_every_host_metrics_reach_both_storage_nodes_and_read_back(lab_hosts):
    """collectd on every host -> local relay -> central relays -> both replicas;
    graphite-web on either node answers over HTTPS for every host."""
    import json
    import time

    deadline = time.monotonic() + 180
    missing = None
    while time.monotonic() < deadline:
        missing = [(node, name) for node in ("metrics1", "metrics2") for name in lab_hosts
                   if not lab_hosts[node].file(f"/var/lib/graphite/whisper/collectd/{name}/load/load/shortterm.wsp").exists]
        if not missing:
            break
        time.sleep(5)
    assert not missing, f"load series missing (storage node, host): {missing}"
    script = ("import json,ssl,sys,urllib.request as u; "
              "c=ssl.create_default_context(cafile='/etc/ssl/nospof/ca.crt'); "
              "print(u.urlopen(sys.argv[1], context=c, timeout=20).read().decode())")
    for node in ("metrics1", "metrics2"):
        url = f"https://{node}:8443/render?target=collectd.*.load.load.shortterm&from=-10min&format=json"
        series = json.loads(lab_hosts["mq1"].check_output("python3 -c %s %s", script, url))
        hosts_seen = {s["target"].split(".")[1] for s in series
                      if any(p[0] is not None for p in s["datapoints"])}
        assert hosts_seen == set(lab_hosts), (node, hosts_seen)


# Ports that do not always listen (the icinga2 role's icinga2_port_check_skip default).
UNCHECKED = {"rabbitmq-cluster": set(range(35672, 35683))}


def test_monitoring_checks_every_host_and_service_and_all_are_ok(lab_hosts, ephemeral_dir):
    """Both masters hold a check for every host and every declared TCP port, each linking to a
    runbook page that exists, and every check is OK (the lab is healthy)."""
    import json
    import shlex
    import time

    inventory = os.path.join(ephemeral_dir, "inventory-lab")
    with open(os.path.join(inventory, ".secrets", "icingaweb2-api"), encoding="utf-8") as handle:
        password = handle.read().split()[0]
    with open(os.path.join(inventory, "lab.cmdb.yml"), encoding="utf-8") as handle:
        env = yaml.safe_load(handle)
    runbooks = os.path.join(os.path.dirname(__file__), "..", "..", "..", "docs", "runbooks")

    def services(master):
        # python3 on the master (the check plugins need it; curl may not be installed)
        script = (
            "import base64, json, ssl, sys, urllib.request\n"
            "req = urllib.request.Request('https://%s:5665/v1/objects/services', method='POST',\n"
            "    data=json.dumps({'attrs': ['host_name', 'name', 'state', 'notes_url', 'last_check',\n"
            "                              'last_check_result']}).encode(),\n"
            "    headers={'Accept': 'application/json', 'X-HTTP-Method-Override': 'GET',\n"
            "             'Authorization': 'Basic ' + base64.b64encode(sys.stdin.read().strip().encode()).decode()})\n"
            "ctx = ssl.create_default_context(cafile='/etc/ssl/nospof/ca.crt')\n"
            "print(urllib.request.urlopen(req, context=ctx, timeout=20).read().decode())\n" % master)
        out = lab_hosts[master].run("echo %s | python3 -c %s" % (shlex.quote("icingaweb2:" + password),
                                                                 shlex.quote(script)))
        return [r["attrs"] for r in json.loads(out.stdout)["results"]] if out.rc == 0 else []

    for master in ("mon1", "mon2"):
        checks = services(master)
        names = {(c["host_name"], c["name"]) for c in checks}
        for host in env["hosts"]:
            for check in ("load", "memory", "disk /"):
                assert (host["name"], check) in names, (master, host["name"], check)
            for svc in host.get("services", []):
                if svc["protocol"] == "tcp":
                    for port in set(svc["ports"]) - UNCHECKED.get(svc["name"], set()):
                        assert (host["name"], "%s port %d" % (svc["name"], port)) in names
        for c in checks:
            assert os.path.exists(os.path.join(runbooks, c["notes_url"].rsplit("/", 1)[-1])), c
    deadline = time.monotonic() + 300
    while True:
        bad = [(c["host_name"], c["name"], (c["last_check_result"] or {}).get("output", "")[:120])
               for c in services("mon1") if c["state"] != 0 or c["last_check"] <= 0]
        if not bad or time.monotonic() > deadline:
            break
        time.sleep(10)
    assert bad == [], bad
    print("lab monitoring: %d checks on mon1, all OK" % len(services("mon1")))


def _os_get(lab_hosts, via, url, user, password):
    """GET url from host `via` (python3 there), basic auth read from stdin; the parsed JSON."""
    import json
    import shlex

    script = ("import base64, json, ssl, sys, urllib.request\n"
              "req = urllib.request.Request(sys.argv[1], headers={'Authorization': 'Basic ' + "
              "base64.b64encode(sys.stdin.read().strip().encode()).decode()})\n"
              "ctx = ssl.create_default_context(cafile='/etc/ssl/nospof/ca.crt')\n"
              "print(urllib.request.urlopen(req, context=ctx, timeout=20).read().decode())\n")
    out = lab_hosts[via].run("echo %s | python3 -c %s %s" % (shlex.quote(f"{user}:{password}"), shlex.quote(script),
                                                          shlex.quote(url)))
    assert out.rc == 0, (url, out.stderr[-400:])
    return json.loads(out.stdout)


def test_every_host_logs_reach_the_search_tier_and_every_node_finds_them(lab_hosts, ephemeral_dir):
    """A line logged on each lab host (the OpenSearch nodes too) is found by a search on every node;
    the three nodes form one green cluster."""
    import json
    import time
    import uuid

    secrets = os.path.join(ephemeral_dir, "inventory-lab", ".secrets")
    reader = open(os.path.join(secrets, "opensearch-logreader"), encoding="utf-8").read().split()[0]
    monitor = open(os.path.join(secrets, "opensearch-monitoring"), encoding="utf-8").read().split()[0]
    nodes = {"os1": 9200, "os2": 9201, "os3": 9202}
    for name, port in nodes.items():
        health = _os_get(lab_hosts, "mq1", f"https://{name}:{port}/_cluster/health", "monitoring", monitor)
        assert (health["status"], health["number_of_nodes"]) == ("green", 3), (name, health)
    # every shipper fails over between all three nodes, each on its own port
    for name, host in lab_hosts.items():
        config = json.loads(host.file("/etc/nospof/log-shipper.json").content_string)
        assert sorted(config["servers"]) == [f"https://{n}:{p}" for n, p in nodes.items()], name
    tokens = {name: f"lab{name}{uuid.uuid4().hex[:12]}" for name in lab_hosts}
    start = time.monotonic()
    for name, host in lab_hosts.items():
        host.check_output("logger -t nospoflab -p user.notice %s", tokens[name])
    query = "%20OR%20".join(tokens.values())
    found = {}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        hits = _os_get(lab_hosts, "mon1", f"https://os1:9200/logs/_search?q={query}&size=100", "logreader", reader)
        found = {h["_source"]["message"].strip(): h["_source"]["host"] for h in hits["hits"]["hits"]}
        if all(t in found for t in tokens.values()):
            break
        time.sleep(3)
    took = time.monotonic() - start
    missing = sorted(n for n, t in tokens.items() if t not in found)
    assert not missing, f"no line found from {missing}"
    assert {found[t].split(".")[0] for t in tokens.values()} == set(lab_hosts)
    for name, port in nodes.items():
        hits = _os_get(lab_hosts, "metrics2", f"https://{name}:{port}/logs/_search?q={query}&size=100",
                       "logreader", reader)
        assert hits["hits"]["total"]["value"] == len(tokens), name
    print(f"lab logs: a line from each of {len(tokens)} hosts found by search after {took:.1f} s")
