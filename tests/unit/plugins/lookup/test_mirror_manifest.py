"""The mirror manifest lookup: each role's declaration, merged and checked."""

import os

import pytest
import yaml
from ansible.errors import AnsibleLookupError

from ansible_collections.nospof.platform.plugins.lookup import mirror_manifest as mm

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
ROLES = sorted(d for d in os.listdir(os.path.join(ROOT, "roles")) if os.path.isdir(os.path.join(ROOT, "roles", d)))


@pytest.mark.parametrize("role", ROLES)
def test_every_role_declares_what_it_needs(role):
    path, data = mm.load_manifest(role, os.path.join(ROOT, "roles"))
    merged = mm.merge([(path, data)])
    assert set(merged["packages"]) == {"bookworm", "trixie"}, "declare both supported releases"


def test_the_base_manifest_matches_base_packages():
    with open(os.path.join(ROOT, "roles", "base", "defaults", "main.yml"), encoding="utf-8") as handle:
        defaults = yaml.safe_load(handle)
    _, data = mm.load_manifest("base", os.path.join(ROOT, "roles"))
    for release, names in data["packages"].items():
        assert set(defaults["base_packages"]) | {"chrony", "sudo"} == set(names), release


def test_merge_unions_sorts_and_deduplicates():
    merged = mm.merge([
        ("a", {"packages": {"bookworm": ["nginx", "curl"]}, "artifacts": [{"path": "x/1", "url": "https://u/1", "sha256": "1" * 64}]}),
        ("b", {"packages": {"bookworm": ["curl"], "trixie": ["haproxy"]},
               "artifacts": [{"path": "x/1", "url": "https://u/1", "sha256": "1" * 64}]}),
    ])
    assert merged["packages"] == {"bookworm": ["curl", "nginx"], "trixie": ["haproxy"]}
    assert [a["path"] for a in merged["artifacts"]] == ["x/1"]


def test_conflicting_checksums_for_one_artifact_are_refused():
    with pytest.raises(AnsibleLookupError, match="different checksums"):
        mm.merge([
            ("a", {"artifacts": [{"path": "x/1", "url": "u", "sha256": "1" * 64}]}),
            ("b", {"artifacts": [{"path": "x/1", "url": "u", "sha256": "2" * 64}]}),
        ])


@pytest.mark.parametrize("bad", [
    {"packages": {"Bookworm": ["x"]}},
    {"packages": {"bookworm": ["Bad Name"]}},
    {"artifacts": [{"path": "x"}]},
    {"keys": [{"name": "k"}]},
])
def test_malformed_manifests_are_refused(bad):
    with pytest.raises(AnsibleLookupError):
        mm.merge([("m", bad)])


def test_a_role_without_a_manifest_is_named(tmp_path):
    (tmp_path / "lonely").mkdir()
    with pytest.raises(AnsibleLookupError, match="lonely"):
        mm.load_manifest("lonely", str(tmp_path))
