"""The JetStream stream of a module's events, declared once so writers and readers agree on it."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from strix_contracts.subjects import dead_letter_stream, dead_letter_subject, event_stream, event_subjects

# Re-sent batches with the same message id within this window are stored once.
DUPLICATE_WINDOW_SECONDS = 120.0


def event_stream_config(module: str, max_bytes: int = -1) -> StreamConfig:
    return StreamConfig(
        name=event_stream(module),
        subjects=[event_subjects(module)],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.NEW,
        max_bytes=max_bytes,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        description=f"Validated events of module {module}",
    )


async def ensure_event_stream(js: JetStreamContext, module: str, max_bytes: int = -1) -> None:
    """Create the stream, or leave it as it is when it exists (writers and readers both call this)."""
    config = event_stream_config(module, max_bytes)
    try:
        await js.stream_info(config.name or "")
    except NotFoundError:
        await js.add_stream(config)


def dead_letter_stream_config(module: str) -> StreamConfig:
    """Invalid events from topics, kept with their reason until replayed or purged."""
    return StreamConfig(
        name=dead_letter_stream(module),
        subjects=[dead_letter_subject(module)],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        description=f"Dead letters of module {module}",
    )


async def ensure_dead_letter_stream(js: JetStreamContext, module: str) -> None:
    config = dead_letter_stream_config(module)
    try:
        await js.stream_info(config.name or "")
    except NotFoundError:
        await js.add_stream(config)
