"""Append a request's messages to JetStream as one atomic batch, once, and remember the answer per key.

JetStream atomic batch publish (nats-server >= 2.12, stream `allow_atomic`): every message carries
`Nats-Batch-Id` and `Nats-Batch-Sequence` 1..n, the last `Nats-Batch-Commit: 1`; the server stores all of them
or none. The first message is a request (the server answers an empty ack or an error, such as too many batches
in flight), the middle ones plain publishes, the commit a request answered with the pub ack.

`Nats-Msg-Id` works inside an atomic batch (checked against nats-server 2.15): a batch holding an id the stream
has seen within its duplicate window is refused whole with err_code 10201. Message ids are per request
(batches.py), so 10201 means this very request was stored before: the reply says `already_stored`.

The Idempotency-Key ledger is a KV bucket (receipts.py has its rules): `kv.create` is the atomic claim, an
update at the claim's revision the take-over of an abandoned one.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nats.aio.client import Client as NATS
from nats.errors import Error as NatsError
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from prometheus_client import Counter

from strix_contracts.errors import Conflict, StrixError, Unavailable
from strix_ingestion.batches import MAX_BATCH_MESSAGES, OutgoingMessage, payload_limit
from strix_ingestion.receipts import (
    LEDGER_TTL,
    LedgerEntry,
    Receipt,
    decide,
    decode_entry,
    encode_entry,
    ledger_key,
)
from strix_runtime.logs import get_logger

log = get_logger("ingestion")

LEDGER_BUCKET = "strix_ingestion_requests"
# The server allows 50 atomic batches in flight per stream; one process keeps below that.
BATCHES_IN_FLIGHT = 32

# Where ingestion's time goes on the way to the stream (the bench reports it per million events).
PUBLISH_SECONDS = Counter("strix_ingestion_publish_seconds", "Seconds spent storing atomic batches in JetStream")
PUBLISHED_EVENTS = Counter("strix_ingestion_published_events", "Events in atomic batches stored in JetStream")

_DUPLICATE = 10201  # "atomic publish batch contains duplicate message id"
_TOO_MANY_IN_FLIGHT = 10210


@dataclass(frozen=True)
class Stored:
    messages: int
    events: int
    duplicate_events: int


@dataclass
class EventPublisher:
    """Atomic batches to the event streams, a bounded number at once."""

    nc: NATS
    ack_timeout: float = 10.0
    _slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(BATCHES_IN_FLIGHT))

    @property
    def max_message_bytes(self) -> int:
        """Bytes of events one message may carry on this connection's server."""
        return payload_limit(self.nc.max_payload)

    async def publish_batch(self, messages: list[OutgoingMessage]) -> bool:
        """Store every message or none; True when the stream had seen this batch (nothing new stored)."""
        if not messages:
            return False
        if len(messages) > MAX_BATCH_MESSAGES:
            raise ValueError(f"{len(messages)} messages: an atomic batch holds at most {MAX_BATCH_MESSAGES}")
        batch_id = uuid.uuid4().hex
        last = len(messages)
        async with self._slots:
            began = time.perf_counter()
            try:
                for sequence, message in enumerate(messages, 1):
                    headers = {
                        "Nats-Msg-Id": message.msg_id,
                        "Nats-Batch-Id": batch_id,
                        "Nats-Batch-Sequence": str(sequence),
                    }
                    if sequence == last:
                        headers["Nats-Batch-Commit"] = "1"
                    if sequence in (1, last):
                        reply = await self.nc.request(
                            message.subject, message.payload, timeout=self.ack_timeout, headers=headers
                        )
                        if _refused(reply.data):
                            return True
                    else:
                        await self.nc.publish(message.subject, message.payload, headers=headers)
            except (TimeoutError, NatsError) as exc:  # timeouts, no responders, a connection lost mid-batch
                raise Unavailable(
                    "the event stream did not confirm storage in time", hint="retry the same request"
                ) from exc
            finally:
                PUBLISH_SECONDS.inc(time.perf_counter() - began)
        PUBLISHED_EVENTS.inc(sum(m.events for m in messages))
        return False

    async def publish_all(self, messages: list[OutgoingMessage]) -> Stored:
        """Any number of messages, in atomic batches of at most MAX_BATCH_MESSAGES (topics and replays, whose
        callers retry the same messages until all are stored)."""
        duplicates = 0
        for start in range(0, len(messages), MAX_BATCH_MESSAGES):
            batch = messages[start : start + MAX_BATCH_MESSAGES]
            if await self.publish_batch(batch):
                duplicates += sum(m.events for m in batch)
        return Stored(len(messages), sum(m.events for m in messages), duplicates)


def _refused(data: bytes) -> bool:
    """Read an ack: True for a batch already stored, raise for any other refusal, False when stored."""
    if not data:
        return False
    answer: dict[str, Any] = json.loads(data)
    error = answer.get("error")
    if not error:
        return False
    if error.get("err_code") == _DUPLICATE:
        return True
    description = error.get("description", "refused")
    hint = "retry after a few seconds"
    if error.get("err_code") == _TOO_MANY_IN_FLIGHT:
        hint = "too many requests at once; " + hint
    raise Unavailable(f"the event stream refused the batch: {description}", hint=hint)


async def open_ledger(nc: NATS) -> KeyValue:
    """The Idempotency-Key ledger: one entry per key, forgotten after LEDGER_TTL."""
    js = nc.jetstream()
    try:
        return await js.key_value(LEDGER_BUCKET)
    except BucketNotFoundError:
        return await js.create_key_value(
            KeyValueConfig(
                bucket=LEDGER_BUCKET,
                history=1,
                ttl=LEDGER_TTL.total_seconds(),
                storage=StorageType.FILE,
                description="Idempotency-Key -> request hash and first answer",
            )
        )


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    replayed: bool = False


async def publish_request(
    publisher: EventPublisher,
    ledger: KeyValue,
    idempotency_key: str | None,
    digest: str,
    messages: list[OutgoingMessage],
    receipt: Receipt,
    now: datetime,
) -> Answer:
    """Publish one request's messages as one atomic batch, once per Idempotency-Key: a reused key with the same
    request answers the first answer again (`replayed`), with another request raises Conflict."""
    if idempotency_key is None:
        duplicate = await publisher.publish_batch(messages)
        return Answer(200, _counted(receipt, duplicate).body())
    key = ledger_key(idempotency_key)
    claim = LedgerEntry(digest, "pending", now)
    try:
        try:
            revision = await ledger.create(key, encode_entry(claim))
        except KeyWrongLastSequenceError:
            taken = await _take_over(ledger, key, claim, now)
            if isinstance(taken, Answer):
                return taken
            revision = taken
    except (TimeoutError, NatsError) as exc:
        raise Unavailable("the Idempotency-Key ledger did not answer in time", hint="retry the same request") from exc
    try:
        duplicate = await publisher.publish_batch(messages)
    except StrixError:
        await _settle(ledger, key, revision, LedgerEntry(digest, "failed", now))
        raise
    answer = Answer(200, _counted(receipt, duplicate).body())
    await _settle(ledger, key, revision, LedgerEntry(digest, "done", now, answer.status, answer.body))
    return answer


def _counted(receipt: Receipt, duplicate: bool) -> Receipt:
    return Receipt(receipt.module, receipt.events, duplicate, receipt.rejected)


async def _take_over(ledger: KeyValue, key: str, claim: LedgerEntry, now: datetime) -> int | Answer:
    """The key is known: replay its answer, refuse another request, or take over an abandoned claim."""
    try:
        entry = await ledger.get(key)
    except KeyNotFoundError as exc:  # forgotten between create and get: the client may simply retry
        raise Unavailable("the Idempotency-Key changed while read", hint="retry the same request") from exc
    known = decode_entry(entry.value or b"")
    decision = decide(known, claim.digest, now)
    if decision == "conflict":
        raise Conflict(
            "this Idempotency-Key was used for another request (module, body or mode differ); nothing was stored",
            argument="Idempotency-Key",
            hint="use a new key for a new request",
        )
    if decision == "replay":
        assert known.answer is not None and known.status is not None
        return Answer(known.status, known.answer, replayed=True)
    if decision == "in_progress":
        raise Unavailable("a request with this Idempotency-Key is being stored", hint="retry the same request")
    try:
        revision: int = await ledger.update(key, encode_entry(claim), last=entry.revision)
    except KeyWrongLastSequenceError as exc:
        raise Unavailable("a request with this Idempotency-Key is being stored", hint="retry the same request") from exc
    log.info("ingestion.idempotency_take_over", state=known.state)
    return revision


async def _settle(ledger: KeyValue, key: str, revision: int, entry: LedgerEntry) -> None:
    """Record the outcome at the claim's revision; a claim taken over meanwhile is the other's to settle. Not
    recorded (NATS away) leaves the claim pending: a retry re-drives it after PENDING_TIMEOUT and, its message
    ids being known to the stream, stores nothing twice."""
    try:
        await ledger.update(key, encode_entry(entry), last=revision)
    except KeyWrongLastSequenceError:
        log.info("ingestion.idempotency_taken_over", state=entry.state)
    except (TimeoutError, NatsError) as exc:
        log.warning("ingestion.idempotency_not_recorded", state=entry.state, error=str(exc))
