# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation and normalization of network inputs used by the roles.

Argument specs check types and structure; these filters check what a spec
cannot express (URL schemes, port ranges, address syntax) and name the
offending entry in every error, so a role can stop in preflight before it
changes anything.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # pragma: no cover - only without ansible installed
    class AnsibleFilterError(Exception):
        pass


APT_MIRROR_SCHEMES = ("http", "https", "file")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$")


def apt_mirror_urls(urls, what="base_apt_mirrors"):
    """Return the mirror URLs, stripped of trailing slashes, or raise naming the bad one."""
    if not isinstance(urls, (list, tuple)) or not urls:
        raise AnsibleFilterError(f"{what}: at least one mirror URL is required")
    out = []
    for index, url in enumerate(urls):
        if not isinstance(url, str) or not url.strip():
            raise AnsibleFilterError(f"{what}[{index}]: a mirror must be a non-empty URL string, got {url!r}")
        parts = urlsplit(url.strip())
        if parts.scheme not in APT_MIRROR_SCHEMES:
            raise AnsibleFilterError(
                f"{what}[{index}]: {url!r} has scheme {parts.scheme or '(none)'!r}; "
                f"use one of {', '.join(APT_MIRROR_SCHEMES)}"
            )
        if parts.scheme != "file" and not parts.hostname:
            raise AnsibleFilterError(f"{what}[{index}]: {url!r} has no host name")
        if parts.scheme == "file" and not parts.path.startswith("/"):
            raise AnsibleFilterError(f"{what}[{index}]: {url!r} must name an absolute path")
        if any(c.isspace() for c in url.strip()):
            raise AnsibleFilterError(f"{what}[{index}]: {url!r} contains white space")
        out.append(url.strip().rstrip("/"))
    if len(set(out)) != len(out):
        raise AnsibleFilterError(f"{what}: the same mirror is listed twice: {out}")
    return out


def _source(value, where):
    """Classify one allowlist source as ('v4'|'v6'|'host', normalized)."""
    if not isinstance(value, str) or not value.strip():
        raise AnsibleFilterError(f"{where}: a source must be an address, a network or a host name, got {value!r}")
    text = value.strip()
    looks_numeric = bool(re.match(r"^[0-9./]+$", text)) or ":" in text
    if looks_numeric:
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError as exc:
            raise AnsibleFilterError(f"{where}: {text!r} is not a valid address or network ({exc})") from None
        if "/" in text and net.network_address != ipaddress.ip_interface(text).ip:
            raise AnsibleFilterError(
                f"{where}: {text!r} has host bits set; did you mean {net.with_prefixlen}?"
            )
        family = "v4" if net.version == 4 else "v6"
        single = net.prefixlen == net.max_prefixlen
        return family, str(net.network_address) if single else net.with_prefixlen
    if not _HOSTNAME.match(text):
        raise AnsibleFilterError(f"{where}: {text!r} is neither an address, a network nor a host name")
    return "host", text.rstrip(".").lower()


PORTLESS_PROTOCOLS = ("vrrp", "gre", "esp", "ah")


def nft_allowlist(entries, what="base_firewall_allowlist"):
    """Validate allowlist entries and split their sources by family.

    Each entry: {name, ports: [int], proto: tcp|udp, sources: [str]}, or for
    a protocol without ports (VRRP between load balancers, GRE, IPsec)
    {name, proto: vrrp|gre|esp|ah, sources: [str]} with no ports.
    Returns a list of {name, proto, ports, v4, v6, hosts}; hosts still need
    resolving on the managed host.
    """
    if entries is None:
        return []
    if not isinstance(entries, (list, tuple)):
        raise AnsibleFilterError(f"{what}: must be a list of entries, got {type(entries).__name__}")
    seen = set()
    out = []
    for index, entry in enumerate(entries):
        where = f"{what}[{index}]"
        if not isinstance(entry, dict):
            raise AnsibleFilterError(f"{where}: each entry must be a mapping with name, ports and sources")
        name = entry.get("name")
        if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$", name or ""):
            raise AnsibleFilterError(
                f"{where}: name {name!r} must be 1-63 letters, digits, '_', '.', ':' or '-'"
            )
        where = f"{what}[{index}] ({name})"
        if name in seen:
            raise AnsibleFilterError(f"{where}: the name is used by another entry")
        seen.add(name)
        proto = entry.get("proto", "tcp")
        if proto not in ("tcp", "udp") + PORTLESS_PROTOCOLS:
            raise AnsibleFilterError(
                f"{where}: proto {proto!r} must be tcp or udp, or one of {', '.join(PORTLESS_PROTOCOLS)} (no ports)")
        ports = entry.get("ports")
        if proto in PORTLESS_PROTOCOLS:
            if ports:
                raise AnsibleFilterError(f"{where}: proto {proto} has no ports; remove ports")
            ports = []
        elif not isinstance(ports, (list, tuple)) or not ports:
            raise AnsibleFilterError(f"{where}: ports must be a non-empty list of port numbers")
        clean_ports = []
        for port in ports:
            if isinstance(port, bool) or not isinstance(port, int) and not (isinstance(port, str) and port.isdigit()):
                raise AnsibleFilterError(f"{where}: port {port!r} is not a number")
            port = int(port)
            if not 1 <= port <= 65535:
                raise AnsibleFilterError(f"{where}: port {port} is outside 1-65535")
            clean_ports.append(port)
        sources = entry.get("sources")
        if not isinstance(sources, (list, tuple)) or not sources:
            raise AnsibleFilterError(
                f"{where}: sources must list at least one address, network or host "
                "(use 0.0.0.0/0 and ::/0 to allow everyone, explicitly)"
            )
        split = {"v4": [], "v6": [], "host": []}
        for source in sources:
            family, value = _source(source, where)
            if value not in split[family]:
                split[family].append(value)
        out.append({
            "name": name,
            "proto": proto,
            "ports": sorted(set(clean_ports)),
            "v4": split["v4"],
            "v6": split["v6"],
            "hosts": split["host"],
        })
    return out


def _getent_addresses(results):
    """Map host -> addresses from registered `getent ahosts HOST` loop results."""
    resolved = {}
    for result in results or []:
        if not isinstance(result, dict) or "item" not in result:
            continue
        addrs = []
        for line in result.get("stdout_lines") or []:
            fields = line.split()
            if fields and fields[0] not in addrs:
                addrs.append(fields[0])
        resolved[result["item"]] = addrs
    return resolved


def nft_resolve(entries, resolved):
    """Merge resolved host addresses into normalized entries.

    `resolved` is either {host: [addr, ...]} or the registered results of a
    loop of `getent ahosts HOST` commands.
    """
    if isinstance(resolved, (list, tuple)):
        resolved = _getent_addresses(resolved)
    out = []
    for entry in entries:
        entry = dict(entry, v4=list(entry["v4"]), v6=list(entry["v6"]))
        for host in entry.get("hosts", []):
            addrs = resolved.get(host) or []
            if not addrs:
                raise AnsibleFilterError(f"allowlist entry {entry['name']}: host {host!r} did not resolve")
            for addr in addrs:
                ip = ipaddress.ip_address(addr)
                bucket = entry["v4"] if ip.version == 4 else entry["v6"]
                if str(ip) not in bucket:
                    bucket.append(str(ip))
        out.append(entry)
    return out


class FilterModule:
    """Network input filters of nospof.platform."""

    def filters(self):
        return {
            "apt_mirror_urls": apt_mirror_urls,
            "nft_allowlist": nft_allowlist,
            "nft_resolve": nft_resolve,
        }
