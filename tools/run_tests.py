#!/usr/bin/env python3
"""Run lint, unit tests and molecule scenarios; print one summary line.

Unit tests (tests/unit), integration tests against a real CMDB server
(tests/integration, when present) and molecule scenarios all count. Each
(scenario, Debian release) pair runs `molecule test` once, with its log
in .cache/logs/. Every step runs even after a failure, so one report shows
everything that is broken. The last line is `N passed, N failed`, counting
unit tests and scenario runs (lint is reported above it and fails the run).
"""

import argparse
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOGS = os.path.join(ROOT, ".cache", "logs")


def run(cmd, log, env=None):
    start = time.monotonic()
    with open(log, "w", encoding="utf-8") as handle:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, env=env)
    return proc.returncode, time.monotonic() - start


def tail(path, lines=60):
    with open(path, encoding="utf-8", errors="replace") as handle:
        return "".join(handle.readlines()[-lines:])


def run_pytest(label, path):
    """Run one pytest suite; return (passed, failed, skipped) from its JUnit XML."""
    xml = os.path.join(LOGS, f"{label}.xml")
    if os.path.exists(xml):
        os.unlink(xml)
    log = os.path.join(LOGS, f"{label}.log")
    code, took = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                      f"--junitxml={xml}", path], log)
    n_pass = n_fail = n_skip = 0
    if os.path.exists(xml):
        root = ET.parse(xml).getroot()
        for suite in root.iter("testsuite"):
            total = int(suite.get("tests", 0))
            fails = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skips = int(suite.get("skipped", 0))
            n_fail += fails
            n_skip += skips
            n_pass += total - fails - skips
    if code != 0 and n_fail == 0:
        n_fail = 1  # collection error or no tests at all: never a silent pass
    print(f"{label + ' tests':<19} {n_pass} passed, {n_fail} failed, {n_skip} skipped  {took:6.1f}s",
          flush=True)
    if n_fail:
        print(tail(log), flush=True)
    return n_pass, n_fail, n_skip


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenarios", default="")
    parser.add_argument("--suites", default="bookworm trixie")
    # The lab scenario (the whole environment, ~10 min) runs on these releases
    # only; docs/testing.md says why and how to run it on Debian 13.
    parser.add_argument("--lab-suites", default="bookworm")
    # Scenario runs left out of this run on purpose (docs/testing.md, "Budget"):
    # "pki:trixie lab" = pki on Debian 13 and lab on every release. Each is
    # printed and counted as skipped, so nothing is dropped silently.
    parser.add_argument("--leave-out", default="")
    parser.add_argument("--no-lint", action="store_true")
    parser.add_argument("--no-unit", action="store_true")
    parser.add_argument("--no-integration", action="store_true")
    args = parser.parse_args()
    os.makedirs(LOGS, exist_ok=True)

    passed = failed = skipped = 0
    lint_failed = False
    rows = []

    if not args.no_lint:
        for name, cmd in (("yamllint", ["yamllint", "-s", "."]),
                          ("ansible-lint", ["ansible-lint", "--offline", "-q", "--nocolor"]),
                          ("galaxy-build", ["ansible-galaxy", "collection", "build", "--force",
                                            "--output-path", ".cache/dist", "."])):
            code, took = run(cmd, os.path.join(LOGS, f"{name}.log"))
            status = "ok" if code == 0 else "FAILED"
            print(f"check {name:<13} {status:<7} {took:6.1f}s", flush=True)
            if code:
                lint_failed = True
                print(tail(os.path.join(LOGS, f"{name}.log")), flush=True)

    suites = []
    if not args.no_unit:
        suites.append(("unit", "tests/unit"))
    # The integration suite starts a real Nautobot (tools/nautobot.sh; ~5 min the first time on a machine).
    if not args.no_integration and os.path.isdir(os.path.join(ROOT, "tests", "integration")):
        suites.append(("integration", "tests/integration"))
    for label, path in suites:
        p, f, k = run_pytest(label, path)
        passed, failed, skipped = passed + p, failed + f, skipped + k

    left_out = set(args.leave_out.split())
    for scenario in args.scenarios.split():
        for suite in (args.lab_suites if scenario == "lab" else args.suites).split():
            if scenario in left_out or f"{scenario}:{suite}" in left_out:
                print(f"scenario {scenario:<14} {suite:<9} skipped (left out of this run: docs/testing.md, Budget)",
                      flush=True)
                skipped += 1
                continue
            log = os.path.join(LOGS, f"{scenario}-{suite}.log")
            env = dict(os.environ, NOSPOF_SUITE=suite, NO_COLOR="1", PY_COLORS="0", ANSIBLE_NOCOLOR="1")
            code, took = run(["molecule", "test", "-s", scenario], log, env=env)
            status = "passed" if code == 0 else "FAILED"
            rows.append((scenario, suite, status, took))
            print(f"scenario {scenario:<14} {suite:<9} {status:<7} {took:6.1f}s", flush=True)
            if code:
                failed += 1
                print(tail(log, 80), flush=True)
            else:
                passed += 1

    if rows:
        total = sum(r[3] for r in rows)
        print(f"scenario time total {total:.0f}s")
    if lint_failed:
        print("lint FAILED (see above)")
    summary = f"{passed} passed, {failed} failed"
    if skipped:
        summary += f", {skipped} skipped"
    print(summary)
    return 1 if failed or lint_failed or (passed == 0) else 0


if __name__ == "__main__":
    sys.exit(main())
