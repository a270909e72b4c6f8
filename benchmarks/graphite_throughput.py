#!/usr/bin/env python3
"""Sustained datapoints per second through carbon-c-relay into carbon-cache's
whisper files, with carbon's defaults and with the graphite role's tuning,
side by side from one run. A benchmark: it prints figures and asserts nothing.

It starts one container from the harness image (localhost/nospof-debian:<suite>,
built by `make images`), installs Debian's carbon-c-relay and graphite-carbon in
it, and for each configuration in turn (never both at once: 2 cores):

- writes carbon.conf (carbon's defaults, or the role's values read from
  roles/graphite/defaults/main.yml) and the role's storage schema, and
  pre-creates the series' whisper files (steady-state writes are measured,
  not carbon's file-creation limit, which is printed separately);
- for each offered rate in --rates, a paced sender writes exactly that many
  points per second into the relay for --seconds. Every point is distinct:
  each round gives every series one point 10 s (one slot of the 10-second
  archive) after its previous one, in a time window of its own inside the
  last two days, so nothing overwrites anything;
- then it waits until every point sent is in the whisper files (read back
  from them, slot by slot), or until --drain-timeout. "drain" is how long
  that took after the sender stopped; "stored" is sent minus lost.

A rate is sustained when everything arrived and the drain took at most one
carbon flush interval (10 s): carbon kept up instead of piling points into
its cache. The highest such rate is the configuration's sustained figure.

    .venv/bin/python benchmarks/graphite_throughput.py [--series 2000] [--rates 2000 5000 10000 20000 40000]
        [--seconds 30] [--suite bookworm] [--retentions 10s:1h] [--configs defaults tuned tuned-sorted]

The updates-bound case (a fleet: one point per series per 10 s, so carbon's
MAX_UPDATES_PER_SECOND bounds it, not batching):

    .venv/bin/python benchmarks/graphite_throughput.py --series 20000 --rates 2000 --seconds 60 \
        --retentions 10s:1h --configs defaults tuned tuned-sorted
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


# --configs: label printed for each
CONFIGS = {"defaults": "carbon defaults", "tuned": "role tuning", "tuned-sorted": "tuning, sorted",
           "tuned-max": "tuning, max"}

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
    # Paced: `rate` points per second for `seconds`, in rounds; round k gives
    # every series the point (value k, time base + 10 k).
    import json, socket, sys, time
    series, rate, seconds, base = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    names = ['bench.s%05d' % i for i in range(series)]
    sock = socket.create_connection(('127.0.0.1', 2003))
    sent, rounds, start = 0, 0, time.time()
    total = int(rate * seconds)
    while sent < total:
        due = start + sent / rate
        now = time.time()
        if due > now:
            time.sleep(due - now)
        ts = base + 10 * rounds
        batch = min(series, total - sent)
        sock.sendall(''.join('%s %d %d\\n' % (names[i], rounds, ts) for i in range(batch)).encode())
        sent += batch
        rounds += 1
    took = time.time() - start
    sock.close()
    print(json.dumps({'sent': sent, 'rounds': rounds, 'took': took}))
""")

COUNTER = textwrap.dedent("""
    # Points stored in the window [base, base + 10 * rounds) of every series.
    import sys, whisper
    series, base, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    stored = 0
    for i in range(series):
        path = '/var/lib/graphite/whisper/bench/s%05d.wsp' % i
        (start, end, step), values = whisper.fetch(path, base - 10, base + 10 * rounds)
        stored += sum(1 for n, v in enumerate(values) if v is not None and base <= start + n * step < base + 10 * rounds)
    print(stored)
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

def window_start(schema):
    """Seconds back from now where the first rate's window starts: inside the first archive
    (40 h of the role's 2-day one; 80 % of a shorter one)."""
    step, keep = schema.split(",")[0].split(":")
    units = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}

    def seconds(text):
        num = "".join(c for c in text if c.isdigit())
        unit = text[len(num):] or "s"
        return int(num) * units[unit]

    span = seconds(keep) if not keep.isdigit() else int(keep) * seconds(step)
    return min(40 * 3600, int(span * 0.8))


def prepare(settings, schema, series):
    inside("systemctl stop carbon-cache carbon-c-relay; rm -rf /var/lib/graphite/whisper/*")
    inside(f"cat > /etc/carbon/carbon.conf <<'EOF'\n{carbon_conf(settings)}EOF")
    inside(f"cat > /etc/carbon/storage-schemas.conf <<'EOF'\n[carbon]\npattern = ^carbon\\.\nretentions = 10s:1d\n\n"
           f"[default]\npattern = .*\nretentions = {schema}\nEOF")
    inside(f"python3 - {series} '{schema}' <<'EOF'\n{CREATOR}EOF")
    inside("systemctl start carbon-cache carbon-c-relay && sleep 3")


def run_rate(series, rate, seconds, base, drain_timeout):
    """Send `rate` points/s for `seconds` into window `base`; wait until stored. -> row."""
    out = json.loads(inside(f"python3 - {series} {rate} {seconds} {base} <<'EOF'\n{SENDER}EOF").stdout)
    stopped = time.monotonic()
    stored = 0
    while True:
        stored = int(inside(f"python3 - {series} {base} {out['rounds']} <<'EOF'\n{COUNTER}EOF").stdout)
        drain = time.monotonic() - stopped
        if stored >= out["sent"] or drain > drain_timeout:
            break
        time.sleep(2)
    return {"rate": rate, "sent_per_s": out["sent"] / out["took"], "sent": out["sent"], "stored": stored,
            "drain": drain, "rounds": out["rounds"],
            "stored_per_s": stored / (out["took"] + drain),
            "sustained": stored >= out["sent"] and drain <= 10}


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
    parser.add_argument("--series", type=int, default=2000)
    parser.add_argument("--rates", type=int, nargs="+", default=[2000, 5000, 10000, 20000, 40000])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--drain-timeout", type=int, default=120)
    parser.add_argument("--suite", default="bookworm")
    parser.add_argument("--retentions", default="",
                        help="schema of the bench series (default: the role's default schema); a small one such "
                             "as 10s:1h lets --series reach rate x 10, one point per series per 10 s as a fleet "
                             "sends: the updates-bound case")
    parser.add_argument("--configs", nargs="+", default=["defaults", "tuned"], choices=sorted(CONFIGS),
                        help="carbon configurations to measure, in turn")
    args = parser.parse_args()
    tuned, schemas = role_tuning()
    schema = args.retentions or [s for s in schemas if s["name"] == "default"][0]["retentions"]
    settings_of = {"defaults": CARBON_DEFAULTS, "tuned": tuned,
                   "tuned-sorted": dict(tuned, CACHE_WRITE_STRATEGY="sorted"),
                   "tuned-max": dict(tuned, CACHE_WRITE_STRATEGY="max")}
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
        results = {}
        for config in args.configs:
            label, settings = CONFIGS[config], settings_of[config]
            print(f"{label}: {args.series} pre-created series ...", flush=True)
            prepare(settings, schema, args.series)
            # Each rate writes its own window of the last two days (10 s slots).
            base = (int(time.time()) - window_start(schema)) // 10 * 10
            rows = []
            for rate in args.rates:
                row = run_rate(args.series, rate, args.seconds, base, args.drain_timeout)
                base += 10 * row["rounds"] + 100
                rows.append(row)
                print(f"  offered {rate:>6} pts/s: sent {row['sent_per_s']:>8.0f}/s, stored {row['stored']} of "
                      f"{row['sent']}, drain {row['drain']:.1f} s", flush=True)
                if row["drain"] > args.drain_timeout:
                    break  # far past what it sustains; higher rates only take longer
            results[label] = {"rows": rows, "created_30s": creates(settings)}
        print()
        print(f"graphite throughput through carbon-c-relay into carbon-cache: {args.series} pre-created series "
              f"({schema}), {args.seconds} s per offered rate, {os.cpu_count()} cores, Debian {args.suite}")
        print(f"{'':<16} {'offered pts/s':>13} {'sent pts/s':>11} {'stored/sent':>19} {'drain s':>8} "
              f"{'stored pts/s':>13} {'kept up':>8}")
        for label, result in results.items():
            for r in result["rows"]:
                print(f"{label:<16} {r['rate']:>13} {r['sent_per_s']:>11.0f} {r['stored']:>9}/{r['sent']:<9} "
                      f"{r['drain']:>8.1f} {r['stored_per_s']:>13.0f} {'yes' if r['sustained'] else 'no':>8}")
        print()
        for label, result in results.items():
            kept = [r["rate"] for r in result["rows"] if r["sustained"]]
            print(f"{label:<16} sustained: {max(kept) if kept else 'below ' + str(args.rates[0])} pts/s; "
                  f"new series stored in 30 s: {result['created_30s']} of 2000")
        print("settings:", {c: settings_of[c] for c in args.configs})
    finally:
        sh("podman", "rm", "-f", NAME, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
