#!/usr/bin/env python3
"""Time playbooks/graphite_rebalance.yml from two storage nodes to three with
many series (the issue's reference: carbonate needed about 10 hours for 40k
series). A benchmark: it prints figures and asserts nothing about time.

It brings up the `graphite` scenario's containers with molecule (metrics1 and
metrics2 storing, metrics3 spare, a client), then:

1. writes --series whisper files on metrics1 and metrics2 (with two nodes and
   replication 2 both own every series), --points points each, under
   nospof.bench.*, with the schema --retentions (the role's default schema,
   10s:2d,1m:30d,10m:1y, makes 1.4 MB files: 40k series on two nodes would
   be 110 GB; the figure below says which schema and how many bytes moved);
2. adds metrics3 to the group and runs the scenario's converge, as an
   operator would (every relay and graphite-web get the new ring);
3. runs the rebalance playbook in check mode (the plan), then for real, timed;
4. checks every bench series is on exactly the two nodes the ring names.

    .venv/bin/python benchmarks/graphite_rebalance.py [--series 40000] [--points 60]
        [--retentions 10s:6h,1m:7d] [--suite bookworm] [--keep]

It takes the scenario lock (/tmp/nospof-scenario.lock): never two heavy runs at once.
"""

import argparse
import glob
import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WHISPER = "/var/lib/graphite/whisper"
ADDRESSES = {"metrics1": "10.213.62.11", "metrics2": "10.213.62.12", "metrics3": "10.213.62.13"}

WRITER = textwrap.dedent("""
    import os, sys, time, whisper
    first, count, points, retentions = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    archives = [whisper.parseRetentionDef(r) for r in retentions.split(',')]
    now = int(time.time()) // 10 * 10 - 60
    for i in range(first, first + count):
        path = '%s/nospof/bench/g%03d/s%06d.wsp' % (sys.argv[5], i // 1000, i)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        whisper.create(path, archives, xFilesFactor=0, aggregationMethod='average', sparse=False)
        whisper.update_many(path, [(now - 10 * k, float(i + k)) for k in range(points)])
""")


def env():
    out = dict(os.environ)
    out.update(PATH=os.path.join(ROOT, ".venv", "bin") + ":" + out.get("PATH", ""),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".cache", "collections"),
               ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), NO_COLOR="1", PY_COLORS="0",
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return out


def run(*args, check=True, **kwargs):
    proc = subprocess.run(args, capture_output=True, text=True, env=env(), cwd=ROOT, **kwargs)
    if check and proc.returncode:
        sys.exit(f"failed ({proc.returncode}): {' '.join(args)[:300]}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return proc


def molecule(*args, suite):
    e = env()
    e["NOSPOF_SUITE"] = suite
    proc = subprocess.run(["flock", "/tmp/nospof-scenario.lock", "molecule", *args], capture_output=True,
                          text=True, env=e, cwd=ROOT)
    if proc.returncode:
        sys.exit(f"molecule {' '.join(args)} failed:\n{proc.stdout[-4000:]}{proc.stderr[-2000:]}")


def ephemeral_dir():
    dirs = glob.glob(os.path.expanduser("~/.ansible/tmp/molecule.*.graphite"))
    if not dirs:
        sys.exit("no molecule ephemeral directory for the graphite scenario")
    return max(dirs, key=os.path.getmtime)


def containers(ephemeral):
    with open(os.path.join(ephemeral, "instance_config.yml"), encoding="utf-8") as handle:
        return {item["instance"]: item["address"] for item in yaml.safe_load(handle)}


def inside(container, script, *args):
    proc = subprocess.run(["podman", "exec", "-i", container, "python3", "-", *map(str, args)],
                          input=script, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"in {container}: {proc.stderr[-2000:]}")
    return proc.stdout


def grown_inventory(ephemeral):
    """The scenario's inventory with metrics3 in the group: the rebalance test's own helper."""
    os.environ["MOLECULE_INVENTORY_FILE"] = os.path.join(ephemeral, "inventory", "ansible_inventory.yml")
    sys.path.insert(0, os.path.join(ROOT, "molecule", "graphite", "tests"))
    from test_graphite import _grown_inventory  # noqa: E402 (imports the scenario's shared helpers)

    return _grown_inventory(ephemeral)


def playbook(inventory, path, *extra):
    started = time.monotonic()
    proc = run("ansible-playbook", "-i", inventory, path, *extra, check=False)
    took = time.monotonic() - started
    if proc.returncode:
        sys.exit(f"{path} failed:\n{proc.stdout[-4000:]}{proc.stderr[-2000:]}")
    return took, proc.stdout


def holders(names, nodes):
    out = {}
    for node in nodes:
        listing = subprocess.run(["podman", "exec", names[node], "bash", "-c",
                                  f"cd {WHISPER} && find nospof/bench -name '*.wsp'"],
                                 capture_output=True, text=True).stdout
        for line in listing.split():
            out.setdefault(line[:-4].replace("/", "."), []).append(node)
    return out


def disk_bytes(container):
    out = subprocess.run(["podman", "exec", container, "du", "-sb", f"{WHISPER}/nospof/bench"],
                         capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=40000)
    parser.add_argument("--points", type=int, default=60)
    parser.add_argument("--retentions", default="10s:6h,1m:7d")
    parser.add_argument("--suite", default="bookworm")
    parser.add_argument("--keep", action="store_true", help="leave the containers up afterwards")
    args = parser.parse_args()

    print(f"bringing up the graphite scenario ({args.suite}) ...", flush=True)
    molecule("destroy", "-s", "graphite", suite=args.suite)
    started = time.monotonic()
    molecule("converge", "-s", "graphite", suite=args.suite)
    print(f"  converged in {time.monotonic() - started:.0f} s", flush=True)
    ephemeral = ephemeral_dir()
    names = containers(ephemeral)
    try:
        print(f"writing {args.series} series x {args.points} points ({args.retentions}) on metrics1 and metrics2 ...",
              flush=True)
        started = time.monotonic()
        step = 5000
        for node in ("metrics1", "metrics2"):
            for first in range(0, args.series, step):
                inside(names[node], WRITER, first, min(step, args.series - first), args.points, args.retentions,
                       WHISPER)
            subprocess.run(["podman", "exec", names[node], "chown", "-R", "_graphite:_graphite",
                            f"{WHISPER}/nospof"], check=True)
        before = disk_bytes(names["metrics1"])
        print(f"  written in {time.monotonic() - started:.0f} s; {before / 1e6:.0f} MB per node", flush=True)

        inventory = grown_inventory(ephemeral)
        took_converge, _ = playbook(inventory, os.path.join(ROOT, "molecule", "graphite", "converge.yml"))
        print(f"metrics3 joined (converge with the grown inventory: {took_converge:.0f} s)", flush=True)

        rebalance = os.path.join(ROOT, "playbooks", "graphite_rebalance.yml")
        took_plan, plan = playbook(inventory, rebalance, "--check")
        figures = re.search(r"(\d+) series, (\d+) not where the ring puts them", plan)
        print(f"plan (check mode, {took_plan:.0f} s): {figures.group(0) if figures else '?'}", flush=True)
        took, out = playbook(inventory, rebalance)
        moved = disk_bytes(names["metrics3"])

        spec = importlib.util.spec_from_file_location("nospof_graphite_ring",
                                                      os.path.join(ROOT, "plugins", "module_utils", "graphite.py"))
        ring_module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(ring_module)
        ring = ring_module.HashRing({"hash": "fnv1a_ch", "replication": 2, "members": [
            {"name": n, "address": a, "port": 2103} for n, a in ADDRESSES.items()]})
        found = holders(names, list(ADDRESSES))
        wrong = sum(1 for s, nodes in found.items() if sorted(nodes) != sorted(ring.owners(s)))
        bench = [s for s in found if s.startswith("nospof.bench.")]
        print()
        print(f"graphite rebalance 2 -> 3 storage nodes, Debian {args.suite}, {os.cpu_count()} cores, "
              f"schema {args.retentions}, {args.points} points per series")
        print(json.dumps({
            "series": args.series, "plan": figures.group(0) if figures else None,
            "rebalance_playbook_s": round(took, 1), "plan_check_mode_s": round(took_plan, 1),
            "series_per_s": round(int(figures.group(2)) / took, 1) if figures else None,
            "mb_per_node_before": round(before / 1e6), "mb_on_metrics3_after": round(moved / 1e6),
            "bench_series_found": len(bench), "not_on_exactly_their_owners": wrong,
        }, indent=1))
    finally:
        if not args.keep:
            molecule("destroy", "-s", "graphite", suite=args.suite)
    return 0


if __name__ == "__main__":
    sys.exit(main())
