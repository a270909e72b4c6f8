"""Artifact tree helpers: path and checksum validation, the SHA256SUMS index."""

import hashlib

import pytest

from ansible_collections.nospof.platform.plugins.module_utils import mirror


@pytest.mark.parametrize("path", ["a/b/c.zip", "opensearch/2.19.1/opensearch-2.19.1.zip", "x+y_z.tar.gz"])
def test_plain_relative_paths_pass(path):
    assert mirror.check_path(path) == path


@pytest.mark.parametrize("path", ["", "../etc/passwd", "a/../b", "a//b", "a/./b", "a b", "SHA256SUMS", "a/$x"])
def test_unsafe_paths_are_refused(path):
    with pytest.raises(mirror.ArtifactError):
        mirror.check_path(path)


def test_leading_and_trailing_slashes_are_normalised():
    assert mirror.check_path("/a/b/") == "a/b"


def test_checksums_are_64_hex_digits():
    assert mirror.check_sha256("A" * 64) == "a" * 64
    for bad in ["", "a" * 63, "g" * 64, None]:
        with pytest.raises(mirror.ArtifactError):
            mirror.check_sha256(bad)


def test_index_round_trip_is_sorted_and_sha256sum_compatible():
    entries = {"b/file": "1" * 64, "a/file": "2" * 64}
    text = mirror.render_index(entries)
    assert text.splitlines() == ["2" * 64 + "  a/file", "1" * 64 + "  b/file"]
    assert mirror.parse_index(text) == entries
    # sha256sum's binary marker is accepted too
    assert mirror.parse_index("3" * 64 + " *c/file\n") == {"c/file": "3" * 64}


def test_a_malformed_index_line_is_named():
    with pytest.raises(mirror.ArtifactError, match="line 2"):
        mirror.parse_index("1" * 64 + "  a\nnot a checksum line\n")


def test_file_sha256_and_atomic_write(tmp_path):
    target = tmp_path / "f"
    mirror.atomic_write(str(target), b"hello\n")
    assert mirror.file_sha256(str(target)) == hashlib.sha256(b"hello\n").hexdigest()
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_join_url():
    assert mirror.join_url("https://m1/artifacts/", "/a/b") == "https://m1/artifacts/a/b"
