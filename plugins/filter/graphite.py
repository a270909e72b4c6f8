# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Graphite ring for templates and preflight checks.

graphite_ring(ring)             the ring, validated and normalised
graphite_owners(metric, ring)   the members that hold a series, primary first
graphite_same_ring(rings)       {source: ring} -> '' or a message naming the differences
graphite_rebalance_plan(holdings, ring)
                                {node: [series]} -> transfers, prunes and owners (see
                                module_utils/graphite.plan_transfers)
graphite_misplaced(holdings, ring)
                                {node: [series]} -> series not on exactly their owners
graphite_rebalance_prunable(plan, verified)
                                {node: [series verified there]} -> {node: [series it may delete]}
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


def graphite_rebalance_plan(holdings, ring):
    if not isinstance(holdings, dict):
        raise AnsibleFilterError("graphite_rebalance_plan takes a dict of node -> series held")
    try:
        plan = graphite.plan_transfers(holdings, ring)
    except graphite.RingError as err:
        raise AnsibleFilterError(f"graphite rebalance: {err}") from None
    plan["transfers"] = [{"source": src, "target": dst, "series": series}
                         for (src, dst), series in sorted(plan["transfers"].items())]
    return plan


def graphite_rebalance_prunable(plan, verified):
    """A node may delete a series only when every owner verified its copy."""
    have = {node: set(series or []) for node, series in (verified or {}).items()}
    out = {}
    for node, series in plan.get("prune", {}).items():
        out[node] = [s for s in series if all(s in have.get(o, ()) for o in plan["owners"][s])]
    return out


def graphite_misplaced(holdings, ring):
    """{node: [series]} -> sorted ['series on a,b', ...] for series not on exactly their owners."""
    try:
        hr = graphite.HashRing(ring)
    except graphite.RingError as err:
        raise AnsibleFilterError(f"graphite ring: {err}") from None
    holders = {}
    for node, series in (holdings or {}).items():
        for s in series or []:
            holders.setdefault(s, []).append(node)
    return sorted(f"{s} on {','.join(sorted(nodes))}" for s, nodes in holders.items()
                  if sorted(nodes) != sorted(hr.owners(s)))


class FilterModule:
    """Graphite ring filters of nospof.platform."""

    def filters(self):
        return {
            "graphite_ring": graphite_ring,
            "graphite_owners": graphite_owners,
            "graphite_same_ring": graphite_same_ring,
            "graphite_rebalance_plan": graphite_rebalance_plan,
            "graphite_rebalance_prunable": graphite_rebalance_prunable,
            "graphite_misplaced": graphite_misplaced,
        }
