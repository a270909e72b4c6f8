#!/usr/bin/python
# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: mirror_artifact
short_description: Put a file into (or take it out of) a mirror's artifact tree, checksum first
version_added: 0.3.0
description:
  - Runs on a mirror. Places one file at O(path) under the artifact tree O(root)
    and records it in the tree's index C(SHA256SUMS) (sha256sum format, sorted).
  - The file comes from O(url) (fetched by the mirror itself) or from O(src), a file
    already on the mirror (for example one copied from the controller). It is written
    to a temporary file next to its destination, and replaces it only when its SHA-256
    equals O(sha256); a mismatch fails and leaves the tree as it was.
  - A file already present with the right checksum is not fetched again.
  - The index is updated under a lock, through a temporary file and a rename, so a
    reader never sees a half-written index.
author: nospof developers
options:
  root:
    description: The artifact tree (a directory; created if missing).
    type: path
    required: true
  path:
    description: Where the file goes, relative to O(root), made of plain names (no C(..)).
    type: str
    required: true
  sha256:
    description: Expected SHA-256 of the file (64 hex digits). Required with O(state=present).
    type: str
  url:
    description: Where the mirror fetches the file from (http, https or file). Mutually exclusive with O(src).
    type: str
  src:
    description: A file on the mirror to copy into the tree. Mutually exclusive with O(url).
    type: path
  state:
    description: Whether the file is in the tree.
    type: str
    choices: [present, absent]
    default: present
  timeout:
    description: Seconds to wait for the server when fetching O(url).
    type: int
    default: 60
  ca_path:
    description: CA bundle to verify an https O(url) with; the system trust store when unset.
    type: path
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Put the OpenSearch distribution on the mirror
  nospof.platform.mirror_artifact:
    root: /srv/nospof-mirror/artifacts
    path: opensearch/2.19.1/opensearch-2.19.1.zip
    url: https://repo1.maven.org/maven2/org/opensearch/distribution/integ-test-zip/opensearch/2.19.1/opensearch-2.19.1.zip
    sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
"""

RETURN = r"""
path:
  description: The file's path relative to the tree.
  returned: always
  type: str
sha256:
  description: The file's SHA-256 (present) or the recorded one (absent).
  returned: when known
  type: str
size:
  description: Size in bytes of the file in the tree.
  returned: when state is present and not in check mode
  type: int
fetched:
  description: Whether the file was fetched or copied in this run.
  returned: always
  type: bool
"""

import fcntl
import hashlib
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.urls import open_url

from ansible_collections.nospof.platform.plugins.module_utils.mirror import (
    INDEX, ArtifactError, atomic_write, check_path, check_sha256, file_sha256, parse_index, render_index)


def stream_to_temp(module, dest_dir, reader):
    """Copy a readable object into a temporary file in dest_dir; return (tmp, sha256, size)."""
    digest = hashlib.sha256()
    size = 0
    handle, tmp = tempfile.mkstemp(prefix=".nospof-", dir=dest_dir)
    try:
        with os.fdopen(handle, "wb") as out:
            for block in iter(lambda: reader.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp, digest.hexdigest(), size


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", required=True),
            path=dict(type="str", required=True),
            sha256=dict(type="str"),
            url=dict(type="str"),
            src=dict(type="path"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            timeout=dict(type="int", default=60),
            ca_path=dict(type="path"),
        ),
        mutually_exclusive=[("url", "src")],
        required_if=[("state", "present", ("sha256",)), ("state", "present", ("url", "src"), True)],
        supports_check_mode=True,
    )
    params = module.params
    try:
        rel = check_path(params["path"])
        want = check_sha256(params["sha256"]) if params["state"] == "present" else None
    except ArtifactError as exc:
        module.fail_json(msg=str(exc))
    if params["url"] and not params["url"].startswith(("http://", "https://", "file://")):
        module.fail_json(msg="url %r: use http, https or file" % params["url"])
    if params["timeout"] <= 0:
        module.fail_json(msg="timeout must be positive")

    root = params["root"]
    dest = os.path.join(root, rel)
    index_path = os.path.join(root, INDEX)
    result = dict(changed=False, path=rel, fetched=False)

    if not os.path.isdir(root):
        if module.check_mode:
            module.exit_json(changed=params["state"] == "present", **{k: v for k, v in result.items() if k != "changed"})
        os.makedirs(root, mode=0o755)

    lock = open(os.path.join(root, ".nospof-index.lock"), "a") if not module.check_mode else None
    try:
        if lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            before_text = open(index_path).read() if os.path.exists(index_path) else ""
            entries = parse_index(before_text)
        except (ArtifactError, OSError) as exc:
            module.fail_json(msg="cannot read the index %s: %s" % (index_path, to_native(exc)))
        after = dict(entries)

        if params["state"] == "absent":
            result["sha256"] = entries.get(rel)
            present = os.path.exists(dest)
            after.pop(rel, None)
            if present or rel in entries:
                result["changed"] = True
                if not module.check_mode:
                    if present:
                        os.unlink(dest)
        else:
            result["sha256"] = want
            have = file_sha256(dest) if os.path.isfile(dest) else None
            if have != want:
                result["changed"] = True
                if not module.check_mode:
                    os.makedirs(os.path.dirname(dest), mode=0o755, exist_ok=True)
                    try:
                        if params["src"]:
                            if not os.path.isfile(params["src"]):
                                module.fail_json(msg="src %s is not a file on %s" % (params["src"], os.uname()[1]), **result)
                            with open(params["src"], "rb") as reader:
                                tmp, got, size = stream_to_temp(module, os.path.dirname(dest), reader)
                        else:
                            reader = open_url(params["url"], timeout=params["timeout"], ca_path=params["ca_path"],
                                              http_agent="nospof-mirror")
                            try:
                                tmp, got, size = stream_to_temp(module, os.path.dirname(dest), reader)
                            finally:
                                reader.close()
                    except Exception as exc:  # network and file errors alike end the same way
                        module.fail_json(msg="could not fetch %s: %s" % (params["url"] or params["src"], to_native(exc)),
                                         **result)
                    if got != want:
                        os.unlink(tmp)
                        module.fail_json(
                            msg="%s has SHA-256 %s, expected %s; the tree is unchanged"
                                % (params["url"] or params["src"], got, want), **result)
                    os.chmod(tmp, 0o644)
                    os.replace(tmp, dest)
                    result["fetched"] = True
                    result["size"] = size
            elif not module.check_mode:
                result["size"] = os.path.getsize(dest)
            after[rel] = want

        after_text = render_index(after)
        if after_text != before_text:
            result["changed"] = True
            if not module.check_mode:
                atomic_write(index_path, after_text.encode())
        if module._diff:
            result["diff"] = dict(before=before_text, after=after_text,
                                  before_header=index_path, after_header=index_path)
    finally:
        if lock:
            lock.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
