"""Dead letters: an invalid event kept with why it was refused and where it came from.

The payload is the event's original bytes; headers say the reason and the origin (topic, partition, offset,
index within the Kafka message), so `strix dlq list` can show them and `strix dlq replay` can re-validate them
after a config fix.
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

    def headers(self) -> dict[str, str]:
        headers = {REASON: self.reason, SOURCE: self.source}
        optional = {
            FIELD: self.field,
            TOPIC: self.topic,
            PARTITION: self.partition,
            OFFSET: self.offset,
            INDEX: self.index,
        }
        headers.update({k: str(v) for k, v in optional.items() if v is not None})
        return headers

    @property
    def msg_id(self) -> str:
        """Re-reading the same Kafka message dead-letters it once."""
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
        )
