"""What earlier configs served: dimensions and metrics removed from a config stay in the schema, deprecated.

Integrators' saved queries then fail with a clear deprecation instead of a schema that silently lost a name.
The union of every name a module ever served lives in the KV bucket `strix_schema_history`.
"""

from __future__ import annotations

import json

from nats.aio.client import Client as NATS
from nats.js.errors import KeyNotFoundError

from strix_config import Catalog
from strix_gateway.types import Removed
from strix_runtime.buckets import key_value

BUCKET = "strix_schema_history"


def removed_names(seen: dict[str, list[str]], dimensions: list[str], metrics: list[str]) -> Removed:
    return Removed(
        dimensions=tuple(d for d in seen.get("dimensions", []) if d not in dimensions and d not in metrics),
        metrics=tuple(m for m in seen.get("metrics", []) if m not in metrics and m not in dimensions),
    )


async def load_and_record(nc: NATS, catalog: Catalog) -> dict[str, Removed]:
    """Removed names per module, and the current names added to the history."""
    kv = await key_value(nc.jetstream(), BUCKET, "Names modules served")
    removed: dict[str, Removed] = {}
    for name, config in catalog.modules.items():
        try:
            entry = await kv.get(name)
            seen: dict[str, list[str]] = json.loads(entry.value or b"{}")
        except KeyNotFoundError:
            seen = {}
        dimensions, metrics = list(config.dimensions), list(config.metrics)
        removed[name] = removed_names(seen, dimensions, metrics)
        union = {
            "dimensions": sorted({*seen.get("dimensions", []), *dimensions}),
            "metrics": sorted({*seen.get("metrics", []), *metrics}),
        }
        await kv.put(name, json.dumps(union).encode())
    return removed
