# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Artifact tree helpers shared by mirror_artifact and mirror_fetch.

An artifact tree is a directory of files addressed by relative paths of plain
names, with an index SHA256SUMS at its root in sha256sum(1) format
("<hex>  <path>", sorted by path), so `sha256sum -c SHA256SUMS` checks a tree.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile

INDEX = "SHA256SUMS"
_NAME = re.compile(r"^[A-Za-z0-9._+-]+$")
_HEX = re.compile(r"^[0-9a-f]{64}$")


class ArtifactError(ValueError):
    """Bad input or a tree that cannot be read; the message says which."""


def check_path(path):
    """Return the normalised relative path or raise ArtifactError."""
    if not isinstance(path, str) or not path.strip():
        raise ArtifactError("path must be a non-empty relative path")
    parts = path.strip().strip("/").split("/")
    for part in parts:
        if part in ("", ".", "..") or not _NAME.match(part):
            raise ArtifactError(
                "path %r: each part must be a plain name of letters, digits and ._+- (no '..', no empty parts)" % path)
    if parts == [INDEX]:
        raise ArtifactError("path %r is the index itself" % path)
    return "/".join(parts)


def check_sha256(value):
    """Return the lower-case hex digest or raise ArtifactError."""
    digest = str(value or "").strip().lower()
    if not _HEX.match(digest):
        raise ArtifactError("sha256 must be 64 hexadecimal digits, got %r" % value)
    return digest


def file_sha256(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_index(text):
    """{path: sha256} from SHA256SUMS text; raises on a malformed line."""
    entries = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = re.match(r"^([0-9a-f]{64}) [ *](\S.*)$", line)
        if not match:
            raise ArtifactError("%s line %d is not '<sha256>  <path>': %r" % (INDEX, number, line[:200]))
        entries[match.group(2)] = match.group(1)
    return entries


def render_index(entries):
    return "".join("%s  %s\n" % (entries[path], path) for path in sorted(entries))


def atomic_write(path, data, mode=0o644):
    """Write bytes to path through a temporary file in the same directory."""
    directory = os.path.dirname(path) or "."
    handle, tmp = tempfile.mkstemp(prefix=".nospof-", dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def join_url(base, path):
    return base.rstrip("/") + "/" + path.lstrip("/")
