import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.nospof.platform.plugins.filter.pki import pki_sans


def test_names_and_addresses_sorted_and_deduplicated():
    sans = pki_sans(["node1", "node1", "Node1.example.", "localhost"],
                    ["10.0.0.2", "127.0.0.1", "fe80::1%eth0", "10.0.0.10", "2001:db8::1"],
                    ["DNS:svc.example", "IP:192.0.2.1", "10.0.0.2", "alias.example"])
    assert sans == ["DNS:alias.example", "DNS:node1", "DNS:node1.example", "DNS:svc.example",
                    "IP:10.0.0.2", "IP:10.0.0.10", "IP:192.0.2.1", "IP:2001:db8::1"]


@pytest.mark.parametrize("bad", ["DNS:bad_name", "IP:300.1.1.1", "not a name"])
def test_bad_extra_sans_are_refused_by_index(bad):
    with pytest.raises(AnsibleFilterError, match=r"pki_extra_sans\[1\]"):
        pki_sans(["node1"], [], ["DNS:ok.example", bad])


def test_a_certificate_needs_a_name():
    with pytest.raises(AnsibleFilterError, match="at least one name"):
        pki_sans(["localhost"], ["127.0.0.1"], [])
