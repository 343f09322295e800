"""JSON Schemas: of a module config, for editors that validate configs as they are typed; and of one event of a
module, for integrators that check what they send before ingestion does."""

from __future__ import annotations

import json
from typing import Any

from strix_config.model import ModuleConfig

_JSON_SCHEMA = "https://json-schema.org/draft/2020-12/schema"


def module_json_schema() -> dict[str, Any]:
    schema = ModuleConfig.model_json_schema()
    schema["$schema"] = _JSON_SCHEMA
    schema["title"] = "Strix module config"
    return schema


def module_json_schema_text() -> str:
    return json.dumps(module_json_schema(), indent=2, sort_keys=True) + "\n"


def event_json_schema(config: ModuleConfig) -> dict[str, Any]:
    """One event of `config` as ingestion accepts it: each field's JSON type from the field type table, its
    allowed values, bounds and length, the required fields, and no others. Ingestion checks more than a schema
    can say (decimal digits, the storable time range, lateness); those are its rejections to report."""
    properties: dict[str, Any] = {}
    for name, field in config.event.fields.items():
        schema: dict[str, Any] = {**field.type_spec.json_schema}
        if field.label:
            schema["title"] = field.label
        if field.description:
            schema["description"] = field.description
        if field.allowed:
            schema["enum"] = list(field.allowed)
        if field.min is not None:
            schema["minimum"] = max(field.min, schema.get("minimum", field.min))
        if field.max is not None:
            schema["maximum"] = min(field.max, schema.get("maximum", field.max))
        if field.max_length is not None:
            schema["maxLength"] = field.max_length
        if not field.required:
            schema["default"] = field.default
        properties[name] = schema
    return {
        "$schema": _JSON_SCHEMA,
        "title": f"{config.label or config.module} event",
        "description": config.description or f"One event of the {config.module} module.",
        "type": "object",
        "properties": properties,
        "required": [name for name, field in config.event.fields.items() if field.required],
        "additionalProperties": False,
    }
