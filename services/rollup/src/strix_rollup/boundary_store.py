"""Where batch boundaries live: one KV entry per module partition, the list of batches not yet fully acked."""

from __future__ import annotations

import json

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from strix_rollup.boundaries import Boundary
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
    return [Boundary(int(b["first"]), int(b["last"]), int(b["count"])) for b in json.loads(entry.value)]


async def write_open(kv: KeyValue, module: str, partition: int, boundaries: list[Boundary]) -> None:
    payload = [{"first": b.first, "last": b.last, "count": b.count} for b in boundaries]
    await kv.put(_key(module, partition), json.dumps(payload).encode())
