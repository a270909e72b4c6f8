"""roles/icinga2/files/plugins/check_nospof_memory with meminfo fixture files."""

import subprocess
import sys

import pytest

KIB = 1024


def meminfo(total_kb, available_kb, swap_total_kb=None, swap_free_kb=None):
    lines = ["MemTotal:       %8d kB" % total_kb,
             "MemFree:        %8d kB" % (available_kb // 2),
             "MemAvailable:   %8d kB" % available_kb,
             "Buffers:          123456 kB",
             "Cached:          2345678 kB",
             "HugePages_Total:       0",
             "Hugepagesize:       2048 kB"]
    if swap_total_kb is not None:
        lines += ["SwapTotal:      %8d kB" % swap_total_kb, "SwapFree:       %8d kB" % swap_free_kb]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def plugin(load_plugin):
    return load_plugin("check_nospof_memory")


@pytest.fixture
def run(plugin, tmp_path):
    def check(content, *extra):
        path = tmp_path / "meminfo"
        path.write_text(content)
        return plugin.check(["--meminfo", str(path)] + list(extra))
    return check


def perf(result):
    return {item.split("=")[0]: item.split("=")[1] for item in result.perf}


def test_parse_meminfo(plugin):
    fields = plugin.parse_meminfo(meminfo(16_000_000, 8_000_000, 2_000_000, 1_500_000))
    assert fields["MemTotal"] == 16_000_000 * KIB and fields["MemAvailable"] == 8_000_000 * KIB
    assert fields["HugePages_Total"] == 0 and fields["SwapFree"] == 1_500_000 * KIB


@pytest.mark.parametrize("available_kb, state", [
    (8_000_000, "OK"), (1_000_000, "OK"), (999_999, "WARNING"), (500_000, "WARNING"), (499_999, "CRITICAL"),
    (0, "CRITICAL"),
])
def test_states(plugin, run, available_kb, state):
    result = run(meminfo(10_000_000, available_kb))
    assert plugin.np_.STATE_NAMES[result.state] == state, result.render("MEMORY")


def test_output_and_perfdata(run):
    result = run(meminfo(16_000_000, 1_200_000, 2_000_000, 1_500_000))
    assert result.summary == "7.5% available (1.1 GiB of 15 GiB), swap 488 MiB of 1.9 GiB used, below 10%"
    assert perf(result) == {
        "available_pct": "7.5%;10:;5:;0;100",
        "available_bytes": "%dB;;;0;%d" % (1_200_000 * KIB, 16_000_000 * KIB),
        "total_bytes": "%dB;;;0" % (16_000_000 * KIB),
        "swap_used_bytes": "%dB;;;0;%d" % (500_000 * KIB, 2_000_000 * KIB),
    }


def test_no_swap_no_swap_perfdata(run):
    assert "swap_used_bytes" not in perf(run(meminfo(16_000_000, 8_000_000, 0, 0)))
    assert "swap_used_bytes" not in perf(run(meminfo(16_000_000, 8_000_000)))


def test_thresholds_are_options(plugin, run):
    content = meminfo(10_000_000, 2_500_000)                      # 25%
    assert run(content, "--warning", "30", "--critical", "20").state == plugin.np_.WARNING
    assert run(content, "--warning", "40", "--critical", "30").state == plugin.np_.CRITICAL
    assert run(content, "--warning", "25", "--critical", "20").state == plugin.np_.OK


def test_rounding_never_hides_a_crossed_threshold(run):
    assert run(meminfo(10_000_000, 999_990)).summary.startswith("9.9999% available")


def test_missing_memavailable_is_unknown(plugin, run):
    with pytest.raises(plugin.np_.PluginError, match="MemAvailable"):
        run("MemTotal: 1000 kB\nMemFree: 10 kB\n")


@pytest.mark.parametrize("extra", [["--warning", "5", "--critical", "10"], ["--warning", "120"],
                                   ["--critical", "-1"], ["--warning", "lots"]])
def test_bad_thresholds_are_unknown(plugin, run, extra):
    with pytest.raises(plugin.np_.PluginError, match="bad arguments"):
        run(meminfo(1000, 500), *extra)


def test_exit_codes(plugin, tmp_path):
    path = tmp_path / "meminfo"
    path.write_text(meminfo(10_000_000, 300_000))
    proc = subprocess.run([sys.executable, plugin.PATH, "--meminfo", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout.startswith("MEMORY CRITICAL - 3% available")
    proc = subprocess.run([sys.executable, plugin.PATH, "--meminfo", str(tmp_path / "none")],
                          capture_output=True, text=True)
    assert proc.returncode == 3 and "cannot read" in proc.stdout
