"""Each metric kind renders its own SQL forms: the state a rollup keeps and its column type, the merge of those
states, and the same aggregate over raw events. Text only, no server; test_clickhouse_rollups.py runs every kind
against chDB and checks rollup == raw == a plain computation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from strix_clickhouse.columns import merge_expr, raw_expr, state_expr, state_type
from strix_config import ModuleConfig
from strix_config.metrics import METRIC_KINDS

FLEET = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "client-configs" / "fleet.yaml"


def fleet(metric: dict[str, Any]) -> ModuleConfig:
    """The fleet client config (string, int, float and decimal fields) with metric `m` and a count."""
    data = yaml.safe_load(FLEET.read_text(encoding="utf-8"))
    return ModuleConfig.model_validate({**data, "metrics": {"m": metric, "other": {"kind": "count"}}, "rollups": {}})


# kind: (metric config, state, state column type, merge of column `m`, raw aggregate)
FORMS: dict[str, tuple[dict[str, Any], str, str, str, str]] = {
    "count": ({"kind": "count"}, "countState()", "AggregateFunction(count)", "countMerge(`m`)", "count()"),
    "sum": (
        {"kind": "sum", "field": "toll"},
        "sumState(`toll`)",
        "AggregateFunction(sum, Decimal(18, 2))",
        "sumMerge(`m`)",
        "sum(`toll`)",
    ),
    "min": (
        {"kind": "min", "field": "load_kg"},
        "minState(`load_kg`)",
        "AggregateFunction(min, Int64)",
        "minMerge(`m`)",
        "min(`load_kg`)",
    ),
    "max": (
        {"kind": "max", "field": "distance_km"},
        "maxState(`distance_km`)",
        "AggregateFunction(max, Float64)",
        "maxMerge(`m`)",
        "max(`distance_km`)",
    ),
    "avg": (
        {"kind": "avg", "field": "load_kg"},
        "avgState(`load_kg`)",
        "AggregateFunction(avg, Int64)",
        "avgMerge(`m`)",
        "avg(`load_kg`)",
    ),
    "uniq": (
        {"kind": "uniq", "field": "depot"},
        "uniqState(`depot`)",
        "AggregateFunction(uniq, String)",  # states are typed without LowCardinality
        "uniqMerge(`m`)",
        "uniq(`depot`)",
    ),
    "uniq_exact": (
        {"kind": "uniq_exact", "field": "vehicle_id"},
        "uniqExactState(`vehicle_id`)",
        "AggregateFunction(uniqExact, String)",
        "uniqExactMerge(`m`)",
        "uniqExact(`vehicle_id`)",
    ),
    "uniq_approx": (
        {"kind": "uniq_approx", "field": "vehicle_id"},  # precision 12 unless the config says otherwise
        "uniqCombined64State(12)(`vehicle_id`)",
        "AggregateFunction(uniqCombined64(12), String)",
        "uniqCombined64Merge(12)(`m`)",
        "uniqCombined64(12)(`vehicle_id`)",
    ),
    "quantile": (
        {"kind": "quantile", "field": "toll", "level": 0.99},
        "quantileTDigestState(0.99)(toFloat64(`toll`))",
        "AggregateFunction(quantileTDigest(0.99), Float64)",
        "quantileTDigestMerge(0.99)(`m`)",
        "quantileTDigest(0.99)(toFloat64(`toll`))",
    ),
}


def test_every_stored_kind_has_its_forms_written_out_here() -> None:
    assert set(FORMS) == {kind for kind, variant in METRIC_KINDS.items() if variant.stored}


@pytest.mark.parametrize("kind", sorted(FORMS))
def test_a_metric_kind_renders_its_state_merge_and_raw_forms(kind: str) -> None:
    metric, state, column, merge, raw = FORMS[kind]
    config = fleet(metric)
    assert state_expr(config, "m") == state
    assert state_type(config, "m") == column
    assert merge_expr(config, "m") == merge
    assert raw_expr(config, "m") == raw


@pytest.mark.parametrize("kind", sorted(FORMS))
def test_a_condition_turns_every_form_of_a_kind_into_its_if_combinator(kind: str) -> None:
    metric, state, column, merge, _ = FORMS[kind]
    config = fleet({**metric, "where": {"depot": "north"}})
    function = state.split("State")[0]
    assert state_expr(config, "m", "e.").startswith(f"{function}IfState")
    assert state_expr(config, "m", "e.").endswith("e.`depot` = 'north')")
    assert state_type(config, "m") == column.replace(f"({function}", f"({function}If", 1)[:-1] + ", UInt8)"
    assert merge_expr(config, "m") == merge.replace("Merge", "IfMerge", 1)
    assert raw_expr(config, "m").startswith(f"{function}If")
    assert raw_expr(config, "m").endswith("`depot` = 'north')")


def test_a_derived_kind_has_no_stored_forms() -> None:
    config = fleet({"kind": "ratio", "numerator": "other", "denominator": "other"})
    assert config.stored_metrics() == ["other"]
    for form in (state_expr, state_type, merge_expr, raw_expr):
        with pytest.raises(ValueError, match="no stored state"):
            form(config, "m")
