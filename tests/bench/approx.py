"""The headline question of the query benchmark asked of an approximate distinct count (`uniq_approx`).

    python -m tests.bench.approx --url http://127.0.0.1:8000 --base 2026-11-02T14:00:00+00:00 --token KEY

The bench's copy of the clickstream config declares `customers_approx` (uniq_approx over customer_id) beside
`customers` (uniq) in the same rollups (`with_approx_customers`); this client, in its own process as the
dashboard client is, times the cold first view (`fresh: true`) of the same 30-day hourly top-10 question with
CUSTOMERS_APPROX in place of CUSTOMERS, alternating with the uniq question's own cold view (A/B under one
load). `approx_error` then compares that answer's distinct customers, row by row and over the whole window,
with `uniqExact` over the raw events of the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from strix_clickhouse import ClickHouse
from strix_config import ModuleConfig
from strix_config.metrics import UniqApproxMetric
from tests.bench.dashboard import COLD_RUNS, percentile, post, report
from tests.bench.dashboard import DOCUMENT as UNIQ_DOCUMENT

REPO = Path(__file__).resolve().parents[2]
APPROX = "customers_approx"
DOCUMENT = (
    "query Approx($window: WindowInput!) { clickstream(window: $window, granularity: HOUR, "
    "groupBy: [PRODUCT_GROUP], metrics: [REVENUE, EVENTS, CUSTOMERS_APPROX], top: {n: 10, by: REVENUE}, "
    "compare: PREVIOUS_PERIOD, fresh: true) { source cached reusedBuckets rows { bucket productGroup others "
    "revenue events customersApprox previous { revenue events customersApprox } changeRatio { revenue } } } }"
)


def with_approx_customers(config: ModuleConfig) -> ModuleConfig:
    """`config` with `customers_approx` next to `customers`: in every rollup keeping all metrics, and added to
    each rollup that lists `customers`."""
    metric = UniqApproxMetric(
        kind="uniq_approx", field="customer_id", label="Unique customers (approx.)", description="Distinct customers."
    )
    rollups = {
        name: rollup
        if rollup.metrics is None or "customers" not in rollup.metrics
        else rollup.model_copy(update={"metrics": [*rollup.metrics, APPROX]})
        for name, rollup in config.rollups.items()
    }
    return config.model_copy(update={"metrics": {**config.metrics, APPROX: metric}, "rollups": rollups})


def window(start: datetime) -> dict[str, str]:
    return {"start": start.isoformat(), "end": (start + timedelta(days=30)).isoformat()}


def time_cold(url: str, base: datetime, token: str | None) -> None:
    """COLD_RUNS cold first views, each window an hour earlier than the last, as the uniq headline's are timed;
    each followed by the uniq headline's own cold view of the same window, so both see the same load."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=url, timeout=120, headers=headers) as client:
        post(client, {"query": DOCUMENT, "variables": {"window": window(base - timedelta(hours=COLD_RUNS + 1))}})
        cold: dict[str, list[float]] = {DOCUMENT: [], UNIQ_DOCUMENT: []}
        rows = 0
        for i in range(COLD_RUNS):
            for document, fresh in ((DOCUMENT, {}), (UNIQ_DOCUMENT, {"fresh": True})):
                variables = {"window": window(base - timedelta(hours=i)), **fresh}
                elapsed, answer = post(client, {"query": document, "variables": variables})
                assert not answer["cached"] and answer["reusedBuckets"] == 0
                cold[document].append(elapsed)
                rows = len(answer["rows"])
        report("graphql_cold_approx", cold[DOCUMENT], rows=rows)
        report("graphql_cold_uniq_interleaved", cold[UNIQ_DOCUMENT], rows=rows)


_EXACT_ROWS = """
    SELECT toStartOfHour(ts) AS bucket, if(has({top:Array(String)}, product_group), product_group, '') AS grp,
           uniqExact(customer_id) AS customers
    FROM `{database}`.`clickstream_events`
    WHERE ts >= {start:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')}
    GROUP BY bucket, grp
"""


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def approx_error(client: httpx.AsyncClient, clickhouse: ClickHouse, base: datetime) -> dict[str, Any]:
    """The relative error of the approximate answer against uniqExact over the raw events: each (hour, group)
    row of the headline question, and the whole window's total."""
    _, answer = await _ask(client, DOCUMENT, window(base))
    top = sorted({row["productGroup"] for row in answer["rows"] if not row["others"]})
    sql = _EXACT_ROWS.replace("{database}", clickhouse.database)
    params = {"top": top, "start": base, "end": base + timedelta(days=30)}
    exact = {(_utc(b), g): int(n) for b, g, n in (await clickhouse.query(sql, params)).rows}
    errors = []
    for row in answer["rows"]:
        key = (_utc(datetime.fromisoformat(row["bucket"])), "" if row["others"] else row["productGroup"])
        if key not in exact:  # a group seen only in the previous period
            assert row["customersApprox"] == 0, row
            continue
        errors.append(abs(row["customersApprox"] - exact[key]) / exact[key])
    assert errors and len(errors) == len(exact), (len(errors), len(exact))
    total_query = (
        "query Total($window: WindowInput!) { clickstream(window: $window, granularity: TOTAL, "
        "metrics: [CUSTOMERS, CUSTOMERS_APPROX]) { rows { customers customersApprox } } }"
    )
    _, totals = await _ask(client, total_query, window(base))
    [total] = totals["rows"]
    exact_total = (
        await clickhouse.query(
            f"SELECT uniqExact(customer_id) FROM `{clickhouse.database}`.`clickstream_events` "
            "WHERE ts >= {start:DateTime64(3, 'UTC')} AND ts < {end:DateTime64(3, 'UTC')}",
            {"start": base, "end": base + timedelta(days=30)},
        )
    ).rows[0][0]
    return {
        "rows": len(errors),
        "row_error_p50": round(statistics.median(errors), 4),
        "row_error_p99": round(percentile(errors, 0.99), 4),
        "row_error_max": round(max(errors), 4),
        "total_exact": int(exact_total),
        "total_approx_error": round((total["customersApprox"] - exact_total) / exact_total, 4),
        "total_uniq_error": round((total["customers"] - exact_total) / exact_total, 4),
    }


async def _ask(client: httpx.AsyncClient, document: str, variables: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = await client.post("/graphql", json={"query": document, "variables": {"window": variables}})
    body = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]["clickstream"]
    return response.status_code, data


async def first_view_cold_approx(
    url: str, token: str, clickhouse: ClickHouse, base: datetime, raw_p50_ms: float, uniq_cold_p50_ms: float
) -> dict[str, Any]:
    """Times the approximate headline in a client process, measures its error, and prints the
    `first_view_cold_approx` line: its p50 beside the raw table's (the baseline) and the uniq headline's."""
    client = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.bench.approx",
        "--url",
        url,
        "--base",
        base.isoformat(),
        "--token",
        token,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await client.communicate()
    if client.returncode != 0:
        raise SystemExit("the approximate dashboard client failed")
    timed, interleaved = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    print(json.dumps(timed), flush=True)
    print(json.dumps(interleaved), flush=True)
    async with httpx.AsyncClient(base_url=url, timeout=120, headers={"Authorization": f"Bearer {token}"}) as http:
        error = await approx_error(http, clickhouse, base)
    line = {
        "measure": "first_view_cold_approx",
        "p50_ms": timed["p50_ms"],
        "p99_ms": timed["p99_ms"],
        "n": timed["n"],
        "baseline": "raw_table_direct",
        "baseline_p50_ms": raw_p50_ms,
        "speedup": round(raw_p50_ms / timed["p50_ms"], 1),
        "uniq_cold_p50_ms": uniq_cold_p50_ms,  # the dashboard client's, before
        "uniq_cold_interleaved_p50_ms": interleaved["p50_ms"],  # alternating with these, same load
        "error_vs_exact": error,
        "load": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(line), flush=True)
    return line


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--base", required=True, type=datetime.fromisoformat, help="end of the latest window's start")
    parser.add_argument("--token", default=os.environ.get("STRIX_TOKEN"), help="API key (read scope)")
    args = parser.parse_args()
    time_cold(args.url, args.base, args.token)
