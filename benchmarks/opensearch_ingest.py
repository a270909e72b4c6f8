#!/usr/bin/env python3
"""Log ingest rate into OpenSearch on this machine, through the log shipper
(rsyslog's omelasticsearch) and through the bulk API, from one run. A
benchmark: it prints figures and asserts nothing.

It runs against the opensearch scenario's containers (three nodes and the
client), bringing them up with `molecule converge -s opensearch` when they are
not running, and leaves them up (`molecule destroy -s opensearch` removes
them).

- shipper: the client's delivery program (the one rsyslog's omprog runs) is
  fed --lines lines in 500-line transactions exactly as rsyslog feeds it, and
  confirms each only once OpenSearch stored every line (primary and
  replica); the figure is lines per second of that. Feeding rsyslog through
  /dev/log instead would measure journald's and imuxsock's rate limits
  (they drop bursts by design), not the path to OpenSearch.
- bulk: one client process sends _bulk requests of --batch documents of the
  same shape for --seconds; the figure is documents acknowledged per second.

    .venv/bin/python benchmarks/opensearch_ingest.py [--lines 20000] [--batch 1000] [--seconds 30]
"""

import argparse
import glob
import json
import os
import shlex
import subprocess
import sys
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIENT = "nospof-opensearch-client"

BULK = r'''
import base64, json, os, ssl, sys, time, urllib.request
batch, seconds, host = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile="/etc/ssl/nospof/ca.crt")
auth = base64.b64encode(f"osadmin:{os.environ['OS_PASSWORD']}".encode()).decode()
line = json.dumps({"host": "bench", "program": "bench", "severity": "info", "facility": "user",
                   "message": "benchmark line " + "x" * 80})
acked = 0
start = time.monotonic()
while time.monotonic() - start < seconds:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    body = "".join('{"index":{}}\n' + line[:-1] + f',"@timestamp":"{now}"' + "}\n" for _ in range(batch)).encode()
    req = urllib.request.Request(f"https://{host}:9200/bench-bulk/_bulk", data=body, method="POST",
                                 headers={"Authorization": "Basic " + auth, "Content-Type": "application/x-ndjson"})
    with urllib.request.urlopen(req, context=ctx, timeout=60) as resp:
        out = json.loads(resp.read())
    acked += sum(1 for item in out["items"] if item["index"]["status"] in (200, 201))
print(json.dumps({"acked": acked, "seconds": time.monotonic() - start}))
'''

SHIPPER = r'''
import json, subprocess, sys, time
token, count, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
proc = subprocess.Popen(["/usr/local/lib/nospof/nospof-log-shipper", "--config", "/etc/nospof/log-shipper.json"],
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
assert proc.stdout.readline().strip() == "OK"
def send(line):
    proc.stdin.write(line + "\n"); proc.stdin.flush(); return proc.stdout.readline().strip()
start = time.monotonic()
for first in range(0, count, batch):
    assert send("BEGIN TRANSACTION") == "OK"
    for i in range(first, min(first + batch, count)):
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        send(json.dumps({"@timestamp": now, "host": "bench", "program": "benchship", "severity": "info",
                         "facility": "user", "message": f"{token} {i} " + "x" * 80}))
    answer = send("COMMIT TRANSACTION")
    assert answer == "OK", answer
print(json.dumps({"stored": count, "seconds": time.monotonic() - start}))
'''


def sh(*args, check=True, env=None):
    proc = subprocess.run(args, capture_output=True, text=True, env=env)
    if check and proc.returncode:
        sys.exit(f"failed: {' '.join(args)[:200]}\n{proc.stdout[-1500:]}{proc.stderr[-1500:]}")
    return proc


def client(script, *args, env=""):
    return sh("podman", "exec", CLIENT, "bash", "-c",
              f"{env} python3 -c {shlex.quote(script)} " + " ".join(shlex.quote(a) for a in args)).stdout


def secret(name):
    dirs = sorted(glob.glob(os.path.expanduser("~/.ansible/tmp/molecule.*.opensearch")), key=os.path.getmtime)
    for d in reversed(dirs):
        path = os.path.join(d, "secrets", name)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                return handle.read().split()[0]
    sys.exit("no secrets of the opensearch scenario found: run `molecule converge -s opensearch` first")


def count(password, query):
    out = sh("podman", "exec", CLIENT, "curl", "-s", "--cacert", "/etc/ssl/nospof/ca.crt", "-u",
             f"osadmin:{password}", f"https://os1:9200/logs/_count?q={query}", check=False).stdout
    try:
        return json.loads(out)["count"]
    except (ValueError, KeyError):
        return -1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    if sh("podman", "container", "exists", CLIENT, check=False).returncode != 0:
        env = dict(os.environ, PATH=os.path.join(ROOT, ".venv", "bin") + ":" + os.environ["PATH"],
                   ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"))
        print("bringing up the opensearch scenario (molecule converge)...", flush=True)
        sh("molecule", "converge", "-s", "opensearch", env=env)
    password = secret("osadmin")

    token = "bench" + uuid.uuid4().hex[:10]
    shipped = json.loads(client(SHIPPER, token, str(args.lines), "500"))
    arrived = count(password, token)
    bulk = json.loads(client(BULK, str(args.batch), str(args.seconds), "os1", env=f"OS_PASSWORD={password}"))
    print(f"{'path':<34} {'documents':>10} {'seconds':>8} {'docs/s':>8}")
    print(f"{'shipper program (500-line batches)':<34} {shipped['stored']:>10} {shipped['seconds']:>8.1f} "
          f"{shipped['stored'] / shipped['seconds']:>8.0f}   (searchable at once: {arrived}; the rest after the 1 s refresh)")
    print(f"{'bulk API (' + str(args.batch) + ' per request)':<34} {bulk['acked']:>10} {bulk['seconds']:>8.1f} "
          f"{bulk['acked'] / bulk['seconds']:>8.0f}")
    print("3 nodes, 1 replica, 512 MiB heap each, all on this machine's cores with the client.")


if __name__ == "__main__":
    main()
