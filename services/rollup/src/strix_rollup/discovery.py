"""Which rollup replicas are alive, and which partitions each should serve: scale-out, not a standby.

Replicas find each other with NATS service discovery: each registers a `strix-rollup` micro service, and a
`$SRV.PING.strix-rollup` request is answered by every live one (a SIGKILLed replica stops answering at once).
Partitions are dealt round-robin over the sorted ids, so N replicas serve about 1/N of them each; when one
appears or disappears, every replica sees the new list at its next refresh and the partitions move.

This is a preference, not a lock: the pinned_client priority group still lets only one client at a time read
a partition. Views of the list may differ for a moment (two replicas both wanting a partition: the pin decides;
nobody wanting it: it waits one refresh). A replica that misses a ping (a busy event loop, a GC pause) is kept
until it has been silent for `forget_after` seconds, so a slow answer does not send partitions back and forth.
"""

from __future__ import annotations

import asyncio

from nats.aio.client import Client as NATS
from nats.micro import add_service
from nats.micro.service import Service

from strix_rollup.assignment import owner
from strix_runtime.discovery import ping_service

SERVICE = "strix-rollup"


class Membership:
    """This replica's discovery registration and its latest view of the live replicas."""

    def __init__(self, nc: NATS, answer_within: float = 0.5, forget_after: float = 5.0) -> None:
        self.nc = nc
        self.answer_within = answer_within
        self.forget_after = forget_after
        self.service: Service | None = None
        self.replicas: list[str] = []
        self.last_seen: dict[str, float] = {}
        self.whole_modules = False  # joint loops (joint.py): every partition of a module goes to one replica

    @property
    def id(self) -> str:
        assert self.service is not None, "start() first"
        return self.service.id

    async def start(self) -> None:
        self.service = await add_service(self.nc, name=SERVICE, version="0.1.0", description="Strix rollup replica")
        self.replicas = [self.id]

    async def stop(self) -> None:
        if self.service is not None and not self.nc.is_closed:
            await self.service.stop()

    async def refresh(self) -> list[str]:
        """Ask every live replica for its id (ourselves included, whatever the network says)."""
        found = await ping_service(self.nc, SERVICE, self.answer_within)
        loop = asyncio.get_running_loop()
        now = loop.time()
        self.last_seen.update((replica, now) for replica in found)
        self.last_seen[self.id] = now
        self.last_seen = {r: t for r, t in self.last_seen.items() if now - t <= self.forget_after}
        self.replicas = sorted(self.last_seen)
        return self.replicas

    def serves(self, module: str, partition: int) -> bool:
        return owner(self.replicas, module, 0 if self.whole_modules else partition) == self.id
