# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: mirror_manifest
short_description: What the collection's roles need from the mirrors, merged into one list
version_added: 0.3.0
description:
  - Each role of nospof.platform declares, in one place (C(roles/<role>/meta/mirror.yml)),
    the Debian packages it installs (per Debian release), the artifacts it downloads
    (C({path, url, sha256})) and the signing keys it needs. The role installs from
    that same file, so the declaration cannot drift from what runs.
  - This lookup reads the manifests of the named roles (all roles when none is named)
    and returns one dictionary with keys C(packages) (release to package names), C(artifacts)
    and C(keys), sorted and without duplicates, for C(playbooks/mirror_fill.yml) to fill the mirrors with.
  - The same artifact path declared twice with different checksums is an error.
options:
  _terms:
    description: Role names (without the collection prefix). None means every role.
    required: false
"""

EXAMPLES = r"""
- name: Everything the messaging tier needs
  ansible.builtin.debug:
    msg: "{{ lookup('nospof.platform.mirror_manifest', 'base', 'pki', 'rabbitmq') }}"
"""

RETURN = r"""
_raw:
  description: One dictionary with keys packages, artifacts and keys.
  type: dict
"""

import os
import re

import yaml

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

ROLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "roles")
_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
_RELEASE = re.compile(r"^[a-z]+$")


def load_manifest(role, roles_dir=ROLES_DIR):
    path = os.path.join(roles_dir, role, "meta", "mirror.yml")
    if not os.path.isfile(path):
        raise AnsibleLookupError("role %r has no mirror manifest (%s)" % (role, path))
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    if not isinstance(data, dict) or set(data) - {"packages", "artifacts", "keys"}:
        raise AnsibleLookupError("%s: a mapping with packages, artifacts and keys only" % path)
    return path, data


def merge(manifests):
    """Merge [(path, manifest)] into {packages, artifacts, keys}; raise on conflicts."""
    packages, artifacts, keys = {}, {}, {}
    for path, data in manifests:
        for release, names in (data.get("packages") or {}).items():
            if not isinstance(release, str) or not _RELEASE.match(release):
                raise AnsibleLookupError("%s: release %r must be a Debian code name" % (path, release))
            for name in names or []:
                if not isinstance(name, str) or not _PACKAGE.match(name):
                    raise AnsibleLookupError("%s: %r is not a Debian package name" % (path, name))
                packages.setdefault(release, set()).add(name)
        for item in data.get("artifacts") or []:
            if not isinstance(item, dict) or not {"path", "url", "sha256"} <= set(item):
                raise AnsibleLookupError("%s: each artifact needs path, url and sha256: %r" % (path, item))
            seen = artifacts.get(item["path"])
            if seen and seen["sha256"] != item["sha256"]:
                raise AnsibleLookupError(
                    "artifact %s is declared twice with different checksums (%s)" % (item["path"], path))
            artifacts[item["path"]] = dict(item)
        for item in data.get("keys") or []:
            if not isinstance(item, dict) or not {"name", "url", "sha256"} <= set(item):
                raise AnsibleLookupError("%s: each key needs name, url and sha256: %r" % (path, item))
            keys[item["name"]] = dict(item)
    return {
        "packages": {release: sorted(names) for release, names in sorted(packages.items())},
        "artifacts": [artifacts[p] for p in sorted(artifacts)],
        "keys": [keys[k] for k in sorted(keys)],
    }


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        flat = []
        for term in terms:
            flat.extend(term if isinstance(term, (list, tuple)) else [term])
        roles = [str(t).split(".")[-1] for t in flat] or sorted(
            d for d in os.listdir(ROLES_DIR) if os.path.isdir(os.path.join(ROLES_DIR, d)))
        return [merge([load_manifest(role) for role in roles])]
