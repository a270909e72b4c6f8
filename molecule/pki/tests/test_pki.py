"""Behaviour of the pki role, checked with openssl on the hosts."""

import os
import re
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "_shared"))
from nospof_testinfra import recap, run_playbook  # noqa: E402

SCENARIO_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CA = "/etc/ssl/nospof/ca.crt"
CERT = "/etc/ssl/nospof/host.crt"
KEY = "/etc/ssl/nospof/private/host.key"


@pytest.fixture(scope="module", params=["node1", "node2"])
def node(request, hosts):
    return request.param, hosts[request.param]


def test_ca_key_stays_on_the_controller(ephemeral_dir, hosts):
    key = os.path.join(ephemeral_dir, "pki", "nospof-ca.key")
    assert os.stat(key).st_mode & 0o777 == 0o600
    for host in hosts.values():
        found = host.run("grep -rl 'PRIVATE KEY' /etc/ssl /usr/local/share/ca-certificates "
                         "2>/dev/null | grep -v '/etc/ssl/nospof/private/host.key'")
        assert found.stdout.strip() == ""


def test_certificate_chains_to_the_ca(node):
    _, host = node
    out = host.run(f"openssl verify -CAfile {CA} {CERT}")
    assert out.rc == 0 and out.stdout.strip().endswith(": OK"), out.stdout + out.stderr


def test_ca_is_in_the_system_trust_store(node):
    _, host = node
    out = host.run(f"openssl verify -CApath /etc/ssl/certs {CERT}")
    assert out.rc == 0, out.stderr


def test_key_matches_certificate_and_is_private(node):
    _, host = node
    key = host.file(KEY)
    assert key.mode == 0o600 and key.user == "root"
    assert host.file("/etc/ssl/nospof/private").mode == 0o700
    pub_cert = host.check_output(f"openssl x509 -in {CERT} -noout -pubkey")
    pub_key = host.check_output(f"openssl pkey -in {KEY} -pubout")
    assert pub_cert == pub_key


def test_sans_name_the_host_and_its_addresses(node):
    name, host = node
    text = host.check_output(f"openssl x509 -in {CERT} -noout -ext subjectAltName")
    sans = {s.strip() for s in text.splitlines()[-1].split(",")}
    assert f"DNS:{name}" in sans
    assert "DNS:service.nospof.test" in sans
    assert "IP Address:192.0.2.10" in sans
    for addr in host.check_output("hostname -I").split():
        if ":" not in addr:
            assert f"IP Address:{addr}" in sans
    assert not any("localhost" in s or "127.0.0.1" in s for s in sans)


def test_certificate_is_a_server_and_client_leaf(node):
    _, host = node
    text = host.check_output(f"openssl x509 -in {CERT} -noout -text")
    assert "CA:FALSE" in text
    assert "TLS Web Server Authentication" in text and "TLS Web Client Authentication" in text


def test_renewal_reissued_the_certificate(node):
    _, host = node
    serial = host.file("/etc/ssl/nospof/.renewed-serial").content_string.strip()
    current = host.check_output(f"openssl x509 -in {CERT} -noout -serial").split("=")[1]
    assert int(current, 16) == int(serial)


def test_tls_handshake_with_forward_secrecy(hosts):
    """A TLS server on node1 using its certificate is trusted by node2."""
    server, client = hosts["node1"], hosts["node2"]
    server.run("systemd-run --unit=nospof-test-tls --collect openssl s_server -quiet "
               f"-accept 8443 -cert {CERT} -key {KEY} -www")
    server.run("for i in $(seq 50); do ss -ltn | grep -q ':8443 ' && break; sleep 0.1; done")
    try:
        out = client.run("echo Q | openssl s_client -connect node1:8443 -verify_return_error "
                         "-verify_hostname node1 -brief 2>&1")
        assert out.rc == 0, out.stdout
        assert "Verification: OK" in out.stdout
        assert re.search(r"(ECDHE|X25519|secp|TLSv1\.3)", out.stdout), out.stdout
    finally:
        server.run("systemctl stop nospof-test-tls")


def test_check_mode_on_a_converged_host_changes_nothing():
    rc, output = run_playbook(os.path.join(SCENARIO_DIR, "converge.yml"), check=True)
    assert rc == 0, output[-3000:]
    assert all(c["changed"] == 0 and c["failed"] == 0 for c in recap(output).values()), output[-3000:]
