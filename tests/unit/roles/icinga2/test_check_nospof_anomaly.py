"""roles/icinga2/files/plugins/check_nospof_anomaly: the pure judge() and whole
checks against a graphite-web stand-in on 127.0.0.1 whose series are functions
of time, so each test states what the series looked like and asserts the state
the plugin computed from it.
"""

import pytest

from localnet import closed_port_url  # tests/unit/localnet.py
from localserver import run_program, url_args  # tests/unit/roles/icinga2/localserver.py

NOW = 1_699_999_980          # a multiple of the 60 s step
WINDOW, HISTORY, DAY = 600, 7200, 86400


@pytest.fixture(scope="module")
def plugin(load_plugin):
    return load_plugin("check_nospof_anomaly")


def wobble(ts):
    """100 +/- 10, alternating every minute: mean 100, stddev 10 over any even number of points."""
    return 100.0 + (10.0 if (ts // 60) % 2 else -10.0)


def in_window(ts):
    return NOW - WINDOW < ts <= NOW


def recent(value):
    """A series at 100 +/- 10 whose last window is at `value`."""
    return lambda ts: value if in_window(ts) else wobble(ts)


def run(plugin, server_urls, *extra, target="load"):
    return plugin.check(["--target", target] + url_args(server_urls) + list(extra), now=NOW)


# --- judge() ------------------------------------------------------------------------------

def test_judge_flat_series_exactly_equal_is_ok(plugin):
    state, details = plugin.judge([5.0] * 10, [5.0] * 100, 3, 5)
    assert state == plugin.np_.OK
    assert details["z"] == 0 and details["stddev"] == 0 and details["value"] == 5.0


def test_judge_flat_series_tiny_wobble_needs_min_stddev(plugin):
    state, details = plugin.judge([5.001], [5.0] * 100, 3, 5)
    assert state == plugin.np_.CRITICAL and details["z"] > 1e5
    state, details = plugin.judge([5.001], [5.0] * 100, 3, 5, min_stddev=0.01)
    assert state == plugin.np_.OK and details["band"] == 0.01 and details["z"] == pytest.approx(0.1)


@pytest.mark.parametrize("value, expected, z", [
    (125.0, "OK", 2.5),
    (140.0, "WARNING", 4.0),
    (160.0, "CRITICAL", 6.0),
    (49.999, "CRITICAL", -5.0001),        # a drop is an anomaly too (just beyond 5)
    (130.0, "OK", 3.0),                   # exactly at the threshold is not beyond it
])
def test_judge_counts_standard_deviations(plugin, value, expected, z):
    baseline = [90.0, 110.0] * 60        # mean 100, stddev 10
    state, details = plugin.judge([value], baseline, 3, 5)
    assert plugin.np_.STATE_NAMES[state] == expected
    assert details["mean"] == 100 and details["stddev"] == pytest.approx(10)
    assert details["z"] == pytest.approx(z, abs=1e-3)


def test_judge_direction(plugin):
    baseline = [90.0, 110.0] * 60
    assert plugin.judge([40.0], baseline, 3, 5, direction="up")[0] == plugin.np_.OK
    assert plugin.judge([40.0], baseline, 3, 5, direction="down")[0] == plugin.np_.CRITICAL
    assert plugin.judge([160.0], baseline, 3, 5, direction="down")[0] == plugin.np_.OK


def test_judge_ignores_nulls(plugin):
    state, details = plugin.judge([None, 200.0, None], [None, 200.0] * 20, 3, 5)
    assert state == plugin.np_.OK and details["value"] == 200.0 and details["baseline_points"] == 20
    assert details["window_points"] == 1


def test_judge_without_window_points_or_history(plugin):
    assert plugin.judge([None, None], [1.0] * 50, 3, 5)[0] == plugin.np_.UNKNOWN
    state, details = plugin.judge([1.0], [1.0] * 9, 3, 5, min_points=10)
    assert state == plugin.np_.OK and details["reason"] == "not enough history" and details["z"] is None
    assert plugin.judge([1.0], [1.0] * 9, 3, 5, min_points=10, strict=True)[0] == plugin.np_.UNKNOWN


def test_split_points_never_puts_window_points_in_the_baseline(plugin):
    points = [(ts, ts) for ts in range(NOW - 3 * HISTORY, NOW + 1, 60)]
    window, baseline = plugin.split_points(points, NOW, WINDOW, HISTORY, [300], 3600)
    assert window == list(range(NOW - WINDOW + 60, NOW + 1, 60))
    assert min(baseline) == NOW - WINDOW - HISTORY + 60 and max(baseline) == NOW - WINDOW
    assert len(baseline) == len(set(baseline))


# --- whole checks against the stand-in ----------------------------------------------------

def test_flat_series_is_ok(plugin, graphite):
    server = graphite({"load": lambda ts: 5.0})
    result = run(plugin, [server.url])
    assert result.state == plugin.np_.OK, result.render("A")
    assert "value 5" in result.summary
    assert "value=5;" in " ".join(result.perf) and "z=0;" in " ".join(result.perf)


def test_spike_is_critical(plugin, graphite):
    server = graphite({"load": recent(200.0)})
    result = run(plugin, [server.url])
    assert result.state == plugin.np_.CRITICAL, result.render("A")
    perf = dict(item.split("=", 1) for item in result.perf)
    assert float(perf["z"].split(";")[0]) == pytest.approx(10.0)
    assert perf["mean"].split(";")[0] == "100" and perf["stddev"].split(";")[0] == "10"
    assert "above" in result.summary


def test_moderate_deviation_is_warning(plugin, graphite):
    server = graphite({"load": recent(140.0)})
    result = run(plugin, [server.url])
    assert result.state == plugin.np_.WARNING, result.render("A")
    assert "z=4.00" in result.summary


def test_small_deviation_is_ok(plugin, graphite):
    server = graphite({"load": recent(115.0)})
    assert run(plugin, [server.url]).state == plugin.np_.OK


def test_thresholds_are_options(plugin, graphite):
    server = graphite({"load": recent(140.0)})
    assert run(plugin, [server.url], "--warning", "4.5", "--critical", "8").state == plugin.np_.OK
    assert run(plugin, [server.url], "--warning", "2", "--critical", "3.5").state == plugin.np_.CRITICAL


def test_seasonal_baseline_accepts_the_daily_high(plugin, graphite):
    """High (500) every day from the start of the window for an hour, 100 otherwise."""
    def daily(ts):
        offset = (ts - (NOW - WINDOW)) % DAY
        return (500.0 if 0 < offset <= 3600 else 100.0) + (wobble(ts) - 100.0)

    server = graphite({"load": daily})
    seasonal = run(plugin, [server.url])
    assert seasonal.state == plugin.np_.OK, seasonal.render("A")
    # the seasonal ranges were asked for: one day and one week back, +/- 1h around the window
    assert {(int(q["from"]), int(q["until"])) for q in server.queries} == {
        (NOW - WINDOW - HISTORY, NOW),
        (NOW - DAY - WINDOW - 3600, NOW - DAY + 3600),
        (NOW - 7 * DAY - WINDOW - 3600, NOW - 7 * DAY + 3600)}
    plain = run(plugin, [server.url], "--no-season")
    assert plain.state == plugin.np_.CRITICAL, plain.render("A")
    one_day = run(plugin, [server.url], "--season", "1d")
    assert one_day.state == plugin.np_.OK


def test_nulls_are_ignored_not_zero(plugin, graphite):
    server = graphite({"load": lambda ts: 7.0 if (ts // 60) % 3 == 0 else None})
    result = run(plugin, [server.url])
    assert result.state == plugin.np_.OK, result.render("A")
    assert "value 7" in result.summary


def test_failover_to_the_second_url(plugin, graphite):
    server = graphite({"load": recent(200.0)})
    result = run(plugin, [closed_port_url(), server.url])
    assert result.state == plugin.np_.CRITICAL
    assert len(server.queries) == 3


def test_the_answering_url_is_asked_first_next_time(plugin, graphite):
    server = graphite({"load": lambda ts: 1.0})
    dead = closed_port_url()
    client = plugin.Graphite([dead, server.url])
    client.render("load", NOW - 600, NOW)
    assert client.urls == [server.url, dead]


def test_no_data_in_the_window_is_unknown(plugin, graphite):
    server = graphite({"load": lambda ts: None if in_window(ts) else 3.0})
    result = run(plugin, [server.url])
    assert result.state == plugin.np_.UNKNOWN
    assert result.summary == "load: no data in the last 10m"


def test_a_target_matching_nothing_is_unknown(plugin, graphite):
    server = graphite({"load": lambda ts: 1.0})
    result = run(plugin, [server.url], target="nothing.*")
    assert result.state == plugin.np_.UNKNOWN and "no data in the last 10m" in result.summary


def test_not_enough_history(plugin, graphite):
    server = graphite({"load": lambda ts: 3.0 if ts > NOW - WINDOW - 300 else None})
    result = run(plugin, [server.url])
    assert result.state == plugin.np_.OK
    assert "not enough history to judge (5 points)" in result.summary
    assert run(plugin, [server.url], "--strict").state == plugin.np_.UNKNOWN


def test_several_series_report_the_worst(plugin, graphite):
    server = graphite({"web1.load": recent(100.0), "web2.load": recent(200.0), "web3.load": recent(140.0)})
    result = run(plugin, [server.url], target="web*.load")
    assert result.state == plugin.np_.CRITICAL, result.render("A")
    assert result.summary.startswith("2 of 3 series anomalous")
    assert result.summary.index("web2.load") < result.summary.index("web3.load")
    assert len(result.details) == 3 and result.details[0].startswith("web2.load:")
    labels = [item.split("=")[0] for item in result.perf]
    assert "web1.load_z" in labels and "web3.load_value" in labels


def test_basic_auth_reads_the_password_file(plugin, graphite, write_secret):
    server = graphite({"load": lambda ts: 1.0}, auth=("icinga", "pa55 word"))
    secret = write_secret("pa55 word")
    assert run(plugin, [server.url], "--user", "icinga", "--password-file", secret).state == plugin.np_.OK
    write_secret("wrong")
    with pytest.raises(plugin.np_.PluginError, match="not JSON"):
        run(plugin, [server.url], "--user", "icinga", "--password-file", secret)


@pytest.mark.parametrize("extra, message", [
    (["--warning", "6", "--critical", "5"], "--warning <= --critical"),
    (["--warning", "x"], "bad arguments"),
    (["--window", "10 parsecs"], "bad duration"),
    (["--season", "1d", "--no-season"], "exclude each other"),
    (["--min-points", "0"], "--min-points"),
    (["--user", "icinga"], "go together"),
    (["--password", "secret"], "only read from a file"),
])
def test_bad_arguments_are_unknown(plugin, extra, message):
    with pytest.raises(plugin.np_.PluginError, match=message):
        plugin.check(["--url", "http://127.0.0.1:9", "--target", "load"] + extra, now=NOW)


def test_bad_arguments_exit_unknown(plugin):
    proc = run_program(plugin.PATH, "--url", "http://127.0.0.1:9", "--target", "x", "--critical", "many")
    assert proc.returncode == 3
    assert proc.stdout.startswith("ANOMALY UNKNOWN - bad arguments")


def test_relative_floor_keeps_a_flat_series_quiet_on_a_wobble_and_loud_on_a_spike(plugin):
    anomaly = plugin
    flat = [42.0] * 60
    state, details = anomaly.judge([42.1], flat, 3, 5, min_stddev_pct=1.0)
    assert state == 0 and round(details["band"], 2) == 0.42
    assert anomaly.judge([42.1], flat, 3, 5, min_stddev_pct=0.0)[0] == 2
    state, details = anomaly.judge([614.0], flat, 3, 5, min_stddev_pct=1.0)
    assert state == 2 and 1300 < details["z"] < 1400
