"""Benchmark: dashboard queries through GraphQL over a large clickstream, next to the raw-table question.

    uv run invoke bench --events 20000000

Loads N clickstream events straight into the events table of an embedded store (ClickHouse generates them;
the materialized views fill every rollup as they would from the pipeline; then the rollups are merged, as
background merges leave them), and asks the typical dashboard question — 30 days, hourly, top 10 product
groups by revenue with events and unique customers, compared with the previous 30 days — through GraphQL over
HTTP from a client in its own process (tests/bench/dashboard.py), three ways:

- sliding: each query's window one hour later than the last, as a dashboard left open sees it (the bucket
  cache answers the buckets it has seen; one new bucket per period is computed);
- repeated: the same query again (the answer cache);
- cold: `fresh: true`, nothing from any cache (every bucket computed from the rollup);

then two other panels of such a dashboard (KPI tiles: 24 h totals against the 24 h before; a live chart: the
last hour by minute and action), and the same headline question of the raw table directly in ClickHouse.
Prints one JSON line per measurement and a summary. `--literal`: the window written into the query text
rather than passed in variables.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from strix.platform import PlatformOptions, run_platform
from strix_clickhouse import ClickHouse
from strix_config import Catalog, load_catalog
from strix_runtime.heap import freeze_startup_heap
from strix_runtime.logs import configure_logging
from tests.bench.approx import first_view_cold_approx, with_approx_customers
from tests.bench.dashboard import COLD_RUNS, ITERATIONS, report
from tests.support import api_key

REPO = Path(__file__).resolve().parents[2]
GROUPS = 40
CHUNK = 500_000


def _load_sql(database: str, start: datetime, span_seconds: int, offset: int, rows: int) -> str:
    """One chunk of synthetic events generated inside ClickHouse (no Python per event)."""
    t0 = int(start.timestamp())
    return f"""
    INSERT INTO `{database}`.`clickstream_events`
    SELECT
        generateUUIDv4() AS event_id,
        toDateTime64({t0} + (cityHash64(number, 1) % {span_seconds}), 3, 'UTC') AS ts,
        concat('c', toString(cityHash64(number, 2) % 200000)) AS customer_id,
        concat('s', toString(cityHash64(number, 3) % 600000)) AS session_id,
        multiIf(cityHash64(number, 4) % 100 < 80, 'view', cityHash64(number, 4) % 100 < 94, 'add_to_cart', 'purchase')
            AS action,
        concat('group-', leftPad(toString(toUInt32(sqrt(cityHash64(number, 5) % {GROUPS * GROUPS}))), 2, '0'))
            AS product_group,
        concat('p-', toString(cityHash64(number, 6) % 5000)) AS product_id,
        ['FI','SE','DE','FR','US','JP','BR','IN'][1 + cityHash64(number, 7) % 8] AS country,
        ['desktop','mobile','tablet'][1 + cityHash64(number, 8) % 3] AS device,
        toDecimal64((99 + cityHash64(number, 9) % 24900) / 100, 2) AS price,
        toInt64(1 + cityHash64(number, 10) % 3) AS quantity,
        toUInt64(number) AS _seq,
        toUInt32(0) AS _pos
    FROM numbers({offset}, {rows})
    """


def _raw_sql(database: str) -> str:
    """The same question of the raw events: top 10 groups, hourly series with others, and the previous period."""
    table = f"`{database}`.`clickstream_events`"
    period = """
        SELECT toStartOfHour(ts) AS bucket, if(product_group IN top, product_group, NULL) AS grp,
               sumIf(price, action = 'purchase') AS revenue, count() AS events, uniq(customer_id) AS customers
        FROM {table} WHERE ts >= {{s:DateTime64(3, 'UTC')}} AND ts < {{e:DateTime64(3, 'UTC')}}
        GROUP BY bucket, grp"""
    return f"""
    WITH top AS (
        SELECT product_group FROM {table}
        WHERE ts >= {{start:DateTime64(3, 'UTC')}} AND ts < {{end:DateTime64(3, 'UTC')}}
        GROUP BY product_group ORDER BY sumIf(price, action = 'purchase') DESC LIMIT 10)
    SELECT * FROM ({period.format(table=table).replace("{s:", "{start:").replace("{e:", "{end:")}) AS cur
    LEFT JOIN ({period.format(table=table).replace("{s:", "{prev_start:").replace("{e:", "{prev_end:")}) AS prev
    ON prev.bucket + INTERVAL 30 DAY = cur.bucket AND prev.grp IS NOT DISTINCT FROM cur.grp
    ORDER BY cur.bucket, cur.grp
    """


async def load(clickhouse: ClickHouse, events: int, now: datetime, offset: int = 0) -> None:
    """`events` more events over the 62 days before `now`; `offset`: how many earlier loads made (a new
    event numbers on from there, so a store grown in steps holds distinct events)."""
    start = now - timedelta(days=62)
    span = int((now - start).total_seconds())
    # Each chunk's events fall in its own slice of the 62 days (uniform within it, so uniform overall): a block
    # spanning every day would write a part into every daily partition of each table it feeds.
    chunks = max(1, -(-events // CHUNK))
    slice_seconds = span // chunks
    loaded = 0
    began = time.perf_counter()
    for chunk in range(chunks):
        rows = events // chunks + (1 if chunk < events % chunks else 0)
        first = start + timedelta(seconds=chunk * slice_seconds)
        await clickhouse.command(_load_sql(clickhouse.database, first, slice_seconds, offset + loaded, rows))
        loaded += rows
        rate = loaded / (time.perf_counter() - began)
        print(json.dumps({"progress": "load", "events": loaded, "of": events, "events_per_s": round(rate)}), flush=True)
    tables = await clickhouse.query(
        "SELECT name FROM system.tables WHERE database = {db:String} AND engine = 'AggregatingMergeTree'",
        {"db": clickhouse.database},
    )
    for (table,) in tables.rows:
        began = time.perf_counter()
        await clickhouse.command(f"OPTIMIZE TABLE `{clickhouse.database}`.`{table}` FINAL")
        print(json.dumps({"progress": "merge", "table": table, "s": round(time.perf_counter() - began, 1)}), flush=True)


async def prepare(clickhouse: ClickHouse, events: int, now: datetime) -> tuple[datetime, int]:
    """At least `events` events in the store (loading what is missing, numbered on from what is there), and
    the hour the windows end at: where the events do (data kept from an earlier run ends at that run's hour)."""
    table = f"`{clickhouse.database}`.`clickstream_events`"
    count = int((await clickhouse.query(f"SELECT count() FROM {table}")).rows[0][0])
    if count:
        latest = (await clickhouse.query(f"SELECT max(ts) FROM {table}")).rows[0][0]
        now = latest.replace(tzinfo=UTC, minute=0, second=0, microsecond=0) + timedelta(hours=1)
    if count < events:
        await load(clickhouse, events - count, now, count)
        count = events
    sizes = await clickhouse.query(
        "SELECT table, sum(rows) FROM system.parts WHERE database = {db:String} AND active GROUP BY table",
        {"db": clickhouse.database},
    )
    print(json.dumps({"events": count, "tables": {t: int(r) for t, r in sizes.rows}}), flush=True)
    return now, count


def _catalog() -> Catalog:
    """The example configs, with raw clickstream events kept for both compared periods (the example keeps 30
    days): the raw-table question must see every event the rollups saw."""
    catalog = load_catalog(REPO / "configs")
    clicks = catalog.modules["clickstream"]
    raw = clicks.raw.model_copy(update={"retention": None})
    catalog.modules["clickstream"] = with_approx_customers(clicks.model_copy(update={"raw": raw}))
    return catalog


async def main(events: int, iterations: int, data_dir: Path, literal: bool = False) -> None:
    configure_logging("warning")
    options = PlatformOptions(catalog=_catalog(), data_dir=data_dir, nats_port=-1, port=0)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    async with run_platform(options) as platform:
        clickhouse = platform.clickhouse
        assert clickhouse is not None
        now, count = await prepare(clickhouse, events, now)
        freeze_startup_heap()  # as `strix up` and `strix serve` do once started

        base = now - timedelta(days=30)
        # The dashboard runs in its own process, as a browser would; its JSON lines are passed through.
        dashboard = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.bench.dashboard",
            "--url",
            platform.http_url,
            "--base",
            base.isoformat(),
            "--iterations",
            str(iterations),
            *(["--literal"] if literal else []),
            "--token",
            await api_key(platform.nc, ["read"], name="bench dashboard"),
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
        )
        measures: dict[str, dict[str, Any]] = {}
        assert dashboard.stdout is not None
        async for line in dashboard.stdout:
            print(line.decode().rstrip(), flush=True)
            measure = json.loads(line)
            measures[measure["measure"]] = measure
        if await dashboard.wait() != 0:
            raise SystemExit("the dashboard client failed")
        graph, coldest = measures["graphql_sliding"], measures["graphql_cold"]

        raw: list[float] = []
        for i in range(COLD_RUNS):
            start = base - timedelta(hours=i)
            params = {
                "start": start,
                "end": start + timedelta(days=30),
                "prev_start": start - timedelta(days=30),
                "prev_end": start,
            }
            began = time.perf_counter()
            await clickhouse.query(_raw_sql(clickhouse.database), params)
            raw.append((time.perf_counter() - began) * 1000)
        direct = report("raw_table_direct", raw)
        token = await api_key(platform.nc, ["read"], name="bench approx")
        args = (float(direct["p50_ms"]), float(coldest["p50_ms"]))  # type: ignore[arg-type]
        await first_view_cold_approx(platform.http_url, token, clickhouse, base, *args)
        print(
            json.dumps(
                {
                    "summary": "30 days hourly, top 10 product groups by revenue + others, vs previous 30 days",
                    "events": max(events, count),
                    "graphql_sliding_p50_ms": graph["p50_ms"],
                    "graphql_sliding_p99_ms": graph["p99_ms"],
                    "graphql_sliding_max_ms": graph["max_ms"],
                    "graphql_repeated_p99_ms": measures["graphql_repeated"]["p99_ms"],
                    "graphql_cold_p50_ms": coldest["p50_ms"],
                    "raw_p50_ms": direct["p50_ms"],
                    "speedup_sliding_p50": round(float(direct["p50_ms"]) / float(graph["p50_ms"]), 1),  # type: ignore[arg-type]
                    "speedup_cold_p50": round(float(direct["p50_ms"]) / float(coldest["p50_ms"]), 1),  # type: ignore[arg-type]
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--iterations", type=int, default=ITERATIONS)
    parser.add_argument("--data-dir", type=Path, default=REPO / ".strix-bench")
    parser.add_argument("--keep", action="store_true", help="reuse the loaded data of a previous run")
    parser.add_argument("--literal", action="store_true", help="the window in the query text, not in variables")
    args = parser.parse_args()
    if args.data_dir.exists() and not args.keep:
        shutil.rmtree(args.data_dir)
    asyncio.run(main(args.events, args.iterations, args.data_dir, args.literal))
    sys.exit(0)
