"""The mirror pair: HTTPS only with the internal CA, the same artifact tree on
both, apt and artifact downloads that keep working with one mirror killed.

The kill test runs last (pytest keeps file order)."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "_shared"))

from nospof_testinfra import podman, recap, run_playbook  # noqa: E402

MIRRORS = ["mirror1", "mirror2"]
CA = "/etc/ssl/nospof/ca.crt"
ARTIFACT = "test/1.0/artifact.txt"
ARTIFACT_BODY = "nospof mirror test artifact\n"
FETCH = os.path.join(os.path.dirname(__file__), "fetch.yml")


def https_get(host, url):
    """GET url from host with the internal CA; return (status, headers, body)."""
    script = f"""
import json, ssl, urllib.request, urllib.error
ctx = ssl.create_default_context(cafile={CA!r})
try:
    r = urllib.request.urlopen({url!r}, context=ctx, timeout=10)
    print(json.dumps([r.status, dict(r.headers), r.read().decode(errors="replace")]))
except urllib.error.HTTPError as e:
    print(json.dumps([e.code, dict(e.headers), ""]))
"""
    out = host.check_output("python3 -c %s", script)
    return json.loads(out)


def fetch(ephemeral_dir, mirrors, sha256, dest="/root/artifact.txt"):
    rc, out = run_playbook(FETCH, limit="client", extra_vars={
        "fetch_mirrors": mirrors, "fetch_path": ARTIFACT, "fetch_sha256": sha256, "fetch_dest": dest})
    return rc, out


def test_both_mirrors_answer_over_https_with_the_internal_ca(hosts):
    for name in MIRRORS:
        status, headers, body = https_get(hosts["client"], f"https://{name}/health")
        assert (status, body) == (200, "ok\n")
        assert headers.get("X-Nospof-Mirror") == name


def test_plain_http_only_redirects(hosts):
    out = hosts["client"].check_output(
        "python3 -c %s", "import http.client as h; c=h.HTTPConnection('mirror1', 80, timeout=5); "
        "c.request('GET', '/debian/dists/'); r=c.getresponse(); print(r.status, r.getheader('Location'))")
    assert out.startswith("301 https://mirror1:443/debian/dists/")


def test_old_tls_and_suites_without_forward_secrecy_are_refused(hosts):
    client = hosts["client"]
    ok = client.run("openssl s_client -connect mirror1:443 -CAfile %s -verify_return_error </dev/null", CA)
    assert ok.rc == 0, ok.stderr
    old = client.run("openssl s_client -connect mirror1:443 -tls1_1 </dev/null")
    assert old.rc != 0
    no_fs = client.run("openssl s_client -connect mirror1:443 -tls1_2 -cipher AES256-GCM-SHA384 </dev/null")
    assert no_fs.rc != 0


def test_both_mirrors_hold_the_same_verified_artifact_tree(hosts):
    indexes = {}
    for name in MIRRORS:
        host = hosts[name]
        check = host.run("cd /srv/nospof-mirror/artifacts && sha256sum -c SHA256SUMS")
        assert check.rc == 0, check.stdout + check.stderr
        indexes[name] = host.file("/srv/nospof-mirror/artifacts/SHA256SUMS").content_string
        assert ARTIFACT in indexes[name]
    assert indexes["mirror1"] == indexes["mirror2"]
    status, _, body = https_get(hosts["client"], f"https://mirror2/artifacts/{ARTIFACT}")
    assert (status, body) == (200, ARTIFACT_BODY)


def test_the_fill_put_the_declared_packages_in_each_cache(hosts):
    for name in MIRRORS:
        debs = hosts[name].check_output("find /var/lib/nospof-mirror/fill -name '*.deb' | wc -l")
        cached = hosts[name].check_output("find /var/cache/nospof-mirror/apt -type f | wc -l")
        print(f"{name}: {debs} packages fetched by the fill, {cached} files in the apt cache")
        assert int(debs) > 10
        assert int(cached) >= int(debs)
        closure = hosts[name].check_output("ls /var/lib/nospof-mirror/fill/*/cache/archives/")
        assert "nftables_" in closure and "rsyslog_" in closure and "python3-cryptography_" in closure


def test_clients_use_the_mirror_list(hosts):
    client = hosts["client"]
    sources = client.file("/etc/apt/sources.list.d/nospof-debian.sources").content_string
    assert "mirror+file:" in sources
    listed = [line.split()[0].rstrip("/") for line in client.file("/etc/apt/mirrors/nospof-debian.list").content_string.splitlines()
              if line.strip() and not line.startswith("#")]
    assert listed == ["https://mirror1/debian", "https://mirror2/debian"]
    assert not client.file("/etc/apt/sources.list.d/debian.sources").exists


def test_bad_checksums_are_skipped_and_refused(hosts, ephemeral_dir):
    good = hosts["mirror1"].check_output(f"sha256sum /srv/nospof-mirror/artifacts/{ARTIFACT}").split()[0]
    # mirror1 serves a corrupted copy: the client takes mirror2's.
    hosts["mirror1"].check_output(f"cp /srv/nospof-mirror/artifacts/{ARTIFACT} /root/artifact.bak && "
                                  f"echo corrupted > /srv/nospof-mirror/artifacts/{ARTIFACT}")
    try:
        rc, out = fetch(ephemeral_dir, ["https://mirror1/artifacts", "https://mirror2/artifacts"], good,
                        dest="/root/fetched-past-corruption.txt")
        assert rc == 0, out
        assert "expected " + good in out  # the mismatch on mirror1 is reported in attempts
        assert hosts["client"].file("/root/fetched-past-corruption.txt").content_string == ARTIFACT_BODY
    finally:
        hosts["mirror1"].check_output(f"mv /root/artifact.bak /srv/nospof-mirror/artifacts/{ARTIFACT}")
    # A checksum no mirror can satisfy fails with every mirror's reason.
    rc, out = fetch(ephemeral_dir, ["https://mirror1/artifacts", "https://mirror2/artifacts"], "0" * 64,
                    dest="/root/never.txt")
    assert rc != 0
    assert "no mirror delivered" in out
    assert not hosts["client"].file("/root/never.txt").exists


def test_installs_and_fetches_continue_with_one_mirror_killed(hosts, instances, ephemeral_dir):
    client = hosts["client"]
    assert client.run("dpkg -s hello").rc != 0
    podman("kill", instances["mirror1"])
    start = time.monotonic()
    update = client.run("apt-get update")
    assert update.rc == 0, update.stdout + update.stderr
    install = client.run("DEBIAN_FRONTEND=noninteractive apt-get install -y hello")
    assert install.rc == 0, install.stdout + install.stderr
    elapsed = time.monotonic() - start
    assert client.run("hello").stdout.strip() == "Hello, world!"
    print(f"apt-get update + install with mirror1 killed: {elapsed:.1f} s")
    log = hosts["mirror2"].check_output("cat /var/log/nginx/access.log")
    assert "/debian/pool/main/h/hello/hello_" in log

    good = hosts["mirror2"].check_output(f"sha256sum /srv/nospof-mirror/artifacts/{ARTIFACT}").split()[0]
    start = time.monotonic()
    rc, out = fetch(ephemeral_dir, ["https://mirror1/artifacts", "https://mirror2/artifacts"], good)
    print(f"artifact fetch with mirror1 killed: {time.monotonic() - start:.1f} s (playbook included)")
    assert rc == 0, out
    assert recap(out)["client"]["changed"] == 1
    assert client.file("/root/artifact.txt").content_string == ARTIFACT_BODY
