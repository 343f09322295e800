"""Benchmark: how fast events become queryable, next to the local physical limit.

    uv run invoke bench           (runs this and the query benchmark)
    uv run python -m tests.bench.pipeline --events 300000

Reports, in one run on this machine, as JSON lines:
- raw_bulk_insert: the generated events inserted straight into the module's events table (with its rollup views)
  in large column blocks — what chDB itself can take here, the physical limit;
- http_end_to_end: HTTP (NDJSON, 5 000 events a request, 4 in flight) -> validation -> JetStream -> rollup ->
  ClickHouse, from the first request until the last event is counted;
- kafka_end_to_end: the same events produced to a 4-partition Kafka topic, from ingestion start until counted;
- freshness: at half the HTTP rate, time from sending a batch to its events being counted (p50, p99).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import Producer

from strix.generators import clickstream_events
from strix.platform import PlatformOptions, run_platform
from strix_clickhouse import ClickHouse, plan_module
from strix_clickhouse.columns import events_table
from strix_config import load_catalog
from strix_runtime.logs import configure_logging
from strix_testkit.kafka import start_kafka

REPO = Path(__file__).resolve().parents[2]
CHUNK = 5000


def emit(line: dict[str, Any]) -> None:
    print(json.dumps(line), flush=True)


async def count(clickhouse: ClickHouse, database: str) -> int:
    result = await clickhouse.query(f"SELECT count() FROM `{database}`.`{events_table('clickstream')}`")
    return int(result.rows[0][0])


async def wait_count(clickhouse: ClickHouse, database: str, target: int, within: float = 600) -> float:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await count(clickhouse, database) >= target:
            return time.monotonic()
        await asyncio.sleep(0.05)
    raise RuntimeError(f"only {await count(clickhouse, database)} of {target} counted")


def _columns(config: Any, events: list[dict[str, Any]]) -> dict[str, list[Any]]:
    from strix_ingestion.validation import build_codec, decode_events

    codec = build_codec(config)
    decoded, rejected = decode_events(codec, json.dumps(events).encode())
    assert not rejected
    columns = {name: [getattr(e, name) for e in decoded] for name in config.event.fields}
    columns["_seq"] = list(range(len(decoded)))
    columns["_pos"] = [0] * len(decoded)
    return columns


async def bench_raw(clickhouse: ClickHouse, config: Any, events: list[dict[str, Any]]) -> float:
    database = "bench_raw"
    scratch = ClickHouse(clickhouse._client, database, clickhouse.url)  # same store, its own database
    await scratch.command(f"DROP DATABASE IF EXISTS `{database}`")
    await scratch.apply(plan_module(config, database))
    columns = _columns(config, events)
    began = time.perf_counter()
    block = 100_000
    for start in range(0, len(events), block):
        await scratch.insert_columns(
            events_table("clickstream"), {k: v[start : start + block] for k, v in columns.items()}
        )
    rate = len(events) / (time.perf_counter() - began)
    emit({"measure": "raw_bulk_insert", "events": len(events), "events_per_s": round(rate)})
    await scratch.command(f"DROP DATABASE IF EXISTS `{database}`")
    return rate


async def bench_http(
    url: str, clickhouse: ClickHouse, bodies: list[bytes], total: int, base: int, measure: str = "http_end_to_end"
) -> float:
    began = time.monotonic()
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            response = await client.post(
                "/v1/modules/clickstream/events", content=body, headers={"content-type": "application/x-ndjson"}
            )
            assert response.status_code == 200, response.text

    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        await asyncio.gather(*(worker(client) for _ in range(4)))
        acked = time.monotonic()
        done = await wait_count(clickhouse, clickhouse.database, base + total)
    rate = total / (done - began)
    emit(
        {
            "measure": measure,
            "events": total,
            "events_per_s": round(rate),
            "ingest_ack_events_per_s": round(total / (acked - began)),
        }
    )
    return rate


async def bench_freshness(url: str, clickhouse: ClickHouse, rate: float, seconds: float, base: int) -> None:
    """Send batches at `rate` events/s; a batch is fresh when the count covers it."""
    rng = random.Random(5)
    batch = max(50, int(rate / 10))
    sent: list[tuple[float, int]] = []
    latencies: list[float] = []
    total = base

    async def watch() -> None:
        index = 0
        while index < len(sent) or not finished.is_set():
            current = await count(clickhouse, clickhouse.database)
            now = time.monotonic()
            while index < len(sent) and sent[index][1] <= current:
                latencies.append(now - sent[index][0])
                index += 1
            await asyncio.sleep(0.02)

    finished = asyncio.Event()
    watcher = asyncio.create_task(watch())
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        began = time.monotonic()
        while time.monotonic() - began < seconds:
            tick = time.monotonic()
            now = datetime.now(UTC)
            events = clickstream_events(rng, batch, now - timedelta(seconds=1), now)
            response = await client.post("/v1/modules/clickstream/events", json=events)
            assert response.status_code == 200
            total += batch
            sent.append((tick, total))
            await asyncio.sleep(max(0.0, batch / rate - (time.monotonic() - tick)))
    finished.set()
    await asyncio.wait_for(watcher, 120)
    ordered = sorted(latencies)
    emit(
        {
            "measure": "freshness",
            "rate_events_per_s": round(rate),
            "batches": len(ordered),
            "p50_s": round(ordered[len(ordered) // 2], 3),
            "p99_s": round(ordered[int(len(ordered) * 0.99) - 1], 3),
            "mean_s": round(statistics.fmean(ordered), 3),
        }
    )


async def main(events_count: int, freshness_seconds: float) -> None:
    configure_logging("warning")
    work = Path(tempfile.mkdtemp(prefix="strix-bench-"))
    try:
        now = datetime.now(UTC)
        events = clickstream_events(random.Random(1), events_count, now - timedelta(hours=20), now)
        bodies = [
            "\n".join(json.dumps(e) for e in events[i : i + CHUNK]).encode() for i in range(0, len(events), CHUNK)
        ]
        broker = start_kafka(work / "kafka")
        topic = "bench-clicks"
        broker.create_topic(topic, partitions=4)
        producer = Producer({"bootstrap.servers": broker.bootstrap_servers, "linger.ms": 20})
        kafka_events = clickstream_events(random.Random(2), events_count, now - timedelta(hours=20), now)
        for i in range(0, len(kafka_events), 100):
            producer.produce(topic, json.dumps(kafka_events[i : i + 100]).encode(), key=str(i).encode())
            producer.poll(0)
        assert producer.flush(60) == 0

        configs = work / "configs"
        configs.mkdir()
        for path in (REPO / "configs").glob("*.yaml"):
            shutil.copy(path, configs / path.name)
        catalog = load_catalog(configs)
        # De-duplication by event id costs a probe per batch: the same HTTP run without an id field, first, in a
        # database of its own (events without ids get fresh message ids, so none is dropped as a re-send).
        without_ids = work / "configs-without-ids"
        without_ids.mkdir()
        for path in configs.glob("*.yaml"):
            text = path.read_text()
            (without_ids / path.name).write_text(text.replace("  id_field: event_id\n", ""))
        options = PlatformOptions(
            catalog=load_catalog(without_ids),
            data_dir=work / "data",
            nats_port=-1,
            port=0,
            clickhouse_database="strix_without_ids",
        )
        async with run_platform(options) as platform:
            assert platform.clickhouse is not None
            rate_without_ids = await bench_http(
                platform.http_url, platform.clickhouse, bodies, len(events), 0, "http_end_to_end_without_ids"
            )
            await platform.clickhouse.command("DROP DATABASE IF EXISTS `strix_without_ids`")
        options = PlatformOptions(catalog=catalog, data_dir=work / "data", nats_port=-1, port=0)
        async with run_platform(options) as platform:
            assert platform.clickhouse is not None
            clickhouse = platform.clickhouse
            raw_rate = await bench_raw(clickhouse, catalog.modules["clickstream"], events)
            http_rate = await bench_http(platform.http_url, clickhouse, bodies, len(events), 0)
            await bench_freshness(
                platform.http_url,
                clickhouse,
                http_rate / 2,
                freshness_seconds,
                await count(clickhouse, clickhouse.database),
            )
            base = await count(clickhouse, clickhouse.database)

        # Kafka: the same platform data, now with the topic as a source; timed from start until counted.
        text = (configs / "clickstream.yaml").read_text()
        (configs / "clickstream.yaml").write_text(
            text + f"\nsources:\n  - {{kind: kafka, bootstrap_servers: '{broker.bootstrap_servers}', topic: {topic}}}\n"
        )
        options = PlatformOptions(catalog=load_catalog(configs), data_dir=work / "data", nats_port=-1, port=0)
        began = time.monotonic()
        async with run_platform(options) as platform:
            assert platform.clickhouse is not None
            first = await wait_count(platform.clickhouse, platform.clickhouse.database, base + 1)
            first_count = await count(platform.clickhouse, platform.clickhouse.database) - base
            done = await wait_count(platform.clickhouse, platform.clickhouse.database, base + len(kafka_events))
        kafka_rate = len(kafka_events) / (done - began)
        steady = (len(kafka_events) - first_count) / (done - first)
        emit(
            {
                "measure": "kafka_end_to_end",
                "events": len(kafka_events),
                "events_per_s": round(kafka_rate),
                "steady_events_per_s": round(steady),
                "startup_and_group_join_s": round(first - began, 1),
            }
        )
        emit(
            {
                "summary": "pipeline",
                "raw_bulk_events_per_s": round(raw_rate),
                "http_share_of_raw": round(http_rate / raw_rate, 2),
                "http_with_ids_share_of_without": round(http_rate / rate_without_ids, 2),
                "kafka_share_of_raw": round(kafka_rate / raw_rate, 2),
            }
        )
        broker.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--freshness-seconds", type=float, default=20.0)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.freshness_seconds))
