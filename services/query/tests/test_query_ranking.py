"""Top-N groups ranked from bucket rows (plan.Ranking) against the top-N statement and plain Python, in real chDB.

A sliding top-N dashboard ranks its groups from the bucket cache (each group's `by` per bucket, summed) instead
of a statement per question; the ranking must be the statement's exactly: totals of decimal sums arriving as
floats (ties that float addition would break), ties ordered by the group values, each caller's row filters (an
operator ranks among its brand's rows only, from buckets kept apart from the admin's).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from strix_clickhouse import ClickHouse, plan_module
from strix_clickhouse.columns import POSITION_COLUMN, SEQUENCE_COLUMN, events_table
from strix_config import Catalog, load_catalog
from strix_contracts.caller import Caller
from strix_contracts.query import QueryRequest, Row
from strix_query import validation
from strix_query.buckets_cache import BucketCache
from strix_query.execution import Reuse, execute
from strix_query.plan import Ranking, plan_query

ROOT = Path(__file__).resolve().parents[3]
ORIGIN = datetime(2026, 11, 2, tzinfo=UTC)
NOW = ORIGIN + timedelta(days=2)
ADMIN = Caller(subject="root", kind="user", scopes=("admin",))
ACME = Caller(
    subject="acme-operator", kind="user", roles=("operator",), scopes=("read",), attributes={"brand": ("acme",)}
)

# (hour, brand, game, stake): g2 and g3 tie at 0.60 for everyone, but float addition makes g3's 0.1 + 0.2 + 0.3
# the larger (the tie must go to g2, by name); g1 leads. For acme alone: g4 0.50, g3 0.40, g2 0.30.
EVENTS = [
    (0, "acme", "g3", "0.10"),
    (1, "zenith", "g3", "0.20"),
    (2, "acme", "g3", "0.30"),
    (0, "acme", "g2", "0.30"),
    (3, "zenith", "g2", "0.30"),
    (1, "zenith", "g1", "5.00"),
    (2, "zenith", "g1", "4.00"),
    (4, "acme", "g4", "0.45"),
    (5, "acme", "g4", "0.05"),
]


def _columns() -> dict[str, list[Any]]:
    return {
        "round_id": [f"r{i}" for i in range(len(EVENTS))],
        "ts": [ORIGIN + timedelta(hours=hour, minutes=i) for i, (hour, *_) in enumerate(EVENTS)],
        "brand": [brand for _, brand, _, _ in EVENTS],
        "game": [game for _, _, game, _ in EVENTS],
        "studio": [1] * len(EVENTS),
        "stake": [Decimal(stake) for *_, stake in EVENTS],
        SEQUENCE_COLUMN: list(range(1, len(EVENTS) + 1)),
        POSITION_COLUMN: [0] * len(EVENTS),
    }


def expected_top(by: str, n: int, brands: set[str]) -> list[str]:
    """The statement's order computed in plain Python: largest total first, ties by game ascending."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for _, brand, game, stake in EVENTS:
        if brand in brands:
            totals[game] += Decimal(stake) if by == "stakes" else 1
    assert totals, "an empty comparison proves nothing"
    return sorted(totals, key=lambda g: (-totals[g], g))[:n]


def _request(caller: Caller, by: str, n: int, others: bool = True) -> QueryRequest:
    return QueryRequest.model_validate(
        {
            "module": "rounds",
            "window": {"start": ORIGIN.isoformat(), "end": (ORIGIN + timedelta(hours=6)).isoformat()},
            "granularity": "hour",
            "group_by": ["game"],
            "metrics": ["rounds", "stakes"],
            "top": {"n": n, "by": by, "others": others},
            "caller": caller,
        }
    )


class Counting:
    """The real store, counting the statements it runs."""

    def __init__(self, clickhouse: ClickHouse) -> None:
        self.inner, self.database, self.sql = clickhouse, clickhouse.database, list[str]()

    async def query_formed(self, form: Any) -> Any:
        def counted() -> Any:
            sql, parameters = form()
            self.sql.append(sql)
            return sql, parameters

        return await self.inner.query_formed(counted)


async def _catalog(clickhouse: ClickHouse) -> Catalog:
    catalog = load_catalog(ROOT / "tests" / "fixtures" / "access-configs")
    for config in catalog.modules.values():
        await clickhouse.apply(plan_module(config, clickhouse.database))
    await clickhouse.insert_columns(events_table("rounds"), _columns())
    return catalog


def kept(rows: list[Row]) -> list[str]:
    return sorted({str(r.dimensions["game"]) for r in rows if not r.others})


async def test_ranked_from_buckets_as_the_statement_ranks(clickhouse: ClickHouse) -> None:
    catalog = await _catalog(clickhouse)
    counting = Counting(clickhouse)
    store: Any = counting  # ClickHouse's query interface, counted
    for caller, brands in ((ADMIN, {"acme", "zenith"}), (ACME, {"acme"})):
        cache: BucketCache[Row] = BucketCache()
        for by, n in (("stakes", 2), ("stakes", 3), ("rounds", 2), ("rounds", 1)):
            plan = plan_query(catalog, _request(caller, by, n), NOW, clickhouse.database)
            assert plan.ranking is not None and plan.top is not None
            statement = await execute(clickhouse, plan, Reuse(BucketCache(), read=False))  # the top-N statement
            counting.sql.clear()
            ranked = await execute(store, plan, Reuse(cache))
            assert not any(sql.startswith(plan.top.sql) for sql in counting.sql)  # ranked from bucket rows
            assert kept(ranked.rows) == sorted(expected_top(by, n, brands)) == kept(statement.rows)
            assert [(r.bucket, r.dimensions, r.metrics, r.others) for r in ranked.rows] == [
                (r.bucket, r.dimensions, r.metrics, r.others) for r in statement.rows
            ]
    # The operator's ranking differs from the admin's: its buckets are its own (the shape holds its row filter).
    assert expected_top("stakes", 1, {"acme"}) != expected_top("stakes", 1, {"acme", "zenith"})


async def test_a_second_question_reads_only_its_new_buckets(clickhouse: ClickHouse) -> None:
    catalog = await _catalog(clickhouse)
    counting = Counting(clickhouse)
    store: Any = counting
    cache: BucketCache[Row] = BucketCache()
    first = plan_query(catalog, _request(ADMIN, "stakes", 2, others=False), NOW, clickhouse.database)
    await execute(store, first, Reuse(cache))
    counting.sql.clear()
    again = await execute(store, first, Reuse(cache))
    assert counting.sql == [] and kept(again.rows) == sorted(expected_top("stakes", 2, {"acme", "zenith"}))


def test_only_totals_that_are_sums_of_buckets_are_ranked_from_them() -> None:
    clicks = load_catalog(ROOT / "configs")
    caller = ADMIN

    def plan_of(by: str, **fields: Any) -> Any:
        request = QueryRequest.model_validate(
            {
                "module": "clickstream",
                "window": {"start": ORIGIN.isoformat(), "end": (ORIGIN + timedelta(hours=6)).isoformat()},
                "granularity": "hour",
                "group_by": ["product_group"],
                "metrics": ["events"],
                "top": {"n": 3, "by": by},
                "caller": caller,
                **fields,
            }
        )
        return plan_query(clicks, request, NOW, "strix")

    assert plan_of("events").ranking is not None  # a count
    assert plan_of("revenue").ranking.digits == 2  # a decimal sum: totals rounded to its scale
    assert plan_of("items_sold").ranking.digits is None  # an integer sum
    for by in ("customers", "avg_price", "max_price", "conversion_rate"):  # distinct, mean, max, derived
        assert plan_of(by).ranking is None, by
    assert plan_of("events", granularity="total").ranking is None  # a total is not read bucket by bucket
    ranking: Ranking = plan_of("revenue").ranking
    assert ranking.part.request.top is None and ranking.part.request.metrics == ["revenue"]


def test_ranking_orders_ties_by_group_nulls_last() -> None:
    clicks = load_catalog(ROOT / "configs")
    request = QueryRequest.model_validate(
        {
            "module": "clickstream",
            "window": {"last": 6, "unit": "hour"},
            "granularity": "hour",
            "group_by": ["product_group"],
            "metrics": ["events"],
            "top": {"n": 3, "by": "revenue"},
            "caller": ADMIN,
        }
    )
    ranking = plan_query(clicks, request, NOW, "strix").ranking
    assert ranking is not None

    def row(group: str | None, revenue: float) -> Row:
        return Row(bucket=ORIGIN, dimensions={"product_group": group}, metrics={"revenue": revenue})

    rows = [row("b", 0.1), row("b", 0.2), row("a", 0.3), row(None, 0.3), row("c", 0.29), row("d", 1.0)]
    assert 0.1 + 0.2 != 0.3  # float addition would break the tie of b and a
    assert ranking.keys(rows) == [("d",), ("a",), ("b",)]
    assert ranking.keys([*rows, row("e", 0.3)]) == [("d",), ("a",), ("b",)]
    assert ranking.keys(rows[2:4]) == [("a",), (None,)]


async def test_more_groups_than_an_answer_holds_are_ranked_by_the_statement(
    clickhouse: ClickHouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = await _catalog(clickhouse)
    monkeypatch.setattr(validation, "MAX_ROWS", 5)  # the ranking's 9 (hour, game) rows are too many; g1's 2 are not
    counting = Counting(clickhouse)
    store: Any = counting
    cache: BucketCache[Row] = BucketCache()
    plan = plan_query(catalog, _request(ADMIN, "stakes", 1, others=False), NOW, clickhouse.database)
    assert plan.top is not None and plan.ranking is not None
    statements = []
    for _ in range(2):
        counting.sql.clear()
        answer = await execute(store, plan, Reuse(cache))
        assert kept(answer.rows) == expected_top("stakes", 1, {"acme", "zenith"}) == ["g1"]
        assert any(sql.startswith(plan.top.sql) for sql in counting.sql)
        statements.append(len(counting.sql))
    # First the ranking's statement (refused), the top-N statement, g1's rows; then the top-N statement alone
    # (g1's rows from the bucket cache), the oversized ranking not tried again.
    assert statements == [3, 1]


async def test_reads_queued_together_for_two_callers_stay_apart(clickhouse: ClickHouse) -> None:
    """The admin and an operator ask the same question while the store is busy: reads of one shape merge, and
    the operator's row filter is part of its shape, so neither answer holds the other's rows."""
    catalog = await _catalog(clickhouse)
    cache: BucketCache[Row] = BucketCache()
    busy = asyncio.create_task(clickhouse.query("SELECT sleep(0.5)"))  # the reads below queue behind it
    await asyncio.sleep(0.05)
    plans = [plan_query(catalog, _request(caller, "stakes", 2), NOW, clickhouse.database) for caller in (ADMIN, ACME)]
    admin, acme = await asyncio.gather(*(execute(clickhouse, plan, Reuse(cache)) for plan in plans))
    await busy
    assert kept(admin.rows) == sorted(expected_top("stakes", 2, {"acme", "zenith"}))
    assert kept(acme.rows) == sorted(expected_top("stakes", 2, {"acme"}))
    acme_stakes = sum(Decimal(stake) for _, brand, _, stake in EVENTS if brand == "acme")
    assert sum(Decimal(str(r.metrics["stakes"])) for r in acme.rows) == acme_stakes  # others included: acme's only
