#!/usr/bin/python
# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: mirror_fetch
short_description: Download an artifact from the first mirror that serves it intact
version_added: 0.3.0
description:
  - Runs on a client. Tries each URL of O(mirrors) in turn (each the base of an
    artifact tree, such as C(https://infra1/artifacts)), downloads O(path) into a
    temporary file next to O(dest) and keeps it only when its SHA-256 equals O(sha256).
  - A mirror that is down, answers with an error or serves a file with another checksum
    is skipped; the module fails only when no mirror delivered the file, listing why
    each one did not.
  - A O(dest) that already has the right checksum is left alone, so nothing is
    downloaded again.
author: nospof developers
extends_documentation_fragment:
  - ansible.builtin.files
options:
  mirrors:
    description: Base URLs of the mirrors' artifact trees, tried in this order.
    type: list
    elements: str
    required: true
  path:
    description: The artifact's path within the tree (plain names, no C(..)).
    type: str
    required: true
  sha256:
    description: Expected SHA-256 (64 hex digits); roles declare it next to the artifact.
    type: str
    required: true
  dest:
    description: Where the file goes on the client.
    type: path
    required: true
  ca_path:
    description: CA bundle to verify the mirrors' certificates with; the system trust store when unset.
    type: path
  timeout:
    description: Seconds to wait for each mirror before trying the next.
    type: int
    default: 10
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Fetch the OpenSearch distribution from whichever mirror is up
  nospof.platform.mirror_fetch:
    mirrors:
      - https://infra1/artifacts
      - https://infra2/artifacts
    path: opensearch/2.19.1/opensearch-2.19.1.zip
    sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    dest: /var/cache/nospof/opensearch-2.19.1.zip
    ca_path: /etc/ssl/nospof/ca.crt
    mode: "0644"
"""

RETURN = r"""
mirror:
  description: The mirror the file came from; empty when it was already in place.
  returned: always
  type: str
attempts:
  description: Each mirror tried in this run and what happened (C(ok) or the error).
  returned: always
  type: list
  elements: dict
sha256:
  description: The file's SHA-256.
  returned: always
  type: str
"""

import hashlib
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.urls import open_url

from ansible_collections.nospof.platform.plugins.module_utils.mirror import (
    ArtifactError, check_path, check_sha256, file_sha256, join_url)


def download(url, directory, timeout, ca_path):
    """Fetch url into a temporary file in directory; return (tmp, sha256)."""
    digest = hashlib.sha256()
    reader = open_url(url, timeout=timeout, ca_path=ca_path, http_agent="nospof-mirror-fetch")
    handle, tmp = tempfile.mkstemp(prefix=".nospof-fetch-", dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            for block in iter(lambda: reader.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
    except BaseException:
        os.unlink(tmp)
        raise
    finally:
        reader.close()
    return tmp, digest.hexdigest()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            mirrors=dict(type="list", elements="str", required=True),
            path=dict(type="str", required=True),
            sha256=dict(type="str", required=True),
            dest=dict(type="path", required=True),
            ca_path=dict(type="path"),
            timeout=dict(type="int", default=10),
        ),
        add_file_common_args=True,
        supports_check_mode=True,
    )
    params = module.params
    try:
        rel = check_path(params["path"])
        want = check_sha256(params["sha256"])
    except ArtifactError as exc:
        module.fail_json(msg=str(exc))
    mirrors = [m.strip() for m in params["mirrors"] if m and m.strip()]
    if not mirrors:
        module.fail_json(msg="mirrors: at least one mirror URL is required")
    for mirror in mirrors:
        if not mirror.startswith(("http://", "https://", "file://")):
            module.fail_json(msg="mirror %r: use an http, https or file URL" % mirror)
    if params["timeout"] <= 0:
        module.fail_json(msg="timeout must be positive")
    dest = params["dest"]
    directory = os.path.dirname(dest) or "."
    if not os.path.isdir(directory):
        module.fail_json(msg="the directory of dest (%s) does not exist" % directory)

    result = dict(changed=False, mirror="", attempts=[], sha256=want)
    if os.path.isfile(dest) and file_sha256(dest) == want:
        file_args = module.load_file_common_arguments(params, path=dest)
        result["changed"] = module.set_fs_attributes_if_different(file_args, False)
        module.exit_json(**result)
    if module.check_mode:
        result["changed"] = True
        module.exit_json(**result)

    for mirror in mirrors:
        url = join_url(mirror, rel)
        try:
            tmp, got = download(url, directory, params["timeout"], params["ca_path"])
        except Exception as exc:  # any failure of one mirror means: try the next
            result["attempts"].append(dict(url=url, result=to_native(exc)))
            continue
        if got != want:
            os.unlink(tmp)
            result["attempts"].append(dict(url=url, result="SHA-256 %s, expected %s" % (got, want)))
            continue
        os.chmod(tmp, 0o644)
        module.atomic_move(tmp, dest)
        result["attempts"].append(dict(url=url, result="ok"))
        result["mirror"] = mirror
        result["changed"] = True
        file_args = module.load_file_common_arguments(params, path=dest)
        module.set_fs_attributes_if_different(file_args, True)
        module.exit_json(**result)

    module.fail_json(
        msg="no mirror delivered %s with SHA-256 %s: %s" % (
            rel, want, "; ".join("%s: %s" % (a["url"], a["result"]) for a in result["attempts"])),
        **result)


if __name__ == "__main__":
    main()
