"""Behaviour of the dns role: both servers serve the same validated zone with
the same serial; the client resolves host, SRV and VIP names through both
(resolv.conf); recursion only for the allowed network; a changed record
bumps the serial once; and with one server killed the client still resolves.

Tests run in file order; the last two kill ns1, update the zone without it,
start it again and check it catches up.
"""

import datetime
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "_shared"))
from nospof_testinfra import podman, recap, run_playbook  # noqa: E402

SERVERS = ["ns1", "ns2"]
ZONE = "nospof.internal"
ZONE_FILE = f"/etc/bind/zones/db.{ZONE}"
SCENARIO_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Resolve with dnspython's default resolver, which reads /etc/resolv.conf
# (servers in order, options timeout); prints the answers and which server gave them.
LOOKUP = r"""
import json, sys, time, dns.resolver
name, rtype = sys.argv[1], sys.argv[2]
start = time.monotonic()
answer = dns.resolver.resolve(name, rtype, search=True)
print(json.dumps({"records": sorted(r.to_text() for r in answer), "server": answer.nameserver,
                  "seconds": round(time.monotonic() - start, 3)}))
"""


def address(host):
    return host.run("ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1").stdout.strip()


def serial(host):
    cmd = host.run(f"dig +norecurse +short @127.0.0.1 {ZONE} SOA")
    assert cmd.rc == 0, cmd.stderr
    return int(cmd.stdout.split()[2])


def lookup(client, name, rtype):
    cmd = client.run("python3 -c %s %s %s" % (quote(LOOKUP), quote(name), rtype))
    assert cmd.rc == 0, cmd.stdout + cmd.stderr
    return json.loads(cmd.stdout.strip().splitlines()[-1])


def quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


def test_zone_validates_on_both_servers(hosts):
    for name in SERVERS:
        cmd = hosts[name].run(f"named-checkzone {ZONE} {ZONE_FILE}")
        assert cmd.rc == 0, f"{name}: {cmd.stdout}{cmd.stderr}"
        assert hosts[name].run("named-checkconf -z /etc/bind/named.conf").rc == 0
        assert hosts[name].service("named").is_running


def test_servers_serve_the_same_zone_and_serial(hosts):
    serials = {name: serial(hosts[name]) for name in SERVERS}
    assert len(set(serials.values())) == 1, serials
    sums = {hosts[name].run(f"sha256sum {ZONE_FILE}").stdout.split()[0] for name in SERVERS}
    assert len(sums) == 1


def test_resolv_conf_lists_both_servers(hosts):
    servers = [address(hosts[name]) for name in SERVERS]
    for name in ["client", *SERVERS]:
        conf = hosts[name].file("/etc/resolv.conf").content_string
        assert re.findall(r"^nameserver (\S+)$", conf, re.M) == servers, conf
        assert f"search {ZONE}" in conf and "options timeout:1 attempts:2" in conf


def test_client_resolves_hosts_srv_and_vip(hosts):
    client = hosts["client"]
    # A records through glibc (getent uses only /etc/resolv.conf for names not in /etc/hosts).
    for name in ["client", *SERVERS]:
        cmd = client.run(f"getent hosts {name}.{ZONE}")
        assert cmd.rc == 0 and cmd.stdout.split()[0] == address(hosts[name]), cmd.stdout + cmd.stderr
    assert client.run("getent hosts ns2").stdout.split()[0] == address(hosts["ns2"])  # the search domain
    assert client.run(f"getent hosts api.{ZONE}").stdout.split()[0] == "192.0.2.10"
    web = lookup(client, f"_web._tcp.{ZONE}", "SRV")
    assert web["records"] == [f"10 10 8080 client.{ZONE}.", f"10 10 8443 client.{ZONE}."]
    dnssrv = lookup(client, f"_dns._udp.{ZONE}", "SRV")
    assert dnssrv["records"] == [f"10 10 53 ns1.{ZONE}.", f"10 10 53 ns2.{ZONE}."]
    group = lookup(client, f"dns.{ZONE}", "A")
    assert group["records"] == sorted(address(hosts[n]) for n in SERVERS)


def test_recursion_for_the_network_only(hosts):
    # Allowed: the client resolves a name outside the zone through the servers.
    assert hosts["client"].run("getent hosts deb.debian.org").rc == 0
    ns1 = hosts["ns1"]
    # Loopback is not in dns_allow_recursion: refused, while the zone still answers.
    cmd = ns1.run("dig +time=2 +tries=1 -b 127.0.0.1 @127.0.0.1 deb.debian.org A")
    assert "status: REFUSED" in cmd.stdout, cmd.stdout
    cmd = ns1.run(f"dig +short +time=2 +tries=1 -b 127.0.0.1 @127.0.0.1 client.{ZONE} A")
    assert cmd.stdout.strip() == address(hosts["client"])
    # No zone transfers.
    cmd = hosts["client"].run(f"python3 -c {quote('import dns.query, dns.zone, sys; dns.zone.from_xfr(dns.query.xfr(sys.argv[1], sys.argv[2], timeout=3))')} "
                              f"{address(ns1)} {ZONE}")
    assert cmd.rc != 0


def test_check_mode_on_the_converged_state_changes_nothing():
    rc, out = run_playbook(os.path.join(SCENARIO_DIR, "converge.yml"), check=True)
    assert rc == 0, out[-3000:]
    assert all(r.get("changed") == 0 for r in recap(out).values()), out[-3000:]


def test_a_changed_record_bumps_the_serial_once(hosts):
    before = serial(hosts["ns1"])
    extra = {"dns_records_extra": [{"name": "release", "type": "TXT", "value": "v2"}]}
    rc, out = run_playbook(os.path.join(SCENARIO_DIR, "converge.yml"), extra_vars=extra)
    assert rc == 0, out[-3000:]
    expected = max(before + 1, int(datetime.date.today().strftime("%Y%m%d")) * 100)
    assert [serial(hosts[n]) for n in SERVERS] == [expected, expected]
    rc, out = run_playbook(os.path.join(SCENARIO_DIR, "converge.yml"), extra_vars=extra)
    assert rc == 0, out[-3000:]
    assert all(r.get("changed") == 0 for r in recap(out).values()), out[-3000:]
    assert [serial(hosts[n]) for n in SERVERS] == [expected, expected]
    assert lookup(hosts["client"], f"release.{ZONE}", "TXT")["records"] == ['"v2"']


def test_a_bad_record_is_refused_and_the_zone_stays(hosts):
    before = serial(hosts["ns1"])
    extra = {"dns_records_extra": [{"name": "_svc._tcp", "type": "SRV", "port": 70000, "target": "client"}]}
    rc, out = run_playbook(os.path.join(SCENARIO_DIR, "converge.yml"), extra_vars=extra)
    assert rc != 0 and "outside 1-65535" in out, out[-3000:]
    assert serial(hosts["ns1"]) == before


def test_client_resolves_with_one_server_killed(hosts, instances):
    client = hosts["client"]
    first = re.findall(r"^nameserver (\S+)$", client.file("/etc/resolv.conf").content_string, re.M)[0]
    assert first == address(hosts["ns1"])
    NS1_ADDRESS.append(first)
    podman("kill", instances["ns1"])
    start = time.monotonic()
    cmd = client.run(f"getent hosts client.{ZONE}")
    a_seconds = time.monotonic() - start
    assert cmd.rc == 0 and cmd.stdout.split()[0] == address(client), cmd.stdout + cmd.stderr
    web = lookup(client, f"_web._tcp.{ZONE}", "SRV")
    assert web["records"] == [f"10 10 8080 client.{ZONE}.", f"10 10 8443 client.{ZONE}."]
    # The answer came from ns2, the second server of resolv.conf, after ns1 timed out.
    assert web["server"] == address(hosts["ns2"])
    assert web["seconds"] >= 0.9
    # getaddrinfo (what most programs call) asks A and AAAA together: one timeout.
    start = time.monotonic()
    assert "192.0.2.10" in client.run(f"getent ahosts api.{ZONE}").stdout
    ahosts_seconds = time.monotonic() - start
    print(f"\nfailover with ns1 killed: getaddrinfo (getent ahosts) {ahosts_seconds:.2f}s, "
          f"gethostbyname (getent hosts, AAAA then A) {a_seconds:.2f}s, "
          f"dnspython SRV {web['seconds']:.2f}s (resolv.conf timeout:1; every lookup pays it again)")
    assert ahosts_seconds < 2.5


def extra_inventory(hosts, tmp_path):
    """The scenario's hosts with IP addresses in nospof_address, as a CMDB inventory gives them:
    the zone can then be rendered while a server is unreachable (ns1: its last known address)."""
    addresses = {name: NS1_ADDRESS[-1] if name == "ns1" else address(host) for name, host in hosts.items()}
    path = tmp_path / "addresses.yml"
    path.write_text(json.dumps({"all": {"hosts": {n: {"nospof_address": a} for n, a in addresses.items()}}}))
    return str(path)


NS1_ADDRESS = []  # ns1's address, recorded before it is killed


def converge(inventory, extra):
    cmd = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "-i", inventory,
           os.path.join(SCENARIO_DIR, "converge.yml"), "-e", json.dumps(extra)]
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0"))
    return proc.returncode, proc.stdout + proc.stderr


def test_zone_updates_with_a_server_down_and_realigns_when_it_returns(hosts, instances, tmp_path):
    ns2, client = hosts["ns2"], hosts["client"]
    extra = {"dns_records_extra": [{"name": "release", "type": "TXT", "value": "v3"}]}
    before = serial(ns2)
    rc, out = converge(extra_inventory(hosts, tmp_path), extra)
    result = recap(out)
    # ns1 drops out of the play (the podman connection reports a stopped container as
    # failed, SSH as unreachable); ns2 goes on alone.
    assert result["ns1"]["failed"] + result["ns1"]["unreachable"] >= 1, out[-3000:]
    assert result["ns2"]["failed"] == 0 and result["ns2"]["unreachable"] == 0, out[-3000:]
    assert result["client"]["failed"] == 0, out[-3000:]
    updated = serial(ns2)
    assert updated > before
    assert lookup(client, f"release.{ZONE}", "TXT")["records"] == ['"v3"']
    # ns1 comes back with its old zone; the next run gives it the new records and ns2's serial.
    podman("start", instances["ns1"])
    podman("exec", instances["ns1"], "systemctl", "is-system-running", "--wait", check=False)
    moved = address(hosts["ns1"]) != NS1_ADDRESS[-1]
    NS1_ADDRESS.append(address(hosts["ns1"]))
    rc, out = converge(extra_inventory(hosts, tmp_path), extra)
    assert rc == 0, out[-3000:]
    serials = [serial(hosts[n]) for n in SERVERS]
    # Same serial on both; unchanged on ns2 unless ns1 came back with a new address (a real change).
    assert serials[0] == serials[1] and (serials[1] > updated if moved else serials[1] == updated), serials
    print(f"\nafter ns1 returned: serials {serials} (ns1 address {'changed' if moved else 'unchanged'})")
    sums = {hosts[n].run(f"sha256sum {ZONE_FILE}").stdout.split()[0] for n in SERVERS}
    assert len(sums) == 1
