#!/usr/bin/python3
"""Test client for the opensearch scenario (runs on the client container).

  os-client index --hosts os1:9200,os2:9201,os3:9202 --index NAME --out FILE [--seconds N]
      create documents one by one (op_type=create, unique ids) until
      /tmp/os-client.stop exists or N seconds passed, trying the next node when
      one fails; the id of every acknowledged document goes to FILE.
  os-client missing --hosts ... --index NAME --ids FILE
      print how many ids of FILE the index does not hold (mget, realtime).

Credentials: OS_USER / OS_PASSWORD in the environment; TLS verified against
the internal CA.
"""

import argparse
import base64
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request

CA = "/etc/ssl/nospof/ca.crt"
STOP = "/tmp/os-client.stop"


def request(host, method, path, body=None, timeout=5):
    ctx = ssl.create_default_context(cafile=CA)
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"https://{host}{path}", data=data, method=method)
    token = base64.b64encode(f"{os.environ['OS_USER']}:{os.environ['OS_PASSWORD']}".encode()).decode()
    req.add_header("Authorization", f"Basic {token}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, context=ctx, timeout=timeout) as resp:
        return resp.status, json.loads(resp.read() or b"{}")


def index(args):
    hosts = args.hosts.split(",")
    deadline = time.monotonic() + args.seconds
    acked = attempts = failovers = 0
    turn = 0
    with open(args.out, "w", encoding="utf-8") as out:
        seq = 0
        while time.monotonic() < deadline and not os.path.exists(STOP):
            seq += 1
            doc_id = f"doc-{seq:07d}"
            for _ in range(len(hosts) * 3):
                host = hosts[turn % len(hosts)]
                attempts += 1
                try:
                    status, _ = request(host, "PUT", f"/{args.index}/_doc/{doc_id}?op_type=create",
                                        {"seq": seq, "at": time.time()})
                except urllib.error.HTTPError as err:
                    if err.code == 409:  # created by an earlier attempt whose answer was lost
                        status = 201
                    else:
                        status = err.code
                except OSError:
                    status = 0
                if status == 201:
                    out.write(doc_id + "\n")
                    out.flush()
                    acked += 1
                    break
                failovers += 1
                turn += 1
                time.sleep(0.2)
            turn += 1
    print(json.dumps({"acked": acked, "attempts": attempts, "failovers": failovers}))


def missing(args):
    hosts = args.hosts.split(",")
    with open(args.ids, encoding="utf-8") as handle:
        ids = [line.strip() for line in handle if line.strip()]
    lost = []
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for host in hosts:
            try:
                _, body = request(host, "POST", f"/{args.index}/_mget?realtime=true", {"ids": chunk}, timeout=30)
                break
            except OSError:
                continue
        else:
            sys.exit("no node answered")
        lost += [d["_id"] for d in body["docs"] if not d.get("found")]
    print(json.dumps({"checked": len(ids), "missing": len(lost), "examples": lost[:5]}))


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("index")
    p.add_argument("--hosts", required=True)
    p.add_argument("--index", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seconds", type=float, default=600)
    p = sub.add_parser("missing")
    p.add_argument("--hosts", required=True)
    p.add_argument("--index", required=True)
    p.add_argument("--ids", required=True)
    args = parser.parse_args()
    {"index": index, "missing": missing}[args.cmd](args)


if __name__ == "__main__":
    main()
