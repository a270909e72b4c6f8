# -*- coding: utf-8 -*-
# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Graphite hash ring, computed exactly as carbon-c-relay and carbon do.

One ring description drives every hash in the metrics tier: the relays'
cluster definition, graphite-web's CARBONLINK settings and the rebalancer
are all rendered from the same ``ring`` (members, hash type, replication),
and this module is what the rebalancer and the consistency checks use to
place a series. It matches carbon-c-relay's ``-t`` test mode output (the
unit tests hold vectors taken from carbon-c-relay 3.7.3).

A ring is a dict::

    {"hash": "fnv1a_ch" | "carbon_ch", "replication": 2,
     "members": [{"name": "metrics1", "address": "10.0.0.1", "port": 2103}, ...]}

``name`` is the carbon instance name: with fnv1a_ch it alone places the
member on the ring, so a member keeps its series when its address changes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bisect
import hashlib

HASH_TYPES = ("fnv1a_ch", "carbon_ch")
RING_REPLICAS = 100  # positions per member, as in carbon and carbon-c-relay


class RingError(ValueError):
    """A ring description that cannot be used; the message names the problem."""


def _fnv1a32(text):
    value = 0x811C9DC5
    for byte in text.encode("utf-8"):
        value ^= byte
        value = (value * 0x01000193) & 0xFFFFFFFF
    return value


def ring_position(hash_type, key):
    """Position of ``key`` on a 16-bit ring."""
    if hash_type == "fnv1a_ch":
        big = _fnv1a32(key)
        return (big >> 16) ^ (big & 0xFFFF)
    return int(hashlib.md5(key.encode("utf-8")).hexdigest()[:4], 16)  # nosec B324: carbon's ring, not security


def validate_ring(ring):
    """Check a ring description; return it normalised. Raises RingError."""
    if not isinstance(ring, dict):
        raise RingError("the ring must be a dict with hash, replication and members")
    hash_type = ring.get("hash")
    if hash_type not in HASH_TYPES:
        raise RingError("ring hash %r is not one of %s" % (hash_type, ", ".join(HASH_TYPES)))
    members = ring.get("members") or []
    if not isinstance(members, list) or not members:
        raise RingError("the ring has no members")
    names, endpoints, out = set(), set(), []
    for index, member in enumerate(members):
        if not isinstance(member, dict) or not member.get("name") or not member.get("address"):
            raise RingError("ring member %d needs a name and an address: %r" % (index + 1, member))
        name = str(member["name"])
        try:
            port = int(member.get("port", 2003))
        except (TypeError, ValueError):
            raise RingError("ring member %s has a bad port %r" % (name, member.get("port")))
        endpoint = (str(member["address"]), port)
        if name in names:
            raise RingError("ring member name %s appears twice" % name)
        if endpoint in endpoints:
            raise RingError("ring members %s share the address %s:%d" % (name, endpoint[0], port))
        names.add(name)
        endpoints.add(endpoint)
        out.append({"name": name, "address": endpoint[0], "port": port})
    try:
        replication = int(ring.get("replication", 1))
    except (TypeError, ValueError):
        raise RingError("ring replication %r is not a number" % ring.get("replication"))
    if replication < 1:
        raise RingError("ring replication must be at least 1, not %d" % replication)
    if replication > len(out):
        raise RingError("ring replication %d is more than its %d members: every series would be short of copies"
                        % (replication, len(out)))
    return {"hash": hash_type, "replication": replication, "members": out}


class HashRing(object):
    """carbon's ConsistentHashRing, as carbon-c-relay implements it."""

    def __init__(self, ring):
        self.ring = validate_ring(ring)
        self.hash_type = self.ring["hash"]
        self.replication = self.ring["replication"]
        self.members = self.ring["members"]
        self._ring = []
        for index, member in enumerate(self.members):
            for i in range(RING_REPLICAS):
                if self.hash_type == "fnv1a_ch":
                    key = "%d-%s" % (i, member["name"])
                else:
                    key = "('%s', '%s'):%d" % (member["address"], member["name"], i)
                position = ring_position(self.hash_type, key)
                taken = [entry[0] for entry in self._ring]
                while position in taken:
                    position += 1
                bisect.insort(self._ring, (position, index))

    def owners(self, metric):
        """Names of the members that hold ``metric``, primary first."""
        position = ring_position(self.hash_type, metric)
        index = bisect.bisect_left(self._ring, (position, -1)) % len(self._ring)
        found = []
        for step in range(len(self._ring)):
            member = self._ring[(index + step) % len(self._ring)][1]
            if member not in found:
                found.append(member)
                if len(found) == self.replication:
                    break
        return [self.members[m]["name"] for m in found]


def same_ring(rings):
    """Given {source: ring}, return a message naming the differences, or None."""
    normalised = {}
    for source, ring in rings.items():
        normalised[source] = validate_ring(ring)
    sources = sorted(normalised)
    if not sources:
        return None
    first = normalised[sources[0]]
    diffs = []
    for source in sources[1:]:
        other = normalised[source]
        for key in ("hash", "replication", "members"):
            if other[key] != first[key]:
                diffs.append("%s has %s=%r where %s has %r" % (source, key, other[key], sources[0], first[key]))
    return "; ".join(diffs) or None


def plan_transfers(holdings, ring):
    """Plan a rebalance from what each node holds to where the ring puts it.

    ``holdings`` maps a node name to the series it holds now. Returns a dict:

    - ``transfers``: {(source, target): [series]}, each series a target must
      receive: a copy where the target lacks it, and a merge from every holder
      that will give it up (its points may fill gaps the owners have);
    - ``prune``: {node: [series]} the node gives up once every owner has
      verified its copy;
    - ``owners``: {series: [owners]};
    - ``counts``: figures for the report.
    """
    hr = HashRing(ring)
    names = [m["name"] for m in hr.members]
    unknown = sorted(set(holdings) - set(names))
    if unknown:
        raise RingError("nodes %s hold series but are not in the ring; add them to the ring or empty them first"
                        % ", ".join(unknown))
    holders = {}
    for node in names:
        for series in holdings.get(node) or []:
            holders.setdefault(series, []).append(node)
    transfers, prune, owners = {}, {}, {}
    copies = merges = 0
    for series in sorted(holders):
        have = holders[series]
        want = hr.owners(series)
        owners[series] = want
        leaving = [h for h in have if h not in want]
        staying = [h for h in have if h in want]
        for target in want:
            sources = []
            if target not in have:
                sources.append((staying or leaving)[0])
                copies += 1
            sources.extend(h for h in leaving if h not in sources)
            for source in sources:
                transfers.setdefault((source, target), []).append(series)
                merges += 1
        for node in leaving:
            prune.setdefault(node, []).append(series)
    return {
        "transfers": transfers,
        "prune": prune,
        "owners": owners,
        "counts": {
            "series": len(holders),
            "misplaced": sum(1 for s in holders if set(holders[s]) != set(owners[s])),
            "copies": copies,
            "transfers": merges,
            "prunes": sum(len(v) for v in prune.values()),
        },
    }
