"""Event field types, each fact about them in one table: how a config field type is stored, passed as a query
parameter, decoded from an event, written in a config or a query, served over GraphQL and described.

Every place that maps a field type reads this table: the DDL (`strix_clickhouse`), the query compiler's
parameters, ingestion's decoder, the event wire format, config reference checks and the gateway's scalars.
Decimals are fixed-point in storage and in every comparison (`Decimal(18, scale)` columns and parameters) and a
Float in answers: one JSON number, exact to 15 significant digits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

FieldType = Literal["string", "int", "float", "decimal", "bool", "datetime"]

# Decimal columns hold this many significant digits, `scale` of them after the point.
DECIMAL_PRECISION = 18
# What an `int` column (Int64) holds, and so what a count or an integer sum (GraphQL Long) can reach.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class FieldTypeSpec:
    name: str
    description: str  # API docs and the metadata query
    storage: str  # ClickHouse column type; `{scale}` is the field's scale
    parameter: str  # ClickHouse type of a query parameter compared with the column
    python: type  # what an event's value decodes to (msgspec)
    literals: tuple[type, ...]  # Python types a value of this field may take in a config or a query
    graphql: str  # GraphQL scalar of its values in answers
    json_schema: dict[str, Any]  # JSON Schema of its value in an event
    numeric: bool = False  # may be summed, averaged, bounded by min/max
    ordered: bool = False  # gt/gte/lt/lte apply in metric conditions
    text: bool = False  # prefix/contains apply
    dimension: bool = True  # may be grouped and filtered by (floats and instants must be bucketed first)
    low_cardinality: bool = False  # stored as LowCardinality when a dimension or an allowed-values field

    def column_type(self, scale: int = 0, low_cardinality: bool = False) -> str:
        """The ClickHouse column type; LowCardinality only where the type allows it and it is asked for."""
        storage = self.storage.format(scale=scale)
        return f"LowCardinality({storage})" if low_cardinality and self.low_cardinality else storage

    def parameter_type(self, scale: int = 0) -> str:
        return self.parameter.format(scale=scale)

    def accepts(self, value: Any) -> bool:
        """Whether a config or query value is of this type (a bool is no number, though Python says so)."""
        return isinstance(value, self.literals) and (bool in self.literals or not isinstance(value, bool))


_INT64 = {"type": "integer", "minimum": INT64_MIN, "maximum": INT64_MAX}

FIELD_TYPES: dict[str, FieldTypeSpec] = {
    spec.name: spec
    for spec in (
        FieldTypeSpec(
            "string", "Text.", "String", "String", str, (str,), "String", {"type": "string"},
            text=True, low_cardinality=True,
        ),
        FieldTypeSpec(
            "int", "A 64-bit integer.", "Int64", "Int64", int, (int,), "Long", _INT64, numeric=True, ordered=True
        ),
        FieldTypeSpec(
            "float", "A 64-bit floating-point number.", "Float64", "Float64", float, (int, float), "Float",
            {"type": "number"}, numeric=True, ordered=True, dimension=False,
        ),
        FieldTypeSpec(
            "decimal",
            f"A fixed-point number (Decimal({DECIMAL_PRECISION}, scale)), compared exactly; a Float in answers.",
            f"Decimal({DECIMAL_PRECISION}, {{scale}})", f"Decimal({DECIMAL_PRECISION}, {{scale}})", Decimal,
            (int, float), "Float", {"type": ["number", "string"], "format": "decimal"}, numeric=True, ordered=True,
        ),
        FieldTypeSpec("bool", "True or false.", "Bool", "Bool", bool, (bool,), "Boolean", {"type": "boolean"}),
        FieldTypeSpec(
            "datetime", "An instant, RFC 3339 with a zone; stored in UTC to the millisecond.",
            "DateTime64(3, 'UTC')", "DateTime64(3, 'UTC')", datetime, (str,), "DateTime",
            {"type": "string", "format": "date-time"}, ordered=True, dimension=False,
        ),
    )
}  # fmt: skip

NUMERIC_TYPES: frozenset[str] = frozenset(name for name, spec in FIELD_TYPES.items() if spec.numeric)


def decimal_bound(scale: int) -> int:
    """A decimal column of `scale` holds absolute values below this: at most 18 - scale digits before the point."""
    return int(10 ** (DECIMAL_PRECISION - scale))
