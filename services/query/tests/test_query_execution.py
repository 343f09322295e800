"""Execution against real chDB: buckets the bucket cache holds are neither read nor compiled again, and the
numbers are the events counted in plain Python.

Events sit every 10 minutes from an origin taken once from the current hour (the tables' retention is relative
to the real clock), so each hour holds 6 of them.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from strix_clickhouse import ClickHouse, plan_module
from strix_config import load_catalog
from strix_contracts.caller import Caller
from strix_contracts.query import QueryRequest, Row
from strix_query.buckets_cache import BucketCache, read_ahead
from strix_query.execution import STATEMENTS, Reuse, execute
from strix_query.plan import plan_query
from strix_query.span_reads import SpanRead

# The query service answers only a verified caller; these tests are about planning and reading, so an admin asks.
ADMIN = Caller(subject="test-admin", kind="user", scopes=("admin",))
CONFIGS = Path(__file__).resolve().parents[3] / "configs"
EVENTS = 144  # one day, every 10 minutes


def _insert_sql(database: str, origin: datetime) -> str:
    t0 = int(origin.timestamp())
    return f"""
    INSERT INTO `{database}`.`clickstream_events`
    SELECT
        generateUUIDv4() AS event_id,
        toDateTime64({t0} + number * 600, 3, 'UTC') AS ts,
        concat('c', toString(number % 7)) AS customer_id,
        concat('s', toString(number % 11)) AS session_id,
        'view' AS action,
        'group-01' AS product_group,
        'p-1' AS product_id,
        'FI' AS country,
        'mobile' AS device,
        toDecimal64(1, 2) AS price,
        toInt64(1) AS quantity,
        toUInt64(number) AS _seq,
        toUInt32(0) AS _pos
    FROM numbers({EVENTS})
    """


async def test_buckets_the_cache_holds_are_neither_read_nor_compiled(clickhouse: ClickHouse) -> None:
    catalog = load_catalog(CONFIGS)
    await clickhouse.apply(plan_module(catalog.modules["clickstream"], clickhouse.database))
    now = datetime.now(UTC).replace(minute=17, second=0, microsecond=0)
    origin = now.replace(minute=0) - timedelta(hours=23)
    await clickhouse.command(_insert_sql(clickhouse.database, origin))
    times = [origin + timedelta(minutes=10 * i) for i in range(EVENTS)]

    request = QueryRequest.model_validate(
        {
            "module": "clickstream",
            "window": {"last": 24, "unit": "hour"},
            "granularity": "hour",
            "metrics": ["events"],
            "caller": ADMIN,
        }
    )
    plan = plan_query(catalog, request, now, clickhouse.database)
    expected = Counter(t.replace(minute=0) for t in times if plan.main.start <= t < plan.main.end)
    assert sum(expected.values()) == EVENTS  # the last 24 hours, this one included, hold every event

    cache: BucketCache[Row] = BucketCache()
    first = await execute(clickhouse, plan, Reuse(cache))
    assert {r.bucket: r.metrics["events"] for r in first.rows} == expected
    assert first.sql is not None and first.reused_buckets == 0

    again = await execute(clickhouse, plan, Reuse(cache))
    assert again.sql is None  # every bucket from the cache: no statement, no SQL
    assert again.reused_buckets == 24
    assert again.rows == first.rows

    # An hour later, one new bucket is read; the 23 others come from the cache (the origin's hour has left).
    later = plan_query(catalog, request, now + timedelta(hours=1), clickhouse.database)
    slid = await execute(clickhouse, later, Reuse(cache))
    assert slid.sql is not None and slid.reused_buckets == 23
    assert {r.bucket: r.metrics["events"] for r in slid.rows} == Counter(
        t.replace(minute=0) for t in times if later.main.start <= t < later.main.end
    )


class SixHourWindows:
    """A day of events in the store, and six-hour hourly windows over it asked through one bucket cache, each
    answer checked against the events counted here."""

    def __init__(self, clickhouse: ClickHouse) -> None:
        self.clickhouse, self.catalog = clickhouse, load_catalog(CONFIGS)
        self.now = datetime.now(UTC).replace(second=0, microsecond=0)
        self.origin = self.now.replace(minute=0) - timedelta(hours=23)
        self.times = [self.origin + timedelta(minutes=10 * i) for i in range(EVENTS)]
        self.cache: BucketCache[Row] = BucketCache()

    async def load(self) -> SixHourWindows:
        await self.clickhouse.apply(plan_module(self.catalog.modules["clickstream"], self.clickhouse.database))
        await self.clickhouse.command(_insert_sql(self.clickhouse.database, self.origin))
        return self

    async def from_hour(self, hour: int) -> tuple[str | None, int, int]:
        """(the SQL that ran, None when the cache answered all; buckets reused; events in the window)."""
        start = self.origin + timedelta(hours=hour)
        window = {"start": start.isoformat(), "end": (start + timedelta(hours=6)).isoformat()}
        request = QueryRequest.model_validate(
            {"module": "clickstream", "window": window, "granularity": "hour", "metrics": ["events"], "caller": ADMIN}
        )
        plan = plan_query(self.catalog, request, self.now, self.clickhouse.database)
        answer = await execute(self.clickhouse, plan, Reuse(self.cache))
        expected = Counter(t.replace(minute=0) for t in self.times if start <= t < start + timedelta(hours=6))
        assert {r.bucket: r.metrics["events"] for r in answer.rows} == expected
        return answer.sql, answer.reused_buckets, sum(expected.values())


async def test_a_sliding_window_reads_the_next_windows_buckets_ahead_in_the_same_statement(
    clickhouse: ClickHouse,
) -> None:
    windows = await SixHourWindows(clickhouse).load()
    first_sql, reused, _ = await windows.from_hour(0)
    assert first_sql is not None and reused == 0  # a first view reads its window only
    slid_sql, reused, _ = await windows.from_hour(1)
    assert slid_sql is not None and reused == 5  # the slide reads its new hour and the six after it
    for hour in range(2, 8):
        sql, reused, events = await windows.from_hour(hour)
        assert sql is None and reused == 6, hour  # every bucket from the cache: no statement
        assert events == 36
    sql, reused, _ = await windows.from_hour(8)
    assert sql is not None and reused == 5  # past what was read ahead: read again (and ahead again)


def test_read_ahead_stays_within_the_window_the_clock_and_the_row_budget() -> None:
    assert read_ahead(window=6, missing=1, rows_per_bucket=40, room=100, row_budget=10_000) == 6
    assert read_ahead(window=6, missing=1, rows_per_bucket=40, room=2, row_budget=10_000) == 2  # now is 2 ahead
    assert read_ahead(window=6, missing=1, rows_per_bucket=4_000, room=100, row_budget=10_000) == 1
    assert read_ahead(window=6, missing=1, rows_per_bucket=20_000, room=100, row_budget=10_000) == 0
    assert read_ahead(window=6, missing=6, rows_per_bucket=40, room=100, row_budget=10_000) == 0  # a first view


async def test_reads_of_one_shape_waiting_for_the_store_are_merged_into_one_statement(clickhouse: ClickHouse) -> None:
    windows = await SixHourWindows(clickhouse).load()
    origin = windows.origin

    def statements() -> float:
        return sum(s.value for s in STATEMENTS.collect()[0].samples if s.name.endswith("_count"))

    before = statements()
    busy = asyncio.create_task(clickhouse.query("SELECT sleep(0.5)"))  # the store busy: the reads below queue
    await asyncio.sleep(0.05)
    (first, _, _), (second, _, _) = await asyncio.gather(windows.from_hour(0), windows.from_hour(10))
    await busy
    assert statements() - before == 1  # the second widened the first's read to hours 0-15
    assert first is not None and second is not None
    between, _, _ = await windows.from_hour(4)
    assert between is None  # hours 4-9, between the two windows: read with them, cached

    read: SpanRead[int] = SpanRead(origin, origin, asyncio.get_running_loop().create_future())
    assert not read.join(origin, origin + timedelta(hours=30), lambda first, last: last - first <= timedelta(hours=24))
    assert read.join(origin, origin + timedelta(hours=5), lambda first, last: True)
    assert read.take() == (origin, origin + timedelta(hours=5))
    assert not read.join(origin, origin + timedelta(hours=6), lambda first, last: True)  # taken: fixed
