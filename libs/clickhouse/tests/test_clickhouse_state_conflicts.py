"""A rollup table that exists keeps its states as they were created (`CREATE ... IF NOT EXISTS`): a metric whose
state the config changes (uniq -> uniq_approx, another precision, another condition) or that joins a rollup
later is a conflict, refused at start-up with the module, rollup, metric and what to do. Checked against the
types chDB reports for tables the plan created."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from strix_clickhouse import ClickHouse, plan_module
from strix_clickhouse.ddl import (
    EXISTING_COLUMNS_SQL,
    StateConflictError,
    check_states,
    existing_columns,
    state_conflicts,
)
from strix_config import ModuleConfig
from strix_config.loader import parse_module

REPO = Path(__file__).resolve().parents[3]


def clickstream(**metrics: dict[str, Any]) -> ModuleConfig:
    """The example clickstream config with these metrics added or replaced."""
    data = yaml.safe_load((REPO / "configs" / "clickstream.yaml").read_text(encoding="utf-8"))
    data["metrics"].update(metrics)
    config, problems = parse_module(yaml.safe_dump(data), "clickstream.yaml")
    assert config is not None, [p.render() for p in problems]
    return config


async def stored(clickhouse: ClickHouse) -> dict[str, dict[str, str]]:
    found = await clickhouse.query(EXISTING_COLUMNS_SQL, {"database": clickhouse.database})
    return existing_columns(found.rows)


def every_kind() -> ModuleConfig:
    return clickstream(
        approx=dict(kind="uniq_approx", field="customer_id"),
        approx_buyers=dict(kind="uniq_approx", field="customer_id", precision=15, where={"action": "purchase"}),
        exact=dict(kind="uniq_exact", field="customer_id"),
        p99=dict(kind="quantile", field="price", level=0.99),
        cheapest=dict(kind="min", field="price", where={"action": ["purchase", "add_to_cart"]}),
    )


async def test_a_schema_the_plan_created_has_no_conflict(clickhouse: ClickHouse) -> None:
    """The types chDB reports equal the planned ones for every kind (spelling included), so a restart passes."""
    configs = [every_kind()]
    for name in ("gaming", "campaigns"):
        config, _ = parse_module((REPO / "configs" / f"{name}.yaml").read_text(encoding="utf-8"), f"{name}.yaml")
        assert config is not None
        configs.append(config)
    assert await stored(clickhouse) == {}
    for config in configs:
        await clickhouse.apply(plan_module(config, clickhouse.database))
    existing = await stored(clickhouse)
    assert "clickstream__hourly_groups" in existing
    check_states(configs, existing, clickhouse.database)  # no error
    assert all(state_conflicts(config, existing) == [] for config in configs)


async def test_uniq_changed_to_uniq_approx_is_refused_naming_module_rollup_metric(clickhouse: ClickHouse) -> None:
    before = clickstream()
    assert before.metrics["customers"].kind == "uniq"
    await clickhouse.apply(plan_module(before, clickhouse.database))
    holding = sorted(r for r, rollup in before.rollups.items() if "customers" in before.rollup_metrics(rollup))
    assert holding, "no rollup of the example keeps customers"

    after = clickstream(customers=dict(kind="uniq_approx", field="customer_id"))
    with pytest.raises(StateConflictError) as refused:
        check_states([after], await stored(clickhouse), clickhouse.database)
    conflicts = refused.value.conflicts
    assert sorted(c.rollup for c in conflicts) == holding
    assert {(c.module, c.metric, c.stored, c.wanted) for c in conflicts} == {
        (
            "clickstream",
            "customers",
            "AggregateFunction(uniq, String)",
            "AggregateFunction(uniqCombined64(12), String)",
        )
    }
    first = str(refused.value).splitlines()[0]
    rollup = conflicts[0].rollup
    assert first.startswith(f"module 'clickstream', rollup {rollup!r}, metric 'customers':")
    assert f"DROP VIEW `{clickhouse.database}`.`clickstream__{rollup}__mv`" in first
    assert f"DROP TABLE `{clickhouse.database}`.`clickstream__{rollup}`" in first
    assert "restore the metric" in first


async def test_another_precision_or_a_metric_added_to_a_kept_rollup_is_a_conflict(clickhouse: ClickHouse) -> None:
    before = clickstream(approx=dict(kind="uniq_approx", field="customer_id"))
    await clickhouse.apply(plan_module(before, clickhouse.database))
    existing = await stored(clickhouse)
    finer = clickstream(approx=dict(kind="uniq_approx", field="customer_id", precision=14))
    assert {c.stored for c in state_conflicts(finer, existing)} == {"AggregateFunction(uniqCombined64(12), String)"}
    added = clickstream(
        approx=dict(kind="uniq_approx", field="customer_id"), visits=dict(kind="uniq", field="session_id")
    )
    missing = state_conflicts(added, existing)
    assert missing and {(c.metric, c.stored) for c in missing} == {("visits", None)}
    assert "has no column for it" in missing[0].message(clickhouse.database)
