"""The dashboard side of the query benchmark, in its own process as a browser or an integrator would be.

    python -m tests.bench.dashboard --url http://127.0.0.1:8000 --base 2026-11-02T14:00:00+00:00

Times the typical dashboard question through GraphQL over HTTP three ways (sliding window, repeated query,
`fresh: true`), then the dashboard's other panels (KPI tiles, a live minute chart) as they slide, and prints
one JSON line per measurement. The query is one document with the window in variables,
as GraphQL clients send a dashboard's query; `--literal` writes the window into the text instead (a new text
per window: parsed and validated every time). A client in the server's own process would share its one Python
thread and charge its own parsing of 2 MB answers to the server.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import datetime, timedelta
from typing import Any

import httpx

SELECTION = (
    "granularity: HOUR, groupBy: [PRODUCT_GROUP], metrics: [REVENUE, EVENTS, CUSTOMERS], top: {n: 10, by: REVENUE}, "
    "compare: PREVIOUS_PERIOD"
)
ROWS = (
    "{ source cached reusedBuckets rows { bucket productGroup others revenue events customers "
    "previous { revenue events customers } changeRatio { revenue } } }"
)
# 30 days hourly, top 10 product groups by revenue with events and customers, vs the previous 30 days: one
# document, the window and `fresh` in variables, as GraphQL clients send a dashboard's query.
DOCUMENT = (
    "query Dashboard($window: WindowInput!, $fresh: Boolean!) "
    f"{{ clickstream(window: $window, {SELECTION}, fresh: $fresh) {ROWS} }}"
)


# Other panels of the same dashboard, each sliding as time passes: (document, window length, step).
PANELS = {
    # KPI tiles: the last 24 hours as totals against the 24 before (a derived ratio among them).
    "kpi_tiles": (
        "query Tiles($window: WindowInput!) { clickstream(window: $window, granularity: TOTAL, "
        "metrics: [EVENTS, REVENUE, CUSTOMERS, CONVERSION_RATE], compare: PREVIOUS_PERIOD) { source rows { events "
        "revenue customers conversionRate previous { events revenue customers conversionRate } "
        "changeRatio { revenue conversionRate } } } }",
        timedelta(hours=24),
        timedelta(hours=1),
    ),
    # A live chart: the last hour minute by minute, per action.
    "live_minutes": (
        "query Live($window: WindowInput!) { clickstream(window: $window, granularity: MINUTE, groupBy: [ACTION], "
        "metrics: [EVENTS, REVENUE]) { source rows { bucket action events revenue } } }",
        timedelta(hours=1),
        timedelta(minutes=1),
    ),
}


def post(client: httpx.Client, payload: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """Milliseconds until the whole answer arrived, and the answer."""
    began = time.perf_counter()
    response = client.post("/graphql", json=payload)  # returns once the whole body arrived
    elapsed = (time.perf_counter() - began) * 1000
    body = response.json()
    assert "errors" not in body, body
    answer: dict[str, Any] = body["data"]["clickstream"]
    return elapsed, answer


def measure_panel(client: httpx.Client, name: str, now: datetime, iterations: int) -> None:
    document, length, step = PANELS[name]
    millis: list[float] = []
    answer: dict[str, Any] = {}
    for i in range(iterations, 0, -1):
        end = now - step * i
        window = {"start": (end - length).isoformat(), "end": end.isoformat()}
        elapsed, answer = post(client, {"query": document, "variables": {"window": window}})
        millis.append(elapsed)
    report(f"graphql_{name}", millis, rows=len(answer["rows"]), source=answer["source"])


def graphql_text(start: datetime, end: datetime, fresh: bool = False) -> str:
    """The same question with the window written into the text, as typed in a playground."""
    window = f'{{start: "{start.isoformat()}", end: "{end.isoformat()}"}}'
    return f"{{ clickstream(window: {window}, {SELECTION}, fresh: {str(fresh).lower()}) {ROWS} }}"


# Sliding and repeated queries: 200 each by default, so that p99 is not simply the slowest one. Queries that
# recompute everything (~1 s each) run fewer times.
ITERATIONS = 200
COLD_RUNS = 12


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(name: str, millis: list[float], **extra: object) -> dict[str, object]:
    line: dict[str, object] = {
        "measure": name,
        "n": len(millis),
        "p50_ms": round(percentile(millis, 0.5), 1),
        "p99_ms": round(percentile(millis, 0.99), 1),
        "mean_ms": round(statistics.fmean(millis), 1),
        "max_ms": round(max(millis), 1),
        **extra,
    }
    print(json.dumps(line), flush=True)
    return line


MEASURES = ("sliding", "repeated", "cold", "panels")


def run(
    url: str,
    base: datetime,
    iterations: int,
    literal: bool = False,
    token: str | None = None,
    measures: tuple[str, ...] = MEASURES,
) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=url, timeout=120, headers=headers) as client:

        def ask(start: datetime, fresh: bool = False) -> tuple[float, dict[str, Any]]:
            end = start + timedelta(days=30)
            if literal:
                return post(client, {"query": graphql_text(start, end, fresh)})
            window = {"start": start.isoformat(), "end": end.isoformat()}
            return post(client, {"query": DOCUMENT, "variables": {"window": window, "fresh": fresh}})

        _, warm = ask(base - timedelta(hours=iterations + 1))  # imports, first plan, rollup sizes, buckets
        rows = len(warm["rows"])
        sliding: list[float] = []
        reused: list[int] = []
        for i in range(iterations, 0, -1):
            elapsed, answer = ask(base - timedelta(hours=i))
            assert not answer["cached"]
            sliding.append(elapsed)
            reused.append(answer["reusedBuckets"])
        median_reuse = sorted(reused)[len(reused) // 2]
        report("graphql_sliding", sliding, rows=rows, source=warm["source"], reused_buckets_p50=median_reuse)
        if "repeated" in measures:
            repeated: list[float] = []
            for _ in range(iterations):
                elapsed, answer = ask(base - timedelta(hours=1))
                assert answer["cached"]
                repeated.append(elapsed)
            report("graphql_repeated", repeated, rows=rows)
        if "cold" in measures:
            cold: list[float] = []
            for i in range(COLD_RUNS):
                elapsed, answer = ask(base - timedelta(hours=i), fresh=True)
                assert not answer["cached"] and answer["reusedBuckets"] == 0
                cold.append(elapsed)
            report("graphql_cold", cold, rows=rows)
        if "panels" in measures:
            for name in PANELS:
                measure_panel(client, name, base + timedelta(days=30), iterations)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--base", required=True, type=datetime.fromisoformat, help="end of the sliding windows")
    parser.add_argument("--iterations", type=int, default=ITERATIONS)
    parser.add_argument("--literal", action="store_true", help="write the window into the query text")
    parser.add_argument(
        "--token",
        default=os.environ.get("STRIX_TOKEN"),
        help="access token or API key (read scope) the queries carry; default $STRIX_TOKEN",
    )
    parser.add_argument(
        "--measures",
        default=",".join(MEASURES),
        help=f"what to time after the sliding window, comma-separated among {', '.join(MEASURES[1:])}",
    )
    args = parser.parse_args()
    run(args.url, args.base, args.iterations, args.literal, args.token, tuple(args.measures.split(",")))
