"""Exactly once under SIGKILL: events stream in over HTTP and from a Kafka topic while the ingestion process
(which also consumes the topic) and the process that runs rollup (and holds the chDB store) are killed and
restarted again and again. Afterwards every rollup and
the raw table hold each acked event exactly once — no loss, no double count.

Each service runs as its own OS process (`strix serve ...`) against a real NATS server. The producer behaves
like a careful client: a batch is acked when ingestion answers 200; until then it re-sends the same batch with
the same Idempotency-Key (JetStream drops the duplicates). The expected totals are the distinct events sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import nats as nats_client
import pytest
from confluent_kafka import Producer

from strix.generators import clickstream_events
from strix_clickhouse.columns import events_table, merge_expr, rollup_table
from strix_config import load_catalog
from strix_contracts.caller import Caller
from strix_contracts.query import QueryRequest
from strix_contracts.subjects import QUERY_RUN
from strix_runtime.natsserver import start_nats_server
from strix_testkit.kafka import KafkaBroker
from tests.conftest import EXAMPLE_CONFIGS
from tests.support import api_key, bearer
from tests.test_kafka_source import _configs_with_topic

pytestmark = pytest.mark.e2e

BATCHES = 50
BATCH_SIZE = 200
TOPIC_EVENTS = 6000
KILLS = 10


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Service:
    """One `strix serve` process that can be SIGKILLed and started again on the same port and data."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.port = _free_port()
        self.args = [sys.executable, "-m", "strix.cli", "serve", *args, "--port", str(self.port)]
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.args, env=self.env, stdout=out, stderr=subprocess.STDOUT)

    async def wait_healthy(self, within: float = 60) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                assert self.process is not None and self.process.poll() is None, (
                    f"{self.name} exited:\n{self.log.read_text()[-3000:]}"
                )
                try:
                    if (await client.get(f"http://127.0.0.1:{self.port}/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"{self.name} not healthy in {within}s:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.kills += 1

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


async def _send_until_acked(
    client: httpx.AsyncClient, ingestion: Service, batch: list[dict[str, object]], key: str
) -> int:
    """Re-send the same batch with the same key until ingestion acks it; returns the attempts it took."""
    attempts = 0
    while True:
        attempts += 1
        try:
            response = await client.post(
                f"http://127.0.0.1:{ingestion.port}/v1/modules/clickstream/events",
                json=batch,
                headers={"Idempotency-Key": key},
                timeout=10,
            )
            if response.status_code == 200:
                assert response.json()["accepted"] == len(batch)
                return attempts
            assert response.status_code == 503, response.text
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.2)


def _count_in_store(store: Path, database: str) -> dict[str, int]:
    """Counts read by a separate process (a chDB store opens in one process at a time)."""
    config = load_catalog(EXAMPLE_CONFIGS).modules["clickstream"]
    tables = {"raw": f"SELECT count() FROM `{database}`.`{events_table('clickstream')}`"}
    for name in config.rollups:
        tables[name] = f"SELECT {merge_expr(config, 'events')} FROM `{database}`.`{rollup_table('clickstream', name)}`"
    script = (
        "import json, sys, clickhouse_connect\n"
        f"c = clickhouse_connect.get_client(dsn='chdb://{store}')\n"
        f"queries = json.loads({json.dumps(json.dumps(tables))})\n"
        "print(json.dumps({k: int(c.query(q).result_rows[0][0]) for k, q in queries.items()}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    counts: dict[str, int] = json.loads(out.stdout.strip().splitlines()[-1])
    return counts


async def _wait_for_total(nats_url: str, expected: int, within: float = 90) -> None:
    """Ask the query service (in the rollup process) until the raw total reaches `expected`."""
    import nats as nats_client

    request = QueryRequest.model_validate(
        {
            "module": "clickstream",
            "window": {"last": 2, "unit": "day"},
            "granularity": "total",
            "metrics": ["events"],
            "caller": Caller(subject="test-operator", kind="user", scopes=("admin",)),
        }
    )
    connection = await nats_client.connect(nats_url)
    try:
        deadline = time.monotonic() + within
        seen = -1
        while time.monotonic() < deadline:
            try:
                reply = await connection.request(QUERY_RUN, request.model_dump_json().encode(), timeout=5)
                answer = json.loads(reply.data)
                rows = answer.get("rows") or []
                seen = int(rows[0][answer["columns"].index("events")]) if rows else 0
                assert seen <= expected, f"{seen} counted, only {expected} sent"
                if seen == expected:
                    return
            except (nats_client.errors.TimeoutError, nats_client.errors.NoRespondersError):
                pass
            await asyncio.sleep(0.5)
        raise AssertionError(f"only {seen} of {expected} events counted after {within}s")
    finally:
        await connection.close()


async def test_every_acked_event_counts_once_while_processes_are_killed(
    tmp_path: Path, kafka_broker: KafkaBroker
) -> None:
    topic = f"faults-{random.randrange(10**9)}"
    kafka_broker.create_topic(topic, partitions=3)
    configs = _configs_with_topic(tmp_path / "configs", kafka_broker.bootstrap_servers, topic)
    nats = start_nats_server(tmp_path / "nats")
    store = (tmp_path / "chdb").resolve()
    env = {
        **os.environ,
        "STRIX_CONFIG_DIR": str(configs),
        "STRIX_NATS_URL": nats.url,
        "STRIX_LOG_LEVEL": "warning",
        "STRIX_ROLLUP_ACK_WAIT": "2",
        "STRIX_ROLLUP_PRIORITY_TIMEOUT": "1",
        "STRIX_ROLLUP_MAX_MESSAGES": "3",  # small batches: kills land between record, insert and ack
    }
    ingestion = Service("ingestion", ["ingestion", "auth"], env, tmp_path / "ingestion.log")  # auth: the key
    rollup = Service("rollup", ["rollup", "query", "--clickhouse-url", f"chdb://{store}"], env, tmp_path / "rollup.log")
    rng = random.Random(31)
    now = datetime.now(UTC)
    events = clickstream_events(rng, BATCHES * BATCH_SIZE, now - timedelta(minutes=50), now)
    from_topic = clickstream_events(random.Random(32), TOPIC_EVENTS, now - timedelta(minutes=50), now)
    try:
        for service in (ingestion, rollup):
            service.start()
        await asyncio.gather(ingestion.wait_healthy(), rollup.wait_healthy())
        operator = await nats_client.connect(nats.url)
        try:
            producer_key = await api_key(operator, ["write"], name="producer")
        finally:
            await operator.close()

        sent = 0
        retries = 0
        began = time.monotonic()

        async def produce() -> None:
            nonlocal sent, retries
            async with httpx.AsyncClient(headers=bearer(producer_key)) as client:
                for i in range(BATCHES):
                    batch = events[i * BATCH_SIZE : (i + 1) * BATCH_SIZE]
                    retries += await _send_until_acked(client, ingestion, batch, f"batch-{i}") - 1
                    sent += len(batch)
                    await asyncio.sleep(0.3)  # a steady stream, so kills land while requests are in flight

        async def kill_repeatedly() -> None:
            for _ in range(KILLS):
                await asyncio.sleep(rng.uniform(0.5, 2.0))
                victim = rng.choice([ingestion, rollup])
                victim.kill()
                await asyncio.sleep(rng.uniform(0.0, 0.5))
                victim.start()

        async def produce_to_topic() -> None:
            producer = Producer({"bootstrap.servers": kafka_broker.bootstrap_servers})
            for i in range(0, TOPIC_EVENTS, 40):
                producer.produce(topic, json.dumps(from_topic[i : i + 40]).encode(), key=str(i).encode())
                producer.poll(0)
                await asyncio.sleep(0.1)
            assert await asyncio.to_thread(producer.flush, 30) == 0

        await asyncio.gather(produce(), produce_to_topic(), kill_repeatedly())
        await asyncio.gather(ingestion.wait_healthy(), rollup.wait_healthy())
        operator = await nats_client.connect(nats.url)
        try:
            producer_key = await api_key(operator, ["write"], name="producer")
        finally:
            await operator.close()
        assert sent == len(events)
        assert ingestion.kills + rollup.kills == KILLS and ingestion.kills > 0 and rollup.kills > 0
        assert retries > 0, "no request met a dead ingestion process: the test proved nothing about re-sends"

        produced = time.monotonic()
        # Let rollup catch up (re-deliveries wait for ack_wait), then stop it and count in the store.
        expected = len({e["event_id"] for e in [*events, *from_topic]})
        await _wait_for_total(nats.url, expected)
        caught_up = time.monotonic()
        await asyncio.sleep(3)  # a late double count would show up now
        rollup.stop()
        counts = _count_in_store(store, "strix")
        print(
            f"produce+kill {produced - began:.1f}s, catch-up {caught_up - produced:.1f}s, retries {retries}, kills {ingestion.kills}+{rollup.kills}"
        )
        assert counts == dict.fromkeys(counts, expected), f"expected {expected} everywhere, retries={retries}"
    finally:
        ingestion.stop()
        rollup.stop()
        nats.stop()
