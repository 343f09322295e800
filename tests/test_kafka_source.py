"""Events from a real Kafka broker: validated, counted once, invalid and late ones dead-lettered with their
origin, and replayed after a config fix."""

from __future__ import annotations

import json
import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
from confluent_kafka import Producer

from strix.generators import clickstream_events
from strix_config import load_catalog
from strix_ingestion.deadletters import dead_letters, replay
from strix_ingestion.validation import build_codec
from strix_runtime.natsserver import NatsServer
from strix_testkit.kafka import KafkaBroker
from tests.conftest import EXAMPLE_CONFIGS, PlatformFactory
from tests.support import wait_for_count

pytestmark = pytest.mark.e2e


def _configs_with_topic(directory: Path, bootstrap: str, topic: str, extra_action: str | None = None) -> Path:
    """The example configs, the clickstream also fed by `topic`, with a 3-day lateness bound."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in EXAMPLE_CONFIGS.glob("*.yaml"):
        shutil.copy(path, directory / path.name)
    text = (directory / "clickstream.yaml").read_text()
    text = text.replace("  id_field: event_id\n", "  id_field: event_id\n  max_lateness: 3d\n")
    if extra_action:
        text = text.replace(
            "allowed: [view, add_to_cart, purchase]", f"allowed: [view, add_to_cart, purchase, {extra_action}]"
        )
    text += f"\nsources:\n  - {{kind: kafka, bootstrap_servers: '{bootstrap}', topic: {topic}, format: json}}\n"
    (directory / "clickstream.yaml").write_text(text)
    return directory


def _produce(bootstrap: str, topic: str, messages: list[Any]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for i, message in enumerate(messages):
        producer.produce(topic, json.dumps(message).encode(), key=str(i).encode())
    assert producer.flush(30) == 0


async def test_topic_events_count_once_and_bad_ones_become_replayable_dead_letters(
    tmp_path: Path, kafka_broker: KafkaBroker, nats_server: NatsServer, start_platform: PlatformFactory
) -> None:
    topic = f"clicks-{random.randrange(10**9)}"
    kafka_broker.create_topic(topic, partitions=3)
    configs = _configs_with_topic(tmp_path / "configs", kafka_broker.bootstrap_servers, topic)
    now = datetime.now(UTC)
    good = clickstream_events(random.Random(51), 3000, now - timedelta(hours=6), now)
    refunds = [
        dict(e, action="refund") for e in clickstream_events(random.Random(52), 5, now - timedelta(hours=1), now)
    ]
    late = [
        dict(e, ts=(now - timedelta(days=10)).isoformat())
        for e in clickstream_events(random.Random(53), 3, now - timedelta(hours=1), now)
    ]
    # Arrays of 50 events per message, some single events, and the bad ones mixed into arrays.
    messages: list[Any] = [good[i : i + 50] for i in range(0, 2900, 50)]
    messages += good[2900:]
    messages[3] = [*messages[3], refunds[0], late[0]]
    messages += [refunds[1:3], late[1], refunds[3], [late[2], refunds[4]]]
    _produce(kafka_broker.bootstrap_servers, topic, messages)

    async with start_platform(configs) as (_, client):
        await wait_for_count(client, "clickstream", "events", len(good), within=120)
        nc = await nats.connect(nats_server.url)
        try:
            letters = [stored.letter async for stored in dead_letters(nc, "clickstream")]
            assert len(letters) == len(refunds) + len(late)
            reasons = sorted(letter.reason.split(":")[0] for letter in letters)
            assert reasons.count("Invalid enum value 'refund'; allowed") == len(refunds)
            assert reasons.count("Older than the lateness bound of 3d") == len(late)
            assert all(
                letter.topic == topic and letter.partition is not None and letter.offset is not None
                for letter in letters
            )
            assert {letter.field for letter in letters} == {"action", "ts"}

            # The client allows refunds now: replay stores them once; the late ones stay dead letters.
            fixed = load_catalog(
                _configs_with_topic(tmp_path / "fixed", kafka_broker.bootstrap_servers, topic, "refund")
            )
            report = await replay(nc, build_codec(fixed.modules["clickstream"]))
            assert report.replayed == len(refunds) and len(report.still_invalid) == len(late)
            again = await replay(nc, build_codec(fixed.modules["clickstream"]))
            assert again.replayed == 0
        finally:
            await nc.close()
        await wait_for_count(client, "clickstream", "events", len(good) + len(refunds))
        body = (
            await client.post(
                "/graphql",
                json={
                    # The running schema's enum lists the allowed actions it was started with: refunds are none.
                    "query": "{ clickstream(window: {last: 2, unit: DAY}, granularity: TOTAL, metrics: [EVENTS], "
                    "where: {action: {notIn: [view, add_to_cart, purchase]}}) { rows { events } } }"
                },
            )
        ).json()
        assert body["data"]["clickstream"]["rows"][0]["events"] == len(refunds)
