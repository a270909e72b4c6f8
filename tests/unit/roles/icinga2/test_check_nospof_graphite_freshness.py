"""roles/icinga2/files/plugins/check_nospof_graphite_freshness against a
graphite-web stand-in on 127.0.0.1: each series stops receiving points at a
chosen time, and the tests assert the state and the names reported.
"""

import pytest

from localnet import closed_port_url  # tests/unit/localnet.py
from localserver import run_program, url_args  # tests/unit/roles/icinga2/localserver.py

NOW = 1_699_999_980          # a multiple of the 60 s step


@pytest.fixture(scope="module")
def plugin(load_plugin):
    return load_plugin("check_nospof_graphite_freshness")


def until(last):
    """A series whose newest point is at `last` (None: no point at all)."""
    return lambda ts: None if last is None or ts > last else 1.0


def run(plugin, urls, *extra, target="servers.*.cpu"):
    return plugin.check(["--target", target] + url_args(urls) + list(extra), now=NOW)


def perf(result):
    return {item.split("=")[0]: item.split("=")[1] for item in result.perf}


def test_fresh_series_are_ok(plugin, graphite):
    server = graphite({"servers.a.cpu": until(NOW), "servers.b.cpu": until(NOW - 120), "other": until(0)})
    result = run(plugin, [server.url])
    assert result.state == plugin.np_.OK, result.render("F")
    assert result.summary == "2 series fresh, oldest point 2m ago (servers.b.cpu)"
    assert perf(result)["oldest_age"] == "120s;180;600;0"
    assert perf(result)["series"].startswith("2;")
    assert int(server.queries[0]["from"]) == NOW - 3600 and int(server.queries[0]["until"]) == NOW


def test_stale_series_are_named(plugin, graphite):
    server = graphite({"servers.a.cpu": until(NOW - 60), "servers.b.cpu": until(NOW - 300),
                       "servers.c.cpu": until(NOW - 900), "servers.d.cpu": until(None)})
    result = run(plugin, [server.url])
    assert result.state == plugin.np_.CRITICAL, result.render("F")
    assert result.summary == ("3 of 4 series stale: servers.d.cpu (no point in 1h), "
                              "servers.c.cpu (15m ago), servers.b.cpu (5m ago)")
    assert result.details == ["CRITICAL servers.d.cpu: no point in 1h",
                              "CRITICAL servers.c.cpu: last point 15m ago",
                              "WARNING servers.b.cpu: last point 5m ago"]
    assert perf(result)["oldest_age"].startswith("3600s;") and perf(result)["stale"].startswith("3;")


def test_only_warning_age(plugin, graphite):
    server = graphite({"servers.a.cpu": until(NOW), "servers.b.cpu": until(NOW - 240)})
    result = run(plugin, [server.url])
    assert result.state == plugin.np_.WARNING
    assert result.summary == "1 of 2 series stale: servers.b.cpu (4m ago)"


def test_summary_names_the_first_few_details_all(plugin, graphite):
    server = graphite({"servers.%d.cpu" % i: until(NOW - 700 - i * 60) for i in range(6)})
    result = run(plugin, [server.url])
    assert result.state == plugin.np_.CRITICAL
    assert result.summary.endswith("and 3 more") and "servers.5.cpu" in result.summary
    assert len(result.details) == 6


def test_age_equal_to_threshold_does_not_cross_it(plugin, graphite):
    server = graphite({"servers.a.cpu": until(NOW - 180)})
    assert run(plugin, [server.url]).state == plugin.np_.OK
    assert run(plugin, [server.url], "--warning", "2min").state == plugin.np_.WARNING
    assert run(plugin, [server.url], "--warning", "1min", "--critical", "3min").state == plugin.np_.WARNING
    assert run(plugin, [server.url], "--warning", "1min", "--critical", "2min").state == plugin.np_.CRITICAL


def test_too_few_series_is_critical(plugin, graphite):
    server = graphite({"servers.a.cpu": until(NOW)})
    result = run(plugin, [server.url], "--min-series", "2")
    assert result.state == plugin.np_.CRITICAL
    assert result.summary.startswith("expected at least 2 series, found 1")
    nothing = run(plugin, [server.url], target="nothing.*")
    assert nothing.state == plugin.np_.CRITICAL and "expected at least 1 series, found 0" in nothing.summary
    assert run(plugin, [server.url], "--min-series", "0", target="nothing.*").state == plugin.np_.OK


def test_failover_to_the_second_url(plugin, graphite):
    server = graphite({"servers.a.cpu": until(NOW - 900)})
    result = run(plugin, [closed_port_url(), server.url])
    assert result.state == plugin.np_.CRITICAL and len(server.queries) == 1


def test_no_server_answering_is_unknown(plugin):
    with pytest.raises(plugin.np_.PluginError, match="no server answered"):
        run(plugin, [closed_port_url(), closed_port_url()])


def test_lookback_is_an_option(plugin, graphite):
    server = graphite({"servers.a.cpu": until(NOW)})
    run(plugin, [server.url], "--lookback", "2h")
    assert int(server.queries[0]["from"]) == NOW - 7200


@pytest.mark.parametrize("extra, message", [
    (["--warning", "20min"], "--warning <= --critical"),
    (["--critical", "2h"], "--lookback"),
    (["--min-series", "-1"], "--min-series"),
    (["--warning", "soon"], "bad duration"),
])
def test_bad_arguments_are_unknown(plugin, extra, message):
    with pytest.raises(plugin.np_.PluginError, match=message):
        plugin.check(["--url", "http://127.0.0.1:9", "--target", "x"] + extra, now=NOW)


def test_bad_arguments_exit_unknown(plugin):
    proc = run_program(plugin.PATH, "--target", "x")
    assert proc.returncode == 3 and proc.stdout.startswith("FRESHNESS UNKNOWN - bad arguments")
