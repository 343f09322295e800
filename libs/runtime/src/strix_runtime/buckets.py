"""KV buckets Strix services keep state in (batch boundaries, schema history): opened, or created once."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue


async def key_value(js: JetStreamContext, bucket: str, description: str) -> KeyValue:
    """The bucket, created on first use (file storage, one revision per key)."""
    try:
        return await js.key_value(bucket)
    except BucketNotFoundError:
        return await js.create_key_value(
            KeyValueConfig(bucket=bucket, history=1, storage=StorageType.FILE, description=description)
        )
