"""A microbatch: consecutive messages of one partition, inserted as one block under one token.

The token names the stream sequences the batch covers, so the same messages re-delivered after a crash form
the same token and ClickHouse drops the repeat in the raw table and in every rollup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from strix_clickhouse.columns import POSITION_COLUMN, SEQUENCE_COLUMN
from strix_config import ModuleConfig
from strix_contracts.events import to_columns


@dataclass(frozen=True)
class Microbatch:
    module: str
    partition: int
    first_seq: int
    last_seq: int
    columns: dict[str, list[Any]]
    events: int
    first_event: datetime | None
    last_event: datetime | None

    @property
    def token(self) -> str:
        return f"{self.module}:{self.partition}:{self.first_seq}-{self.last_seq}"


def build_microbatch(
    config: ModuleConfig,
    decoder: msgspec.json.Decoder[Any],
    partition: int,
    payloads: list[tuple[int, bytes]],
) -> Microbatch:
    """Decode (sequence, payload) pairs into one columnar batch."""
    events: list[Any] = []
    sequences: list[int] = []
    positions: list[int] = []
    for sequence, payload in payloads:
        decoded = decoder.decode(payload)
        events.extend(decoded)
        sequences.extend([sequence] * len(decoded))
        positions.extend(range(len(decoded)))
    columns = to_columns(config, events)
    columns[SEQUENCE_COLUMN] = sequences
    columns[POSITION_COLUMN] = positions
    times: list[datetime] = columns[config.event.time_field]
    return Microbatch(
        module=config.module,
        partition=partition,
        first_seq=payloads[0][0],
        last_seq=payloads[-1][0],
        columns=columns,
        events=len(events),
        first_event=min(times) if times else None,
        last_event=max(times) if times else None,
    )
