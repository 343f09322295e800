"""Where batch boundaries live: one KV entry per module partition, the list of batches not yet fully acked."""

from __future__ import annotations

import json
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from strix_rollup.boundaries import Boundary, Member
from strix_runtime.buckets import key_value

BUCKET = "strix_rollup_batches"


async def open_bucket(js: JetStreamContext) -> KeyValue:
    return await key_value(js, BUCKET, "Rollup batch boundaries")


def _key(module: str, partition: int) -> str:
    return f"{module}.{partition}"


async def read_open(kv: KeyValue, module: str, partition: int) -> list[Boundary]:
    try:
        entry = await kv.get(_key(module, partition))
    except KeyNotFoundError:
        return []
    if not entry.value:
        return []
    return [_boundary(b) for b in json.loads(entry.value)]


async def write_open(kv: KeyValue, module: str, partition: int, boundaries: list[Boundary]) -> None:
    await kv.put(_key(module, partition), json.dumps([_record(b) for b in boundaries]).encode())


def _record(boundary: Boundary) -> dict[str, Any]:
    record: dict[str, Any] = {"first": boundary.first, "last": boundary.last, "count": boundary.count}
    if boundary.group is not None:
        record["group"] = boundary.group
        record["members"] = [[m.partition, m.first, m.last, m.count] for m in boundary.members]
        if boundary.landed:
            record["landed"] = True
    return record


def _boundary(record: dict[str, Any]) -> Boundary:
    members = tuple(Member(*(int(v) for v in m)) for m in record.get("members", ()))
    group = record.get("group")
    return Boundary(
        int(record["first"]), int(record["last"]), int(record["count"]), group, members, bool(record.get("landed"))
    )
