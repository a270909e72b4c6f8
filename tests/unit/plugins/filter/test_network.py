import re

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.nospof.platform.plugins.filter import network


class TestAptMirrorUrls:
    def test_accepts_and_normalizes(self):
        assert network.apt_mirror_urls(["http://a.example/debian/", "https://b.example/debian",
                                        "file:/srv/mirror"]) == \
            ["http://a.example/debian", "https://b.example/debian", "file:/srv/mirror"]

    @pytest.mark.parametrize("url, message", [
        ("ftp://a.example/debian", "scheme 'ftp'"),
        ("a.example/debian", "scheme '(none)'"),
        ("http:///debian", "no host name"),
        ("file:relative/path", "absolute path"),
        ("http://a.example/deb ian", "white space"),
        ("", "non-empty URL"),
    ])
    def test_rejects_with_the_offending_entry(self, url, message):
        with pytest.raises(AnsibleFilterError, match=re.escape(message)) as err:
            network.apt_mirror_urls(["http://ok.example/debian", url], "base_apt_mirrors")
        assert "base_apt_mirrors[1]" in str(err.value)

    def test_rejects_empty_and_duplicates(self):
        with pytest.raises(AnsibleFilterError, match="at least one"):
            network.apt_mirror_urls([])
        with pytest.raises(AnsibleFilterError, match="twice"):
            network.apt_mirror_urls(["http://a/debian", "http://a/debian/"])


class TestNftAllowlist:
    def test_splits_sources_by_family(self):
        out = network.nft_allowlist([{
            "name": "web", "ports": [443, 80, 443], "sources":
                ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "client.example", "10.0.0.0/8"]}])
        assert out == [{"name": "web", "proto": "tcp", "ports": [80, 443],
                        "v4": ["10.0.0.0/8", "192.0.2.7"], "v6": ["2001:db8::/32"],
                        "hosts": ["client.example"]}]

    def test_single_address_networks_become_addresses(self):
        out = network.nft_allowlist([{"name": "a", "ports": [1], "sources": ["192.0.2.7/32"]}])
        assert out[0]["v4"] == ["192.0.2.7"]

    @pytest.mark.parametrize("entry, message", [
        ({"name": "web", "ports": [70000], "sources": ["10.0.0.0/8"]}, "port 70000 is outside 1-65535"),
        ({"name": "web", "ports": [0], "sources": ["10.0.0.0/8"]}, "port 0 is outside"),
        ({"name": "web", "ports": ["http"], "sources": ["10.0.0.0/8"]}, "port 'http' is not a number"),
        ({"name": "web", "ports": [True], "sources": ["10.0.0.0/8"]}, "is not a number"),
        ({"name": "web", "ports": [], "sources": ["10.0.0.0/8"]}, "ports must be a non-empty list"),
        ({"name": "web", "ports": [80], "sources": []}, "sources must list at least one"),
        ({"name": "web", "ports": [80], "sources": ["10.0.0.300/8"]}, "'10.0.0.300/8' is not a valid"),
        ({"name": "web", "ports": [80], "sources": ["10.0.0.1/8"]}, "host bits set; did you mean 10.0.0.0/8"),
        ({"name": "web", "ports": [80], "sources": ["bad_host!"]}, "neither an address"),
        ({"name": "web", "ports": [80], "proto": "icmp", "sources": ["::/0"]}, "proto 'icmp'"),
        ({"name": "bad name", "ports": [80], "sources": ["::/0"]}, "name 'bad name'"),
        ("not a mapping", "must be a mapping"),
    ])
    def test_rejects_with_the_offending_entry(self, entry, message):
        with pytest.raises(AnsibleFilterError, match=re.escape(message)) as err:
            network.nft_allowlist([entry], "base_firewall_allowlist")
        assert "base_firewall_allowlist[0]" in str(err.value)

    def test_duplicate_names_are_refused(self):
        entry = {"name": "web", "ports": [80], "sources": ["::/0"]}
        with pytest.raises(AnsibleFilterError, match=r"\[1\] \(web\): the name is used"):
            network.nft_allowlist([entry, entry])

    def test_none_is_empty(self):
        assert network.nft_allowlist(None) == []


class TestNftResolve:
    ENTRIES = network.nft_allowlist([{"name": "web", "ports": [80], "sources": ["client", "10.0.0.0/8"]}])

    def test_merges_getent_results(self):
        results = [{"item": "client", "stdout_lines": [
            "10.89.0.5      STREAM client.dns.podman", "10.89.0.5      DGRAM",
            "fd00::5        STREAM client"]}]
        out = network.nft_resolve(self.ENTRIES, results)
        assert out[0]["v4"] == ["10.0.0.0/8", "10.89.0.5"]
        assert out[0]["v6"] == ["fd00::5"]

    def test_unresolved_host_is_an_error(self):
        with pytest.raises(AnsibleFilterError, match="host 'client' did not resolve"):
            network.nft_resolve(self.ENTRIES, [{"item": "client", "stdout_lines": []}])

    def test_does_not_mutate_input(self):
        network.nft_resolve(self.ENTRIES, {"client": ["192.0.2.1"]})
        assert self.ENTRIES[0]["v4"] == ["10.0.0.0/8"]


def test_portless_protocols_open_the_protocol_to_their_sources():
    from ansible_collections.nospof.platform.plugins.filter.network import nft_allowlist

    out = nft_allowlist([{"name": "vrrp", "proto": "vrrp", "sources": ["10.0.0.2"]}])
    assert out[0]["proto"] == "vrrp" and out[0]["ports"] == [] and out[0]["v4"] == ["10.0.0.2"]


def test_portless_protocols_refuse_ports_and_unknown_protocols_are_named():
    import pytest
    from ansible.errors import AnsibleFilterError

    from ansible_collections.nospof.platform.plugins.filter.network import nft_allowlist

    with pytest.raises(AnsibleFilterError, match="no ports"):
        nft_allowlist([{"name": "v", "proto": "vrrp", "ports": [1], "sources": ["10.0.0.2"]}])
    with pytest.raises(AnsibleFilterError, match="sctp"):
        nft_allowlist([{"name": "s", "proto": "sctp", "ports": [1], "sources": ["10.0.0.2"]}])
