"""Reads of one shape's buckets waiting for the store, merged into one statement over the union of their spans.

Embedded, chDB runs one statement at a time: dashboards that slide together (viewers of one dashboard, panels
of one page) queue many statements that differ only in the buckets they read — 60 % of them in the 50-viewer
bench shared a shape with one queued less than 0.3 s earlier. A request missing buckets of a shape whose read
has not started yet widens that read and waits for it instead of queueing its own (a single flight, as
groupcache's, that also merges spans). The read's span is fixed when the store takes it (`take`, called from
the store's worker thread, hence the lock); from then on newcomers queue a read of their own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

Result = TypeVar("Result")


@dataclass
class SpanRead(Generic[Result]):
    """One queued read of a shape: the first and last bucket start it covers, and what it will bring."""

    first: datetime
    last: datetime
    done: asyncio.Future[Result]
    started: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def join(self, first: datetime, last: datetime, fits: Callable[[datetime, datetime], bool]) -> bool:
        """Widen the read to cover [first, last] too, if it has not started and the union `fits`."""
        with self.lock:
            low, high = min(first, self.first), max(last, self.last)
            if self.started or not fits(low, high):
                return False
            self.first, self.last = low, high
            return True

    def take(self) -> tuple[datetime, datetime]:
        """The span to read, fixed from now on (the store is about to run the statement)."""
        with self.lock:
            self.started = True
            return self.first, self.last
