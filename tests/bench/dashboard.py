"""The dashboard side of the query benchmark, in its own process as a browser or an integrator would be.

    python -m tests.bench.dashboard --url http://127.0.0.1:8000 --base 2026-11-02T14:00:00+00:00

Times the typical dashboard question through GraphQL over HTTP three ways (sliding window, repeated query,
`fresh: true`) and prints one JSON line per measurement. A client in the server's own process would share its
one Python thread and charge its own parsing of 2 MB answers to the server.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import datetime, timedelta
from typing import Any

import httpx


def graphql_text(start: datetime, end: datetime, fresh: bool = False) -> str:
    """30 days hourly, top 10 product groups by revenue with events and customers, vs the previous 30 days."""
    return (
        f'{{ clickstream(window: {{start: "{start.isoformat()}", end: "{end.isoformat()}"}}, granularity: HOUR, '
        "groupBy: [PRODUCT_GROUP], metrics: [REVENUE, EVENTS, CUSTOMERS], top: {n: 10, by: REVENUE}, "
        f"compare: PREVIOUS_PERIOD, fresh: {str(fresh).lower()}) {{ source cached reusedBuckets rows {{ bucket "
        "productGroup others revenue events customers previous { revenue events customers } "
        "changeRatio { revenue } } } }"
    )


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


def run(url: str, base: datetime, iterations: int) -> None:
    with httpx.Client(base_url=url, timeout=120) as client:

        def ask(start: datetime, fresh: bool = False) -> tuple[float, dict[str, Any]]:
            text = graphql_text(start, start + timedelta(days=30), fresh)
            began = time.perf_counter()
            response = client.post("/graphql", json={"query": text})  # returns once the whole body arrived
            elapsed = (time.perf_counter() - began) * 1000
            body = response.json()
            assert "errors" not in body, body
            answer: dict[str, Any] = body["data"]["clickstream"]
            return elapsed, answer

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
        repeated: list[float] = []
        for _ in range(iterations):
            elapsed, answer = ask(base - timedelta(hours=1))
            assert answer["cached"]
            repeated.append(elapsed)
        report("graphql_repeated", repeated, rows=rows)
        cold: list[float] = []
        for i in range(COLD_RUNS):
            elapsed, answer = ask(base - timedelta(hours=i), fresh=True)
            assert not answer["cached"] and answer["reusedBuckets"] == 0
            cold.append(elapsed)
        report("graphql_cold", cold, rows=rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--base", required=True, type=datetime.fromisoformat, help="end of the sliding windows")
    parser.add_argument("--iterations", type=int, default=ITERATIONS)
    args = parser.parse_args()
    run(args.url, args.base, args.iterations)
