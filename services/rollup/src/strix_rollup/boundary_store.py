"""Where batch boundaries live: one KV entry per module partition, the list of batches not yet fully acked."""

from __future__ import annotations

import json

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError
from nats.js.kv import KeyValue

from strix_rollup.boundaries import Boundary

BUCKET = "strix_rollup_batches"


async def open_bucket(js: JetStreamContext) -> KeyValue:
    try:
        return await js.key_value(BUCKET)
    except BucketNotFoundError:
        return await js.create_key_value(
            KeyValueConfig(bucket=BUCKET, history=1, storage=StorageType.FILE, description="Rollup batch boundaries")
        )


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
