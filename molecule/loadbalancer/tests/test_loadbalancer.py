"""Behaviour of the loadbalancer role: one VIP holder, round robin through the
VIP, health checks that take a stopped backend out, and the VIP moving (with
client requests resuming) when haproxy stops on the holder or the holder dies.

Tests run in file order; the last one kills a holder's container and starts
it again.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "_shared"))
from nospof_testinfra import podman, recap, run_playbook  # noqa: E402

VIP = "10.213.61.250"
HOLDERS = ["lb1", "lb2"]
APPS = ["app1", "app2"]
URLS = {"web": f"http://{VIP}:80/", "web-tcp": f"http://{VIP}:8443/"}


def holders(hosts, names=HOLDERS):
    """The holders that have the VIP on an interface now."""
    return [n for n in names if f" {VIP}/" in hosts[n].run("ip -4 -o addr show").stdout]


def get(client, url, timeout=2):
    """One request from the client; the backend's name, or None."""
    cmd = client.run(f"curl -fsS --max-time {timeout} {url}")
    return cmd.stdout.strip() if cmd.rc == 0 else None


def wait(predicate, timeout=30, step=0.2):
    """Poll until predicate() is truthy; return (value, seconds) or fail."""
    start = time.monotonic()
    while True:
        value = predicate()
        if value:
            return value, time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(step)


def server_state(host, backend, server):
    """haproxy's status of one server (UP, DOWN, ...) from the admin socket."""
    out = host.check_output("echo 'show stat' | socat stdio unix:/run/haproxy/admin.sock")
    for line in out.splitlines():
        fields = line.split(",")
        if len(fields) > 17 and fields[0] == backend and fields[1] == server:
            return fields[17]
    return None


def test_exactly_one_holder_holds_the_vip(hosts):
    # The first election takes about three advert intervals after keepalived starts.
    found, _ = wait(lambda: holders(hosts), timeout=15)
    assert len(found) == 1, found
    for name in HOLDERS:
        assert hosts[name].service("haproxy").is_running
        assert hosts[name].service("keepalived").is_running


def test_no_stats_page_and_an_admin_socket(hosts):
    for name in HOLDERS:
        host = hosts[name]
        sock = host.file("/run/haproxy/admin.sock")
        assert sock.is_socket and sock.mode == 0o660 and sock.group == "haproxy"
        # (ss shows haproxy's temporary bind name, so ask the socket itself.)
        info = host.check_output("echo 'show info' | socat stdio unix:/run/haproxy/admin.sock")
        assert "Name: HAProxy" in info
        assert "level admin" in host.file("/etc/haproxy/haproxy.cfg").content_string
        listening = host.check_output("ss -Hltn | awk '{print $4}'").split()
        # Only the services, bound to the VIP (also on the holder without it).
        assert f"{VIP}:80" in listening and f"{VIP}:8443" in listening
        assert not [a for a in listening if a.endswith(":8404") or a.startswith(("0.0.0.0:", "*:", "[::]:"))]


def test_client_reaches_both_backends_round_robin(hosts):
    client = hosts["client"]
    for service, url in URLS.items():
        answers = [get(client, url) for _ in range(6)]
        assert None not in answers, (service, answers)
        assert sorted(set(answers)) == APPS, (service, answers)


def test_stopped_backend_is_taken_out(hosts, capsys):
    client = hosts["client"]
    holder = holders(hosts)[0]
    hosts["app1"].run("systemctl stop nospof-app")
    try:
        _, took = wait(lambda: server_state(hosts[holder], "web", "app1") == "DOWN"
                       and server_state(hosts[holder], "web-tcp", "app1") == "DOWN", timeout=30)
        answers = [get(client, url) for url in URLS.values() for _ in range(5)]
        assert answers == ["app2"] * 10, answers
    finally:
        hosts["app1"].run("systemctl start nospof-app")
    wait(lambda: server_state(hosts[holder], "web", "app1") == "UP"
         and server_state(hosts[holder], "web-tcp", "app1") == "UP", timeout=30)
    with capsys.disabled():
        print(f"\nbackend app1 stopped: marked DOWN by the health checks after {took:.1f} s")


def test_stopping_haproxy_moves_the_vip(hosts, capsys):
    client = hosts["client"]
    [first] = holders(hosts)
    [other] = [n for n in HOLDERS if n != first]
    hosts[first].run("systemctl stop haproxy")
    try:
        _, moved = wait(lambda: holders(hosts) == [other], timeout=30)
        _, served = wait(lambda: get(client, URLS["web"], timeout=1), timeout=30)
    finally:
        hosts[first].run("systemctl start haproxy")
    # Back in BACKUP, the first holder does not take the VIP back (nopreempt).
    time.sleep(5)
    assert holders(hosts) == [other]
    with capsys.disabled():
        print(f"\nhaproxy stopped on {first}: VIP on {other} after {moved:.1f} s, "
              f"client served again after {served:.1f} s more")


def test_invalid_input_is_refused_before_any_change():
    converge = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "converge.yml")
    bad = {
        "loadbalancer_vips": [
            {"name": "a", "address": "10.213.61.300", "virtual_router_id": 61},
            {"name": "b", "address": "10.213.61.251", "virtual_router_id": 61},
        ],
        "loadbalancer_services": [
            {"name": "x", "vip": "c", "port": 70000, "backends": [{"name": "n", "port": 80}]},
        ],
    }
    rc, out = run_playbook(converge, extra_vars=bad)
    assert rc != 0
    for text in ("10.213.61.300\" is not an IPv4 address", "virtual_router_id 61 is used by another VIP",
                 "vip \"c\" is not the name", "port must be 1-65535", "backend n has no address"):
        assert text in out, text
    assert all(r.get("changed") == 0 for r in recap(out).values()), recap(out)

    # One holder only (the other left out with --limit) is refused too.
    rc, out = run_playbook(converge, limit="lb1,app1,app2")
    assert rc != 0 and "missing from this play: lb2" in out


def test_killed_holder_moves_the_vip_and_clients_resume(hosts, instances, capsys):
    client = hosts["client"]
    assert get(client, URLS["web"]), "the VIP does not answer before the kill"
    [first] = holders(hosts)
    [other] = [n for n in HOLDERS if n != first]
    start = time.monotonic()
    podman("kill", instances[first])
    _, moved = wait(lambda: holders(hosts, [other]) == [other], timeout=30)
    wait(lambda: get(client, URLS["web"], timeout=1), timeout=30)
    served = time.monotonic() - start
    answers = [get(client, url) for url in URLS.values() for _ in range(4)]
    assert None not in answers, answers
    assert sorted(set(answers)) == APPS, answers
    with capsys.disabled():
        print(f"\n{first} killed: VIP on {other} after {moved:.1f} s, "
              f"client served through the VIP {served:.1f} s after the kill")

    # The killed holder comes back as BACKUP and leaves the VIP where it is.
    podman("start", instances[first])
    wait(lambda: hosts[first].run("systemctl is-active haproxy keepalived").rc == 0, timeout=60, step=1)
    time.sleep(6)  # longer than an election (3 adverts) plus the check's rise
    assert holders(hosts) == [other]
    assert get(client, URLS["web"])
