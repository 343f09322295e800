"""Events ClickHouse refuses go to the module's dead-letter stream, with ClickHouse's reason and their origin.

A dead letter's message id names the event by stream partition, sequence and position, so a batch re-formed
after a crash and isolated again stores each of its dead letters once (within the stream's duplicate window).
"""

from __future__ import annotations

from typing import Any

import msgspec
from nats.js import JetStreamContext
from prometheus_client import Counter

from strix_contracts.deadletters import DeadLetter
from strix_contracts.subjects import dead_letter_subject

SOURCE = "rollup"
DEAD_LETTERS = Counter(
    "strix_rollup_dead_letters", "Events ClickHouse refused, sent to the dead-letter stream", ["module", "partition"]
)

_RAW_EVENTS = msgspec.json.Decoder(list[msgspec.Raw])


def event_bytes(message: bytes | None, position: int, fallback: dict[str, Any]) -> bytes:
    """The event's own bytes out of its message (a JSON array of events); its decoded fields when the message
    is gone."""
    if message is not None:
        events = _RAW_EVENTS.decode(message)
        if 0 <= position < len(events):
            return bytes(events[position])
    return msgspec.json.encode(fallback)


async def send_dead_letters(js: JetStreamContext, module: str, partition: int, letters: list[DeadLetter]) -> None:
    for letter in letters:
        headers = {**letter.headers(), "Nats-Msg-Id": letter.msg_id}
        await js.publish(dead_letter_subject(module), letter.payload, headers=headers)
    DEAD_LETTERS.labels(module, str(partition)).inc(len(letters))
