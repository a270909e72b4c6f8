"""Pure logic of nospof.platform.dns_zone: record validation, rendering, serials."""

import datetime
import json
import os
import shutil

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.nospof.platform.plugins.modules import dns_zone
from ansible_collections.nospof.platform.plugins.modules.dns_zone import ZoneError, build, choose_serial

TODAY = datetime.date(2026, 11, 26)


def params(records=None, **over):
    base = dict(zone="nospof.internal", nameservers=["ns1", "ns2"], hostmaster="hostmaster", ttl=300,
                refresh=3600, retry=600, expire=1209600, negative_ttl=60, serial_min=0,
                records=records if records is not None else [
                    {"name": "ns1", "type": "A", "value": "10.0.0.2"},
                    {"name": "ns2", "type": "A", "value": "10.0.0.3"},
                    {"name": "_amqps._tcp", "type": "SRV", "priority": 10, "weight": 10, "port": 5671,
                     "target": "mq1"},
                ])
    base.update(over)
    return base


def test_first_render_gets_todays_serial():
    text, serial, changed, count = build(params(), None, TODAY)
    assert serial == 2026112600 and changed and count == 3
    assert "2026112600 ; serial" in text
    assert "@ IN NS ns1" in text and "@ IN NS ns2" in text
    assert "_amqps._tcp IN SRV 10 10 5671 mq1" in text
    assert text.startswith("; Managed by Ansible")


def test_unchanged_content_keeps_the_serial_even_on_a_later_day():
    text, serial, _, _ = build(params(), None, TODAY)
    again, serial2, changed, _ = build(params(), text, datetime.date(2027, 1, 5))
    assert (again, serial2, changed) == (text, serial, False)


def test_record_order_does_not_matter():
    first, _, _, _ = build(params(), None, TODAY)
    shuffled, _, changed, _ = build(params(list(reversed(params()["records"]))), first, TODAY)
    assert shuffled == first and not changed


def test_change_bumps_once_on_the_same_day_and_jumps_to_the_date_later():
    text, _, _, _ = build(params(), None, TODAY)
    more = params()["records"] + [{"name": "api", "type": "A", "value": "10.0.0.100"}]
    text2, serial2, changed, _ = build(params(more), text, TODAY)
    assert changed and serial2 == 2026112601
    text3, serial3, changed3, _ = build(params(more), text2, TODAY)
    assert not changed3 and serial3 == 2026112601 and text3 == text2
    _, serial4, _, _ = build(params(), text2, datetime.date(2026, 12, 1))
    assert serial4 == 2026120100


def test_old_serial_above_the_date_is_incremented():
    serial, _ = choose_serial("  2030010105 ; serial\nA\n", "  0 ; serial\nB\n", today=TODAY)
    assert serial == 2030010106


def test_serial_min_aligns_servers():
    text, _, _, _ = build(params(), None, TODAY)
    # Same content, a peer is ahead: only the serial moves up to the peer's.
    text2, serial, changed, _ = build(params(serial_min=2026112605), text, TODAY)
    assert serial == 2026112605 and not changed and text2 != text
    # Changed content with a peer ahead: the peer's serial (both end equal).
    more = params()["records"] + [{"name": "x", "type": "A", "value": "10.0.0.9"}]
    _, serial3, changed3, _ = build(params(more, serial_min=2026112606), text, TODAY)
    assert serial3 == 2026112606 and changed3


def test_serial_overflow_is_refused():
    with pytest.raises(ZoneError, match="2\\^32"):
        choose_serial("  4294967295 ; serial\nA\n", "  0 ; serial\nB\n", today=TODAY)


def test_a_file_without_a_serial_marker_is_treated_as_new():
    serial, changed = choose_serial("hand written\n", "  0 ; serial\n", today=TODAY)
    assert serial == 2026112600 and changed


@pytest.mark.parametrize("record, message", [
    ({"name": "bad_host", "type": "A", "value": "10.0.0.1"}, "underscores"),
    ({"name": "-x", "type": "A", "value": "10.0.0.1"}, "invalid label"),
    ({"name": "a" * 64, "type": "A", "value": "10.0.0.1"}, "63 characters"),
    ({"name": "h", "type": "A", "value": "10.0.0.256"}, "not an IPv4 address"),
    ({"name": "h", "type": "A", "value": "fe80::1"}, "not an IPv4 address"),
    ({"name": "h", "type": "AAAA", "value": "10.0.0.1"}, "not an IPv6 address"),
    ({"name": "_x._tcp", "type": "SRV", "port": 0, "target": "h"}, "port 0 is outside 1-65535"),
    ({"name": "_x._tcp", "type": "SRV", "port": 70000, "target": "h"}, "outside 1-65535"),
    ({"name": "_x._tcp", "type": "SRV", "target": "h"}, "needs a port"),
    ({"name": "_x", "type": "SRV", "port": 1, "target": "h"}, "_service._proto"),
    ({"name": "_x._tcp", "type": "SRV", "port": 1, "target": "bad host"}, "invalid label"),
    ({"name": "h.other.example.", "type": "A", "value": "10.0.0.1"}, "outside the zone"),
    ({"name": "h", "type": "HINFO", "value": "x"}, "type must be one of"),
    ({"name": "", "type": "A", "value": "10.0.0.1"}, "empty name"),
    ({"name": "t", "type": "TXT", "value": "caf\u00e9"}, "printable ASCII"),
])
def test_bad_records_name_the_record(record, message):
    with pytest.raises(ZoneError, match=message):
        build(params([record]), None, TODAY)


def test_cname_cannot_share_a_name():
    records = [{"name": "www", "type": "CNAME", "value": "api"}, {"name": "www", "type": "A", "value": "10.0.0.1"}]
    with pytest.raises(ZoneError, match="CNAME"):
        build(params(records), None, TODAY)


def test_absolute_names_inside_the_zone_and_txt_quoting():
    records = [{"name": "api.nospof.internal.", "type": "A", "value": "10.0.0.1"},
               {"name": "nospof.internal.", "type": "TXT", "value": 'say "hi"'},
               {"name": "*.apps", "type": "A", "value": "10.0.0.2", "ttl": 30}]
    text, _, _, _ = build(params(records), None, TODAY)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert "api IN A 10.0.0.1" in lines
    assert '@ IN TXT "say \\"hi\\""' in lines
    assert "*.apps 30 IN A 10.0.0.2" in text


def test_bad_zone_name():
    with pytest.raises(ZoneError, match="not a valid zone"):
        build(params(zone="bad zone"), None, TODAY)


# --- the module end to end (named-checkzone when installed) ---------------------------

def run_module(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            dns_zone.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def zone_args(tmp_path):
    p = params()
    p.pop("serial_min")
    return dict(p, path=str(tmp_path / "db.nospof.internal"),
                validate=shutil.which("named-checkzone") is not None)


def test_module_writes_then_is_idempotent_and_honours_check_mode(zone_args, capsys):
    res = run_module(dict(zone_args, _ansible_check_mode=True, _ansible_diff=True), capsys)
    assert res["changed"] and not os.path.exists(zone_args["path"]) and "diff" in res
    res = run_module(zone_args, capsys)
    assert res["changed"] and res["previous_serial"] == 0 and os.path.exists(zone_args["path"])
    serial = res["serial"]
    res = run_module(zone_args, capsys)
    assert not res["changed"] and res["serial"] == serial
    more = dict(zone_args, records=zone_args["records"] + [{"name": "api", "type": "A", "value": "10.0.0.100"}])
    res = run_module(more, capsys)
    assert res["changed"] and res["serial"] == max(serial + 1, res["serial"]) and res["previous_serial"] == serial


def test_module_fails_on_a_bad_record_without_touching_the_file(zone_args, capsys):
    run_module(zone_args, capsys)
    with open(zone_args["path"], encoding="utf-8") as handle:
        before = handle.read()
    bad = dict(zone_args, records=[{"name": "_x._tcp", "type": "SRV", "port": 99999, "target": "ns1"}])
    res = run_module(bad, capsys)
    assert res["failed"] and "outside 1-65535" in res["msg"]
    with open(zone_args["path"], encoding="utf-8") as handle:
        assert handle.read() == before


@pytest.mark.skipif(shutil.which("named-checkzone") is None, reason="named-checkzone not installed")
def test_module_refuses_a_zone_named_checkzone_rejects(zone_args, capsys):
    # An NS target inside the zone without an address record: named-checkzone fails it.
    res = run_module(dict(zone_args, nameservers=["ghost"]), capsys)
    assert res["failed"] and "named-checkzone" in res["msg"] and not os.path.exists(zone_args["path"])
