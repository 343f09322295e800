"""Each metric kind renders its own SQL forms: the state a rollup keeps and its column type, the merge of those
states, and the same aggregate over raw events. Text only, no server; test_clickhouse_rollups.py runs every kind
against chDB and checks rollup == raw == a plain computation."""

from __future__ import annotations

from typing import Any

import pytest

from strix_clickhouse.columns import merge_expr, raw_expr, state_expr, state_type
from strix_config import ModuleConfig
from strix_config.metrics import METRIC_KINDS


def shop(metric: dict[str, Any]) -> ModuleConfig:
    return ModuleConfig.model_validate(
        {
            "module": "shop",
            "event": {
                "time_field": "ts",
                "fields": {
                    "ts": {"type": "datetime"},
                    "customer": {"type": "string"},
                    "action": {"type": "string", "allowed": ["view", "buy"]},
                    "qty": {"type": "int"},
                    "price": {"type": "decimal", "scale": 4},
                    "weight": {"type": "float"},
                },
            },
            "partition_by": "customer",
            "dimensions": {"action": {}},
            "metrics": {"m": metric, "other": {"kind": "count"}},
        }
    )


# kind: (metric config, state, state column type, merge of column `m`, raw aggregate)
FORMS: dict[str, tuple[dict[str, Any], str, str, str, str]] = {
    "count": ({"kind": "count"}, "countState()", "AggregateFunction(count)", "countMerge(`m`)", "count()"),
    "sum": (
        {"kind": "sum", "field": "price"},
        "sumState(`price`)",
        "AggregateFunction(sum, Decimal(18, 4))",
        "sumMerge(`m`)",
        "sum(`price`)",
    ),
    "min": (
        {"kind": "min", "field": "qty"},
        "minState(`qty`)",
        "AggregateFunction(min, Int64)",
        "minMerge(`m`)",
        "min(`qty`)",
    ),
    "max": (
        {"kind": "max", "field": "weight"},
        "maxState(`weight`)",
        "AggregateFunction(max, Float64)",
        "maxMerge(`m`)",
        "max(`weight`)",
    ),
    "avg": (
        {"kind": "avg", "field": "qty"},
        "avgState(`qty`)",
        "AggregateFunction(avg, Int64)",
        "avgMerge(`m`)",
        "avg(`qty`)",
    ),
    "uniq": (
        {"kind": "uniq", "field": "action"},
        "uniqState(`action`)",
        "AggregateFunction(uniq, String)",  # states are typed without LowCardinality
        "uniqMerge(`m`)",
        "uniq(`action`)",
    ),
    "uniq_exact": (
        {"kind": "uniq_exact", "field": "customer"},
        "uniqExactState(`customer`)",
        "AggregateFunction(uniqExact, String)",
        "uniqExactMerge(`m`)",
        "uniqExact(`customer`)",
    ),
    "quantile": (
        {"kind": "quantile", "field": "price", "level": 0.99},
        "quantileTDigestState(0.99)(toFloat64(`price`))",
        "AggregateFunction(quantileTDigest(0.99), Float64)",
        "quantileTDigestMerge(0.99)(`m`)",
        "quantileTDigest(0.99)(toFloat64(`price`))",
    ),
}


def test_every_stored_kind_has_its_forms_written_out_here() -> None:
    assert set(FORMS) == {kind for kind, variant in METRIC_KINDS.items() if variant.stored}


@pytest.mark.parametrize("kind", sorted(FORMS))
def test_a_metric_kind_renders_its_state_merge_and_raw_forms(kind: str) -> None:
    metric, state, column, merge, raw = FORMS[kind]
    config = shop(metric)
    assert state_expr(config, "m") == state
    assert state_type(config, "m") == column
    assert merge_expr(config, "m") == merge
    assert raw_expr(config, "m") == raw


@pytest.mark.parametrize("kind", sorted(FORMS))
def test_a_condition_turns_every_form_of_a_kind_into_its_if_combinator(kind: str) -> None:
    metric, state, column, merge, _ = FORMS[kind]
    config = shop({**metric, "where": {"action": "buy"}})
    function = state.split("State")[0]
    assert state_expr(config, "m", "e.").startswith(f"{function}IfState")
    assert state_expr(config, "m", "e.").endswith("e.`action` = 'buy')")
    assert state_type(config, "m") == column.replace(f"({function}", f"({function}If", 1)[:-1] + ", UInt8)"
    assert merge_expr(config, "m") == merge.replace("Merge", "IfMerge", 1)
    assert raw_expr(config, "m").startswith(f"{function}If")
    assert raw_expr(config, "m").endswith("`action` = 'buy')")


def test_a_derived_kind_has_no_stored_forms() -> None:
    config = shop({"kind": "ratio", "numerator": "other", "denominator": "other"})
    assert config.stored_metrics() == ["other"]
    for form in (state_expr, state_type, merge_expr, raw_expr):
        with pytest.raises(ValueError, match="no stored state"):
            form(config, "m")
