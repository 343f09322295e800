"""List and replay dead letters: after a config fix, events that now validate go to the event stream.

A replayed event is published with the message id `replay:<module>:<sequence>` (running replay twice stores it
once) and then removed from the dead-letter stream; one that still fails stays, with its new reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError

from strix_contracts.deadletters import DeadLetter
from strix_contracts.subjects import dead_letter_stream
from strix_ingestion.batches import EventTooLarge, build_messages
from strix_ingestion.publisher import EventPublisher
from strix_ingestion.validation import EventCodec, decode_events


@dataclass(frozen=True)
class StoredLetter:
    sequence: int
    letter: DeadLetter


async def dead_letters(nc: NATS, module: str, limit: int | None = None) -> AsyncIterator[StoredLetter]:
    js = nc.jetstream()
    info = await js.stream_info(dead_letter_stream(module))
    yielded = 0
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        if limit is not None and yielded >= limit:
            return
        try:
            raw = await js.get_msg(dead_letter_stream(module), sequence)
        except NotFoundError:
            continue  # deleted (replayed)
        yield StoredLetter(sequence, DeadLetter.from_headers(raw.data or b"", dict(raw.headers or {})))
        yielded += 1


@dataclass(frozen=True)
class ReplayReport:
    replayed: int
    still_invalid: list[tuple[int, str]]


async def replay(nc: NATS, codec: EventCodec) -> ReplayReport:
    module = codec.config.module
    js = nc.jetstream()
    publisher = EventPublisher(nc)
    replayed = 0
    failed: list[tuple[int, str]] = []
    async for stored in dead_letters(nc, module):
        events, rejected = decode_events(codec, stored.letter.payload, now=datetime.now(UTC))
        if rejected or not events:
            failed.append((stored.sequence, rejected[0].reason if rejected else "no event"))
            continue
        key = f"replay:{module}:{stored.sequence}"
        try:
            messages = build_messages(codec.config, events, key, publisher.max_message_bytes)
        except EventTooLarge as exc:
            failed.append((stored.sequence, str(exc)))
            continue
        await publisher.publish_all(messages)
        await js.delete_msg(dead_letter_stream(module), stored.sequence)
        replayed += len(events)
    return ReplayReport(replayed, failed)
