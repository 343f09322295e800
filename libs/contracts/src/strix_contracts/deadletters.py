"""Dead letters: an invalid event kept with why it was refused and where it came from.

The payload is the event's original bytes; headers say the reason and the origin, so `strix dlq list` can show
them and `strix dlq replay` can re-validate them after a config fix. Two sources write them:
- ingestion reading a Kafka topic (source `kafka`): topic, partition, offset, index within the Kafka message;
- rollup, when ClickHouse refuses an event ingestion had accepted (source `rollup`): the reason is ClickHouse's,
  and the origin is the module, the event stream partition, the stream sequence of the message and the
  event's position within it.
"""

from __future__ import annotations

from dataclasses import dataclass

REASON = "Strix-Reason"
FIELD = "Strix-Field"
SOURCE = "Strix-Source"
TOPIC = "Strix-Topic"
PARTITION = "Strix-Partition"
OFFSET = "Strix-Offset"
INDEX = "Strix-Index"
MODULE = "Strix-Module"
SEQUENCE = "Strix-Sequence"
POSITION = "Strix-Position"


@dataclass(frozen=True)
class DeadLetter:
    payload: bytes
    reason: str
    field: str | None
    source: str
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    index: int | None = None
    module: str | None = None
    sequence: int | None = None  # stream sequence of the event message (source `rollup`)
    position: int | None = None  # the event's index within that message

    def headers(self) -> dict[str, str]:
        headers = {REASON: self.reason, SOURCE: self.source}
        optional = {
            FIELD: self.field,
            TOPIC: self.topic,
            PARTITION: self.partition,
            OFFSET: self.offset,
            INDEX: self.index,
            MODULE: self.module,
            SEQUENCE: self.sequence,
            POSITION: self.position,
        }
        headers.update({k: str(v) for k, v in optional.items() if v is not None})
        return headers

    @property
    def msg_id(self) -> str:
        """Re-reading the same Kafka message, or re-forming the same stream batch, dead-letters it once."""
        if self.sequence is not None:
            return f"dlq:{self.source}:{self.module}:{self.partition}:{self.sequence}:{self.position}"
        return f"dlq:{self.source}:{self.topic}:{self.partition}:{self.offset}:{self.index}"

    @staticmethod
    def from_headers(payload: bytes, headers: dict[str, str]) -> DeadLetter:
        def number(key: str) -> int | None:
            return int(headers[key]) if key in headers else None

        return DeadLetter(
            payload=payload,
            reason=headers.get(REASON, ""),
            field=headers.get(FIELD),
            source=headers.get(SOURCE, "?"),
            topic=headers.get(TOPIC),
            partition=number(PARTITION),
            offset=number(OFFSET),
            index=number(INDEX),
            module=headers.get(MODULE),
            sequence=number(SEQUENCE),
            position=number(POSITION),
        )
