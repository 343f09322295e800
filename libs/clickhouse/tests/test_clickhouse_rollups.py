"""The planned objects against real chDB: events inserted into `<module>_events` reach every rollup through its
materialized view, and each rollup's merged metrics equal both the same aggregate over raw events and a plain
Python computation over the same events. Re-sent batches are stored once.

Clickstream rollups have TTLs (the minute rollup keeps 2 days), and ClickHouse drops already-expired rows when
they are inserted, so its events sit at fixed offsets from an origin taken once from the current hour. The fleet
config has no TTL and uses a fixed calendar origin.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from strix_clickhouse import ClickHouse, plan_module
from strix_clickhouse.columns import (
    BUCKET_COLUMN,
    POSITION_COLUMN,
    SEQUENCE_COLUMN,
    bucket_function,
    events_table,
    merge_expr,
    raw_expr,
    rollup_table,
)
from strix_clickhouse.sql import qualified, quote_identifier, quote_literal
from strix_config import GRANULARITY_SECONDS, ModuleConfig
from strix_config.loader import parse_module, read_module
from strix_config.metrics import METRIC_KINDS
from strix_config.model import FieldMetric

REPO = Path(__file__).resolve().parents[3]
FIXED_ORIGIN = datetime(2026, 3, 9, 22, 0, tzinfo=UTC)
DEDUP = {"insert_deduplicate": 1, "deduplicate_blocks_in_dependent_materialized_views": 1}

Event = dict[str, Any]
Key = tuple[Any, ...]


def load(path: Path) -> ModuleConfig:
    config, problems = read_module(path)
    assert problems == []
    assert config is not None
    return config


def recent_origin() -> datetime:
    """01:00 UTC yesterday: the events (29 hours) then span exactly one midnight whatever the time of day, and the
    oldest is under 2 days old, inside every clickstream retention. (30 hours before the current hour crossed two
    midnights when run shortly after one.)"""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=1) + timedelta(hours=1)


def clickstream_events(origin: datetime) -> list[Event]:
    rows = [
        # minutes after origin, customer, session, action, group, product, country, device, price, quantity
        (0, "c1", "s1", "view", "shoes", "p1", "DE", "desktop", "59.90", 1),
        (0.5, "c1", "s1", "add_to_cart", "shoes", "p1", "DE", "desktop", "59.90", 2),
        (1, "c1", "s1", "purchase", "shoes", "p1", "DE", "desktop", "59.90", 2),
        (1.5, "c2", "s2", "view", "shoes", "p2", "FR", "mobile", "12.50", 1),
        (59, "c2", "s2", "purchase", "shoes", "p2", "FR", "mobile", "12.50", 3),
        (61, "c3", "s3", "view", "hats", "p3", "DE", "tablet", "20.00", 1),
        (125, "c3", "s3", "purchase", "hats", "p3", "DE", "tablet", "20.00", 1),
        (300, "c1", "s4", "view", "hats", "p4", "DE", "mobile", "7.25", 1),
        (1200, "c4", "s5", "purchase", "hats", "p4", "IT", "desktop", "7.25", 4),
        (1500, "c2", "s6", "view", "shoes", "p1", "FR", "desktop", "0.00", 1),
        (1740, "c5", "s7", "purchase", "bags", "p5", "DE", "mobile", "149.99", 1),
        (1741, "c5", "s7", "purchase", "bags", "p5", "DE", "mobile", "149.99", 1),
    ]
    return [
        {
            "event_id": f"e{i}",
            "ts": origin + timedelta(minutes=minutes),
            "customer_id": customer,
            "session_id": session,
            "action": action,
            "product_group": group,
            "product_id": product,
            "country": country,
            "device": device,
            "price": Decimal(price),
            "quantity": quantity,
        }
        for i, (minutes, customer, session, action, group, product, country, device, price, quantity) in enumerate(rows)
    ]


def fleet_events() -> list[Event]:
    rows = [
        (5, "v1", "north", "diesel", 1, 12.5, 800, True, "0.00"),
        (30, "v2", "north", "electric", 2, 40.0, 1200, False, "3.50"),
        (65, "v1", "harbour", "diesel", 1, 7.25, 0, True, "0.00"),
        (70, "v3", "harbour", "hybrid", 9, 399.5, 3000, False, "79.99"),
        (150, "v2", "north", "electric", 2, 18.0, 450, True, "1.20"),
        (150, "v4", "airport", "electric", 5, 61.0, 2200, True, "12.00"),
        (1500, "v1", "north", "diesel", 1, 3.0, 100, False, "0.00"),
    ]
    return [
        {
            "finished_at": FIXED_ORIGIN + timedelta(minutes=minutes),
            "vehicle_id": vehicle,
            "depot": depot,
            "fuel_type": fuel,
            "zone": zone,
            "distance_km": distance,
            "load_kg": load_kg,
            "on_time": on_time,
            "toll": Decimal(toll),
        }
        for minutes, vehicle, depot, fuel, zone, distance, load_kg, on_time, toll in rows
    ]


def columns(config: ModuleConfig, events: Sequence[Event], first_position: int = 0) -> dict[str, list[Any]]:
    data: dict[str, list[Any]] = {name: [e[name] for e in events] for name in config.event.fields}
    data[SEQUENCE_COLUMN] = [1] * len(events)
    data[POSITION_COLUMN] = list(range(first_position, first_position + len(events)))
    return data


# --- the plain-Python side -----------------------------------------------------------------------------------


def bucket_of(moment: datetime, granularity: str) -> int:
    width = GRANULARITY_SECONDS[granularity]
    seconds = int(moment.timestamp())
    return seconds - seconds % width


def group_events(config: ModuleConfig, rollup_name: str, events: Iterable[Event]) -> dict[Key, list[Event]]:
    rollup = config.rollups[rollup_name]
    groups: dict[Key, list[Event]] = defaultdict(list)
    for event in events:
        key = (
            bucket_of(event[config.event.time_field], rollup.granularity),
            *(event[config.dimension_field(d)] for d in rollup.dimensions),
        )
        groups[key].append(event)
    return dict(groups)


def plain(value: Any, like: Any) -> Any:
    """A config value as the Python type of the event value it is compared with."""
    if isinstance(like, Decimal):
        return Decimal(str(value))
    if isinstance(like, datetime):
        return datetime.fromisoformat(value)
    return value


def passes(value: Any, condition: Any) -> bool:
    """One metric condition over one event value, written out apart from the model and the SQL."""
    if isinstance(condition, list):
        return value in condition
    if not isinstance(condition, dict):
        return bool(value == condition)
    for op, wanted in condition.items():
        if op in ("in", "not_in"):
            inside = value in [plain(w, value) for w in wanted]
            ok = inside if op == "in" else not inside
        elif op == "prefix":
            ok = value.startswith(wanted)
        elif op == "contains":
            ok = wanted in value
        else:
            bound = plain(wanted, value)
            ok = {
                "eq": value == bound,
                "neq": value != bound,
                "gt": value > bound,
                "gte": value >= bound,
                "lt": value < bound,
                "lte": value <= bound,
            }[op]
        if not ok:
            return False
    return True


def selected(config: ModuleConfig, name: str, events: list[Event]) -> list[Event]:
    """The events a metric's condition keeps, read from the dumped config (as the file says it, `in` included)."""
    where = config.metrics[name].model_dump(by_alias=True, exclude_none=True).get("where") or {}
    return [e for e in events if all(passes(e[field], wanted) for field, wanted in where.items())]


def metric_field(config: ModuleConfig, name: str) -> str:
    metric = config.metrics[name]
    assert isinstance(metric, FieldMetric)
    return metric.field


def close(value: Any) -> Any:
    """Floats compare up to summation order; integers and decimals compare exactly."""
    return pytest.approx(value, rel=1e-9, nan_ok=True) if isinstance(value, float) else value


def python_metric(config: ModuleConfig, name: str, events: list[Event]) -> Any:
    metric = config.metrics[name]
    chosen = selected(config, name, events)
    if metric.kind == "count":
        return len(chosen)
    values = [e[metric_field(config, name)] for e in chosen]
    if not values and metric.kind in ("min", "max", "avg"):
        # A conditional metric over a group none of whose events pass: ClickHouse's -If aggregates give the
        # type's default for min and max and nan for avg (the query service reads both as "no value").
        return pytest.approx(float("nan"), nan_ok=True) if metric.kind == "avg" else 0
    if metric.kind == "sum":
        return close(sum(values))
    if metric.kind == "min":
        return min(values)
    if metric.kind == "max":
        return max(values)
    if metric.kind == "avg":
        return close(float(sum(values)) / len(values))
    if metric.kind in ("uniq", "uniq_exact", "uniq_approx"):
        return len(set(values))  # uniq_approx too: exact below 2^(precision-5) values
    raise AssertionError(f"no plain computation for {metric.kind}")


def python_rollup(config: ModuleConfig, rollup_name: str, events: list[Event]) -> dict[Key, dict[str, Any]]:
    stored = config.rollup_metrics(config.rollups[rollup_name])
    return {
        key: {m: python_metric(config, m, group) for m in stored if config.metrics[m].kind != "quantile"}
        for key, group in group_events(config, rollup_name, events).items()
    }


# --- the ClickHouse side -------------------------------------------------------------------------------------


async def merged_rollup(clickhouse: ClickHouse, config: ModuleConfig, rollup_name: str) -> dict[Key, dict[str, Any]]:
    rollup = config.rollups[rollup_name]
    metrics = config.rollup_metrics(rollup)
    dims = [quote_identifier(d) for d in rollup.dimensions]
    bucket = quote_identifier(BUCKET_COLUMN)
    sql = (
        f"SELECT toUnixTimestamp({bucket}) AS _b, {', '.join([*dims, *(merge_expr(config, m) for m in metrics)])} "
        f"FROM {qualified(clickhouse.database, rollup_table(config.module, rollup_name))} "
        f"GROUP BY {', '.join(['_b', *dims])}"
    )
    return keyed(await clickhouse.query(sql), len(dims), metrics)


async def raw_rollup(clickhouse: ClickHouse, config: ModuleConfig, rollup_name: str) -> dict[Key, dict[str, Any]]:
    rollup = config.rollups[rollup_name]
    metrics = config.rollup_metrics(rollup)
    fields = [quote_identifier(config.dimension_field(d)) for d in rollup.dimensions]
    time = quote_identifier(config.event.time_field)
    sql = (
        f"SELECT toUnixTimestamp({bucket_function(rollup.granularity)}({time})) AS _b, "
        f"{', '.join([*fields, *(raw_expr(config, m) for m in metrics)])} "
        f"FROM {qualified(clickhouse.database, events_table(config.module))} "
        f"GROUP BY {', '.join(['_b', *fields])}"
    )
    return keyed(await clickhouse.query(sql), len(fields), metrics)


def keyed(result: Any, dims: int, metrics: list[str]) -> dict[Key, dict[str, Any]]:
    return {tuple(row[: 1 + dims]): dict(zip(metrics, row[1 + dims :], strict=True)) for row in result.rows}


async def assert_rollups_match(
    clickhouse: ClickHouse, config: ModuleConfig, events: list[Event], raw_kept: bool = True
) -> None:
    assert config.rollups, "a module without rollups proves nothing here"
    for name in config.rollups:
        expected = python_rollup(config, name, events)
        merged = await merged_rollup(clickhouse, config, name)
        assert set(merged) == set(expected), name
        for key, values in expected.items():
            for metric, value in values.items():
                assert merged[key][metric] == value, (name, key, metric)
        quantiles = [m for m in config.rollup_metrics(config.rollups[name]) if config.metrics[m].kind == "quantile"]
        for key, group in group_events(config, name, events).items():
            for metric in quantiles:
                field = metric_field(config, metric)
                numbers = [float(e[field]) for e in selected(config, metric, group)]
                # t-digest keeps Float32 centroids: within the group's range, up to Float32 rounding.
                slack = 1e-6 * max(abs(v) for v in numbers)
                assert min(numbers) - slack <= merged[key][metric] <= max(numbers) + slack, (name, key, metric)
                if len(set(numbers)) == 1:
                    assert merged[key][metric] == pytest.approx(statistics.median(numbers), rel=1e-6)
        if raw_kept:
            raw = await raw_rollup(clickhouse, config, name)
            assert set(raw) == set(merged), name
            for key, values in merged.items():
                for metric, value in values.items():
                    assert raw[key][metric] == close(value), (name, key, metric)


async def raw_count(clickhouse: ClickHouse, config: ModuleConfig) -> int:
    result = await clickhouse.query(
        f"SELECT count() FROM {qualified(clickhouse.database, events_table(config.module))}"
    )
    return int(result.rows[0][0])


# --- tests ---------------------------------------------------------------------------------------------------


async def test_every_rollup_merges_to_the_raw_aggregates(clickhouse: ClickHouse) -> None:
    config = load(REPO / "configs" / "clickstream.yaml")
    events = clickstream_events(recent_origin())
    await clickhouse.apply(plan_module(config, clickhouse.database))
    table = events_table(config.module)
    # Two blocks, so rollup states of the same group come from two inserts and are really merged.
    await clickhouse.insert_columns(table, columns(config, events[:7]))
    await clickhouse.insert_columns(table, columns(config, events[7:], first_position=7))

    assert await raw_count(clickhouse, config) == len(events)
    await assert_rollups_match(clickhouse, config, events)
    daily = await merged_rollup(clickhouse, config, "daily_groups")
    assert len({key[0] for key in daily}) == 2  # the events span a midnight


def operator_metrics(origin: datetime) -> dict[str, Any]:
    """Conditional metrics with every operator of query filters, over string, int, decimal and datetime fields."""
    late = (origin + timedelta(minutes=60)).isoformat()
    end = (origin + timedelta(minutes=1500)).isoformat()
    return {
        "not_purchases": {"kind": "count", "where": {"action": {"neq": "purchase"}}},
        "browsing": {
            "kind": "count",
            "where": {"action": {"not_in": ["purchase"]}, "device": {"in": ["desktop", "mobile"]}},
        },
        "mid_revenue": {"kind": "sum", "field": "price", "where": {"price": {"gte": 12.5, "lt": 149.99}}},
        "cheap_max": {"kind": "max", "field": "price", "where": {"price": {"lte": 20}, "action": "purchase"}},
        "bulk_items": {"kind": "sum", "field": "quantity", "where": {"quantity": {"gt": 1}}},
        "shoe_like": {"kind": "count", "where": {"product_group": {"prefix": "sh"}, "country": {"eq": "DE"}}},
        "p4_buyers": {"kind": "uniq", "field": "customer_id", "where": {"product_id": {"contains": "4"}}},
        "later_events": {"kind": "count", "where": {"ts": {"gte": late, "lt": end}}},
        "abroad_avg": {
            "kind": "avg",
            "field": "price",
            "where": {"country": {"not_in": ["DE"]}, "quantity": {"neq": 3}},
        },
    }


async def test_metric_conditions_with_query_filter_operators_merge_to_the_raw_aggregates(
    clickhouse: ClickHouse,
) -> None:
    """neq, in, not_in, gt, gte, lt, lte, prefix, contains and eq in metric conditions: rollup states, the raw
    aggregate and a plain-Python computation agree."""
    origin = recent_origin()
    data = yaml.safe_load((REPO / "configs" / "clickstream.yaml").read_text(encoding="utf-8"))
    data["metrics"].update(operator_metrics(origin))
    config, problems = parse_module(yaml.safe_dump(data), "clickstream-operators.yaml")
    assert problems == [], [p.render() for p in problems]
    assert config is not None
    events = clickstream_events(origin)
    await clickhouse.apply(plan_module(config, clickhouse.database))
    table = events_table(config.module)
    await clickhouse.insert_columns(table, columns(config, events[:6]))
    await clickhouse.insert_columns(table, columns(config, events[6:], first_position=6))
    await assert_rollups_match(clickhouse, config, events)

    # Each condition keeps some events and drops others, so none of them passes by accident.
    for name in operator_metrics(origin):
        kept = len(selected(config, name, events))
        assert 0 < kept < len(events), (name, kept)
    # And the totals over the whole day, by hand.
    assert len(selected(config, "not_purchases", events)) == 6
    assert len(selected(config, "browsing", events)) == 5
    assert (
        sum(e["price"] for e in selected(config, "mid_revenue", events))
        == Decimal("59.90") * 3 + Decimal("12.50") * 2 + Decimal("20.00") * 2
    )
    assert len(selected(config, "later_events", events)) == 4  # minutes 61, 125, 300 and 1200; 1500 is the end


def every_kind_metrics() -> dict[str, Any]:
    """One metric of every stored kind, plain and conditional, over int, decimal and string fields."""
    return {
        "all_events": {"kind": "count"},
        "items": {"kind": "sum", "field": "quantity"},
        "cheapest": {"kind": "min", "field": "price"},
        "most_items": {"kind": "max", "field": "quantity", "where": {"action": "purchase"}},
        "mean_items": {"kind": "avg", "field": "quantity"},
        "products": {"kind": "uniq", "field": "product_id"},
        "exact_customers": {"kind": "uniq_exact", "field": "customer_id"},
        "exact_buyers": {"kind": "uniq_exact", "field": "customer_id", "where": {"action": "purchase"}},
        "approx_customers": {"kind": "uniq_approx", "field": "customer_id"},
        "approx_buyers": {
            "kind": "uniq_approx",
            "field": "customer_id",
            "precision": 14,
            "where": {"action": "purchase"},
        },
        "median_price": {"kind": "quantile", "field": "price", "level": 0.5},
        "items_per_event": {"kind": "ratio", "numerator": "items", "denominator": "all_events"},
    }


async def test_every_metric_kind_merges_to_the_raw_aggregate(clickhouse: ClickHouse) -> None:
    """Every stored kind the model has, in every rollup: rollup states, the raw aggregate and a plain-Python
    computation agree (a kind added to the model without a metric here fails the first assertion)."""
    data = yaml.safe_load((REPO / "configs" / "clickstream.yaml").read_text(encoding="utf-8"))
    data["metrics"].update(every_kind_metrics())
    config, problems = parse_module(yaml.safe_dump(data), "clickstream-every-kind.yaml")
    assert problems == [], [p.render() for p in problems]
    assert config is not None
    stored_kinds = {kind for kind, variant in METRIC_KINDS.items() if variant.stored}
    keeping_all = [rollup for rollup in config.rollups.values() if rollup.metrics is None]
    assert keeping_all, "no rollup keeps every stored metric"
    for rollup in keeping_all:
        assert {config.metrics[m].kind for m in config.rollup_metrics(rollup)} == stored_kinds
    events = clickstream_events(recent_origin())
    await clickhouse.apply(plan_module(config, clickhouse.database))
    table = events_table(config.module)
    await clickhouse.insert_columns(table, columns(config, events[:5]))
    await clickhouse.insert_columns(table, columns(config, events[5:], first_position=5))
    await assert_rollups_match(clickhouse, config, events)


async def test_a_resent_batch_is_stored_once_and_a_new_batch_is_added(clickhouse: ClickHouse) -> None:
    config = load(REPO / "configs" / "clickstream.yaml")
    events = clickstream_events(recent_origin())
    await clickhouse.apply(plan_module(config, clickhouse.database))
    table = events_table(config.module)
    batch = columns(config, events)

    await clickhouse.insert_columns(table, batch, {**DEDUP, "insert_deduplication_token": "orders-1"})
    await clickhouse.insert_columns(table, batch, {**DEDUP, "insert_deduplication_token": "orders-1"})
    assert await raw_count(clickhouse, config) == len(events)
    await assert_rollups_match(clickhouse, config, events)

    await clickhouse.insert_columns(table, batch, {**DEDUP, "insert_deduplication_token": "orders-2"})
    assert await raw_count(clickhouse, config) == 2 * len(events)
    await assert_rollups_match(clickhouse, config, events + events)


async def test_a_null_events_table_feeds_rollups_without_keeping_rows(clickhouse: ClickHouse) -> None:
    config = load(REPO / "tests" / "fixtures" / "client-configs" / "fleet.yaml")
    events = fleet_events()
    await clickhouse.apply(plan_module(config, clickhouse.database))
    await clickhouse.insert_columns(events_table(config.module), columns(config, events[:4]))
    await clickhouse.insert_columns(events_table(config.module), columns(config, events[4:], first_position=4))

    assert await raw_count(clickhouse, config) == 0
    await assert_rollups_match(clickhouse, config, events, raw_kept=False)


@pytest.mark.parametrize("config_path", ["configs/gaming.yaml", "configs/campaigns.yaml"])
async def test_other_example_plans_apply(clickhouse: ClickHouse, config_path: str) -> None:
    config = load(REPO / config_path)
    plan = plan_module(config, clickhouse.database)
    await clickhouse.apply(plan)
    await clickhouse.apply(plan)  # idempotent: a restart re-applies the plan
    result = await clickhouse.query(
        "SELECT name FROM system.tables WHERE database = {db:String}", {"db": clickhouse.database}
    )
    assert {row[0] for row in result.rows} == {s.name for s in plan if s.kind != "database"}


async def test_a_dimension_named_like_another_event_field_keeps_conditions_on_that_field(
    clickhouse: ClickHouse,
) -> None:
    """`country` the dimension is the billing country; `country` the event field (shipping) is what the
    `domestic` condition tests. The rollup must agree with raw events."""
    config = ModuleConfig.model_validate(
        {
            "module": "orders",
            "event": {
                "time_field": "ts",
                "fields": {
                    "ts": {"type": "datetime"},
                    "customer": {"type": "string"},
                    "country": {"type": "string"},
                    "billing_country": {"type": "string"},
                },
            },
            "partition_by": "customer",
            "dimensions": {"country": {"field": "billing_country"}},
            "metrics": {"orders": {"kind": "count"}, "domestic": {"kind": "count", "where": {"country": "DE"}}},
            "rollups": {"hourly": {"granularity": "hour", "dimensions": ["country"]}},
        }
    )
    events = [
        {"ts": FIXED_ORIGIN, "customer": "c1", "country": "DE", "billing_country": "AT"},
        {"ts": FIXED_ORIGIN, "customer": "c2", "country": "DE", "billing_country": "DE"},
        {"ts": FIXED_ORIGIN, "customer": "c3", "country": "FR", "billing_country": "AT"},
    ]
    await clickhouse.apply(plan_module(config, clickhouse.database))
    await clickhouse.insert_columns(events_table(config.module), columns(config, events))
    await assert_rollups_match(clickhouse, config, events)


async def test_a_metric_named_like_its_field_does_not_hide_the_field_from_other_metrics(
    clickhouse: ClickHouse,
) -> None:
    """`price` the metric (highest price) and `revenue` (sum of the `price` field) side by side."""
    config = ModuleConfig.model_validate(
        {
            "module": "tickets",
            "event": {
                "time_field": "ts",
                "fields": {
                    "ts": {"type": "datetime"},
                    "buyer": {"type": "string"},
                    "price": {"type": "decimal", "scale": 2},
                },
            },
            "partition_by": "buyer",
            "dimensions": {},
            "metrics": {"price": {"kind": "max", "field": "price"}, "revenue": {"kind": "sum", "field": "price"}},
            "rollups": {"hourly": {"granularity": "hour"}},
        }
    )
    events = [
        {"ts": FIXED_ORIGIN, "buyer": "b1", "price": Decimal("10.00")},
        {"ts": FIXED_ORIGIN, "buyer": "b2", "price": Decimal("25.50")},
    ]
    await clickhouse.apply(plan_module(config, clickhouse.database))
    await clickhouse.insert_columns(events_table(config.module), columns(config, events))
    await assert_rollups_match(clickhouse, config, events)


@pytest.mark.parametrize("text", ["it's", "back\\slash", "\\'", "x' OR 1=1 --", "tick`", "é\n\t\\n"])
async def test_quoted_names_and_literals_round_trip_through_clickhouse(clickhouse: ClickHouse, text: str) -> None:
    result = await clickhouse.query(f"SELECT {quote_literal(text)} AS {quote_identifier(text)}")
    assert result.columns == [text]
    assert result.rows == [(text,)]
