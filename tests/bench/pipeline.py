"""Benchmark: how fast events become queryable, next to the local physical limit.

    uv run invoke bench           (runs this, the ingest cost table and the query benchmark)
    uv run python -m tests.bench.pipeline --events 300000

Reports, in one run on this machine, one JSON line per figure, each with the baseline it is measured against
(in the same run), the ratio to it, and the load average beside it (the machine is shared: compare ratios):
- raw_bulk_insert: the generated events inserted straight into the module's events table (with its rollup
  views) in 100 k-event Arrow blocks — what chDB itself can take here, the baseline of every rate below;
  raw_bulk_insert_lists: the same from Python column lists (clickhouse-connect's Native serialisation);
- http_end_to_end_without_ids, http_end_to_end: HTTP (NDJSON, 5 000 events a request, 4 in flight) ->
  validation -> JetStream -> rollup -> ClickHouse, from the first request until the last event is counted,
  without and with the event-id de-duplication;
- stages_http: where an event's time goes, in seconds per million events: validate and pack (the requests'
  CPU decoding and checking bodies, cutting events into messages), publish (JetStream atomic batches), and the
  rollup workers' read (messages into columns), probe (ids counted before), insert (ClickHouse) and settle
  (boundary records, acks, commit notices), summed over workers;
- freshness: at half the HTTP rate, time from sending a batch to its events being counted (p50, p99), against
  the goals of issue 13 (0.5 s, 1.0 s); the batches are made and sent by a process of their own;
- kafka_end_to_end: the same number of events produced to a 4-partition Kafka topic, from ingestion start until
  counted; steady rate after the first commit; start to first committed event; the pump's stages.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
from confluent_kafka import Producer
from prometheus_client import REGISTRY

from strix.generators import clickstream_events
from strix.platform import PlatformOptions, run_platform
from strix_clickhouse import ClickHouse, plan_module
from strix_clickhouse.columns import events_table
from strix_config import ModuleConfig, load_catalog
from strix_ingestion.batches import build_messages
from strix_ingestion.validation import build_codec, decode_body
from strix_rollup.batches import BatchReader, as_lists, read_arrow
from strix_runtime.logs import configure_logging
from strix_testkit.kafka import create_topic, start_kafka
from tests.support import api_key, bearer

REPO = Path(__file__).resolve().parents[2]
MODULE = "clickstream"
CHUNK = 5000
RAW_BLOCK = 100_000
FRESHNESS_GOALS = {"p50_s": 0.5, "p99_s": 1.0}  # issue 13
ROLLUP_STAGES = ("read", "probe", "insert", "settle")
TOPIC_STAGES = ("poll", "validate", "publish", "commit")


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def emit(lines: list[dict[str, Any]], line: dict[str, Any]) -> None:
    lines.append(line)
    print(json.dumps(line), flush=True)


def figure(measure: str, value: float, unit: str, baseline: str, baseline_value: float, **extra: Any) -> dict[str, Any]:
    """One figure beside its baseline, the ratio between them and the load average it was measured under."""
    return {
        "measure": measure,
        "value": round(value, 3) if value < 100 else round(value),
        "unit": unit,
        "baseline": baseline,
        "baseline_value": round(baseline_value, 3) if baseline_value < 100 else round(baseline_value),
        "ratio": round(value / baseline_value, 2) if baseline_value else None,
        **extra,
        "load": load(),
    }


def counter(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


async def settled(inserted: float, within: float = 30.0) -> None:
    """Wait until the rollup has acked and announced `inserted` events: the count is visible a batch's settle
    stage earlier, and the stage counters are read after it."""
    deadline = time.monotonic() + within
    while counter("strix_rollup_events_inserted_total", {"module": MODULE}) < inserted:
        assert time.monotonic() < deadline, "the rollup never announced every counted event"
        await asyncio.sleep(0.01)


def rollup_stages() -> dict[str, float]:
    return {s: counter("strix_rollup_stage_seconds_total", {"module": MODULE, "stage": s}) for s in ROLLUP_STAGES}


def topic_stages() -> dict[str, float]:
    return {
        s: counter("strix_ingestion_topic_stage_seconds_total", {"module": MODULE, "stage": s}) for s in TOPIC_STAGES
    }


def request_cpu() -> dict[str, float]:
    """CPU seconds of ingestion's HTTP requests by stage (validate, pack)."""
    stages = ("validate", "pack")
    return {s: counter("strix_ingestion_request_cpu_seconds_total", {"module": MODULE, "stage": s}) for s in stages}


def per_million(seconds: dict[str, float], before: dict[str, float], events: int) -> dict[str, float]:
    return {k: round((v - before.get(k, 0.0)) * 1e6 / events, 2) for k, v in seconds.items()}


@contextmanager
def stopwatch(into: dict[str, float], name: str) -> Iterator[None]:
    began = time.perf_counter()
    yield
    into[name] = into.get(name, 0.0) + time.perf_counter() - began


async def count(clickhouse: ClickHouse, database: str) -> int:
    result = await clickhouse.query(f"SELECT count() FROM `{database}`.`{events_table(MODULE)}`")
    return int(result.rows[0][0])


async def wait_count(clickhouse: ClickHouse, database: str, target: int, within: float = 600) -> float:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await count(clickhouse, database) >= target:
            return time.monotonic()
        await asyncio.sleep(0.02)
    raise RuntimeError(f"only {await count(clickhouse, database)} of {target} counted")


def raw_blocks(config: ModuleConfig, bodies: list[bytes]) -> tuple[list[pa.Table], dict[str, float]]:
    """The bodies as the rollup sees them (validated, cut into messages), then read into 100 k-event Arrow
    blocks; and the seconds validation took, measured apart."""
    codec = build_codec(config)
    now = datetime.now(UTC)
    seconds: dict[str, float] = {}
    payloads: list[tuple[int, bytes]] = []
    for body in bodies:
        with stopwatch(seconds, "validate"):
            decoded = decode_body(codec, body, True, now)
        assert not decoded.rejections, decoded.rejections[:3]
        messages = build_messages(config, decoded.events, None, 1 << 20)
        payloads += [(len(payloads) + n + 1, m.payload) for n, m in enumerate(messages)]
    reader = BatchReader.of(config)
    tables = []
    for start in range(0, len(payloads), RAW_BLOCK // 500):
        table = read_arrow(reader, payloads[start : start + RAW_BLOCK // 500])
        assert table is not None
        tables.append(table)
    return tables, seconds


async def bench_raw(
    clickhouse: ClickHouse, config: ModuleConfig, blocks: list[pa.Table], lists: bool
) -> tuple[float, float]:
    """(events/s, CPU seconds per million events)."""
    database = "bench_raw"
    scratch = ClickHouse(clickhouse._client, database, clickhouse.url)  # same store, its own database
    await scratch.command(f"DROP DATABASE IF EXISTS `{database}`")
    await scratch.apply(plan_module(config, database))
    prepared = [as_lists(b) for b in blocks] if lists else blocks
    events = sum(b.num_rows for b in blocks)
    began = time.perf_counter()
    cpu = time.process_time()
    for block in prepared:
        if isinstance(block, pa.Table):
            await scratch.insert_arrow(events_table(MODULE), block)
        else:
            await scratch.insert_columns(events_table(MODULE), block)
    rate = events / (time.perf_counter() - began)
    cpu_per_million = (time.process_time() - cpu) * 1e6 / events
    assert await count(scratch, database) == events
    await scratch.command(f"DROP DATABASE IF EXISTS `{database}`")
    return rate, cpu_per_million


async def bench_http(
    url: str, headers: dict[str, str], clickhouse: ClickHouse, bodies: list[bytes], total: int, base: int
) -> tuple[float, float, float]:
    """(events/s from first request to last event counted, events/s acknowledged by ingestion, CPU seconds of
    this process per million events: the platform and the client, every thread)."""
    began = time.monotonic()
    cpu = time.process_time()
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            response = await client.post(
                f"/v1/modules/{MODULE}/events", content=body, headers={"content-type": "application/x-ndjson"}
            )
            assert response.status_code == 200, response.text

    async with httpx.AsyncClient(base_url=url, timeout=120, headers=headers) as client:
        await asyncio.gather(*(worker(client) for _ in range(4)))
        acked = time.monotonic()
        done = await wait_count(clickhouse, clickhouse.database, base + total)
    return total / (done - began), total / (acked - began), (time.process_time() - cpu) * 1e6 / total


async def send_at_rate(url: str, headers: dict[str, str], rate: float, seconds: float) -> None:
    """Post a batch of events every tenth of a second, `rate` events/s in all, for `seconds` (the sender's own
    process), each without waiting for the ones before to be accepted (an open loop: the rate holds however slow
    acceptance gets). The bodies are made before the clock starts, so the sender takes no core from the platform
    while it runs. One JSON line per accepted batch: the monotonic time it was sent (a clock every process of the
    machine shares) and the events sent up to and including it."""
    rng = random.Random(5)
    batch = max(50, int(rate / 10))
    interval = batch / rate
    now = datetime.now(UTC)
    bodies = [
        json.dumps(clickstream_events(rng, batch, now - timedelta(seconds=1), now)).encode()
        for _ in range(int(seconds / interval))
    ]

    async def post(client: httpx.AsyncClient, tick: float, body: bytes, through: int) -> None:
        response = await client.post(
            f"/v1/modules/{MODULE}/events", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 200, response.text
        print(json.dumps({"tick": tick, "sent": through, "accepted_s": time.monotonic() - tick}), flush=True)

    async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as client:
        began = time.monotonic()
        posts = []
        for n, body in enumerate(bodies):
            await asyncio.sleep(max(0.0, began + n * interval - time.monotonic()))
            posts.append(asyncio.create_task(post(client, time.monotonic(), body, (n + 1) * batch)))
        await asyncio.gather(*posts)


async def bench_freshness(
    url: str, headers: dict[str, str], clickhouse: ClickHouse, rate: float, seconds: float, base: int
) -> dict[str, float]:
    """Batches sent at `rate` events/s from a process of their own (making and encoding them must not take this
    process's thread, which the platform's loop needs); a batch is fresh when the count covers it."""
    samples: list[tuple[float, int]] = []  # (when, events counted)
    finished = asyncio.Event()

    async def watch() -> None:
        while not finished.is_set():
            current = await count(clickhouse, clickhouse.database)
            samples.append((time.monotonic(), current))
            await asyncio.sleep(0.02)

    watcher = asyncio.create_task(watch())
    sender = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.bench.pipeline",
        "sender",
        "--url",
        url,
        "--rate",
        str(rate),
        "--seconds",
        str(seconds),
        cwd=REPO,
        env={**os.environ, "STRIX_BENCH_HEADERS": json.dumps(headers)},
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await sender.communicate()
    if sender.returncode != 0:
        raise SystemExit("the freshness sender failed")
    sent = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    total = base + max(batch["sent"] for batch in sent)
    deadline = time.monotonic() + 120
    while not samples or samples[-1][1] < total:
        assert time.monotonic() < deadline, "the sent events were never all counted"
        await asyncio.sleep(0.05)
    finished.set()
    await watcher
    latencies = []
    for batch in sent:  # fresh once every event sent up to it is counted (in order: an upper bound)
        covered = base + batch["sent"]
        when = next(t for t, n in samples if t >= batch["tick"] and n >= covered)
        latencies.append(when - batch["tick"])
    ordered = sorted(latencies)
    accepted = sorted(batch["accepted_s"] for batch in sent)
    span = max(batch["tick"] for batch in sent) - min(batch["tick"] for batch in sent)
    return {
        "batches": len(ordered),
        "sent_events_per_s": (total - base) / max(span, 1e-9) * (len(sent) - 1) / len(sent),
        "p50_s": ordered[len(ordered) // 2],
        "p99_s": ordered[max(0, int(len(ordered) * 0.99) - 1)],
        "mean_s": statistics.fmean(ordered),
        "accepted_p50_s": accepted[len(accepted) // 2],
    }


def ndjson_bodies(events: list[dict[str, Any]]) -> list[bytes]:
    return ["\n".join(json.dumps(e) for e in events[i : i + CHUNK]).encode() for i in range(0, len(events), CHUNK)]


def produce(bootstrap: str, topic: str, events: list[dict[str, Any]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for i in range(0, len(events), 100):
        producer.produce(topic, json.dumps(events[i : i + 100]).encode(), key=str(i).encode())
        producer.poll(0)
    assert producer.flush(60) == 0


async def main(
    events_count: int, freshness_seconds: float, kafka: bool = True, bootstrap: str | None = None
) -> list[dict[str, Any]]:
    """Run every measurement; the JSON lines printed, as a list."""
    configure_logging("warning")
    lines: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix="strix-bench-"))
    broker = None  # the broker this run started (none when given `bootstrap`)
    try:
        now = datetime.now(UTC)
        events = clickstream_events(random.Random(1), events_count, now - timedelta(hours=20), now)
        bodies = ndjson_bodies(events)
        configs = work / "configs"
        configs.mkdir()
        for path in (REPO / "configs").glob("*.yaml"):
            shutil.copy(path, configs / path.name)
        catalog = load_catalog(configs)
        config = catalog.modules[MODULE]
        blocks, _ = raw_blocks(config, bodies)
        topic = "bench-clicks"
        kafka_events = clickstream_events(random.Random(2), events_count, now - timedelta(hours=20), now)
        if kafka and bootstrap is None:
            broker = start_kafka(work / "kafka")
            bootstrap = broker.bootstrap_servers
        if kafka and bootstrap is not None:
            topic = f"bench-clicks-{random.randrange(10**9)}"
            create_topic(bootstrap, topic, partitions=4)
            produce(bootstrap, topic, kafka_events)

        # De-duplication by event id costs a probe per batch: the same HTTP run without an id field, first, in a
        # database of its own (events without ids get fresh message ids, so none is dropped as a re-send).
        without_ids = work / "configs-without-ids"
        without_ids.mkdir()
        for path in configs.glob("*.yaml"):
            (without_ids / path.name).write_text(path.read_text().replace("  id_field: event_id\n", ""))
        options = PlatformOptions(
            catalog=load_catalog(without_ids),
            data_dir=work / "data",
            nats_port=-1,
            port=0,
            clickhouse_database="strix_without_ids",
        )
        async with run_platform(options) as platform:
            assert platform.clickhouse is not None
            raw, raw_cpu = await bench_raw(platform.clickhouse, config, blocks, lists=False)
            raw_lists, lists_cpu = await bench_raw(platform.clickhouse, config, blocks, lists=True)
            emit(
                lines,
                figure(
                    "raw_bulk_insert",
                    raw,
                    "events/s",
                    "raw_bulk_insert_lists",
                    raw_lists,
                    cpu_s_per_million=round(raw_cpu, 2),
                ),
            )
            emit(
                lines,
                figure(
                    "raw_bulk_insert_lists",
                    raw_lists,
                    "events/s",
                    "raw_bulk_insert",
                    raw,
                    cpu_s_per_million=round(lists_cpu, 2),
                ),
            )
            headers = bearer(await api_key(platform.nc, ("write",)))
            rate_without_ids, _, cpu_without_ids = await bench_http(
                platform.http_url, headers, platform.clickhouse, bodies, len(events), 0
            )
            emit(
                lines,
                figure(
                    "http_end_to_end_without_ids",
                    rate_without_ids,
                    "events/s",
                    "raw_bulk_insert",
                    raw,
                    cpu_s_per_million=round(cpu_without_ids, 2),
                ),
            )
            await platform.clickhouse.command("DROP DATABASE IF EXISTS `strix_without_ids`")

        options = PlatformOptions(catalog=catalog, data_dir=work / "data", nats_port=-1, port=0)
        async with run_platform(options) as platform:
            assert platform.clickhouse is not None
            clickhouse = platform.clickhouse
            headers = bearer(await api_key(platform.nc, ("write",)))
            stages_before = rollup_stages()
            batches_before = counter("strix_rollup_insert_seconds_count", {"module": MODULE})
            publish_before = counter("strix_ingestion_publish_seconds_total")
            requests_before = request_cpu()
            inserted_before = counter("strix_rollup_events_inserted_total", {"module": MODULE})
            http_rate, acked_rate, cpu = await bench_http(
                platform.http_url, headers, clickhouse, bodies, len(events), 0
            )
            await settled(inserted_before + len(events))
            emit(
                lines,
                figure(
                    "http_end_to_end",
                    http_rate,
                    "events/s",
                    "raw_bulk_insert",
                    raw,
                    ingest_ack_events_per_s=round(acked_rate),
                    share_of_without_ids=round(http_rate / rate_without_ids, 2),
                    cpu_s_per_million=round(cpu, 2),
                ),
            )
            stages = {
                **{k: v - requests_before[k] for k, v in request_cpu().items()},
                "publish": counter("strix_ingestion_publish_seconds_total") - publish_before,
                **{k: v - stages_before[k] for k, v in rollup_stages().items()},
            }
            emit(
                lines,
                {
                    "measure": "stages_http",
                    "unit": "seconds per million events",
                    "stages": per_million(stages, {}, len(events)),
                    "wall": round(1e6 / http_rate, 2),
                    "insert_batches": round(
                        counter("strix_rollup_insert_seconds_count", {"module": MODULE}) - batches_before
                    ),
                    "load": load(),
                },
            )
            stages_before = rollup_stages()
            batches_before = counter("strix_rollup_insert_seconds_count", {"module": MODULE})
            fresh = await bench_freshness(
                platform.http_url, headers, clickhouse, http_rate / 2, freshness_seconds, len(events)
            )
            batches = counter("strix_rollup_insert_seconds_count", {"module": MODULE}) - batches_before
            per_batch = {k: round((v - stages_before[k]) / max(batches, 1), 3) for k, v in rollup_stages().items()}
            for name, goal in FRESHNESS_GOALS.items():
                emit(
                    lines,
                    figure(
                        f"freshness_{name}",
                        fresh[name],
                        "s",
                        "goal",
                        goal,
                        rate_events_per_s=round(http_rate / 2),
                        sent_events_per_s=round(fresh["sent_events_per_s"]),
                        batches=fresh["batches"],
                        mean_s=round(fresh["mean_s"], 3),
                        accepted_p50_s=round(fresh["accepted_p50_s"], 3),
                        insert_batches=round(batches),
                        rollup_s_per_batch=per_batch,
                    ),
                )
            base = await count(clickhouse, clickhouse.database)

        if kafka and bootstrap is not None:
            # The same platform data, now with the topic as a source; timed from start until counted.
            text = (configs / "clickstream.yaml").read_text()
            (configs / "clickstream.yaml").write_text(
                text + f"\nsources:\n  - {{kind: kafka, bootstrap_servers: '{bootstrap}', topic: {topic}}}\n"
            )
            options = PlatformOptions(catalog=load_catalog(configs), data_dir=work / "data", nats_port=-1, port=0)
            pump_before = topic_stages()
            began = time.monotonic()
            async with run_platform(options) as platform:
                ready = time.monotonic()
                assert platform.clickhouse is not None
                database = platform.clickhouse.database
                first = await wait_count(platform.clickhouse, database, base + 1)
                first_count = await count(platform.clickhouse, database) - base
                done = await wait_count(platform.clickhouse, database, base + len(kafka_events))
            kafka_rate = len(kafka_events) / (done - began)
            # All events may land in the first commit (a tiny run): the steady rate is then the whole run's.
            steady = (
                (len(kafka_events) - first_count) / (done - first) if first_count < len(kafka_events) else kafka_rate
            )
            emit(lines, figure("kafka_end_to_end", kafka_rate, "events/s", "raw_bulk_insert", raw))
            emit(
                lines,
                figure(
                    "kafka_steady",
                    steady,
                    "events/s",
                    "raw_bulk_insert",
                    raw,
                    events_after_first_count=len(kafka_events) - first_count,
                ),
            )
            emit(
                lines,
                figure(
                    "kafka_start_to_first_commit",
                    first - ready,
                    "s",
                    "goal",
                    2.0,
                    platform_start_s=round(ready - began, 2),
                    events_at_first_count=first_count,
                ),
            )
            emit(
                lines,
                {
                    "measure": "stages_kafka_pump",
                    "unit": "seconds per million events",
                    "stages": per_million(topic_stages(), pump_before, len(kafka_events)),
                    "load": load(),
                },
            )
    finally:
        if broker is not None:
            broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    return lines


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    sender_args = sub.add_parser("sender", help="(internal) the freshness run's sender, in its own process")
    sender_args.add_argument("--url", required=True)
    sender_args.add_argument("--rate", required=True, type=float)
    sender_args.add_argument("--seconds", required=True, type=float)
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--freshness-seconds", type=float, default=20.0)
    parser.add_argument("--no-kafka", action="store_true", help="leave the Kafka measurements out")
    parser.add_argument("--kafka-bootstrap", help="a running Kafka 4.x broker to use (default: start one)")
    args = parser.parse_args()
    if args.command == "sender":
        headers = json.loads(os.environ["STRIX_BENCH_HEADERS"])
        asyncio.run(send_at_rate(args.url, headers, args.rate, args.seconds))
    else:
        asyncio.run(main(args.events, args.freshness_seconds, kafka=not args.no_kafka, bootstrap=args.kafka_bootstrap))
