"""Partitions dealt over the live replicas: each to exactly one, evenly, the same whoever computes it."""

from __future__ import annotations

from collections import Counter

from strix_rollup.assignment import owner


def test_every_replica_gets_its_share_and_every_view_agrees() -> None:
    replicas = ["r-c", "r-a", "r-b"]
    for module, partitions in (("clickstream", 4), ("gaming", 12), ("campaigns", 7)):
        owners = [owner(replicas, module, p) for p in range(partitions)]
        shares = Counter(owners)
        assert set(shares) <= set(replicas) and max(shares.values()) - min(shares.values()) <= 1
        assert len(shares) == min(3, partitions)
        assert owners == [owner(sorted(replicas), module, p) for p in range(partitions)]  # order of discovery


def test_a_lone_replica_serves_everything_and_nobody_serves_nothing() -> None:
    assert {owner(["only"], "clickstream", p) for p in range(4)} == {"only"}
    assert owner([], "clickstream", 0) is None
