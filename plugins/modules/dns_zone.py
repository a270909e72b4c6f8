#!/usr/bin/python
# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: dns_zone
short_description: Write an authoritative DNS zone file from structured records, with serial handling
version_added: 0.3.0
description:
  - Renders a BIND zone file (SOA, NS and the given records) in a stable order,
    so the same records always give the same file on every server.
  - "Serial: kept when the content is unchanged; otherwise the new serial is the
    largest of the old serial + 1, today's C(YYYYMMDD00) and O(serial_min)."
  - The candidate file is validated with C(named-checkzone) before it atomically
    replaces the live one; a file that does not validate never goes live.
  - Records are checked first, and a bad one (name, type, address, port,
    duplicate CNAME) fails with a message naming it, before anything is written.
  - Check mode and diff are supported. In check mode the candidate is still
    validated when C(named-checkzone) is installed.
author: nospof developers
options:
  zone:
    description: The zone's name (origin), without the trailing dot.
    type: str
    required: true
  path:
    description: The zone file to write.
    type: path
    required: true
  nameservers:
    description:
      - Names of the zone's authoritative servers (NS records); relative names are inside the zone.
      - The first is the SOA's primary server (MNAME).
    type: list
    elements: str
    required: true
  hostmaster:
    description: The SOA's responsible mailbox (RNAME) as a name, C(hostmaster) for C(hostmaster.<zone>).
    type: str
    default: hostmaster
  ttl:
    description: Default TTL of the records (C($TTL)), seconds.
    type: int
    default: 300
  refresh:
    description: SOA refresh, seconds.
    type: int
    default: 3600
  retry:
    description: SOA retry, seconds.
    type: int
    default: 600
  expire:
    description: SOA expire, seconds.
    type: int
    default: 1209600
  negative_ttl:
    description: SOA minimum (negative caching TTL), seconds.
    type: int
    default: 60
  serial_min:
    description:
      - The serial is at least this. Servers that serve the same zone pass the
        highest serial any of them would choose, so they all end with the same one.
      - When the content is unchanged and the current serial is lower, only the serial changes.
    type: int
    default: 0
  records:
    description: The records, besides SOA and the apex NS records.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Owner name, relative to the zone (C(@) for the apex), or absolute inside the zone with a trailing dot.
        type: str
        required: true
      type:
        description: Record type.
        type: str
        choices: [A, AAAA, CNAME, NS, MX, SRV, TXT, PTR]
        required: true
      value:
        description:
          - The data. A - an IPv4 address; AAAA - an IPv6 address; CNAME, NS, PTR - a name;
            MX - a name (with O(records[].priority)); TXT - the text (quoted for you).
          - Not used by SRV.
        type: str
      ttl:
        description: TTL of this record; the zone's default when omitted.
        type: int
      priority:
        description: SRV and MX priority.
        type: int
        default: 10
      weight:
        description: SRV weight.
        type: int
        default: 10
      port:
        description: SRV port (1-65535).
        type: int
      target:
        description: SRV target host name.
        type: str
  validate:
    description: Check the candidate with C(named-checkzone) before it replaces the live file.
    type: bool
    default: true
  checkzone:
    description: Path of C(named-checkzone); searched in the PATH when omitted.
    type: path
extends_documentation_fragment:
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: The environment's zone
  nospof.platform.dns_zone:
    zone: nospof.internal
    path: /etc/bind/zones/db.nospof.internal
    nameservers: [ns1, ns2]
    owner: root
    group: bind
    mode: "0644"
    records:
      - {name: ns1, type: A, value: 10.0.0.2}
      - {name: ns2, type: A, value: 10.0.0.3}
      - {name: mq1, type: A, value: 10.0.0.11}
      - {name: _amqps._tcp, type: SRV, priority: 10, weight: 10, port: 5671, target: mq1}
      - {name: api, type: A, value: 10.0.0.100}
"""

RETURN = r"""
serial:
  description: The zone's serial after the run (what it would be, in check mode).
  returned: always
  type: int
  sample: 2026112601
previous_serial:
  description: The serial of the existing file, 0 when there was none.
  returned: always
  type: int
content_changed:
  description: Whether the records changed (false when only the serial or file attributes changed).
  returned: always
  type: bool
records:
  description: Number of records written, besides SOA and NS.
  returned: always
  type: int
"""

import datetime
import ipaddress
import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule

SERIAL_MARK = "; serial"
SERIAL_RE = re.compile(r"^\s*(\d{1,10})\s*" + re.escape(SERIAL_MARK) + r"\s*$", re.M)
LABEL_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
# Owner labels of service records (RFC 6335 service names, _tcp, _udp ...).
SERVICE_LABEL_RE = re.compile(r"^_[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
TYPES = ("A", "AAAA", "CNAME", "NS", "MX", "SRV", "TXT", "PTR")
TYPE_ORDER = {t: i for i, t in enumerate(TYPES)}
MAX_SERIAL = 4294967295


class ZoneError(Exception):
    """A record or parameter the module refuses; the message says which and why."""


def _labels(name):
    return name.rstrip(".").split(".") if name not in ("", ".") else []


def check_name(name, zone, what, service_ok=False, wildcard_ok=False):
    """Return the owner/target name relative to the zone ('@' for the apex); raise ZoneError when invalid."""
    if not isinstance(name, str) or not name.strip():
        raise ZoneError("%s: an empty name" % what)
    name = name.strip()
    if name == "@":
        return "@"
    zone = zone.rstrip(".").lower()
    if name.endswith("."):
        absolute = name[:-1].lower()
        if absolute == zone:
            return "@"
        if not absolute.endswith("." + zone):
            raise ZoneError("%s: %r is outside the zone %s" % (what, name, zone))
        name = name[:-1][:len(absolute) - len(zone) - 1]
    labels = _labels(name)
    if not labels or len(name) + len(zone) + 2 > 255:
        raise ZoneError("%s: %r is not a valid name" % (what, name))
    for index, label in enumerate(labels):
        if LABEL_RE.match(label):
            continue
        if label == "*" and index == 0 and wildcard_ok:
            continue
        if service_ok and SERVICE_LABEL_RE.match(label):
            continue
        hint = ""
        if "_" in label:
            hint = " (underscores are allowed only in service labels like _name._tcp)"
        elif len(label) > 63:
            hint = " (a label has at most 63 characters)"
        raise ZoneError("%s: %r has the invalid label %r%s" % (what, name, label, hint))
    return name


def check_target(name, what):
    """A name a record points to: relative (inside the zone) or absolute (anywhere)."""
    if not isinstance(name, str) or not name.strip():
        raise ZoneError("%s: an empty target" % what)
    name = name.strip()
    if name == "@":
        return name
    for label in _labels(name):
        if not LABEL_RE.match(label):
            raise ZoneError("%s: target %r has the invalid label %r" % (what, name, label))
    return name


def _int(value, low, high, what, field):
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ZoneError("%s: %s %r is not a number" % (what, field, value))
    if isinstance(value, bool) or not low <= number <= high:
        raise ZoneError("%s: %s %r is outside %d-%d" % (what, field, value, low, high))
    return number


def normalize_records(records, zone):
    """Validate records and return them as sorted tuples (name, ttl, type, rdata)."""
    out = set()
    kinds = {}
    for index, rec in enumerate(records or []):
        if not isinstance(rec, dict):
            raise ZoneError("record %d is not a dictionary: %r" % (index + 1, rec))
        rtype = str(rec.get("type") or "").upper()
        what = "record %d (%s %s)" % (index + 1, rec.get("name"), rtype or "?")
        if rtype not in TYPES:
            raise ZoneError("%s: type must be one of %s" % (what, ", ".join(TYPES)))
        name = check_name(rec.get("name"), zone, what, service_ok=rtype in ("SRV", "TXT"),
                          wildcard_ok=rtype != "SRV")
        if rtype == "SRV" and len(_labels(name)) < 2:
            raise ZoneError("%s: an SRV name looks like _service._proto[.name]" % what)
        ttl = rec.get("ttl")
        ttl = None if ttl is None else _int(ttl, 0, 2147483647, what, "ttl")
        value = rec.get("value")
        if rtype == "A":
            try:
                rdata = str(ipaddress.IPv4Address(str(value).strip()))
            except ValueError:
                raise ZoneError("%s: %r is not an IPv4 address" % (what, value))
        elif rtype == "AAAA":
            try:
                rdata = str(ipaddress.IPv6Address(str(value).strip()))
            except ValueError:
                raise ZoneError("%s: %r is not an IPv6 address" % (what, value))
        elif rtype in ("CNAME", "NS", "PTR"):
            rdata = check_target(value, what)
        elif rtype == "MX":
            rdata = "%d %s" % (_int(rec.get("priority", 10), 0, 65535, what, "priority"), check_target(value, what))
        elif rtype == "SRV":
            if rec.get("port") is None:
                raise ZoneError("%s: an SRV record needs a port" % what)
            rdata = "%d %d %d %s" % (_int(rec.get("priority", 10), 0, 65535, what, "priority"),
                                     _int(rec.get("weight", 10), 0, 65535, what, "weight"),
                                     _int(rec.get("port"), 1, 65535, what, "port"),
                                     check_target(rec.get("target"), what))
        else:  # TXT
            if value is None:
                raise ZoneError("%s: a TXT record needs a value" % what)
            text = str(value)
            if any(ord(c) < 32 or ord(c) > 126 for c in text):
                raise ZoneError("%s: TXT value must be printable ASCII" % what)
            chunks = [text[i:i + 255] for i in range(0, len(text), 255)] or [""]
            rdata = " ".join('"%s"' % c.replace("\\", "\\\\").replace('"', '\\"') for c in chunks)
        key = name.lower()
        kinds.setdefault(key, set()).add(rtype)
        out.add((name, ttl, rtype, rdata))
    for key, types in kinds.items():
        if "CNAME" in types and (len(types) > 1 or sum(1 for r in out if r[0].lower() == key) > 1):
            raise ZoneError("%s: a CNAME cannot coexist with other records of the same name" % key)
    return sorted(out, key=lambda r: (r[0] != "@", r[0].lower(), TYPE_ORDER[r[2]], r[3], r[1] or 0))


def render(zone, serial, params, records):
    """The zone file's text. The serial is on a line of its own, marked, so it can be read back."""
    zone = zone.rstrip(".")
    ns = [check_target(n, "nameservers") for n in params["nameservers"]]
    if not ns:
        raise ZoneError("nameservers: at least one name server is needed")
    rname = params.get("hostmaster") or "hostmaster"
    rname = rname.replace("@", ".")
    lines = [
        "; Managed by Ansible (nospof.platform.dns_zone); edits are overwritten.",
        "$ORIGIN %s." % zone,
        "$TTL %d" % params["ttl"],
        "@ IN SOA %s %s (" % (ns[0], rname),
        "    %d %s" % (serial, SERIAL_MARK),
        "    %d ; refresh" % params["refresh"],
        "    %d ; retry" % params["retry"],
        "    %d ; expire" % params["expire"],
        "    %d ; negative ttl" % params["negative_ttl"],
        ")",
    ]
    for name in ns:
        lines.append("@ IN NS %s" % name)
    width = max([len(r[0]) for r in records] + [1])
    for name, ttl, rtype, rdata in records:
        lines.append("%s %sIN %s %s" % (name.ljust(width), "" if ttl is None else "%d " % ttl, rtype, rdata))
    return "\n".join(lines) + "\n"


def read_serial(text):
    match = SERIAL_RE.search(text or "")
    return int(match.group(1)) if match else None


def without_serial(text):
    return SERIAL_RE.sub("    SERIAL " + SERIAL_MARK, text or "", count=1)


def date_serial(today=None):
    today = today or datetime.date.today()
    return int(today.strftime("%Y%m%d")) * 100


def choose_serial(old_text, new_body, serial_min=0, today=None):
    """Return (serial, content_changed) for a new zone body rendered with any serial.

    Unchanged content keeps the old serial (raised to serial_min if lower);
    changed content gets max(old + 1, YYYYMMDD00, serial_min).
    """
    old = read_serial(old_text) if old_text is not None else None
    changed = old is None or without_serial(old_text) != without_serial(new_body)
    if not changed:
        serial = max(old, serial_min)
    else:
        serial = max((old or 0) + 1, date_serial(today), serial_min)
    if serial > MAX_SERIAL:
        raise ZoneError("serial %d exceeds 2^32-1; reset it by hand (RFC 1982 serial arithmetic)" % serial)
    return serial, changed


def build(params, old_text, today=None):
    """Pure core: return (text, serial, content_changed, n_records)."""
    zone = params["zone"].strip().rstrip(".")
    if not zone or any(not LABEL_RE.match(label) for label in zone.split(".")):
        raise ZoneError("zone: %r is not a valid zone name" % params["zone"])
    for field in ("ttl", "refresh", "retry", "expire", "negative_ttl"):
        _int(params[field], 0, 2147483647, "zone %s" % zone, field)
    records = normalize_records(params.get("records"), zone)
    body = render(zone, 0, params, records)
    serial, changed = choose_serial(old_text, body, params.get("serial_min") or 0, today)
    return render(zone, serial, params, records), serial, changed, len(records)


def validate(module, zone, text, directory):
    """Run named-checkzone on a temporary copy; fail_json with its output when it refuses."""
    checkzone = module.params["checkzone"] or module.get_bin_path("named-checkzone")
    if not checkzone:
        if module.check_mode:
            module.warn("named-checkzone is not installed: the zone was not validated (check mode)")
            return None
        module.fail_json(msg="named-checkzone not found: install bind9-utils or set validate: false")
    fd, tmp = tempfile.mkstemp(prefix=".dns_zone.", dir=directory)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    rc, out, err = module.run_command([checkzone, "-k", "fail", zone, tmp])
    if rc != 0:
        os.unlink(tmp)
        module.fail_json(msg="named-checkzone refused the zone %s; the live file was not touched: %s"
                         % (zone, (out + err).strip()[:2000]))
    return tmp


def main():
    module = AnsibleModule(
        argument_spec=dict(
            zone=dict(type="str", required=True),
            path=dict(type="path", required=True),
            nameservers=dict(type="list", elements="str", required=True),
            hostmaster=dict(type="str", default="hostmaster"),
            ttl=dict(type="int", default=300),
            refresh=dict(type="int", default=3600),
            retry=dict(type="int", default=600),
            expire=dict(type="int", default=1209600),
            negative_ttl=dict(type="int", default=60),
            serial_min=dict(type="int", default=0),
            records=dict(type="list", elements="dict", default=[], options=dict(
                name=dict(type="str", required=True),
                type=dict(type="str", required=True, choices=list(TYPES)),
                value=dict(type="str"),
                ttl=dict(type="int"),
                priority=dict(type="int", default=10),
                weight=dict(type="int", default=10),
                port=dict(type="int"),
                target=dict(type="str"),
            )),
            validate=dict(type="bool", default=True),
            checkzone=dict(type="path"),
        ),
        add_file_common_args=True,
        supports_check_mode=True,
    )
    path = module.params["path"]
    old_text = None
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as handle:
                old_text = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            module.fail_json(msg="cannot read the existing zone file %s: %s" % (path, exc))
    try:
        text, serial, content_changed, count = build(module.params, old_text)
    except ZoneError as exc:
        module.fail_json(msg=str(exc))
    zone = module.params["zone"].strip().rstrip(".")
    previous = (read_serial(old_text) or 0) if old_text is not None else 0
    changed = text != old_text
    directory = os.path.dirname(path) or "."
    result = dict(serial=serial, previous_serial=previous, content_changed=content_changed, records=count)
    if changed:
        result["diff"] = dict(before=old_text or "", after=text, before_header=path, after_header=path)
        if not os.path.isdir(directory):
            if not module.check_mode:
                module.fail_json(msg="the directory %s of the zone file does not exist" % directory, **result)
        elif module.params["validate"]:
            tmp = validate(module, zone, text, module.tmpdir if module.check_mode else directory)
            if tmp and module.check_mode:
                os.unlink(tmp)
            elif tmp:
                module.atomic_move(tmp, path)
        elif not module.check_mode:
            fd, tmp = tempfile.mkstemp(prefix=".dns_zone.", dir=directory)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            module.atomic_move(tmp, path)
    if os.path.exists(path) or not module.check_mode:
        file_args = module.load_file_common_arguments(module.params, path=path)
        changed = module.set_fs_attributes_if_different(file_args, changed)
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
