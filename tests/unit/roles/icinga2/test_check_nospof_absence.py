"""roles/icinga2/files/plugins/check_nospof_absence: the dead man's switch
fallback, its pure judgement and its exit codes when run as Icinga runs it.
"""

import subprocess
import sys

import pytest

NOW = 1_700_000_000.0


@pytest.fixture(scope="module")
def plugin(load_plugin):
    return load_plugin("check_nospof_absence")


def run(plugin, *argv):
    proc = subprocess.run([sys.executable, plugin.PATH] + [str(a) for a in argv], capture_output=True, text=True)
    return proc.returncode, proc.stdout.strip()


@pytest.mark.parametrize("text", ["", " ", "0", "-1", "-1.000000", None])
def test_never(plugin, text):
    assert plugin.parse_timestamp(text) is None
    result = plugin.judge_absence(plugin.parse_timestamp(text), 600, NOW)
    assert result.state == plugin.np_.CRITICAL
    assert result.summary == "never received a heartbeat (window 10m)"


def test_silence_longer_than_the_window(plugin):
    result = plugin.judge_absence(NOW - 750, 600, NOW)
    assert result.state == plugin.np_.CRITICAL
    assert result.summary == "no heartbeat for 12m30s (window 10m)"
    assert result.perf == ["age=750s;;600;0"]


def test_a_recent_heartbeat_is_ok(plugin):
    result = plugin.judge_absence(NOW - 40, 600, NOW)
    assert result.state == plugin.np_.OK and result.summary == "last heartbeat 40s ago (window 10m)"


def test_the_result_that_scheduled_this_check_is_not_recent(plugin):
    """Icinga runs the fallback one window after the last result: that result is about a window old."""
    assert plugin.judge_absence(NOW - 590, 600, NOW).state == plugin.np_.CRITICAL
    assert plugin.judge_absence(NOW - 569, 600, NOW).state == plugin.np_.OK       # grace 30s
    assert plugin.judge_absence(NOW - 590, 600, NOW, grace=5).state == plugin.np_.OK
    assert plugin.judge_absence(NOW - 25, 60, NOW).state == plugin.np_.OK          # grace: half of 60s
    assert plugin.judge_absence(NOW - 31, 60, NOW).state == plugin.np_.CRITICAL


def test_configured_state_when_silent(plugin):
    assert plugin.judge_absence(NOW - 7200, 3600, NOW, plugin.np_.WARNING).state == plugin.np_.WARNING
    assert plugin.judge_absence(NOW - 60, 3600, NOW, plugin.np_.WARNING).state == plugin.np_.OK


def test_a_heartbeat_from_the_future(plugin):
    result = plugin.judge_absence(NOW + 90, 600, NOW)
    assert result.state == plugin.np_.OK and "1m30s in the future" in result.summary


def test_fmt_duration(plugin):
    assert [plugin.fmt_duration(s) for s in (0, 40, 60, 750, 3600, 5400, 90061)] == \
        ["0s", "40s", "1m", "12m30s", "1h", "1h30m", "1d1h"]


def test_exit_codes(plugin):
    code, out = run(plugin, "--last-heartbeat", NOW - 750, "--window", "10min", "--now", NOW)
    assert (code, out) == (2, "HEARTBEAT CRITICAL - no heartbeat for 12m30s (window 10m) | age=750s;;600;0")
    code, out = run(plugin, "--last-heartbeat", "%.6f" % (NOW - 40), "--window", "10min", "--now", NOW)
    assert code == 0 and out.startswith("HEARTBEAT OK - last heartbeat 40s ago")
    code, out = run(plugin, "--last-heartbeat", "0", "--window", "1h", "--now", NOW, "--state", "warning")
    assert (code, out) == (1, "HEARTBEAT WARNING - never received a heartbeat (window 1h)")
    code, out = run(plugin, "--window", "1d", "--state", "3")
    assert code == 3 and "never received a heartbeat (window 1d)" in out


@pytest.mark.parametrize("argv, message", [
    (["--last-heartbeat", "yesterday", "--window", "10min"], "not a unix timestamp"),
    (["--last-heartbeat", "nan", "--window", "10min"], "not a unix timestamp"),
    (["--last-heartbeat", "1"], "--window"),
    (["--window", "0"], "longer than 0s"),
    (["--window", "10min", "--grace", "10min"], "--grace"),
    (["--window", "10min", "--state", "purple"], "--state"),
])
def test_bad_arguments_exit_unknown(plugin, argv, message):
    code, out = run(plugin, *argv)
    assert code == 3 and out.startswith("HEARTBEAT UNKNOWN - ") and message in out
