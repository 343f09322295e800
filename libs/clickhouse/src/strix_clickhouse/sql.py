"""The one place identifiers and config literals become SQL text.

Values that come from a caller never pass through here: they are query parameters. Only names and literals
from a validated module config (trusted, checked against patterns) are rendered, for DDL that ClickHouse
cannot parameterise (materialized view definitions).
"""

from __future__ import annotations

import math
from decimal import Decimal


def quote_identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def qualified(database: str, table: str) -> str:
    return f"{quote_identifier(database)}.{quote_identifier(table)}"


def quote_literal(value: str | int | float | bool | Decimal) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot render non-finite number {value!r}")
        return repr(value)
    if isinstance(value, Decimal):
        return str(value)
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"
