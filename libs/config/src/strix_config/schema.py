"""JSON Schema of a module config, for editors that validate configs as they are typed."""

from __future__ import annotations

import json
from typing import Any

from strix_config.model import ModuleConfig


def module_json_schema() -> dict[str, Any]:
    schema = ModuleConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Strix module config"
    return schema


def module_json_schema_text() -> str:
    return json.dumps(module_json_schema(), indent=2, sort_keys=True) + "\n"
