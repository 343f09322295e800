"""NATS subjects and stream names: `domain.verb`, built in one place."""

from __future__ import annotations

import zlib

QUERY_RUN = "query.run"
QUERY_RECORDS = "query.records"
# Reply header set when an answer came from the query service's cache.
CACHED_HEADER = "Strix-Cached"
QUERY_SERVICE = "strix-query"
COMMITTED_PREFIX = "rollup.committed"


def event_stream(module: str) -> str:
    """JetStream stream holding the events of one module (stream names cannot contain dots)."""
    return f"events_{module}"


def event_subject(module: str, partition: int) -> str:
    return f"events.{module}.{partition}"


def event_subjects(module: str) -> str:
    return f"events.{module}.*"


def committed_subject(module: str) -> str:
    return f"{COMMITTED_PREFIX}.{module}"


def rollup_consumer(module: str, partition: int) -> str:
    return f"rollup_{module}_{partition}"


def partition_of(value: object, partitions: int) -> int:
    """Stable partition of an event: CRC-32 of the partition field's text, so every language agrees."""
    return zlib.crc32(str(value).encode("utf-8")) % partitions


def dead_letter_stream(module: str) -> str:
    return f"dlq_{module}"


def dead_letter_subject(module: str) -> str:
    return f"dlq.{module}"
