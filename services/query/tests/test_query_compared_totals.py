"""Totals compared with an earlier window (KPI tiles) read in one statement, in real chDB: numbers against plain
Python and against the two statements a limited request still runs, for an admin and a row-filtered operator."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from services.query.tests.test_query_ranking import Counting

from strix_clickhouse import ClickHouse, plan_module
from strix_clickhouse.columns import POSITION_COLUMN, SEQUENCE_COLUMN, events_table
from strix_config import load_catalog
from strix_contracts.caller import Caller
from strix_contracts.query import QueryRequest
from strix_query.execution import execute
from strix_query.plan import plan_query

ROOT = Path(__file__).resolve().parents[3]
DAY1 = datetime(2026, 11, 2, tzinfo=UTC)
NOW = DAY1 + timedelta(days=3)
ADMIN = Caller(subject="root", kind="user", scopes=("admin",))
ACME = Caller(
    subject="acme-operator", kind="user", roles=("operator",), scopes=("read",), attributes={"brand": ("acme",)}
)

# (day 0 or 1, hour, brand, game, stake): day 1 is the window, day 0 the previous period; g3 plays on day 1 only,
# g4 on day 0 only (no row of its own: it has no current value), zenith's rows only for the admin.
EVENTS = [
    (0, 1, "acme", "g1", "1.10"),
    (0, 5, "zenith", "g1", "2.00"),
    (1, 2, "acme", "g1", "3.30"),
    (1, 3, "acme", "g1", "0.70"),
    (1, 9, "zenith", "g2", "5.00"),
    (0, 9, "acme", "g2", "4.00"),
    (1, 23, "acme", "g3", "0.25"),
    (0, 12, "acme", "g4", "9.00"),
]


def _columns() -> dict[str, list[Any]]:
    return {
        "round_id": [f"r{i}" for i in range(len(EVENTS))],
        "ts": [DAY1 + timedelta(days=day, hours=hour) for day, hour, *_ in EVENTS],
        "brand": [e[2] for e in EVENTS],
        "game": [e[3] for e in EVENTS],
        "studio": [1] * len(EVENTS),
        "stake": [Decimal(e[4]) for e in EVENTS],
        SEQUENCE_COLUMN: list(range(1, len(EVENTS) + 1)),
        POSITION_COLUMN: [0] * len(EVENTS),
    }


def expected(brands: set[str]) -> dict[str, tuple[tuple[int, float], tuple[int, float]]]:
    """(rounds, stakes) per game on day 1, and on day 0; only games played on day 1."""
    totals: dict[tuple[int, str], list[Any]] = defaultdict(lambda: [0, Decimal(0)])
    for day, _, brand, game, stake in EVENTS:
        if brand in brands:
            totals[(day, game)][0] += 1
            totals[(day, game)][1] += Decimal(stake)
    found = {
        game: ((totals[(1, game)][0], float(totals[(1, game)][1])), (totals[(0, game)][0], float(totals[(0, game)][1])))
        for day, game in list(totals)
        if day == 1
    }
    assert found, "an empty comparison proves nothing"
    return found


async def test_totals_compared_in_one_statement(clickhouse: ClickHouse) -> None:
    catalog = load_catalog(ROOT / "tests" / "fixtures" / "access-configs")
    for config in catalog.modules.values():
        await clickhouse.apply(plan_module(config, clickhouse.database))
    await clickhouse.insert_columns(events_table("rounds"), _columns())
    counting = Counting(clickhouse)
    store: Any = counting
    for caller, brands in ((ADMIN, {"acme", "zenith"}), (ACME, {"acme"})):
        fields = {
            "module": "rounds",
            "window": {"start": (DAY1 + timedelta(days=1)).isoformat(), "end": (DAY1 + timedelta(days=2)).isoformat()},
            "granularity": "total",
            "group_by": ["game"],
            "metrics": ["rounds", "stakes"],
            "compare": "previous_period",
            "caller": caller,
        }
        plan = plan_query(catalog, QueryRequest.model_validate(fields), NOW, clickhouse.database)
        assert plan.compared_in_one
        counting.sql.clear()
        answer = await execute(store, plan)
        assert len(counting.sql) == 1  # both windows in one statement
        got = {
            str(r.dimensions["game"]): (
                (r.metrics["rounds"], r.metrics["stakes"]),
                (r.previous["rounds"], r.previous["stakes"]) if r.previous else None,
            )
            for r in answer.rows
        }
        assert got == expected(brands)
        # A limit cuts across windows: two statements, the same rows.
        limited = plan_query(catalog, QueryRequest.model_validate({**fields, "limit": 100}), NOW, clickhouse.database)
        assert not limited.compared_in_one
        counting.sql.clear()
        apart = await execute(store, limited)
        assert len(counting.sql) == 2
        assert [(r.dimensions, r.metrics, r.previous, r.change, r.change_ratio) for r in apart.rows] == [
            (r.dimensions, r.metrics, r.previous, r.change, r.change_ratio) for r in answer.rows
        ]
