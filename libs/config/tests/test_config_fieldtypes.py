"""The semantic model's two tables: field types (storage, parameter, Python, GraphQL, JSON Schema) and metric
kinds (what each holds over no events, the type of its values, its inputs when derived). Expected values are
written out here by hand, apart from the tables, so that a changed row fails a test."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml

from strix_config import EventField, ModuleConfig
from strix_config.fieldtypes import FIELD_TYPES, NUMERIC_TYPES, FieldType
from strix_config.loader import read_module
from strix_config.metrics import METRIC_KINDS, kind_description
from strix_config.model import python_default
from strix_config.schema import event_json_schema

REPO = Path(__file__).resolve().parents[3]
EVENTS_ONLY = {
    "module": "tally",
    "event": {"time_field": "at", "fields": {"at": {"type": "datetime"}, "n": {"type": "int"}}},
    "partition_by": "n",
    "dimensions": {},
    "metrics": {"tallies": {"kind": "count"}},
}

# type: (column at scale 3, as a dimension, query parameter at scale 3, Python type, GraphQL scalar, JSON type)
EXPECTED_TYPES: dict[str, tuple[str, str, str, type, str, Any]] = {
    "string": ("String", "LowCardinality(String)", "String", str, "String", "string"),
    "int": ("Int64", "Int64", "Int64", int, "Long", "integer"),
    "float": ("Float64", "Float64", "Float64", float, "Float", "number"),
    "decimal": ("Decimal(18, 3)", "Decimal(18, 3)", "Decimal(18, 3)", Decimal, "Float", ["number", "string"]),
    "bool": ("Bool", "Bool", "Bool", bool, "Boolean", "boolean"),
    "datetime": (
        "DateTime64(3, 'UTC')",
        "DateTime64(3, 'UTC')",
        "DateTime64(3, 'UTC')",
        datetime,
        "DateTime",
        "string",
    ),
}


def test_every_field_type_of_the_config_has_one_row_and_a_test() -> None:
    assert set(FIELD_TYPES) == set(get_args(FieldType)) == set(EXPECTED_TYPES)
    assert all(name == spec.name and spec.description for name, spec in FIELD_TYPES.items())


@pytest.mark.parametrize("name", sorted(EXPECTED_TYPES))
def test_a_field_type_row_gives_every_type_of_the_field(name: str) -> None:
    column, dimension, parameter, python, graphql, json_type = EXPECTED_TYPES[name]
    field = EventField.model_validate({"type": name, "scale": 3})
    assert field.column_type() == column
    assert field.column_type(low_cardinality=True) == dimension
    assert field.parameter_type() == parameter
    assert field.type_spec.python is python
    assert field.type_spec.graphql == graphql
    assert field.type_spec.json_schema["type"] == json_type


@pytest.mark.parametrize(
    ("name", "accepted", "refused"),
    [
        ("string", ["x", ""], [1, True, 1.5]),
        ("int", [0, -(2**63)], [True, 1.5, "1"]),
        ("float", [1, 1.5], [True, "1.5"]),
        ("decimal", [1, 12.25], [False, "12.25"]),
        ("bool", [True, False], [0, 1, "true"]),
        ("datetime", ["2026-01-31T00:00:00Z"], [0, True]),
    ],
)
def test_a_field_type_accepts_the_config_and_query_values_of_its_type(
    name: str, accepted: list[Any], refused: list[Any]
) -> None:
    spec = FIELD_TYPES[name]
    assert [spec.accepts(v) for v in accepted] == [True] * len(accepted)
    assert [spec.accepts(v) for v in refused] == [False] * len(refused)


def test_what_each_field_type_allows() -> None:
    assert set(NUMERIC_TYPES) == {"int", "float", "decimal"}
    assert {n for n, s in FIELD_TYPES.items() if s.dimension} == {"string", "int", "decimal", "bool"}
    assert {n for n, s in FIELD_TYPES.items() if s.ordered} == {"int", "float", "decimal", "datetime"}
    assert {n for n, s in FIELD_TYPES.items() if s.text} == {"string"}


def test_an_optional_decimal_defaults_to_an_exact_decimal() -> None:
    field = EventField.model_validate({"type": "decimal", "required": False, "default": 0.1})
    assert python_default(field) == Decimal("0.1")
    assert python_default(EventField.model_validate({"type": "float", "required": False, "default": 0.1})) == 0.1


def test_an_optional_instant_defaults_to_an_instant_not_its_text() -> None:
    # Ingestion compares an absent field's default with the column's range as it does a sent value (a string
    # there raised TypeError for every event leaving the field out).
    field = EventField.model_validate({"type": "datetime", "required": False, "default": "2026-01-01T00:00:00Z"})
    assert python_default(field) == datetime(2026, 1, 1, tzinfo=UTC)


def module(metrics: dict[str, Any]) -> ModuleConfig:
    """The fleet client config (a string, an int, a float and a decimal field) with these metrics only."""
    data = yaml.safe_load((REPO / "tests" / "fixtures" / "client-configs" / "fleet.yaml").read_text(encoding="utf-8"))
    return ModuleConfig.model_validate({**data, "metrics": metrics, "rollups": {}, "queries": {}})


# kind: (config of a metric of that kind, its value over no events, its GraphQL scalar)
EXPECTED_KINDS: dict[str, tuple[dict[str, Any], int | None, str]] = {
    "count": ({"kind": "count"}, 0, "Long"),
    "sum": ({"kind": "sum", "field": "load_kg"}, 0, "Long"),
    "min": ({"kind": "min", "field": "load_kg"}, None, "Long"),
    "max": ({"kind": "max", "field": "distance_km"}, None, "Float"),
    "avg": ({"kind": "avg", "field": "load_kg"}, None, "Float"),
    "uniq": ({"kind": "uniq", "field": "vehicle_id"}, 0, "Long"),
    "uniq_exact": ({"kind": "uniq_exact", "field": "vehicle_id"}, 0, "Long"),
    "uniq_approx": ({"kind": "uniq_approx", "field": "vehicle_id"}, 0, "Long"),
    "quantile": ({"kind": "quantile", "field": "load_kg", "level": 0.5}, None, "Float"),
    "ratio": ({"kind": "ratio", "numerator": "sum", "denominator": "count"}, None, "Float"),
}


def test_every_metric_kind_has_a_test_and_a_description() -> None:
    assert set(METRIC_KINDS) == set(EXPECTED_KINDS)
    assert kind_description("uniq_exact") == "Exact distinct values (costs memory per group)."
    assert all(kind_description(kind)[:1].isupper() for kind in METRIC_KINDS)


@pytest.mark.parametrize("kind", sorted(EXPECTED_KINDS))
def test_a_metric_kind_says_its_empty_value_and_value_type(kind: str) -> None:
    config = module({name: spec for name, (spec, _, _) in EXPECTED_KINDS.items()})
    _, empty, scalar = EXPECTED_KINDS[kind]
    assert config.metrics[kind].empty == empty
    assert config.metric_value_type(kind).graphql == scalar


def test_sums_minima_and_maxima_take_the_type_of_their_field() -> None:
    config = module(
        {
            "paid": {"kind": "sum", "field": "toll"},
            "heaviest": {"kind": "max", "field": "distance_km"},
            "fewest": {"kind": "min", "field": "load_kg"},
        }
    )
    assert [config.metric_value_type(m).name for m in config.metrics] == ["float", "float", "int"]


def test_a_derived_metric_holds_no_state_and_is_computed_from_merged_inputs() -> None:
    config = module(
        {
            "orders": {"kind": "count"},
            "items": {"kind": "sum", "field": "load_kg"},
            "per_order": {"kind": "ratio", "numerator": "items", "denominator": "orders"},
            "per_item": {"kind": "ratio", "numerator": "orders", "denominator": "per_order"},
        }
    )
    ratio = config.metrics["per_order"]
    assert config.stored_metrics() == ["orders", "items"]
    assert config.metric_inputs("per_item") == ["items", "orders"]
    assert ratio.inputs() == ("items", "orders")
    assert ratio.derive_sql(["a", "b"]) == "(toFloat64(a) / nullIf(toFloat64(b), 0))"
    assert ratio.derive([7, 2]) == 3.5
    assert ratio.derive([7, 0]) is None
    assert ratio.derive([None, 2]) is None
    with pytest.raises(ValueError, match="no stored state"):
        ratio.aggregate("", "")
    with pytest.raises(ValueError, match="not derived"):
        config.metrics["orders"].derive([1, 2])


def test_the_json_schema_of_an_event_follows_the_field_types_and_constraints() -> None:
    config, problems = read_module(REPO / "tests" / "fixtures" / "client-configs" / "fleet.yaml")
    assert problems == [] and config is not None
    schema = event_json_schema(config)
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["title"] == "Delivery fleet event"
    assert schema["required"] == [
        "finished_at",
        "vehicle_id",
        "depot",
        "fuel_type",
        "zone",
        "distance_km",
        "load_kg",
        "on_time",
    ]
    properties = schema["properties"]
    assert properties["finished_at"] == {"type": "string", "format": "date-time", "description": "When the trip ended."}
    assert properties["depot"] == {
        "type": "string",
        "description": "Home depot.",
        "enum": ["north", "harbour", "airport", "ring"],
    }
    assert properties["zone"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 9,
        "description": "Tariff zone of the destination.",
    }
    assert properties["distance_km"] == {
        "type": "number",
        "minimum": 0,
        "maximum": 400,
        "description": "Distance driven.",
    }
    assert properties["on_time"] == {"type": "boolean", "description": "Whether the delivery was on time."}
    assert properties["toll"] == {
        "type": ["number", "string"],
        "format": "decimal",
        "minimum": 0,
        "maximum": 80,
        "default": 0,
        "description": "Toll paid.",
    }
    # A field without bounds keeps its column's: Int64.
    assert event_json_schema(ModuleConfig.model_validate(EVENTS_ONLY))["properties"]["n"] == {
        "type": "integer",
        "minimum": -(2**63),
        "maximum": 2**63 - 1,
    }
