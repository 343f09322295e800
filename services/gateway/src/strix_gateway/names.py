"""GraphQL names derived from config names: one rule (strix_config.apinames), which the config checks read too, so a
config whose names would clash in the schema is refused when it loads."""

from __future__ import annotations

from strix_config.apinames import camel as camel
from strix_config.apinames import enum_value as enum_value
from strix_config.apinames import pascal as pascal
