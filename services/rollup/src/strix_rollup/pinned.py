"""Pull from a JetStream consumer through a priority group with the `pinned_client` policy.

The server pins one client per consumer: only it gets messages; when it stops pulling for `priority_timeout`,
the server pins another. That is how several rollup replicas share partitions with one active reader each
and fail over within seconds, with no lease protocol of our own. nats-py 2.16 has no helper for priority
groups, so this speaks the JetStream API directly ($JS.API.CONSUMER.CREATE / MSG.NEXT, `Nats-Pin-Id`).
"""

from __future__ import annotations

import json

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout

from strix_runtime.consumers import GROUP, PinnedConsumerConfig

_NANOS = 1_000_000_000


class PinnedPuller:
    """Fetches batches as the pinned client; `pinned` says whether this client currently holds the pin."""

    def __init__(self, nc: NATS, config: PinnedConsumerConfig) -> None:
        self.nc = nc
        self.config = config
        self.pin: str | None = None
        self.lost_pin = False

    async def fetch(self, batch: int, wait: float) -> list[Msg]:
        """Up to `batch` messages: those waiting, or else the first to arrive within `wait` (none after it)."""
        inbox = self.nc.new_inbox()
        subscription = await self.nc.subscribe(inbox)
        # no_wait with expires: the messages waiting now, at once; when none wait, the first to come (within
        # `wait`) and those with it. The request ends with status 404 when it has given what there was.
        body: dict[str, object] = {"batch": batch, "expires": int(wait * _NANOS), "no_wait": True, "group": GROUP}
        if self.pin is not None:
            body["id"] = self.pin
        messages: list[Msg] = []
        try:
            await self.nc.publish(
                f"$JS.API.CONSUMER.MSG.NEXT.{self.config.stream}.{self.config.name}",
                json.dumps(body).encode(),
                reply=inbox,
            )
            while len(messages) < batch:
                try:
                    message = await subscription.next_msg(timeout=wait + 1.0)
                except NatsTimeout:
                    break
                status = message.headers.get("Status") if message.headers else None
                if status is not None:
                    if status == "423":  # another client holds the pin: ours expired
                        self.pin = None
                        self.lost_pin = True
                    break
                pin = message.headers.get("Nats-Pin-Id") if message.headers else None
                if pin:
                    if self.pin is not None and pin != self.pin:
                        self.lost_pin = True  # pinned anew: someone else held the partition in between
                    self.pin = pin
                messages.append(message)
        finally:
            await subscription.unsubscribe()
        return messages

    async def unpin(self) -> None:
        """Give the partition up now rather than after `priority_timeout` (another replica should serve it)."""
        if self.pin is None:
            return
        self.pin = None
        body = json.dumps({"group": GROUP}).encode()
        try:
            await self.nc.request(f"$JS.API.CONSUMER.UNPIN.{self.config.stream}.{self.config.name}", body, timeout=5)
        except NatsTimeout:
            pass  # the pin lapses after priority_timeout anyway
