"""Pytest fixture for a real Apache Kafka broker (KRaft, from Maven Central jars; see strix_testkit.kafka).

- `kafka_broker`: one broker for the whole session (starting a JVM takes seconds); tests share it, so each test
  creates topics and consumer groups of its own, with unique names. Missing java, missing jars (provisioned on
  demand by deploy/kafka/provision.sh) or a failed start fail the run; nothing is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from strix_testkit.kafka import KafkaBroker, RedpandaBroker, docker_available, start_kafka

# Apache Kafka from its jars everywhere; Redpanda through testcontainers as well where a Docker engine runs.
BROKERS = ["kafka", *(["redpanda"] if docker_available() else [])]


@pytest.fixture(scope="session", params=BROKERS)
def kafka_broker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    broker: Any = RedpandaBroker() if request.param == "redpanda" else start_kafka(tmp_path_factory.mktemp("kafka"))
    try:
        yield broker
    finally:
        broker.stop()
