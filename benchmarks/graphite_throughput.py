#!/usr/bin/env python3
"""Sustained datapoints per second through carbon-c-relay into carbon-cache's
whisper files, with carbon's defaults and with the graphite role's tuning,
side by side from one run. A benchmark: it prints figures and asserts nothing.

First version: the sender writes as fast as it can and, with the relay, saturates
both cores of a 2-core machine; the relay then drops most points and the
'written' figures measure the overload, not carbon. The 'new series stored'
column is sound. Next: a paced sender at fixed rates and a drain measurement.

It starts one container from the harness image (localhost/nospof-debian:<suite>,
built by `make images`), installs Debian's carbon-c-relay and graphite-carbon in
it, and for each configuration in turn (never both at once: 2 cores):

- writes carbon.conf (carbon's defaults, or the role's values read from
  roles/graphite/defaults/main.yml) and the role's storage schema;
- pre-creates the series' whisper files (both configurations then measure
  steady-state writes, not carbon's file-creation limit, which is printed
  separately);
- sends datapoints through the relay as fast as one sender can for
  --seconds, and reads carbon's own instrumentation (committedPoints,
  updateOperations, cache.size, reported every 10 s) from its whisper files.

    .venv/bin/python benchmarks/graphite_throughput.py [--series 5000] [--seconds 60] [--suite bookworm]
"""

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "nospof-bench-graphite"


def sh(*args, check=True, stdin=None):
    proc = subprocess.run(args, check=False, capture_output=True, text=True, input=stdin)
    if check and proc.returncode:
        sys.exit(f"failed ({proc.returncode}): {' '.join(args)[:300]}\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return proc


def inside(script, check=True):
    return sh("podman", "exec", "-i", NAME, "bash", "-c", script, check=check)


CARBON_DEFAULTS = {"MAX_UPDATES_PER_SECOND": 500, "MAX_CREATES_PER_MINUTE": 50,
                   "MAX_CACHE_SIZE": "inf", "CACHE_WRITE_STRATEGY": "sorted"}


def role_tuning():
    with open(os.path.join(ROOT, "roles", "graphite", "defaults", "main.yml"), encoding="utf-8") as handle:
        d = yaml.safe_load(handle)
    return {"MAX_UPDATES_PER_SECOND": d["graphite_max_updates_per_second"],
            "MAX_CREATES_PER_MINUTE": d["graphite_max_creates_per_minute"],
            "MAX_CACHE_SIZE": d["graphite_max_cache_size"],
            "CACHE_WRITE_STRATEGY": d["graphite_cache_write_strategy"]}, d["graphite_storage_schemas"]


def carbon_conf(settings):
    lines = ["[cache]", "STORAGE_DIR = /var/lib/graphite/", "LOCAL_DATA_DIR = /var/lib/graphite/whisper/",
             "CONF_DIR = /etc/carbon/", "LOG_DIR = /var/log/carbon/", "PID_DIR = /var/run/",
             "USER = _graphite", "LINE_RECEIVER_INTERFACE = 127.0.0.1", "LINE_RECEIVER_PORT = 2103",
             "ENABLE_UDP_LISTENER = False", "PICKLE_RECEIVER_INTERFACE = 127.0.0.1", "PICKLE_RECEIVER_PORT = 2104",
             "CACHE_QUERY_INTERFACE = 127.0.0.1", "CACHE_QUERY_PORT = 7002", "USE_FLOW_CONTROL = True",
             "WHISPER_FALLOCATE_CREATE = True", "LOG_UPDATES = False", "LOG_CREATES = False",
             "CARBON_METRIC_INTERVAL = 10"]
    lines += [f"{k} = {v}" for k, v in settings.items()]
    return "\n".join(lines) + "\n"


SENDER = textwrap.dedent("""
    import socket, sys, time
    series, seconds = int(sys.argv[1]), float(sys.argv[2])
    names = ['bench.s%05d' % i for i in range(series)]
    sock = socket.create_connection(('127.0.0.1', 2003))
    sent, start = 0, time.time()
    while time.time() - start < seconds:
        ts = int(time.time())
        payload = ''.join('%s %d %d\\n' % (n, sent + i, ts) for i, n in enumerate(names)).encode()
        sock.sendall(payload)
        sent += series
    sock.close()
    print(sent, time.time() - start)
""")

CREATOR = textwrap.dedent("""
    import os, sys, whisper
    series, retentions = int(sys.argv[1]), sys.argv[2]
    archives = [whisper.parseRetentionDef(r) for r in retentions.split(',')]
    for i in range(series):
        path = '/var/lib/graphite/whisper/bench/s%05d.wsp' % i
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not os.path.exists(path):
            whisper.create(path, archives, xFilesFactor=0, aggregationMethod='average', sparse=False)
    os.system('chown -R _graphite:_graphite /var/lib/graphite/whisper')
""")

READER = textwrap.dedent("""
    # carbon's own counters, from its files and from its cache (carbonlink):
    # with the 'max' write strategy under load the counters themselves wait
    # in the cache, behind the busiest series.
    import glob, json, pickle, socket, struct, sys, time, whisper
    since = int(sys.argv[1])

    def cached(metric):
        s = socket.create_connection(('127.0.0.1', 7002), timeout=5)
        body = pickle.dumps({'type': 'cache-query', 'metric': metric}, protocol=2)
        s.sendall(struct.pack('!L', len(body)) + body)
        buf = b''
        while len(buf) < 4:
            buf += s.recv(4 - len(buf))
        size = struct.unpack('!L', buf)[0]
        data = b''
        while len(data) < size:
            data += s.recv(size - len(data))
        s.close()
        return dict(pickle.loads(data).get('datapoints', []))

    out = {}
    for path in glob.glob('/var/lib/graphite/whisper/carbon/agents/*/**/*.wsp', recursive=True):
        metric = path.split('/whisper/')[1][:-4].replace('/', '.')
        key = path.split('/agents/')[1].split('/', 1)[1][:-4].replace('/', '.')
        (start, end, step), values = whisper.fetch(path, since, int(time.time()))
        points = {start + i * step: v for i, v in enumerate(values) if v is not None}
        points.update(cached(metric))
        out[key] = [v for t, v in points.items() if t >= since]
    if not out:  # nothing flushed yet: ask the cache for the known names
        host = socket.gethostname()
        for key in ('committedPoints', 'updateOperations', 'cache.size'):
            metric = 'carbon.agents.%s-a.%s' % (host, key)
            out[key] = list(cached(metric).values())
    print(json.dumps(out))
""")


def run_config(label, settings, schema, series, seconds):
    inside("systemctl stop carbon-cache carbon-c-relay; rm -rf /var/lib/graphite/whisper/*")
    inside(f"cat > /etc/carbon/carbon.conf <<'EOF'\n{carbon_conf(settings)}EOF")
    inside(f"cat > /etc/carbon/storage-schemas.conf <<'EOF'\n[carbon]\npattern = ^carbon\\.\nretentions = 10s:1d\n\n"
           f"[default]\npattern = .*\nretentions = {schema}\nEOF")
    inside(f"python3 - {series} '{schema}' <<'EOF'\n{CREATOR}EOF")
    inside("systemctl start carbon-cache carbon-c-relay && sleep 3")
    started = int(time.time())
    out = inside(f"python3 - {series} {seconds} <<'EOF'\n{SENDER}EOF").stdout.split()
    sent, took = int(out[0]), float(out[1])
    time.sleep(12)  # one more instrumentation interval
    stats = json.loads(inside(f"python3 - {started} <<'EOF'\n{READER}EOF").stdout)

    def total(suffix):
        return sum(sum(v) for k, v in stats.items() if k.endswith(suffix))

    def last(suffix):
        vals = [v[-1] for k, v in stats.items() if k.endswith(suffix) and v]
        return sum(vals) if vals else 0

    elapsed = max(1.0, time.time() - started - 3)
    committed = total("committedPoints")
    updates = total("updateOperations")
    return {"label": label, "sent_per_s": sent / took, "committed_per_s": committed / elapsed,
            "updates_per_s": updates / elapsed, "points_per_update": committed / updates if updates else 0,
            "cache_end": last("cache.size"), "sent": sent, "committed": committed}


def creates(settings, count=2000, seconds=30):
    """New series stored within `seconds` (carbon's creation limit)."""
    inside("systemctl stop carbon-cache carbon-c-relay; rm -rf /var/lib/graphite/whisper/*")
    inside(f"cat > /etc/carbon/carbon.conf <<'EOF'\n{carbon_conf(settings)}EOF")
    inside("systemctl start carbon-cache carbon-c-relay && sleep 3")
    payload = "".join(f"bench.new.s{i:05d} 1 {int(time.time())}\n" for i in range(count))
    sh("podman", "exec", "-i", NAME, "python3", "-c",
       "import socket,sys; s=socket.create_connection(('127.0.0.1',2003)); s.sendall(sys.stdin.read().encode()); s.close()",
       stdin=payload)
    time.sleep(seconds)
    return int(inside("find /var/lib/graphite/whisper/bench/new -name '*.wsp' | wc -l").stdout.strip() or 0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=5000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--suite", default="bookworm")
    args = parser.parse_args()
    tuned, schemas = role_tuning()
    schema = [s for s in schemas if s["name"] == "default"][0]["retentions"]
    sh("podman", "rm", "-f", NAME, check=False)
    sh("podman", "run", "-d", "--name", NAME, f"localhost/nospof-debian:{args.suite}")
    time.sleep(2)  # systemd up
    try:
        print(f"installing carbon-c-relay and graphite-carbon in {NAME} ({args.suite}) ...", flush=True)
        # As the role does: no service starts with Debian's defaults during the install.
        inside("printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && "
               "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
               "graphite-carbon carbon-c-relay python3-whisper >/dev/null && rm /usr/sbin/policy-rc.d")
        inside("cat > /etc/carbon-c-relay.conf <<'EOF'\ncluster store forward 127.0.0.1:2103 proto tcp;\n"
               "match * send to store stop;\nEOF\n"
               "echo 'DAEMON_ARGS=\"-f /etc/carbon-c-relay.conf -w 2 -q 4000000\"' > /etc/default/carbon-c-relay")
        rows = []
        for label, settings in (("carbon defaults", CARBON_DEFAULTS), ("role tuning", tuned)):
            print(f"measuring {label}: {args.series} series, {args.seconds} s of load ...", flush=True)
            row = run_config(label, settings, schema, args.series, args.seconds)
            row["created_30s"] = creates(settings)
            rows.append(row)
        print()
        print(f"graphite throughput, {args.series} pre-created series ({schema}), {args.seconds} s of load "
              f"through carbon-c-relay, {os.cpu_count()} cores, Debian {args.suite}")
        print(f"{'':<16} {'sent pts/s':>11} {'written pts/s':>14} {'updates/s':>10} {'pts/update':>11} "
              f"{'cache at end':>13} {'new series stored in 30 s (of 2000)':>37}")
        for r in rows:
            print(f"{r['label']:<16} {r['sent_per_s']:>11.0f} {r['committed_per_s']:>14.0f} {r['updates_per_s']:>10.0f} "
                  f"{r['points_per_update']:>11.1f} {r['cache_end']:>13.0f} {r['created_30s']:>37d}")
        print("settings:", {r: s for r, s in (("defaults", CARBON_DEFAULTS), ("tuned", tuned))})
    finally:
        sh("podman", "rm", "-f", NAME, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
