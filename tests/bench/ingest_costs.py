"""Benchmark: what each rollup, and each kind of metric state in a rollup, costs at ingest.

    uv run python -m tests.bench.ingest_costs --events 200000

The clickstream example's events (20 hours of them, as the pipeline bench sends) are inserted as Arrow blocks
of 100 k events — the rollup's own insert path — into the raw events table alone, then with each of the
example's rollups alone, then with all of them; then into one fine rollup (minute x action x product group x
country x device) and one coarse one (hour x product group) holding a count and one more metric of each kind.
Each variant gets a fresh database of its own in one embedded store, three times (after one warm-up insert).
One JSON line per variant: the median CPU seconds per million events (chDB's threads are this process's, so
CPU time is the cost, far steadier than wall time on a shared machine) and the wall seconds beside it, the
extra CPU over its baseline (the raw table alone; the rollup with the count alone), and the rows the rollup
keeps (insert cost follows the groups a block produces, not the events).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from strix.generators import clickstream_events
from strix_clickhouse import ClickHouse, connect, plan_module
from strix_clickhouse.columns import events_table, rollup_table
from strix_config import ModuleConfig, load_catalog
from strix_config.model import Rollup
from strix_runtime.logs import configure_logging
from tests.bench.pipeline import MODULE, ndjson_bodies, raw_blocks

REPO = Path(__file__).resolve().parents[2]
FINE = Rollup(granularity="minute", dimensions=["action", "product_group", "country", "device"])
COARSE = Rollup(granularity="hour", dimensions=["product_group"])
# One metric of each kind next to the count: sum, avg, max, uniq, quantile (the example's own metrics).
KINDS = {"count": [], "sum": ["revenue"], "avg": ["avg_price"], "max": ["max_price"], "uniq": ["customers"]}
KINDS["quantile"] = ["median_price"]


def variant(config: ModuleConfig, rollups: dict[str, Rollup]) -> ModuleConfig:
    return config.model_copy(update={"rollups": rollups, "queries": {}, "joins": {}})


async def cost(
    store: ClickHouse, config: ModuleConfig, name: str, blocks: list[pa.Table], repeats: int = 3
) -> tuple[float, float, int]:
    """(CPU and wall seconds per million events, medians of `repeats`; rows kept by the variant's rollups)."""
    cpu: list[float] = []
    wall: list[float] = []
    rows = 0
    events = sum(b.num_rows for b in blocks)
    for repeat in range(repeats):
        database = f"costs_{name}_{repeat}"
        clickhouse = ClickHouse(store._client, database, store.url)
        await clickhouse.command(f"DROP DATABASE IF EXISTS `{database}`")
        await clickhouse.apply(plan_module(config, database))
        began, began_cpu = time.perf_counter(), time.process_time()
        for block in blocks:
            await clickhouse.insert_arrow(events_table(MODULE), block)
        wall.append((time.perf_counter() - began) * 1e6 / events)
        cpu.append((time.process_time() - began_cpu) * 1e6 / events)
        rows = 0
        for rollup in config.rollups:
            table = f"`{database}`.`{rollup_table(MODULE, rollup)}`"
            rows += int((await clickhouse.query(f"SELECT count() FROM {table} FINAL")).rows[0][0])
        await clickhouse.command(f"DROP DATABASE IF EXISTS `{database}`")
    return statistics.median(cpu), statistics.median(wall), rows


def line(name: str, measured: tuple[float, float, int], baseline: str, baseline_cpu: float) -> dict[str, Any]:
    cpu, wall, rows = measured
    return {
        "measure": f"ingest_cost_{name}",
        "cpu_s_per_million": round(cpu, 2),
        "wall_s_per_million": round(wall, 2),
        "baseline": baseline,
        "extra_cpu_s_per_million": round(cpu - baseline_cpu, 2),
        "rollup_rows": rows,
        "load": [round(x, 2) for x in os.getloadavg()],
    }


async def main(events_count: int, repeats: int = 3) -> list[dict[str, Any]]:
    configure_logging("warning")
    lines: list[dict[str, Any]] = []

    def emit(entry: dict[str, Any]) -> None:
        lines.append(entry)
        print(json.dumps(entry), flush=True)

    work = Path(tempfile.mkdtemp(prefix="strix-costs-"))
    store = connect(f"chdb://{work / 'store'}", "default")
    try:
        config = load_catalog(REPO / "configs").modules[MODULE]
        now = datetime.now(UTC)
        events = clickstream_events(random.Random(1), events_count, now - timedelta(hours=20), now)
        blocks, _ = raw_blocks(config, ndjson_bodies(events))
        await cost(store, variant(config, dict(config.rollups)), "warm_up", blocks[:1])
        raw = await cost(store, variant(config, {}), "raw", blocks, repeats)
        emit(line("raw_table", raw, "raw_table", raw[0]))
        for name, rollup in config.rollups.items():
            measured = await cost(store, variant(config, {name: rollup}), name, blocks, repeats)
            emit(line(f"rollup_{name}", measured, "raw_table", raw[0]))
        measured = await cost(store, variant(config, dict(config.rollups)), "all", blocks, repeats)
        emit(line("all_rollups", measured, "raw_table", raw[0]))
        for label, shape in (("minute_fine", FINE), ("hour_coarse", COARSE)):
            base = 0.0
            for kind, metrics in KINDS.items():
                rollup = shape.model_copy(update={"metrics": ["events", *metrics]})
                measured = await cost(store, variant(config, {label: rollup}), f"{label}_{kind}", blocks, repeats)
                base = measured[0] if kind == "count" else base
                emit(line(f"{label}_{kind}", measured, f"{label}_count", base))
    finally:
        store.close()
        shutil.rmtree(work, ignore_errors=True)
    return lines


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3, help="inserts per variant (the median is reported)")
    args = parser.parse_args()
    asyncio.run(main(args.events, args.repeats))
