"""What earlier configs served: dimensions and metrics removed from a config stay in the schema, deprecated.

Integrators' saved queries then fail with a clear deprecation instead of a schema that silently lost a name.
Values dropped from a dimension's `allowed:` list stay in its enum, deprecated: events stored while they were
allowed still carry them, and rows must be able to say so. The union of every name a module ever served lives in
the KV bucket `strix_schema_history`.
"""

from __future__ import annotations

import json
from typing import Any

from nats.aio.client import Client as NATS
from nats.js.errors import KeyNotFoundError

from strix_config import Catalog, ModuleConfig
from strix_gateway.types import Removed, allowed_values
from strix_runtime.buckets import key_value

BUCKET = "strix_schema_history"


History = dict[str, Any]  # {"dimensions": [...], "metrics": [...], "values": {dimension: [...]}}


def served_values(config: ModuleConfig) -> dict[str, list[str]]:
    """The allowed values of each enum-typed dimension."""
    return {d: values for d in config.dimensions if (values := allowed_values(config, d))}


def removed_names(seen: History, dimensions: list[str], metrics: list[str], values: dict[str, list[str]]) -> Removed:
    """What `seen` holds and the current config does not: names, and allowed values of dimensions still enums."""
    return Removed(
        dimensions=tuple(d for d in seen.get("dimensions", []) if d not in dimensions and d not in metrics),
        metrics=tuple(m for m in seen.get("metrics", []) if m not in metrics and m not in dimensions),
        values={
            dim: gone
            for dim, current in values.items()
            if (gone := tuple(v for v in seen.get("values", {}).get(dim, []) if v not in current))
        },
    )


def recorded(seen: History, dimensions: list[str], metrics: list[str], values: dict[str, list[str]]) -> History:
    """The history with the current names and values added."""
    old_values: dict[str, list[str]] = seen.get("values", {})
    return {
        "dimensions": sorted({*seen.get("dimensions", []), *dimensions}),
        "metrics": sorted({*seen.get("metrics", []), *metrics}),
        "values": {
            dim: sorted({*old_values.get(dim, []), *values.get(dim, [])}) for dim in sorted({*old_values, *values})
        },
    }


async def load_and_record(nc: NATS, catalog: Catalog) -> dict[str, Removed]:
    """Removed names per module, and the current names added to the history."""
    kv = await key_value(nc.jetstream(), BUCKET, "Names modules served")
    removed: dict[str, Removed] = {}
    for name, config in catalog.modules.items():
        try:
            entry = await kv.get(name)
            seen: History = json.loads(entry.value or b"{}")
        except KeyNotFoundError:
            seen = {}
        dimensions, metrics, values = list(config.dimensions), list(config.metrics), served_values(config)
        removed[name] = removed_names(seen, dimensions, metrics, values)
        await kv.put(name, json.dumps(recorded(seen, dimensions, metrics, values)).encode())
    return removed
