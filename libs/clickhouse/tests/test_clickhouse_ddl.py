"""DDL as text, without a server: what `plan_module` creates for a small config, and how names and config
literals are quoted. The same statements are run against chDB in test_clickhouse_rollups.py."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest

from strix_clickhouse import Statement, plan_module
from strix_clickhouse.columns import merge_expr, raw_expr, state_expr, state_type
from strix_clickhouse.sql import qualified, quote_identifier, quote_literal
from strix_config import ModuleConfig

DB = "analytics"


def shop(**overrides: Any) -> ModuleConfig:
    data: dict[str, Any] = {
        "module": "shop",
        "event": {
            "time_field": "ts",
            "fields": {
                "ts": {"type": "datetime"},
                "customer": {"type": "string"},
                "action": {"type": "string", "allowed": ["view", "purchase", "it's"]},
                "country": {"type": "string"},
                "note": {"type": "string", "required": False, "default": ""},
                "price": {"type": "decimal", "scale": 2},
                "qty": {"type": "int"},
                "gift": {"type": "bool"},
            },
        },
        "partition_by": "customer",
        "dimensions": {"action": {}, "country": {}, "buyer": {"field": "customer"}},
        "metrics": {
            "events": {"kind": "count"},
            "purchases": {"kind": "count", "where": {"action": "purchase"}},
            "odd_items": {"kind": "sum", "field": "qty", "where": {"action": ["it's", "back\\slash"]}},
            "revenue": {"kind": "sum", "field": "price", "where": {"action": "purchase", "gift": False}},
            "p90_price": {"kind": "quantile", "field": "price", "level": 0.9},
            "buyers": {"kind": "uniq", "field": "customer"},
            "conversion": {"kind": "ratio", "numerator": "purchases", "denominator": "events"},
        },
        "rollups": {
            "hourly": {"granularity": "hour", "dimensions": ["country", "action"], "retention": "2d"},
            "daily": {"granularity": "day", "dimensions": ["buyer"]},
            "minutely": {"granularity": "minute", "metrics": ["events"]},
        },
        "raw": {"keep": True, "retention": "30d"},
    }
    data.update(overrides)
    return ModuleConfig.model_validate(data)


def by_name(statements: list[Statement]) -> dict[str, Statement]:
    return {s.name: s for s in statements}


# --- the plan ------------------------------------------------------------------------------------------------


def test_plan_creates_database_events_table_then_each_rollup_table_before_its_view() -> None:
    plan = plan_module(shop(), DB)
    assert [(s.kind, s.name) for s in plan] == [
        ("database", DB),
        ("table", "shop_events"),
        ("table", "shop__hourly"),
        ("view", "shop__hourly__mv"),
        ("table", "shop__daily"),
        ("view", "shop__daily__mv"),
        ("table", "shop__minutely"),
        ("view", "shop__minutely__mv"),
    ]
    assert plan[0].sql == "CREATE DATABASE IF NOT EXISTS `analytics`"


def test_plan_is_pure() -> None:
    assert plan_module(shop(), DB) == plan_module(shop(), DB)
    other = plan_module(shop(), "elsewhere")
    assert all("`analytics`" not in s.sql for s in other)
    assert all("`elsewhere`" in s.sql for s in other)


def test_kept_raw_events_go_to_a_merge_tree_with_ttl_from_retention() -> None:
    sql = by_name(plan_module(shop(), DB))["shop_events"].sql
    assert sql.startswith("CREATE TABLE IF NOT EXISTS `analytics`.`shop_events` (")
    assert "ENGINE = MergeTree\n" in sql
    assert "ORDER BY (toStartOfHour(`ts`), `ts`)" in sql
    assert f"TTL toDateTime(`ts`) + INTERVAL {30 * 86400} SECOND" in sql
    assert "non_replicated_deduplication_window" in sql  # re-sent batches are dropped


def test_kept_raw_events_without_retention_have_no_ttl() -> None:
    sql = by_name(plan_module(shop(raw={"keep": True}), DB))["shop_events"].sql
    assert "ENGINE = MergeTree" in sql
    assert "TTL" not in sql


def test_unkept_raw_events_go_to_a_null_table_that_still_feeds_rollups() -> None:
    plan = by_name(plan_module(shop(raw={"keep": False}), DB))
    sql = plan["shop_events"].sql
    assert sql.endswith("ENGINE = Null")
    assert "MergeTree" not in sql
    assert "TTL" not in sql
    assert "ORDER BY" not in sql
    assert "FROM `analytics`.`shop_events`" in plan["shop__hourly__mv"].sql


def test_events_table_columns_and_types() -> None:
    sql = by_name(plan_module(shop(), DB))["shop_events"].sql
    for column in (
        "`ts` DateTime64(3, 'UTC')",
        "`customer` LowCardinality(String)",  # behind the `buyer` dimension
        "`action` LowCardinality(String)",
        "`country` LowCardinality(String)",
        "`note` String,",  # neither a dimension nor a closed list
        "`price` Decimal(18, 2)",
        "`qty` Int64",
        "`gift` Bool",
        "`_seq` UInt64",
        "`_pos` UInt32",
    ):
        assert column in sql


def test_rollup_ttl_only_when_retention_is_given() -> None:
    plan = by_name(plan_module(shop(), DB))
    assert f"TTL `bucket` + INTERVAL {2 * 86400} SECOND" in plan["shop__hourly"].sql
    assert "TTL" not in plan["shop__daily"].sql
    assert "TTL" not in plan["shop__minutely"].sql


def test_rollup_orders_by_bucket_then_its_dimensions_as_listed() -> None:
    plan = by_name(plan_module(shop(), DB))
    assert "ORDER BY (`bucket`, `country`, `action`)\n" in plan["shop__hourly"].sql
    assert "ORDER BY (`bucket`, `buyer`)\n" in plan["shop__daily"].sql
    assert "ORDER BY (`bucket`)\n" in plan["shop__minutely"].sql
    assert "GROUP BY `bucket`, `country`, `action`" in plan["shop__hourly__mv"].sql


def test_rollup_buckets_and_partitions_follow_granularity() -> None:
    plan = by_name(plan_module(shop(), DB))
    assert "toStartOfHour(e.`ts`) AS `bucket`" in plan["shop__hourly__mv"].sql
    assert "toStartOfDay(e.`ts`) AS `bucket`" in plan["shop__daily__mv"].sql
    assert "toStartOfMinute(e.`ts`) AS `bucket`" in plan["shop__minutely__mv"].sql
    assert "PARTITION BY toYYYYMM(`bucket`)" in plan["shop__hourly"].sql
    assert "PARTITION BY toYear(`bucket`)" in plan["shop__daily"].sql
    assert "PARTITION BY toYYYYMMDD(`bucket`)" in plan["shop__minutely"].sql


def test_view_reads_the_field_behind_a_renamed_dimension() -> None:
    view = by_name(plan_module(shop(), DB))["shop__daily__mv"].sql
    assert "e.`customer` AS `buyer`" in view
    assert "TO `analytics`.`shop__daily`" in view
    assert "FROM `analytics`.`shop_events`" in view


def test_conditional_metrics_render_if_combinators_with_quoted_literals() -> None:
    plan = by_name(plan_module(shop(), DB))
    view, table = plan["shop__hourly__mv"].sql, plan["shop__hourly"].sql
    assert "countIfState(e.`action` = 'purchase') AS `purchases`" in view
    assert "sumIfState(e.`qty`, e.`action` IN ('it\\'s', 'back\\\\slash')) AS `odd_items`" in view
    assert "sumIfState(e.`price`, e.`action` = 'purchase' AND e.`gift` = false) AS `revenue`" in view
    assert "`purchases` AggregateFunction(countIf, UInt8)" in table
    assert "`odd_items` AggregateFunction(sumIf, Int64, UInt8)" in table
    assert "`revenue` AggregateFunction(sumIf, Decimal(18, 2), UInt8)" in table


def test_metric_conditions_render_every_query_filter_operator() -> None:
    config = shop(
        metrics={
            "tests": {
                "kind": "count",
                "where": {
                    "action": {"neq": "it's", "not_in": ["view"]},
                    "country": {"in": ["DE", "AT"], "prefix": "D", "contains": "E"},
                    "price": {"gte": 1.5, "lt": 100},
                    "qty": {"gt": 0, "lte": 9, "eq": 3},
                    "ts": {"gte": "2026-03-01T00:00:00+01:00"},
                },
            }
        }
    )
    assert raw_expr(config, "tests") == (
        "countIf(`action` != 'it\\'s' AND `action` NOT IN ('view')"
        " AND `country` IN ('DE', 'AT') AND startsWith(`country`, 'D') AND position(`country`, 'E') > 0"
        " AND `price` >= toDecimal64('1.5', 2) AND `price` < toDecimal64('100', 2)"
        " AND `qty` = 3 AND `qty` > 0 AND `qty` <= 9"
        " AND `ts` >= parseDateTime64BestEffort('2026-03-01T00:00:00+01:00', 3, 'UTC'))"
    )
    assert state_expr(config, "tests", "e.").startswith("countIfState(e.`action` != ")


def test_old_condition_forms_render_as_before() -> None:
    """A value is `=`, a list is `IN`: configs written before the operators render the same SQL."""
    config = shop(metrics={"m": {"kind": "count", "where": {"action": ["view"], "gift": True, "price": 2}}})
    assert raw_expr(config, "m") == "countIf(`action` IN ('view') AND `gift` = true AND `price` = toDecimal64('2', 2))"


def test_unconditional_metrics_render_plain_states() -> None:
    view = by_name(plan_module(shop(), DB))["shop__hourly__mv"].sql
    assert "countState() AS `events`" in view
    assert "quantileTDigestState(0.9)(toFloat64(e.`price`)) AS `p90_price`" in view
    assert "uniqState(e.`customer`) AS `buyers`" in view


def test_rollups_hold_stored_metrics_only() -> None:
    plan = by_name(plan_module(shop(), DB))
    assert "`conversion`" not in plan["shop__hourly"].sql  # a ratio is computed from merged states
    minutely = plan["shop__minutely"].sql
    assert "`events` AggregateFunction(count)" in minutely
    assert "`purchases`" not in minutely


def test_state_merge_and_raw_renderings_agree() -> None:
    config = shop()
    assert state_expr(config, "revenue") == "sumIfState(`price`, `action` = 'purchase' AND `gift` = false)"
    assert state_type(config, "revenue") == "AggregateFunction(sumIf, Decimal(18, 2), UInt8)"
    assert merge_expr(config, "revenue") == "sumIfMerge(`revenue`)"
    assert raw_expr(config, "revenue") == "sumIf(`price`, `action` = 'purchase' AND `gift` = false)"
    assert merge_expr(config, "p90_price") == "quantileTDigestMerge(0.9)(`p90_price`)"
    assert raw_expr(config, "p90_price") == "quantileTDigest(0.9)(toFloat64(`price`))"
    assert raw_expr(config, "events") == "count()"
    with pytest.raises(ValueError, match="derived"):
        state_expr(config, "conversion")


def test_names_with_backticks_are_quoted_everywhere() -> None:
    plan = plan_module(shop(), "odd`db")
    assert plan[0].sql == "CREATE DATABASE IF NOT EXISTS `odd\\`db`"
    assert all("`odd\\`db`." in s.sql for s in plan[1:])


# --- quoting -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("plain", "`plain`"),
        ("with space", "`with space`"),
        ("back`tick", "`back\\`tick`"),
        ("back\\slash", "`back\\\\slash`"),
        ("\\`", "`\\\\\\``"),  # a backslash before a backtick cannot escape the closing quote
        ("it's", "`it's`"),
    ],
)
def test_quote_identifier(name: str, quoted: str) -> None:
    assert quote_identifier(name) == quoted


def test_qualified_quotes_both_parts() -> None:
    assert qualified("db", "t`x") == "`db`.`t\\`x`"


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        ("view", "'view'"),
        ("it's", "'it\\'s'"),
        ("back\\slash", "'back\\\\slash'"),
        ("\\'", "'\\\\\\''"),  # an escaped backslash, then an escaped quote: the literal still ends where it should
        ("x' OR 1=1 --", "'x\\' OR 1=1 --'"),
        ("", "''"),
        (True, "true"),
        (False, "false"),
        (42, "42"),
        (-7, "-7"),
        (0.25, "0.25"),
        (Decimal("19.90"), "19.90"),
    ],
)
def test_quote_literal(value: str | int | float | bool | Decimal, rendered: str) -> None:
    assert quote_literal(value) == rendered


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_quote_literal_refuses_non_finite_numbers(value: float) -> None:
    with pytest.raises(ValueError, match="non-finite"):
        quote_literal(value)


# --- event ids ------------------------------------------------------------------------------------------------


def test_a_module_with_an_id_field_remembers_ids_for_its_window_fed_from_the_events_table() -> None:
    event = shop().event.model_dump(exclude_none=True)
    config = shop(event={**event, "fields": {**event["fields"], "eid": {"type": "string"}}, "id_field": "eid"})
    plan = by_name(plan_module(config, DB))
    assert [s.name for s in plan_module(config, DB)][-2:] == ["shop__event_ids", "shop__event_ids__mv"]
    table = plan["shop__event_ids"].sql
    assert "`id` String," in table and "ORDER BY `id`" in table
    # 7 days by default, counted from the later of event time and arrival
    assert "TTL greatest(`event_time`, `seen_at`) + INTERVAL 604800 SECOND" in table
    assert "non_replicated_deduplication_window" in table  # a re-inserted batch is dropped here too
    view = plan["shop__event_ids__mv"].sql
    assert "e.`eid` AS `id`" in view and "toDateTime(e.`ts`) AS `event_time`" in view
    assert "FROM `analytics`.`shop_events` AS e" in view
    longer = shop(event={**config.event.model_dump(exclude_none=True), "max_lateness": "30d"})
    assert "INTERVAL 2592000 SECOND" in by_name(plan_module(longer, DB))["shop__event_ids"].sql
    declared = shop(event={**config.event.model_dump(exclude_none=True), "dedup_window": "2w"})
    assert "INTERVAL 1209600 SECOND" in by_name(plan_module(declared, DB))["shop__event_ids"].sql


def test_a_module_without_an_id_field_has_no_ids_table() -> None:
    assert not [s for s in plan_module(shop(), DB) if "event_ids" in s.name]
