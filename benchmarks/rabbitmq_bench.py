#!/usr/bin/env python3
"""Publish-with-confirm throughput: the role's three-node cluster against a single default node.

    make setup && .venv/bin/python benchmarks/rabbitmq_bench.py [--suite bookworm] [--count 5000] [--keep]

Not a test: it asserts nothing about speed. In one run it
  1. brings up the molecule scenario `rabbitmq` (three brokers built by the
     role, TLS, quorum queues replicated on three nodes, and a client),
  2. starts one more container on the same network with Debian's
     rabbitmq-server as the package installs it (plain AMQP, one node; a
     user `bench` is added because `guest` may only log in from localhost),
  3. from the same client container, publishes --count persistent messages
     of --size bytes on one channel, waiting for each confirm, to
       - a quorum queue on the cluster over TLS (the role's setup),
       - a classic queue on the single default node (the package default),
       - a quorum queue on the single default node,
     and prints the three side by side,
  4. removes the extra container and (unless --keep) the scenario.

All traffic stays between containers this script created.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import secrets
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENARIO = "rabbitmq"
SINGLE = "nospof-rabbitmq-bench-single"
CLIENT = "nospof-rabbitmq-client"


def sh(*cmd, check=True, env=None):
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return proc


def molecule(action, suite):
    env = dict(os.environ, NOSPOF_SUITE=suite, NO_COLOR="1", PY_COLORS="0", ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"),
               ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    started = time.monotonic()
    sh(os.path.join(ROOT, ".venv", "bin", "molecule"), action, "-s", SCENARIO, env=env)
    return time.monotonic() - started


def bench(args, *extra):
    out = sh("podman", "exec", CLIENT, "/usr/local/bin/amqp_client.py", "bench", "--count", str(args.count),
             "--size", str(args.size), *extra).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--suite", default="bookworm", choices=["bookworm", "trixie"])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--keep", action="store_true", help="keep the scenario's containers")
    args = parser.parse_args()

    print(f"bringing up the rabbitmq scenario on {args.suite} ...", flush=True)
    took = molecule("create", args.suite) + molecule("prepare", args.suite) + molecule("converge", args.suite)
    print(f"  cluster ready in {took:.0f} s", flush=True)

    image = f"localhost/nospof-debian:{args.suite}"
    sh("podman", "rm", "-f", SINGLE, check=False)
    sh("podman", "run", "-d", "--systemd=always", "--name", SINGLE, "--hostname", "single",
       "--network", f"nospof-{SCENARIO}", "--network-alias", "single",
       "--label", f"nospof.env=molecule-{SCENARIO}", image, "/sbin/init")
    try:
        sh("podman", "exec", SINGLE, "systemctl", "is-system-running", "--wait", check=False)
        print("installing a default rabbitmq-server on a single node ...", flush=True)
        sh("podman", "exec", SINGLE, "bash", "-c",
           "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
           "--no-install-recommends rabbitmq-server >/dev/null && rabbitmqctl -q await_startup")
        password = secrets.token_hex(16)
        proc = subprocess.run(["podman", "exec", "-i", SINGLE, "bash", "-c",
                               "read -r p; rabbitmqctl -q add_user bench \"$p\" >/dev/null && "
                               "rabbitmqctl -q set_permissions bench '.*' '.*' '.*'"],
                              input=password + "\n", text=True, capture_output=True)
        if proc.returncode:
            raise SystemExit(f"could not add the bench user: {proc.stderr}")
        subprocess.run(["podman", "exec", "-i", CLIENT, "bash", "-c", "umask 077; cat > /root/bench.password"],
                       input=password, text=True, check=True)
        # molecule keeps the scenario's generated secrets in its ephemeral directory.
        # (~/.ansible/tmp/molecule.<hash>.<scenario>/ with molecule 26; the newest one is this run's).
        found = glob.glob(os.path.expanduser(f"~/.ansible/tmp/molecule.*.{SCENARIO}/secrets/app.password"))
        found += glob.glob(os.path.expanduser(f"~/.cache/molecule/*/{SCENARIO}/secrets/app.password"))
        if not found:
            raise SystemExit("cannot find the scenario's generated app.password")
        sh("podman", "cp", max(found, key=os.path.getmtime), f"{CLIENT}:/root/app.password")

        print(f"publishing {args.count} x {args.size} B persistent messages with confirms, one channel ...",
              flush=True)
        rows = [
            ("3-node cluster (role), quorum queue, TLS", bench(args, "--hosts", "mq1", "--queue", "bench-qq",
                                                              "--type", "quorum")),
            ("single default node, classic queue, plain", bench(args, "--hosts", "single", "--plain", "--port",
                                                                "5672", "--user", "bench", "--password-file",
                                                                "/root/bench.password", "--queue", "bench-cq",
                                                                "--type", "classic")),
            ("single default node, quorum queue, plain", bench(args, "--hosts", "single", "--plain", "--port",
                                                               "5672", "--user", "bench", "--password-file",
                                                               "/root/bench.password", "--queue", "bench-qq",
                                                               "--type", "quorum")),
        ]
        versions = sh("podman", "exec", "nospof-rabbitmq-mq1", "dpkg-query", "-W", "-f", "${Version}",
                      "rabbitmq-server").stdout
        print()
        print(f"RabbitMQ {versions} on Debian {args.suite}, {os.cpu_count()} cores shared by all containers")
        print(f"{'setup':<45} {'messages':>9} {'seconds':>8} {'msg/s':>8}")
        for label, row in rows:
            print(f"{label:<45} {row['messages']:>9} {row['seconds']:>8.2f} {row['per_second']:>8.0f}")
        base = rows[1][1]["per_second"]
        print(f"\ncluster / single default node: {rows[0][1]['per_second'] / base:.2f}x")
    finally:
        sh("podman", "rm", "-f", "-t", "0", SINGLE, check=False)
        sh("podman", "exec", CLIENT, "rm", "-f", "/root/bench.password", check=False)
        if not args.keep:
            molecule("destroy", args.suite)
    return 0


if __name__ == "__main__":
    sys.exit(main())
