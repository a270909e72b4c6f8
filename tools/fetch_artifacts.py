#!/usr/bin/env python3
"""Fetch every artifact the roles declare (roles/*/meta/mirror.yml) into
.cache/artifacts on the test host, checked by SHA-256.

The scenarios and the lab then publish them through the project's own
artifact mirror with playbooks/mirror_add.yml, the way an air-gapped site
does: the containers never reach the internet for them (they could not
verify its TLS here anyway). A file already present with the right checksum
is kept; a copy in the local Maven repository (~/.m2) is used before the
network.
"""

import glob
import hashlib
import os
import shutil
import sys
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEST = os.path.join(ROOT, ".cache", "artifacts")
M2 = os.path.expanduser("~/.m2/repository")


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main():
    os.makedirs(DEST, exist_ok=True)
    failed = 0
    for manifest in sorted(glob.glob(os.path.join(ROOT, "roles", "*", "meta", "mirror.yml"))):
        with open(manifest, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
        for item in data.get("artifacts") or []:
            target = os.path.join(DEST, os.path.basename(item["path"]))
            if os.path.exists(target) and sha256(target) == item["sha256"]:
                continue
            tmp = target + ".part"
            local = os.path.join(M2, item["url"].split("/maven2/", 1)[1]) if "/maven2/" in item["url"] else ""
            try:
                if local and os.path.exists(local):
                    shutil.copyfile(local, tmp)
                else:
                    print(f"fetching {item['url']}")
                    with urllib.request.urlopen(item["url"], timeout=120) as resp, open(tmp, "wb") as out:
                        shutil.copyfileobj(resp, out)
            except OSError as err:
                print(f"could not fetch {item['url']}: {err}", file=sys.stderr)
                failed += 1
                continue
            got = sha256(tmp)
            if got != item["sha256"]:
                os.unlink(tmp)
                print(f"{item['url']}: SHA-256 {got}, declared {item['sha256']} - not kept", file=sys.stderr)
                failed += 1
                continue
            os.replace(tmp, target)
            print(f"artifact {os.path.basename(target)} ready")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
