"""Live results: fan rollup commit notices out to GraphQL subscriptions that care about them.

One NATS subscription per gateway (`rollup.committed.>`), one queue per live query. A query is re-run when a
commit of its module (or of either module, for a join) touches its window; notices arriving close together are
coalesced into one re-run.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from pydantic import ValidationError

from strix_contracts.notices import Committed
from strix_contracts.subjects import COMMITTED_PREFIX

COALESCE_SECONDS = 0.25


def touches(notice: Committed, start: datetime, end: datetime) -> bool:
    """Whether a commit changed buckets of [start, end)."""
    return notice.first_event < end and notice.last_event >= start


@dataclass
class LiveFeed:
    nc: NATS
    queues: dict[str, set[asyncio.Queue[Committed]]] = field(default_factory=lambda: defaultdict(set))
    _subscribed: bool = False

    async def _on_notice(self, message: Msg) -> None:
        try:
            notice = Committed.model_validate_json(message.data)
        except ValidationError:
            return
        for queue in self.queues.get(notice.module, ()):
            queue.put_nowait(notice)

    @asynccontextmanager
    async def listen(self, *modules: str) -> AsyncIterator[asyncio.Queue[Committed]]:
        """One queue of the commit notices of these modules (a join listens to both of its sides)."""
        if not self._subscribed:
            self._subscribed = True
            await self.nc.subscribe(f"{COMMITTED_PREFIX}.>", cb=self._on_notice)
        queue: asyncio.Queue[Committed] = asyncio.Queue()
        for module in modules:
            self.queues[module].add(queue)
        try:
            yield queue
        finally:
            for module in modules:
                self.queues[module].discard(queue)


async def next_change(queue: asyncio.Queue[Committed], start: datetime, end: datetime) -> None:
    """Wait for a commit touching [start, end), then let close followers arrive so they cost one re-run."""
    while True:
        notice = await queue.get()
        if touches(notice, start, end):
            break
    await asyncio.sleep(COALESCE_SECONDS)
    while not queue.empty():
        queue.get_nowait()
