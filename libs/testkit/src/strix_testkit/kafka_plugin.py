"""Pytest fixture for a real Apache Kafka broker (KRaft, from Maven Central jars; see strix_testkit.kafka).

- `kafka_broker`: one broker for the whole session (starting a JVM takes seconds); tests share it, so each test
  creates topics and consumer groups of its own, with unique names. Missing java, missing jars (provisioned on
  demand by deploy/kafka/provision.sh) or a failed start fail the run; nothing is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from strix_testkit.kafka import KafkaBroker, start_kafka


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    broker = start_kafka(tmp_path_factory.mktemp("kafka"))
    try:
        yield broker
    finally:
        broker.stop()
