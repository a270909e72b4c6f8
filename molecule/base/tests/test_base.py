"""Behaviour of the base role: firewall, apt failover, users, SSH, bad input."""

import os
import re
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "_shared"))
from nospof_testinfra import recap, run_playbook  # noqa: E402

SCENARIO_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def can_connect(src, dst, port):
    """True if a TCP connection from host `src` to `dst:port` succeeds within 3 s."""
    code = (
        "import socket,sys\n"
        "s=socket.socket(); s.settimeout(3)\n"
        f"sys.exit(s.connect_ex(('{dst}', {port})))\n"
    )
    return src.run(f"python3 -c \"{code}\"").rc == 0


@pytest.fixture(scope="module")
def listeners(hosts):
    server = hosts["server"]
    for port in (8080, 8081):
        server.run(f"systemd-run --unit=nospof-test-listen-{port} --collect "
                   f"python3 -m http.server {port} --directory /tmp")
    server.run("for i in $(seq 50); do ss -ltn | grep -q ':8081 ' && break; sleep 0.1; done")
    yield
    for port in (8080, 8081):
        server.run(f"systemctl stop nospof-test-listen-{port}")


def test_input_policy_is_drop(hosts):
    ruleset = hosts["server"].check_output("nft list table inet nospof_base")
    assert re.search(r"hook input priority filter; policy drop;", ruleset)
    assert 'comment "web"' in ruleset


def test_listeners_are_up_locally(hosts, listeners):
    assert can_connect(hosts["server"], "127.0.0.1", 8080)
    assert can_connect(hosts["server"], "127.0.0.1", 8081)


def test_allowed_port_reachable_from_allowed_source(hosts, listeners):
    assert can_connect(hosts["client"], "server", 8080)


def test_port_not_in_allowlist_is_unreachable(hosts, listeners):
    assert not can_connect(hosts["client"], "server", 8081)


def test_allowed_port_unreachable_from_other_source(hosts, listeners):
    assert not can_connect(hosts["outsider"], "server", 8080)


def test_firewall_survives_reload(hosts, listeners):
    hosts["server"].run_expect([0], "systemctl reload nftables")
    assert can_connect(hosts["client"], "server", 8080)
    assert not can_connect(hosts["client"], "server", 8081)


def test_apt_fails_over_to_the_second_mirror(hosts):
    node = hosts["client"]
    mirrors = node.file("/etc/apt/mirrors/nospof-debian.list").content_string
    assert "http://127.0.0.1:9/debian/\tpriority:1" in mirrors
    assert not node.file("/etc/apt/sources.list").exists
    assert "mirror+file:/etc/apt/mirrors/nospof-debian.list" in \
        node.file("/etc/apt/sources.list.d/nospof-debian.sources").content_string
    node.run_expect([0], "apt-get clean && rm -rf /var/lib/apt/lists/*")
    update = node.run("apt-get update")
    assert update.rc == 0, update.stderr
    # The dead mirror was tried first and skipped; the index came from the second.
    assert re.search(r"^Ign:\d+ http://127\.0\.0\.1:9/debian ", update.stdout, re.M), update.stdout
    assert re.search(r"^Get:\d+ http://deb\.debian\.org/debian \S+ InRelease", update.stdout, re.M), update.stdout
    assert node.run("ls /var/lib/apt/lists/ | grep -c 'nospof-debian.list_dists_.*_Packages'").stdout.strip() != "0"
    node.run_expect([0], "apt-get install -y --download-only hello")


def test_users(hosts):
    node = hosts["server"]
    deploy = node.user("deploy")
    assert deploy.exists
    assert "adm" in deploy.groups
    keys = node.file("/home/deploy/.ssh/authorized_keys").content_string
    assert "deploy@nospof-test" in keys
    assert node.file("/etc/sudoers.d/nospof-deploy").mode == 0o440
    assert not node.user("olduser").exists


def test_sshd_is_hardened(hosts):
    node = hosts["server"]
    effective = node.check_output("/usr/sbin/sshd -T").lower()
    assert "passwordauthentication no" in effective
    assert "permitrootlogin without-password" in effective
    assert "kbdinteractiveauthentication no" in effective
    kex = re.search(r"^kexalgorithms (.*)$", effective, re.M).group(1).split(",")
    assert "diffie-hellman-group14-sha1" not in kex
    assert all("curve25519" in k or "sntrup" in k or "mlkem" in k or "ecdh" in k for k in kex)
    assert node.service("ssh").is_running


def test_logging_and_kernel_settings(hosts):
    node = hosts["client"]
    assert node.service("rsyslog").is_running
    assert "Storage=persistent" in node.file("/etc/systemd/journald.conf.d/50-nospof.conf").content_string
    assert "kernel.kptr_restrict = 2" in node.file("/etc/sysctl.d/60-nospof.conf").content_string
    # Inside a container clock sync is skipped (no CAP_SYS_TIME), not half-installed.
    assert not node.package("chrony").is_installed


def run_bad(limit, extra_vars):
    """Run the role with bad variables; return (rc, output)."""
    return run_playbook(os.path.join(SCENARIO_DIR, "bad_input.yml"), limit, extra_vars)


def recap_changed(output, host):
    counts = recap(output)
    assert host in counts, output
    return counts[host]["changed"]


def test_check_mode_on_a_converged_host_changes_nothing(hosts):
    rc, output = run_playbook(os.path.join(SCENARIO_DIR, "converge.yml"), check=True)
    assert rc == 0, output[-3000:]
    assert all(c["changed"] == 0 and c["failed"] == 0 for c in recap(output).values()), output[-3000:]


@pytest.mark.parametrize("extra_vars, message", [
    ({"base_firewall_allowlist": [{"name": "web", "ports": ["http"], "sources": ["10.0.0.0/8"]}]},
     "base_firewall_allowlist"),
    ({"base_firewall_allowlist": [{"name": "web", "ports": [8080]}]},
     "missing required arguments: sources"),
    ({"base_firewall_allowlist": [{"name": "web", "ports": [70000], "sources": ["10.0.0.0/8"]}]},
     "port 70000 is outside 1-65535"),
    ({"base_firewall_allowlist": [{"name": "web", "ports": [80], "sources": ["10.0.0.300/8"]}]},
     "'10.0.0.300/8' is not a valid address or network"),
    ({"base_apt_mirrors": ["ftp://ftp.example.org/debian"]},
     "has scheme 'ftp'; use one of http, https, file"),
])
def test_bad_input_stops_before_any_change(hosts, extra_vars, message):
    before = hosts["server"].check_output(
        "sha256sum /etc/apt/mirrors/nospof-debian.list /etc/nftables.d/10-nospof-base.nft")
    rc, output = run_bad("server", dict(extra_vars, base_packages_extra=["openssh-server", "cowsay"]))
    assert rc != 0
    assert message in output, output[-3000:]
    assert recap_changed(output, "server") == 0
    after = hosts["server"].check_output(
        "sha256sum /etc/apt/mirrors/nospof-debian.list /etc/nftables.d/10-nospof-base.nft")
    assert before == after
    assert not hosts["server"].package("cowsay").is_installed


def test_firewall_without_net_admin_is_refused_clearly(hosts):
    rc, output = run_bad("nocap", {"base_firewall_enabled": True})
    assert rc != 0
    assert "lacks CAP_NET_ADMIN" in output, output[-3000:]
