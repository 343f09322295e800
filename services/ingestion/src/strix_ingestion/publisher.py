"""Append messages to JetStream and wait until it has stored every one of them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.errors import APIError

from strix_contracts.errors import Unavailable
from strix_ingestion.batches import OutgoingMessage


@dataclass(frozen=True)
class Stored:
    messages: int
    duplicates: int


async def publish_all(js: JetStreamContext, messages: list[OutgoingMessage], ack_timeout: float = 10.0) -> Stored:
    """Publish concurrently; return once JetStream acked all. Any failure means the caller must retry:
    acked messages of a failed request are de-duplicated on the retry by their message ids."""

    async def one(message: OutgoingMessage) -> bool:
        ack = await js.publish(
            message.subject, message.payload, timeout=ack_timeout, headers={"Nats-Msg-Id": message.msg_id}
        )
        return bool(ack.duplicate)

    try:
        results = await asyncio.gather(*(one(m) for m in messages))
    except APIError as exc:
        raise Unavailable(
            f"the event stream refused the batch: {exc.description}", hint="retry after a few seconds"
        ) from exc
    except (TimeoutError, NatsTimeout, NoRespondersError) as exc:
        raise Unavailable("the event stream did not confirm storage in time", hint="retry the same request") from exc
    return Stored(messages=len(messages), duplicates=sum(results))
