"""roles/icinga2/files/plugins/check_nospof_disk: escalating levels (level_for
and its boundaries), the figures taken from statvfs, the output an
acknowledgement escalator reads (perfdata "level"), and bad levels.
"""

import os
import subprocess
import sys
import types

import pytest

GIB = 1024 ** 3


@pytest.fixture(scope="module")
def plugin(load_plugin):
    return load_plugin("check_nospof_disk")


def fake_statvfs(blocks, bfree, bavail, files=1000, ffree=500, favail=500, frsize=4096):
    st = types.SimpleNamespace(f_blocks=blocks, f_bfree=bfree, f_bavail=bavail, f_frsize=frsize,
                               f_files=files, f_ffree=ffree, f_favail=favail)
    return lambda path: st


def perf(result):
    return {item.split("=")[0]: item.split("=")[1] for item in result.perf}


@pytest.mark.parametrize("free, level, state", [
    (50, 0, "OK"), (10, 0, "OK"), (9.99, 1, "WARNING"), (5, 1, "WARNING"), (4.999, 2, "CRITICAL"),
    (2, 2, "CRITICAL"), (1.5, 3, "CRITICAL"), (0, 3, "CRITICAL"),
])
def test_level_for_boundaries(plugin, free, level, state):
    got_level, got_state = plugin.level_for(free, [10, 5, 2])
    assert (got_level, plugin.np_.STATE_NAMES[got_state]) == (level, state)


def test_a_single_level_only_warns(plugin):
    assert plugin.level_for(1, [10]) == (1, plugin.np_.WARNING)
    assert plugin.level_for(10, [10]) == (0, plugin.np_.OK)


def test_parse_levels(plugin):
    assert plugin.parse_levels("10,5,2") == [10.0, 5.0, 2.0]
    assert plugin.parse_levels(" 15 , 7.5") == [15.0, 7.5]


@pytest.mark.parametrize("text", ["", "10,,5", "ten", "5,10", "10,10,5", "0", "100", "10,5,0", "-1",
                                  "nan", "10,inf"])
def test_bad_levels(plugin, text):
    with pytest.raises(plugin.np_.PluginError, match="--levels"):
        plugin.parse_levels(text)


def test_figures_count_like_df(plugin):
    # 1000 blocks, 900 used, 50 available (50 reserved for root): free = 50 / (900 + 50)
    result = plugin.check(["--path", "/"], statvfs=fake_statvfs(1000, 100, 50))
    assert result.state == plugin.np_.WARNING, result.render("DISK")
    assert result.summary == "/: 5.26% free (200 KiB of 3.9 MiB), below 10%"
    assert perf(result) == {"free_pct": "5.2632%;10:;5:;0;100", "free_bytes": "204800B;;;0;4096000",
                            "level": "1;1;2;0;3"}


def test_summary_in_gib(plugin):
    # 30 GiB, 1.3 GiB available, nothing reserved
    total, avail = 30 * GIB // 4096, int(1.3 * GIB) // 4096
    result = plugin.check(["--path", "/"], statvfs=fake_statvfs(total, avail, avail))
    assert result.state == plugin.np_.CRITICAL
    assert result.summary == "/: 4.33% free (1.3 GiB of 30 GiB), below 5%"
    assert perf(result)["level"] == "2;1;2;0;3"


def test_rounding_never_hides_a_crossed_level(plugin):
    result = plugin.check(["--path", "/"], statvfs=fake_statvfs(1_000_000, 99_999, 99_999))
    assert result.state == plugin.np_.WARNING
    assert result.summary.startswith("/: 9.9999% free") and result.summary.endswith("below 10%")


def test_inodes_raise_the_level(plugin):
    statvfs = fake_statvfs(1000, 500, 500, files=1000, ffree=10, favail=10)
    without = plugin.check(["--path", "/"], statvfs=statvfs)
    assert without.state == plugin.np_.OK and "level" in perf(without) and perf(without)["level"].startswith("0;")
    result = plugin.check(["--path", "/", "--inodes"], statvfs=statvfs)
    assert result.state == plugin.np_.CRITICAL
    assert result.summary == "/: 50% free (2.0 MiB of 3.9 MiB); inodes 1% free, below 2%"
    assert perf(result)["level"].startswith("3;") and perf(result)["inodes_free_pct"].startswith("1%;")


def test_no_inode_limit(plugin):
    result = plugin.check(["--path", "/", "--inodes"], statvfs=fake_statvfs(1000, 500, 500, 0, 0, 0))
    assert result.state == plugin.np_.OK and result.summary.endswith("; no inode limit")


def test_a_real_directory(plugin, tmp_path):
    st = os.statvfs(str(tmp_path))
    used = st.f_blocks - st.f_bfree
    if used + st.f_bavail == 0:
        pytest.skip("the temporary file system reports no blocks")
    expected = 100.0 * st.f_bavail / (used + st.f_bavail)
    result = plugin.check(["--path", str(tmp_path)])
    assert result.state == plugin.level_for(expected, [10, 5, 2])[1]
    assert float(perf(result)["free_pct"].split("%")[0]) == pytest.approx(expected, abs=0.01)
    assert result.summary.startswith(plugin.mount_point(str(tmp_path)) + ": ")
    if 0.2 < expected < 99.8:
        levels = "%.4f,%.4f" % ((expected + 100) / 2, expected / 2)   # free% is between the two
        forced = plugin.check(["--path", str(tmp_path), "--levels", levels])
        assert forced.state == plugin.np_.WARNING and perf(forced)["level"] == "1;1;2;0;2"


def test_a_missing_path_is_unknown(plugin, tmp_path):
    with pytest.raises(plugin.np_.PluginError, match="No such file"):
        plugin.check(["--path", str(tmp_path / "missing")])


def test_exit_codes(plugin, tmp_path):
    proc = subprocess.run([sys.executable, plugin.PATH, "--path", str(tmp_path), "--levels", "5,10"],
                          capture_output=True, text=True)
    assert proc.returncode == 3 and proc.stdout.startswith("DISK UNKNOWN - bad arguments: --levels")
    proc = subprocess.run([sys.executable, plugin.PATH, "--path", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode in (0, 1, 2) and " level=" in proc.stdout
