#!/usr/bin/python
# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: graphite_rebalance
short_description: Move whisper series between Graphite storage nodes to where the ring puts them
version_added: 0.5.0
description:
  - Runs on one storage node of the graphite role; C(playbooks/graphite_rebalance.yml) drives it on every
    node, with the ring the relays use, and carries the chunks between nodes.
  - O(state=list) reports the series this node holds and, for each, the members that own it under O(ring).
  - O(state=export) packs the given series into gzip tar chunks of at most O(chunk_size) series under
    O(staging_dir), ready to be carried to their new owner.
  - O(state=import) unpacks chunks on an owner, places each series that is missing and merges each one that
    exists (with whisper's merge, the incoming file's points fill the local one archive by archive), at most
    O(rate) series per second, then verifies that every point of the incoming copy is in the local file.
    It returns the series it verified.
  - O(state=prune) deletes series this node no longer owns. It refuses to delete a series O(ring) says this
    node owns, and never deletes a series missing from O(verified).
  - In check mode export, import and prune report what they would do and change nothing.
author: nospof developers
requirements:
  - python3-whisper on the storage node (the graphite role installs it)
options:
  state:
    description: What to do.
    type: str
    choices: [list, export, import, prune]
    default: list
  ring:
    description:
      - The ring, as the graphite role builds it (C(hash), C(replication), C(members) with C(name), C(address),
        C(port)); the same value the relays and graphite-web are rendered from.
    type: dict
    required: true
  node:
    description: This node's name in O(ring).
    type: str
    required: true
  whisper_dir:
    description: Root of the whisper tree.
    type: path
    default: /var/lib/graphite/whisper
  staging_dir:
    description: Where chunks are written (export) or read (import); created if missing.
    type: path
    default: /var/tmp/nospof-graphite-rebalance
  series:
    description: Series names (dotted) to export or prune.
    type: list
    elements: str
    default: []
  target:
    description: With O(state=export), the node the chunks are for (part of their file names).
    type: str
  chunks:
    description: With O(state=import), chunk files under O(staging_dir) to import.
    type: list
    elements: str
    default: []
  verified:
    description: With O(state=prune), the series every owner has verified; only these may be deleted.
    type: list
    elements: str
    default: []
  chunk_size:
    description: Series per chunk.
    type: int
    default: 500
  rate:
    description: Series merged per second at most on import (0 for no limit), to spare the disk carbon-cache writes to.
    type: float
    default: 200
  owner:
    description: User that owns the whisper files (carbon-cache's).
    type: str
    default: _graphite
  exclude:
    description:
      - Regular expressions of series that stay where they are, listed by no state and never moved.
      - The default keeps each carbon-cache's own instrumentation (C(carbon.agents.<node>-<instance>.*)),
        which carbon-cache writes to its local files, not through the relays.
    type: list
    elements: str
    default: ['^carbon\.agents\.']
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: What this node holds and who owns it under the new ring
  nospof.platform.graphite_rebalance:
    state: list
    ring: "{{ __graphite_ring_fact }}"
    node: "{{ inventory_hostname }}"
  register: holdings

- name: Merge chunks carried from another node, then verify them
  nospof.platform.graphite_rebalance:
    state: import
    ring: "{{ __graphite_ring_fact }}"
    node: "{{ inventory_hostname }}"
    chunks: [metrics2-to-metrics3-0001.tar.gz]
"""

RETURN = r"""
series:
  description: With O(state=list), every series this node holds.
  type: list
  elements: str
  returned: state is list
misplaced:
  description: With O(state=list), series this node holds but does not own under O(ring).
  type: list
  elements: str
  returned: state is list
chunks:
  description: With O(state=export), the chunk files written under O(staging_dir).
  type: list
  elements: str
  returned: state is export
placed:
  description: With O(state=import), series that were missing and were placed.
  type: int
  returned: state is import
merged:
  description: With O(state=import), series that existed and were merged.
  type: int
  returned: state is import
verified:
  description: With O(state=import), series whose every incoming point is in the local file.
  type: list
  elements: str
  returned: state is import
pruned:
  description: With O(state=prune), series deleted.
  type: list
  elements: str
  returned: state is prune
seconds:
  description: Time the operation took on this node.
  type: float
  returned: always
"""

import os
import pwd
import re
import shutil
import tarfile
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.nospof.platform.plugins.module_utils import graphite


class RebalanceError(Exception):
    """A problem with a message a human can act on."""


def series_path(root, series):
    parts = series.split(".")
    if not series or any(p in ("", ".", "..") or "/" in p for p in parts):
        raise RebalanceError("bad series name %r" % series)
    return os.path.join(root, *parts) + ".wsp"


def list_series(root, exclude=()):
    found = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if name.endswith(".wsp"):
                rel = os.path.relpath(os.path.join(dirpath, name[:-4]), root)
                series = rel.replace(os.sep, ".")
                if not any(pattern.search(series) for pattern in exclude):
                    found.append(series)
    return sorted(found)


def export(module, ring, node, root, staging, series, target, chunk_size):
    if not target:
        raise RebalanceError("state=export needs target")
    missing = [s for s in series if not os.path.isfile(series_path(root, s))]
    if missing:
        raise RebalanceError("%d series to export are not on %s, e.g. %s" % (len(missing), node, missing[0]))
    chunks = []
    for index in range(0, len(series), chunk_size):
        name = "%s-to-%s-%04d.tar.gz" % (node, target, index // chunk_size + 1)
        chunks.append(name)
        if module.check_mode:
            continue
        os.makedirs(staging, exist_ok=True)
        tmp = os.path.join(staging, "." + name + ".tmp")
        with tarfile.open(tmp, "w:gz") as tar:
            for s in series[index:index + chunk_size]:
                tar.add(series_path(root, s), arcname=s.replace(".", "/") + ".wsp")
        os.replace(tmp, os.path.join(staging, name))
    return {"changed": bool(chunks), "chunks": chunks}


def _points(whisper, path, now):
    """Every non-null point of every archive: {(archive, timestamp): value}."""
    info = whisper.info(path)
    out = {}
    for index, archive in enumerate(info["archives"]):
        start = now - archive["retention"] + archive["secondsPerPoint"]
        (from_t, _until, step), values = whisper.fetch(path, start, now, now=now,
                                                       archiveToSelect=archive["secondsPerPoint"])
        for i, value in enumerate(values):
            if value is not None:
                out[(index, from_t + i * step)] = value
    return out


def import_chunks(module, whisper, root, staging, chunks, rate, owner):
    try:
        user = pwd.getpwnam(owner)
    except KeyError:
        raise RebalanceError("user %s does not exist; is carbon-cache installed here?" % owner)
    placed = merged = 0
    verified, failed = [], []
    interval = 1.0 / rate if rate > 0 else 0
    for chunk in chunks:
        path = os.path.join(staging, os.path.basename(chunk))
        if not os.path.isfile(path):
            raise RebalanceError("chunk %s is not in %s" % (chunk, staging))
        with tempfile.TemporaryDirectory(dir=staging) as unpack:
            with tarfile.open(path, "r:gz") as tar:
                members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(".wsp")
                           and not m.name.startswith("/") and ".." not in m.name.split("/")]
                tar.extractall(unpack, members=members)  # nosec B202: names checked above
            for member in members:
                started = time.monotonic()
                series = member.name[:-4].replace("/", ".")
                incoming = os.path.join(unpack, member.name)
                local = series_path(root, series)
                if module.check_mode:
                    placed, merged = (placed + 1, merged) if not os.path.exists(local) else (placed, merged + 1)
                    verified.append(series)
                    continue
                if not os.path.exists(local):
                    directory = os.path.dirname(local)
                    os.makedirs(directory, exist_ok=True)
                    walk = directory
                    while walk.startswith(root) and walk != root:
                        os.chown(walk, user.pw_uid, user.pw_gid)
                        walk = os.path.dirname(walk)
                    tmp = local + ".rebalance.tmp"
                    shutil.copyfile(incoming, tmp)
                    os.chown(tmp, user.pw_uid, user.pw_gid)
                    os.chmod(tmp, 0o644)
                    if os.path.exists(local):  # carbon-cache created it meanwhile: merge instead
                        os.unlink(tmp)
                        whisper.merge(incoming, local)
                        merged += 1
                    else:
                        os.rename(tmp, local)
                        placed += 1
                else:
                    try:
                        whisper.merge(incoming, local)
                    except Exception as err:  # whisper raises bare exceptions for schema mismatches
                        raise RebalanceError("cannot merge %s into %s: %s (do both nodes use the same storage "
                                             "schema?)" % (series, local, err))
                    merged += 1
                now = int(time.time())
                want = _points(whisper, incoming, now)
                have = _points(whisper, local, now)
                if all(key in have for key in want):
                    verified.append(series)
                else:
                    failed.append(series)
                if interval:
                    spare = interval - (time.monotonic() - started)
                    if spare > 0:
                        time.sleep(spare)
        if not module.check_mode:
            os.unlink(path)
    if failed:
        raise RebalanceError("%d series did not verify after the merge (points missing locally), e.g. %s; "
                             "nothing was deleted anywhere" % (len(failed), failed[0]))
    return {"changed": bool(placed or merged), "placed": placed, "merged": merged, "verified": verified}


def prune(module, hr, node, root, series, verified):
    verified = set(verified)
    owned = [s for s in series if node in hr.owners(s)]
    if owned:
        raise RebalanceError("refusing to delete %d series %s owns under the ring, e.g. %s"
                             % (len(owned), node, owned[0]))
    unverified = [s for s in series if s not in verified]
    if unverified:
        raise RebalanceError("refusing to delete %d series no owner has verified, e.g. %s"
                             % (len(unverified), unverified[0]))
    pruned = []
    for s in series:
        path = series_path(root, s)
        if os.path.exists(path):
            pruned.append(s)
            if not module.check_mode:
                os.unlink(path)
    if not module.check_mode:
        for dirpath, dirs, files in os.walk(root, topdown=False):
            if dirpath != root and not dirs and not files:
                try:
                    os.rmdir(dirpath)
                except OSError:
                    pass
    return {"changed": bool(pruned), "pruned": pruned}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["list", "export", "import", "prune"], default="list"),
            ring=dict(type="dict", required=True),
            node=dict(type="str", required=True),
            whisper_dir=dict(type="path", default="/var/lib/graphite/whisper"),
            staging_dir=dict(type="path", default="/var/tmp/nospof-graphite-rebalance"),
            series=dict(type="list", elements="str", default=[]),
            target=dict(type="str"),
            chunks=dict(type="list", elements="str", default=[]),
            verified=dict(type="list", elements="str", default=[]),
            chunk_size=dict(type="int", default=500),
            rate=dict(type="float", default=200),
            owner=dict(type="str", default="_graphite"),
            exclude=dict(type="list", elements="str", default=[r"^carbon\.agents\."]),
        ),
        supports_check_mode=True,
    )
    p = module.params
    started = time.monotonic()
    try:
        hr = graphite.HashRing(p["ring"])
        names = [m["name"] for m in hr.members]
        if p["node"] not in names:
            raise RebalanceError("%s is not a member of the ring (%s)" % (p["node"], ", ".join(names)))
        if p["chunk_size"] < 1:
            raise RebalanceError("chunk_size must be at least 1")
        if p["rate"] < 0:
            raise RebalanceError("rate must not be negative")
        root = p["whisper_dir"].rstrip("/")
        if not os.path.isdir(root):
            raise RebalanceError("%s is not a directory; is this a storage node?" % root)
        try:
            exclude = [re.compile(x) for x in p["exclude"]]
        except re.error as err:
            raise RebalanceError("bad exclude pattern: %s" % err)
        if p["state"] == "list":
            series = list_series(root, exclude)
            result = {"changed": False, "series": series,
                      "misplaced": [s for s in series if p["node"] not in hr.owners(s)]}
        elif p["state"] == "export":
            result = export(module, hr, p["node"], root, p["staging_dir"], p["series"], p["target"],
                            p["chunk_size"])
        else:
            try:
                import whisper  # noqa: F401 - from python3-whisper on the storage node
            except ImportError:
                raise RebalanceError("python3-whisper is not installed on %s" % p["node"])
            if p["state"] == "import":
                result = import_chunks(module, whisper, root, p["staging_dir"], p["chunks"], p["rate"], p["owner"])
            else:
                result = prune(module, hr, p["node"], root, p["series"], p["verified"])
    except (graphite.RingError, RebalanceError) as err:
        module.fail_json(msg=str(err))
    except (OSError, tarfile.TarError) as err:
        module.fail_json(msg="rebalance on %s failed: %s" % (p["node"], err))
    result["seconds"] = round(time.monotonic() - started, 3)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
