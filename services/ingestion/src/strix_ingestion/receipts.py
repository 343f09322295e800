"""What an ingestion reply says, and the ledger entry that replays it for a reused Idempotency-Key.

A reply counts only what ingestion knows. A request is one JetStream atomic batch, so the stream holds all of its
events or none: `accepted` is how many events of this request the stream now holds, `stored` how many were
appended by this request, `already_stored` how many the stream had from an earlier identical request (its
messages were already seen), `rejected` the events refused with their reasons. Events whose `id_field` was
counted before, in another request, are dropped later at rollup: the reply cannot know.

The ledger keeps, per Idempotency-Key, a hash of what was asked (module, mode and body) and the first answer:
the same key with the same request answers that answer again; with another request, 409. A claim is taken
before publishing; one left `pending` by a crashed process is re-driven after PENDING_TIMEOUT (message ids are
deterministic, so the re-drive adds nothing the first attempt stored), one left `failed` at once.

Plain data and functions; the KV bucket is read and written in publisher.py.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import msgspec

# How long a key is remembered (the KV bucket's TTL).
LEDGER_TTL = timedelta(hours=24)
# A claim this old with no answer belongs to a process that died (a live one answers within its ack timeout).
PENDING_TIMEOUT = timedelta(seconds=10)

State = Literal["pending", "failed", "done"]
Decision = Literal["replay", "conflict", "in_progress", "take_over"]


class LedgerEntry(msgspec.Struct, frozen=True):
    digest: str
    state: State
    since: datetime
    status: int | None = None
    answer: dict[str, Any] | None = None


def request_digest(module: str, body: bytes, ndjson: bool, partial: bool) -> str:
    """What a request asks for: the same key must come with the same module, mode and body."""
    digest = hashlib.sha256(f"{module}\0ndjson={ndjson}\0partial={partial}\0".encode())
    digest.update(body)
    return digest.hexdigest()


def ledger_key(idempotency_key: str) -> str:
    """KV keys allow few characters: the client's key, hashed."""
    return "k" + hashlib.sha256(idempotency_key.encode()).hexdigest()


def decide(entry: LedgerEntry, digest: str, now: datetime, pending_timeout: timedelta = PENDING_TIMEOUT) -> Decision:
    """What to do with a request whose key is already in the ledger."""
    if entry.digest != digest:
        return "conflict"
    if entry.state == "done":
        return "replay"
    if entry.state == "failed" or now - entry.since >= pending_timeout:
        return "take_over"
    return "in_progress"


def encode_entry(entry: LedgerEntry) -> bytes:
    return msgspec.json.encode(entry)


def decode_entry(data: bytes) -> LedgerEntry:
    return msgspec.json.decode(data, type=LedgerEntry)


@dataclass(frozen=True)
class Receipt:
    """The counts of one request's reply."""

    module: str
    events: int
    duplicate: bool
    rejected: list[dict[str, Any]]

    def body(self) -> dict[str, Any]:
        return {
            "module": self.module,
            "accepted": self.events,
            "stored": 0 if self.duplicate else self.events,
            "already_stored": self.events if self.duplicate else 0,
            "rejected": self.rejected,
        }
