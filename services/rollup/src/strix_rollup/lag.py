"""How far behind a partition is, and whether it is stuck: read from the server's view of its consumer.

A partition's lag is what its consumer still has to process: messages not yet delivered (`num_pending`) and
delivered but not acked (`num_ack_pending`); the oldest of them has waited since it was stored. A batch is
acked only once ClickHouse holds it, so the last ack is the last commit.

A partition is *stalled* when messages wait and nothing has moved for `stall_seconds`: no commit, no newly
stored oldest message, and (for a replica) the partition was not just taken over. The same rule serves the
rollup's readiness and `strix status`, so both name the same partitions. Plain data and functions: the
callers read NATS.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

STALL_SECONDS = 60.0  # readiness fails when a partition with waiting events has not advanced for this long
POLL_SECONDS = 5.0  # how often a replica reads the lag of the partitions it serves

_FRACTION = re.compile(r"(\.\d{6})\d+")


@dataclass(frozen=True)
class LagLimits:
    stall_seconds: float = STALL_SECONDS
    poll_seconds: float = POLL_SECONDS


@dataclass(frozen=True)
class PartitionLag:
    module: str
    partition: int
    undelivered: int  # stored, not yet delivered to the rollup
    unacked: int  # delivered, not yet committed
    ack_floor: int  # stream sequence up to which every message of the partition is committed
    last_commit: datetime | None  # the last ack
    oldest_waiting: datetime | None  # when the oldest message still to commit was stored
    pinned: str | None  # the pin id of the client reading the partition now
    pinned_since: datetime | None

    @property
    def waiting(self) -> int:
        return self.undelivered + self.unacked


def parse_time(text: object) -> datetime | None:
    """An RFC 3339 time as NATS writes it (nanoseconds, `Z`); None for absent or the zero time."""
    if not isinstance(text, str) or not text or text.startswith("0001-01-01"):
        return None
    return datetime.fromisoformat(_FRACTION.sub(r"\1", text).replace("Z", "+00:00"))


def lag_from_info(module: str, partition: int, info: Mapping[str, Any], oldest_waiting: str | None) -> PartitionLag:
    """A partition's lag from its consumer info (`$JS.API.CONSUMER.INFO`) and the stored time of its oldest
    waiting message."""
    floor = info.get("ack_floor") or {}
    groups = info.get("priority_groups") or []
    group = groups[0] if groups and isinstance(groups[0], Mapping) else {}
    waiting = int(info.get("num_pending", 0)) + int(info.get("num_ack_pending", 0))
    return PartitionLag(
        module=module,
        partition=partition,
        undelivered=int(info.get("num_pending", 0)),
        unacked=int(info.get("num_ack_pending", 0)),
        ack_floor=int(floor.get("stream_seq", 0)),
        last_commit=parse_time(floor.get("last_active")),
        oldest_waiting=parse_time(oldest_waiting) if waiting else None,
        pinned=group.get("pinned_client_id") or None,
        pinned_since=parse_time(group.get("pinned_ts")),
    )


def seconds_since(moment: datetime | None, now: datetime) -> float | None:
    return None if moment is None else max(0.0, (now - moment).total_seconds())


def stall_reason(
    lag: PartitionLag, now: datetime, stall_seconds: float, serving_since: datetime | None = None
) -> str | None:
    """Why the partition counts as stalled, or None: messages wait and nothing moved for `stall_seconds`."""
    if lag.waiting == 0:
        return None
    marks = [m for m in (lag.last_commit, lag.oldest_waiting, serving_since) if m is not None]
    if not marks:
        return None
    quiet = (now - max(marks)).total_seconds()
    if quiet < stall_seconds:
        return None
    oldest = seconds_since(lag.oldest_waiting, now)
    commit = seconds_since(lag.last_commit, now)
    return (
        f"{lag.module}/{lag.partition}: {lag.waiting} message(s) waiting"
        + (f", the oldest for {oldest:.0f} s" if oldest is not None else "")
        + (f", last commit {commit:.0f} s ago" if commit is not None else ", nothing committed yet")
        + f": no progress for {quiet:.0f} s (limit {stall_seconds:g} s)"
    )
