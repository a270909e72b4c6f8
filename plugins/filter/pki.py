# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Subject alternative names for host certificates."""

from __future__ import annotations

import ipaddress
import re

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # pragma: no cover
    class AnsibleFilterError(Exception):
        pass

_DNS = re.compile(r"^(\*\.)?(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$")


def _classify(value, where):
    text = str(value).strip()
    if text.upper().startswith("DNS:"):
        name = text[4:].strip().rstrip(".").lower()
        if not _DNS.match(name):
            raise AnsibleFilterError(f"{where}: {value!r} is not a valid DNS name")
        return "DNS:" + name
    if text.upper().startswith("IP:"):
        try:
            return "IP:" + str(ipaddress.ip_address(text[3:].strip()))
        except ValueError:
            raise AnsibleFilterError(f"{where}: {value!r} is not a valid IP address") from None
    try:
        return "IP:" + str(ipaddress.ip_address(text))
    except ValueError:
        pass
    name = text.rstrip(".").lower()
    if not _DNS.match(name):
        raise AnsibleFilterError(f"{where}: {value!r} is neither a DNS name nor an IP address")
    return "DNS:" + name


def pki_sans(names, addresses=None, extra=None):
    """Build a sorted, de-duplicated SAN list for a host certificate.

    names: host names (inventory name, hostname, fqdn); `localhost` is dropped.
    addresses: IP addresses; loopback and link-local ones are dropped.
    extra: operator-supplied SANs (`DNS:x`, `IP:y` or bare), validated strictly.
    """
    dns, ips = [], []
    for name in names or []:
        if not name:
            continue
        name = str(name).strip().rstrip(".").lower()
        if name in ("localhost", "localhost.localdomain") or not _DNS.match(name):
            continue
        if f"DNS:{name}" not in dns:
            dns.append(f"DNS:{name}")
    for addr in addresses or []:
        try:
            ip = ipaddress.ip_address(str(addr).split("%")[0])
        except ValueError:
            continue
        if ip.is_loopback or ip.is_link_local or ip.is_unspecified:
            continue
        if f"IP:{ip}" not in ips:
            ips.append(f"IP:{ip}")
    for index, value in enumerate(extra or []):
        san = _classify(value, f"pki_extra_sans[{index}]")
        bucket = dns if san.startswith("DNS:") else ips
        if san not in bucket:
            bucket.append(san)
    if not dns and not ips:
        raise AnsibleFilterError("a host certificate needs at least one name or address")
    return sorted(dns) + sorted(ips, key=lambda s: ipaddress.ip_address(s[3:]).packed.rjust(16, b"\0"))


class FilterModule:
    """PKI filters of nospof.platform."""

    def filters(self):
        return {"pki_sans": pki_sans}
