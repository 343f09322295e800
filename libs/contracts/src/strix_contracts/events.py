"""The payload of an event message: a JSON array of normalised events of one module.

Ingestion writes it (after validation, time in UTC, decimals as strings); rollup reads it with a plain struct
built from the same config — no constraints to re-check, only types to restore.
"""

from __future__ import annotations

from typing import Any

import msgspec

from strix_config import ModuleConfig


def wire_decoder(config: ModuleConfig) -> msgspec.json.Decoder[Any]:
    """Events as ingestion wrote them, each value restored to its field type's Python type."""
    struct = msgspec.defstruct(
        f"{config.module}_wire",
        [(name, f.type_spec.python) for name, f in config.event.fields.items()],
        array_like=False,
    )
    return msgspec.json.Decoder(list[struct])  # type: ignore[valid-type]


def to_columns(config: ModuleConfig, events: list[Any]) -> dict[str, list[Any]]:
    """Events (structs) to column lists, in field order, for a column-oriented insert."""
    return {name: [getattr(e, name) for e in events] for name in config.event.fields}
