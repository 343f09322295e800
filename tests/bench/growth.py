"""Benchmark: the headline dashboard question as the store grows (the cost should follow rollup rows, not events).

    uv run python -m tests.bench.growth --sizes 2000000,20000000,60000000

One store grown in steps (each step's events numbered on from the last, over the same 62 days, then merged as
background merges leave them). At each size the headline question of tests/bench/queries.py (30 days hourly, top
10 product groups + others, against the previous 30 days) is asked through a gateway process
(`strix serve gateway`; the query service runs in this process, which holds the store) from a dashboard client
in its own process: sliding (`--iterations` windows an hour apart) and cold (`fresh: true`). Printed per size:
events, the rollup rows the question reads, cold p50, sliding p50/p99, and the resident memory of each process
(query, gateway, auth); then one table line with each size's cost as a ratio to the smallest size's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from strix.platform import PlatformOptions, run_platform
from strix_clickhouse import ClickHouse
from strix_clickhouse.columns import BUCKET_COLUMN, rollup_table
from strix_clickhouse.sql import qualified, quote_identifier
from strix_runtime.logs import configure_logging
from tests.bench.processes import REPO, forget_answers, rss_mb, serving
from tests.bench.queries import _catalog, prepare
from tests.support import api_key

HEADLINE_ROLLUP = "hourly_product_groups"


async def rollup_rows(clickhouse: ClickHouse, start: datetime, end: datetime) -> int:
    """Rows of the rollup answering the headline question within [start, end)."""
    table = qualified(clickhouse.database, rollup_table("clickstream", HEADLINE_ROLLUP))
    column = quote_identifier(BUCKET_COLUMN)
    result = await clickhouse.query(
        f"SELECT count() FROM {table} WHERE {column} >= {{s:DateTime}} AND {column} < {{e:DateTime}}",
        {"s": start, "e": end},
    )
    return int(result.rows[0][0])


async def _dashboard(url: str, token: str, base: datetime, iterations: int) -> dict[str, dict[str, Any]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.bench.dashboard",
        "--url",
        url,
        "--base",
        base.isoformat(),
        "--iterations",
        str(iterations),
        "--measures",
        "cold",
        cwd=REPO,
        env={**os.environ, "STRIX_TOKEN": token},
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise SystemExit("the dashboard client failed")
    lines = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    return {line["measure"]: line for line in lines}


async def main(sizes: list[int], iterations: int, data_dir: Path) -> None:
    configure_logging("warning")
    options = PlatformOptions(
        catalog=_catalog(), data_dir=data_dir, nats_port=-1, port=0, services=("rollup", "query"), access_log=False
    )
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    async with run_platform(options) as platform:
        clickhouse = platform.clickhouse
        assert clickhouse is not None
        async with serving([["auth"], ["gateway"]], platform.nats_url, data_dir) as (auth, gateway):
            token = await api_key(platform.nc, ["read"], name="bench growth")
            table: list[dict[str, Any]] = []
            for size in sorted(sizes):
                now, count = await prepare(clickhouse, size, now)
                # Loaded straight into the store: answers cached at the last size must not be served at this one.
                await forget_answers(platform.nc, now - timedelta(days=62), now)
                base = now - timedelta(days=30)
                measures = await _dashboard(gateway.url, token, base, iterations)
                sliding, cold = measures["graphql_sliding"], measures["graphql_cold"]
                line = {
                    "measure": "growth",
                    "events": count,
                    "rollup_rows_read": await rollup_rows(
                        clickhouse, base - timedelta(days=30), base + timedelta(days=30)
                    ),
                    "cold_p50_ms": cold["p50_ms"],
                    "sliding_p50_ms": sliding["p50_ms"],
                    "sliding_p99_ms": sliding["p99_ms"],
                    "rss_mb": {"query": rss_mb(os.getpid()), "gateway": rss_mb(gateway.pid), "auth": rss_mb(auth.pid)},
                    "load": list(os.getloadavg()),
                }
                print(json.dumps(line), flush=True)
                table.append(line)
            first = table[0]
            print(
                json.dumps(
                    {
                        "measure": "growth_table",
                        "baseline": f"{first['events']} events",
                        "rows": [
                            {
                                "events": line["events"],
                                "events_ratio": round(line["events"] / first["events"], 1),
                                "rollup_rows_ratio": round(line["rollup_rows_read"] / first["rollup_rows_read"], 2),
                                "cold_ratio": round(line["cold_p50_ms"] / first["cold_p50_ms"], 2),
                                "sliding_p50_ratio": round(line["sliding_p50_ms"] / first["sliding_p50_ms"], 2),
                                "query_rss_mb": line["rss_mb"]["query"],
                            }
                            for line in table
                        ],
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="2000000,20000000,60000000", help="store sizes (events), comma-separated")
    parser.add_argument("--iterations", type=int, default=200, help="sliding windows per size")
    parser.add_argument("--data-dir", type=Path, default=REPO / ".strix-bench-growth")
    parser.add_argument("--keep", action="store_true", help="grow the store of a previous run")
    args = parser.parse_args()
    if args.data_dir.exists() and not args.keep:
        shutil.rmtree(args.data_dir)
    asyncio.run(main([int(s) for s in args.sizes.split(",")], args.iterations, args.data_dir))
    sys.exit(0)
