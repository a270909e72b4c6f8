"""mirror_artifact and mirror_fetch against real files: file:// URLs stand in
for the mirrors' HTTPS (the scenario `mirror` runs them against nginx)."""

import hashlib
import os

from ansible_collections.nospof.platform.plugins.modules import mirror_artifact, mirror_fetch

BODY = b"artifact body\n"
SHA = hashlib.sha256(BODY).hexdigest()


def source(tmp_path, body=BODY):
    src = tmp_path / "src.bin"
    src.write_bytes(body)
    return src


def test_artifact_lands_with_its_index_entry_then_nothing_changes(tmp_path, run_module):
    src, root = source(tmp_path), tmp_path / "tree"
    args = dict(root=str(root), path="a/1.0/a.bin", url=f"file://{src}", sha256=SHA)
    failed, result = run_module(mirror_artifact, args, check=True)
    assert not failed and result["changed"] and not root.exists()
    failed, result = run_module(mirror_artifact, args)
    assert not failed and result["changed"] and result["fetched"]
    assert (root / "a/1.0/a.bin").read_bytes() == BODY
    assert (root / "SHA256SUMS").read_text() == f"{SHA}  a/1.0/a.bin\n"
    failed, result = run_module(mirror_artifact, args)
    assert not failed and not result["changed"] and not result["fetched"]


def test_a_checksum_mismatch_leaves_the_tree_as_it_was(tmp_path, run_module):
    src, root = source(tmp_path, b"tampered\n"), tmp_path / "tree"
    failed, result = run_module(mirror_artifact, dict(root=str(root), path="a.bin", url=f"file://{src}", sha256=SHA))
    assert failed and "expected " + SHA in result["msg"]
    assert sorted(os.listdir(root)) == [".nospof-index.lock"]


def test_copy_from_src_and_removal(tmp_path, run_module):
    src, root = source(tmp_path), tmp_path / "tree"
    failed, _ = run_module(mirror_artifact, dict(root=str(root), path="b.bin", src=str(src), sha256=SHA))
    assert not failed
    failed, result = run_module(mirror_artifact, dict(root=str(root), path="b.bin", state="absent"))
    assert not failed and result["changed"] and result["sha256"] == SHA
    assert not (root / "b.bin").exists() and (root / "SHA256SUMS").read_text() == ""


def test_bad_input_is_refused_before_any_change(tmp_path, run_module):
    root = tmp_path / "tree"
    for args, words in [
        (dict(path="../x", url="file:///x", sha256=SHA), "plain name"),
        (dict(path="x", url="file:///x", sha256="abc"), "64 hexadecimal"),
        (dict(path="x", url="ftp://h/x", sha256=SHA), "http, https or file"),
    ]:
        failed, result = run_module(mirror_artifact, dict(args, root=str(root)))
        assert failed and words in result["msg"]
    assert not root.exists()


def test_fetch_skips_missing_and_corrupt_mirrors(tmp_path, run_module):
    good, bad, empty = tmp_path / "good", tmp_path / "bad", tmp_path / "empty"
    for d in (good, bad, empty):
        (d / "x").mkdir(parents=True)
    (good / "x/a.bin").write_bytes(BODY)
    (bad / "x/a.bin").write_bytes(b"corrupt\n")
    dest = tmp_path / "out.bin"
    args = dict(mirrors=[f"file://{empty}", f"file://{bad}", f"file://{good}"], path="x/a.bin", sha256=SHA,
                dest=str(dest), mode="0640")
    failed, result = run_module(mirror_fetch, args)
    assert not failed and result["changed"] and result["mirror"] == f"file://{good}"
    assert [a["result"] == "ok" for a in result["attempts"]] == [False, False, True]
    assert "expected " + SHA in result["attempts"][1]["result"]
    assert dest.read_bytes() == BODY and oct(dest.stat().st_mode & 0o777) == "0o640"
    failed, result = run_module(mirror_fetch, args)
    assert not failed and not result["changed"] and result["attempts"] == []


def test_fetch_fails_when_no_mirror_delivers(tmp_path, run_module):
    dest = tmp_path / "out.bin"
    failed, result = run_module(mirror_fetch, dict(mirrors=[f"file://{tmp_path}/none"], path="a.bin", sha256=SHA,
                                                  dest=str(dest)))
    assert failed and "no mirror delivered a.bin" in result["msg"]
    assert not dest.exists()
