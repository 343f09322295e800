"""Benchmark: many dashboard viewers at once, through one and then two gateway processes.

    uv run python -m tests.bench.viewers --events 20000000 --clients 50 --seconds 60

The bench process loads N clickstream events (as tests/bench/queries.py does) and runs the query service on
them; the auth service and the gateway run as their own `strix serve` processes (tests/bench/processes.py).
Then `--clients` dashboard clients, in one client process of their own, each on its own HTTP connection with a
read API key, each slide their own 6-hour window (hourly, the top 5 product groups by revenue with events and
unique customers) one hour per question for `--seconds`, as viewers who opened the same dashboard at different
times and step through it. Printed: answers/s, p50/p99 latency, and the CPU (cores busy) of every process — with
one gateway, then with `--gateways` behind a client-side round robin, and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from nats.aio.client import Client as NATS
from prometheus_client import Histogram

from strix.platform import PlatformOptions, run_platform
from strix_clickhouse import ClickHouse
from strix_contracts.caller import Caller
from strix_contracts.query import QueryRequest, Row
from strix_query.app import QUERY_SECONDS
from strix_query.buckets_cache import BucketCache
from strix_query.cache import ResultCache
from strix_query.execution import STATEMENTS, Answer, execute_cached
from strix_runtime.heap import freeze_startup_heap
from strix_runtime.logs import configure_logging
from tests.bench.dashboard import percentile
from tests.bench.processes import REPO, CpuMeter, forget_answers, rss_mb, serving
from tests.bench.queries import _catalog, prepare
from tests.support import api_key

# The question each viewer slides: 6 hours, hourly, top 5 product groups by revenue (the many-viewers one).
DOCUMENT = (
    "query Viewer($window: WindowInput!) { clickstream(window: $window, granularity: HOUR, "
    "groupBy: [PRODUCT_GROUP], metrics: [REVENUE, EVENTS, CUSTOMERS], top: {n: 5, by: REVENUE}) "
    "{ source rows { bucket productGroup revenue events customers } } }"
)
WINDOW = timedelta(hours=6)


def answered_within(histogram: Histogram = QUERY_SECONDS, purpose: str | None = None) -> dict[float, float]:
    """How many answers the query service (this process) gave (or statements it ran for `purpose`) within each
    bound of a latency histogram."""
    within: dict[float, float] = {}
    for sample in histogram.collect()[0].samples:
        if sample.name.endswith("_bucket") and purpose in (None, sample.labels.get("purpose")):
            bound = float(sample.labels["le"])
            within[bound] = within.get(bound, 0) + sample.value
    return within


def bound_of(before: dict[float, float], after: dict[float, float], share: float) -> float:
    """The histogram bound under which `share` of the answers given between two readings fell (in ms)."""
    counts = {bound: after[bound] - before.get(bound, 0) for bound in sorted(after)}
    total = counts[max(counts)]
    return next(bound for bound, count in counts.items() if count >= share * total) * 1000


def statements() -> dict[str, float]:
    """The statements the query service (this process) has run so far, by purpose."""
    samples = STATEMENTS.collect()[0].samples
    return {sample.labels["purpose"]: sample.value for sample in samples if sample.name.endswith("_count")}


def statements_since(before: dict[str, float]) -> dict[str, int]:
    """The statements run since `before` (a reading of `statements()`), by purpose."""
    return {k: int(v - before.get(k, 0)) for k, v in statements().items() if v > before.get(k, 0)}


async def _viewer(
    url: str,
    token: str,
    first: datetime,
    hours: int,
    offset: int,
    until: float,
    millis: list[float],
    steady: list[float],
    settled: float,
    ready: asyncio.Barrier,
) -> int:
    """One viewer on its own connection: its window starts `offset` hours into the `hours` after `first` and
    moves an hour per question (wrapping round) until `until` (one question at least). Returns the rows it was
    sent."""
    rows = 0
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as client:
        await ready.wait()  # every viewer's client made first (each costs milliseconds of this process's CPU)
        step = offset
        while step == offset or time.perf_counter() < until:
            start = first + timedelta(hours=step % hours)
            window = {"start": start.isoformat(), "end": (start + WINDOW).isoformat()}
            began = time.perf_counter()
            response = await client.post("/graphql", json={"query": DOCUMENT, "variables": {"window": window}})
            body = response.json()
            millis.append((time.perf_counter() - began) * 1000)
            if began >= settled:
                steady.append(millis[-1])
            assert "errors" not in body, body
            rows += len(body["data"]["clickstream"]["rows"])
            step += 1
    return rows


async def viewers(urls: list[str], token: str, first: datetime, hours: int, clients: int, seconds: float) -> None:
    """`clients` viewers spread round robin over `urls`; prints one JSON line with what they saw. With no
    `seconds`, each asks one question, all the same one at once (a dashboard opened by many on empty caches)."""
    millis: list[float] = []
    steady: list[float] = []  # the answers to questions asked after the first 5 s (the caches' first fill)
    cpu_before = time.process_time()
    began = time.perf_counter()
    until = began + seconds
    spread = max(1, hours // clients) if seconds > 0 else 0
    ready = asyncio.Barrier(clients)
    rows = await asyncio.gather(
        *(
            _viewer(urls[i % len(urls)], token, first, hours, i * spread, until, millis, steady, began + 5, ready)
            for i in range(clients)
        )
    )
    wall = time.perf_counter() - began
    print(
        json.dumps(
            {
                "answers": len(millis),
                "rows": sum(rows),
                "seconds": round(wall, 1),
                "answers_per_s": round(len(millis) / wall, 1),
                "p50_ms": round(percentile(millis, 0.5), 1),
                "p99_ms": round(percentile(millis, 0.99), 1),
                "max_ms": round(max(millis), 1),
                "steady_p50_ms": round(percentile(steady, 0.5), 1) if steady else None,
                "steady_p99_ms": round(percentile(steady, 0.99), 1) if steady else None,
                "client_cpu": round((time.process_time() - cpu_before) / wall, 2),
            }
        ),
        flush=True,
    )


async def _run_viewers(urls: list[str], token: str, first: datetime, hours: int, clients: int, seconds: float) -> Any:
    """The viewers in a process of their own (their parsing must not share the server's Python thread)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.bench.viewers",
        "clients",
        "--urls",
        ",".join(urls),
        "--first",
        first.isoformat(),
        "--hours",
        str(hours),
        "--clients",
        str(clients),
        "--seconds",
        str(seconds),
        cwd=REPO,
        env={**os.environ, "STRIX_TOKEN": token},
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise SystemExit("the viewers failed")
    return json.loads(out.decode().strip().splitlines()[-1])


class _Unmerged(dict[str, Any]):
    """A bucket cache's reads in flight that nobody finds: every request reads alone (the bench's baseline)."""

    def get(self, key: str, default: Any = None) -> Any:
        return None


async def _herd_in_process(clickhouse: ClickHouse, first: datetime, clients: int, merged: bool) -> dict[str, Any]:
    """The herd's question asked `clients` times at once of the query service's execution, fresh caches: with
    reads of one shape merged, and (the baseline) without."""
    window = {"start": first.isoformat(), "end": (first + WINDOW).isoformat()}
    request = QueryRequest.model_validate(
        {
            "module": "clickstream",
            "window": window,
            "granularity": "hour",
            "group_by": ["product_group"],
            "metrics": ["revenue", "events", "customers"],
            "top": {"n": 5, "by": "revenue"},
            "caller": Caller(subject="bench", kind="user", scopes=("admin",)),
        }
    )
    catalog, answers, buckets = _catalog(), ResultCache[Answer](), BucketCache[Row]()
    if not merged:
        buckets.reading = _Unmerged()
    millis: list[float] = []

    async def ask() -> None:
        began = time.perf_counter()
        await execute_cached(clickhouse, catalog, request, datetime.now(UTC), answers, None, buckets)
        millis.append((time.perf_counter() - began) * 1000)

    ran_before = statements()
    await asyncio.gather(*(ask() for _ in range(clients)))
    ran = sum(statements_since(ran_before).values())
    return {"statements": ran, "p50_ms": round(percentile(millis, 0.5), 1), "max_ms": round(max(millis), 1)}


async def _herd(nc: NATS, url: str, token: str, first: datetime, hours: int, clients: int, events: int) -> None:
    """`clients` viewers opening the same window at once on empty caches, against one viewer opening it alone:
    their reads of one shape merge while they wait for the store, so the many should cost what the one does."""
    await forget_answers(nc, first - timedelta(days=31), first + timedelta(hours=hours) + WINDOW)
    alone = await _run_viewers([url], token, first, hours, 1, 0)
    await forget_answers(nc, first - timedelta(days=31), first + timedelta(hours=hours) + WINDOW)
    ran_before = statements()
    together = await _run_viewers([url], token, first, hours, clients, 0)
    ran = statements_since(ran_before)
    line = {
        "measure": "viewers_herd",
        "events": events,
        "clients": clients,
        "value": together["p99_ms"],
        "p50_ms": together["p50_ms"],
        "baseline": "one_viewer_cold",
        "baseline_value": alone["p50_ms"],
        "ratio": round(together["p99_ms"] / alone["p50_ms"], 2),
        "statements": ran,
        "load": list(os.getloadavg()),
    }
    print(json.dumps(line), flush=True)


async def _herd_merging(clickhouse: ClickHouse, first: datetime, clients: int, events: int) -> None:
    """The herd in process, its reads merged or not (three rounds each, alternating): what merging saves."""
    rounds: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    for _ in range(3):
        for merged in (False, True):
            rounds[merged].append(await _herd_in_process(clickhouse, first, clients, merged))
    with_, without = rounds[True], rounds[False]
    median = sorted(r["p50_ms"] for r in with_)[1]
    baseline = sorted(r["p50_ms"] for r in without)[1]
    line = {
        "measure": "herd_reads_merged",
        "events": events,
        "clients": clients,
        "value": median,
        "baseline": "herd_reads_unmerged",
        "baseline_value": baseline,
        "ratio": round(median / baseline, 2),
        "statements": [r["statements"] for r in with_],
        "baseline_statements": [r["statements"] for r in without],
        "max_ms": [r["max_ms"] for r in with_],
        "baseline_max_ms": [r["max_ms"] for r in without],
        "load": list(os.getloadavg()),
    }
    print(json.dumps(line), flush=True)


async def main(events: int, clients: int, seconds: float, gateways: int, data_dir: Path) -> None:
    configure_logging("warning")
    # This process: the store, the rollup (it owns the tables) and the query service; nothing else.
    options = PlatformOptions(
        catalog=_catalog(), data_dir=data_dir, nats_port=-1, port=0, services=("rollup", "query"), access_log=False
    )
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    async with run_platform(options) as platform:
        assert platform.clickhouse is not None
        now, count = await prepare(platform.clickhouse, events, now)
        freeze_startup_heap()
        first = now - timedelta(days=30)
        hours = int((now - first - WINDOW) / timedelta(hours=1))
        async with serving([["auth"]], platform.nats_url, data_dir) as (auth,):
            token = await api_key(platform.nc, ["read"], name="bench viewers")
            results: dict[int, dict[str, Any]] = {}
            for n in sorted({1, gateways}):
                async with serving([["gateway"]] * n, platform.nats_url, data_dir) as doors:
                    urls = [d.url for d in doors]
                    # A few questions first: imports, first plans, the rollup sizes, every connection's setup.
                    await _run_viewers(urls, token, first, hours, min(clients, 4), min(2.0, seconds / 2))
                    # Every run starts from empty caches: the one before must not have answered this one's windows.
                    await forget_answers(platform.nc, first - timedelta(days=31), now)
                    pids = {"query": os.getpid(), "auth": auth.pid} | {
                        f"gateway{i + 1}": d.pid for i, d in enumerate(doors)
                    }
                    meter = CpuMeter(pids)
                    meter.start()
                    ran_before, within_before = statements(), answered_within()
                    statements_before = {p: answered_within(STATEMENTS, p) for p in ("ranking", "buckets")}
                    busy_before = platform.clickhouse.busy_seconds
                    seen = await _run_viewers(urls, token, first, hours, clients, seconds)
                    cpu = meter.stop()
                    within = answered_within()
                    inside: dict[str, float] = {}
                    for purpose, before in statements_before.items():
                        after = answered_within(STATEMENTS, purpose)
                        inside |= {
                            f"{purpose}_p{round(q * 100)}_under_ms": bound_of(before, after, q) for q in (0.5, 0.99)
                        }
                    busy = platform.clickhouse.busy_seconds - busy_before
                    inside |= {f"p{round(q * 100)}_under_ms": bound_of(within_before, within, q) for q in (0.5, 0.99)}
                    ran = statements_since(ran_before)
                    memory = {name: rss_mb(pid) for name, pid in pids.items()}
                    line = {
                        "measure": f"viewers_{n}_gateway{'s' if n > 1 else ''}",
                        "events": count,
                        "clients": clients,
                    }
                    line |= seen | {
                        "cpu_cores": cpu,
                        "rss_mb": memory,
                        "statements": ran,
                        "query_service": inside,
                        "store_busy_share": round(busy / seen["seconds"], 2),
                        "load": list(os.getloadavg()),
                    }
                    print(json.dumps(line), flush=True)
                    results[n] = line
                    if n == 1:
                        await _herd(platform.nc, urls[0], token, first, hours, clients, count)
                        await _herd_merging(platform.clickhouse, first, clients, count)
            one, most = results[1], results[max(results)]
            print(
                json.dumps(
                    {
                        "measure": "viewers_gateways_scaling",
                        "gateways": max(results),
                        "value": most["answers_per_s"],
                        "baseline": "viewers_1_gateway",
                        "baseline_value": one["answers_per_s"],
                        "ratio": round(most["answers_per_s"] / one["answers_per_s"], 2),
                        "p99_ms": most["p99_ms"],
                        "goal_p99_ms": 250,
                        "load": list(os.getloadavg()),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    client_args = sub.add_parser("clients", help="(internal) the viewers' own process")
    client_args.add_argument("--urls", required=True)
    client_args.add_argument("--first", required=True, type=datetime.fromisoformat)
    client_args.add_argument("--hours", required=True, type=int)
    client_args.add_argument("--clients", required=True, type=int)
    client_args.add_argument("--seconds", required=True, type=float)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--gateways", type=int, default=2, help="gateway processes of the second run")
    parser.add_argument("--data-dir", type=Path, default=REPO / ".strix-bench")
    parser.add_argument("--keep", action="store_true", help="reuse the loaded data of a previous run")
    args = parser.parse_args()
    if args.command == "clients":
        token = os.environ["STRIX_TOKEN"]
        asyncio.run(viewers(args.urls.split(","), token, args.first, args.hours, args.clients, args.seconds))
        sys.exit(0)
    if args.data_dir.exists() and not args.keep:
        shutil.rmtree(args.data_dir)
    asyncio.run(main(args.events, args.clients, args.seconds, args.gateways, args.data_dir))
    sys.exit(0)
