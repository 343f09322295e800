"""NATS service discovery: which instances of a micro service answer a `$SRV.PING` right now."""

from __future__ import annotations

import asyncio
import json

from nats.aio.client import Client as NATS
from nats.errors import TimeoutError as NatsTimeout


async def ping_service(nc: NATS, service: str, answer_within: float) -> set[str]:
    """The ids of the instances of `service` that answer a discovery ping within `answer_within` seconds
    (a SIGKILLed instance stops answering at once)."""
    inbox = nc.new_inbox()
    subscription = await nc.subscribe(inbox)
    found: set[str] = set()
    loop = asyncio.get_running_loop()
    try:
        await nc.publish(f"$SRV.PING.{service}", b"", reply=inbox)
        deadline = loop.time() + answer_within
        while (left := deadline - loop.time()) > 0:
            try:
                message = await subscription.next_msg(timeout=left)
            except NatsTimeout:  # nobody else answered in time
                break
            instance = json.loads(message.data).get("id")
            if isinstance(instance, str):
                found.add(instance)
    finally:
        await subscription.unsubscribe()
    return found
