# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Graphite ring for templates and preflight checks.

graphite_ring(ring)             the ring, validated and normalised
graphite_owners(metric, ring)   the members that hold a series, primary first
graphite_same_ring(rings)       {source: ring} -> '' or a message naming the differences
"""

from __future__ import annotations

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # pragma: no cover
    class AnsibleFilterError(Exception):
        pass

from ansible_collections.nospof.platform.plugins.module_utils import graphite


def graphite_ring(ring):
    try:
        return graphite.validate_ring(ring)
    except graphite.RingError as err:
        raise AnsibleFilterError(f"graphite ring: {err}") from None


def graphite_owners(metric, ring):
    try:
        return graphite.HashRing(ring).owners(str(metric))
    except graphite.RingError as err:
        raise AnsibleFilterError(f"graphite ring: {err}") from None


def graphite_same_ring(rings):
    if not isinstance(rings, dict):
        raise AnsibleFilterError("graphite_same_ring takes a dict of source -> ring")
    try:
        return graphite.same_ring(rings) or ""
    except graphite.RingError as err:
        raise AnsibleFilterError(f"graphite ring: {err}") from None


class FilterModule:
    """Graphite ring filters of nospof.platform."""

    def filters(self):
        return {
            "graphite_ring": graphite_ring,
            "graphite_owners": graphite_owners,
            "graphite_same_ring": graphite_same_ring,
        }
