"""Dashboards in one JetStream KV bucket, `strix_dashboards`, keeping 64 revisions of each key.

- `dashboard.<id>`: the stored dashboard (records.StoredDashboard). Its KV revision is the dashboard's revision:
  every write is a compare-and-set on the revision it was read at (`update(..., last=)`), so of two writers
  starting from one revision exactly one wins; past revisions are read back by revision number.
- `link.<sha256 of the token>`: the id of the dashboard a public link opens. The dashboard's own record holds the
  same hash, and a link resolves only while both agree, so a link is revoked the moment its dashboard forgets it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from strix_contracts.errors import NotFound
from strix_dashboards.records import StoredDashboard

BUCKET = "strix_dashboards"
STREAM = f"KV_{BUCKET}"
HISTORY = 64  # revisions kept per key (the most JetStream KV keeps)
_PREFIX = f"$KV.{BUCKET}."
_BATCH = 64  # dashboards read at once when listing


def _key(dashboard_id: str) -> str:
    return f"dashboard.{dashboard_id}"


def _not_found(dashboard_id: str) -> NotFound:
    return NotFound(f"no dashboard {dashboard_id}", argument="id")


@dataclass
class DashboardStore:
    kv: KeyValue
    js: JetStreamContext

    async def get(self, dashboard_id: str) -> tuple[StoredDashboard, int]:
        """The current record and its revision."""
        try:
            entry = await self.kv.get(_key(dashboard_id))
        except KeyNotFoundError:  # KeyDeletedError too
            raise _not_found(dashboard_id) from None
        return StoredDashboard.model_validate_json(entry.value or b"{}"), entry.revision or 0

    async def at(self, dashboard_id: str, revision: int) -> StoredDashboard:
        """The record as it was at `revision` (one of its own, within the history kept)."""
        try:
            entry = await self.kv.get(_key(dashboard_id), revision=revision)
        except KeyNotFoundError:
            raise NotFound(
                f"dashboard {dashboard_id} has no revision {revision}",
                argument="revision",
                hint=f"list its revisions; the last {HISTORY} are kept",
            ) from None
        return StoredDashboard.model_validate_json(entry.value or b"{}")

    async def create(self, stored: StoredDashboard) -> int:
        return await self.kv.create(_key(stored.id), stored.model_dump_json().encode())

    async def update(self, stored: StoredDashboard, last: int) -> int | None:
        """Write if the record is still at `last`; None when someone wrote it since."""
        try:
            return await self.kv.update(_key(stored.id), stored.model_dump_json().encode(), last=last)
        except KeyWrongLastSequenceError:
            return None

    async def remove(self, dashboard_id: str) -> None:
        """Gone with every revision."""
        await self.kv.purge(_key(dashboard_id))

    async def history(self, dashboard_id: str) -> list[tuple[StoredDashboard, int]]:
        """Revisions kept, oldest first (deletions left out). As many entries are read as the stream holds for the
        key, counted first: nats-py's `history` stops at the watcher's "initial values done" mark, which can come
        before the last of them under load."""
        subject = f"{_PREFIX}{_key(dashboard_id)}"
        info = await self.js.stream_info(STREAM, subjects_filter=subject)
        count = (info.state.subjects or {}).get(subject, 0)
        if count == 0:
            raise _not_found(dashboard_id)
        watcher = await self.kv.watch(_key(dashboard_id), include_history=True)
        entries: list[KeyValue.Entry] = []
        try:
            while len(entries) < count:
                entry = await watcher.updates(timeout=10)  # type: ignore[no-untyped-call]
                if entry is not None:  # the "initial values done" mark
                    entries.append(entry)
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]
        kept = [
            (StoredDashboard.model_validate_json(e.value), e.revision or 0)
            for e in entries
            if e.operation is None and e.value
        ]
        if not kept:
            raise _not_found(dashboard_id)
        return kept

    async def all(self) -> list[tuple[StoredDashboard, int]]:
        """Every current dashboard: the keys from the stream's subjects, then each one's last value. (A KV watcher
        of the last values would be one pass, but nats-py may mark its initial values done before they are all
        delivered, and a list must not miss a dashboard under load.)"""
        info = await self.js.stream_info(STREAM, subjects_filter=f"{_PREFIX}dashboard.>")
        ids = sorted(subject.removeprefix(f"{_PREFIX}dashboard.") for subject in info.state.subjects or {})
        found = []
        for start in range(0, len(ids), _BATCH):
            batch = await asyncio.gather(*(self._current(i) for i in ids[start : start + _BATCH]))
            found += [entry for entry in batch if entry is not None]
        return found

    async def _current(self, dashboard_id: str) -> tuple[StoredDashboard, int] | None:
        try:
            return await self.get(dashboard_id)
        except NotFound:  # deleted (a purge marker is the key's last message)
            return None

    # --- public links -----------------------------------------------------------------------------------------

    async def put_link(self, digest: str, dashboard_id: str) -> None:
        await self.kv.put(f"link.{digest}", dashboard_id.encode())

    async def link(self, digest: str) -> str | None:
        try:
            entry = await self.kv.get(f"link.{digest}")
        except KeyNotFoundError:
            return None
        return (entry.value or b"").decode() or None

    async def drop_link(self, digest: str) -> None:
        await self.kv.purge(f"link.{digest}")


async def open_store(js: JetStreamContext) -> DashboardStore:
    try:
        kv = await js.key_value(BUCKET)
    except BucketNotFoundError:
        kv = await js.create_key_value(
            KeyValueConfig(
                bucket=BUCKET,
                history=HISTORY,
                storage=StorageType.FILE,
                description="Strix dashboards (64 revisions each) and their public links",
            )
        )
    return DashboardStore(kv, js)
