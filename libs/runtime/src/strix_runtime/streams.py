"""The JetStream stream of a module's events, declared once so writers and readers agree on it."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from strix_contracts.subjects import dead_letter_stream, dead_letter_subject, event_stream, event_subjects

# Re-sent batches with the same message id within this window are stored once.
DUPLICATE_WINDOW_SECONDS = 120.0


# A module's stream holds what rollup has not read yet; when it is full (ClickHouse away for a long time),
# ingestion refuses new events with 503 and Retry-After rather than dropping old ones.
DEFAULT_MAX_BYTES = 4 * 1024**3


def event_stream_config(module: str, max_bytes: int = DEFAULT_MAX_BYTES) -> StreamConfig:
    """Interest retention: a message goes once its partition's consumer acked it (see consumers.py). Atomic
    batches allowed: ingestion stores a request's messages all or none (nats-server >= 2.12)."""
    return StreamConfig(
        name=event_stream(module),
        subjects=[event_subjects(module)],
        storage=StorageType.FILE,
        retention=RetentionPolicy.INTEREST,
        discard=DiscardPolicy.NEW,
        max_bytes=max_bytes,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        allow_atomic=True,
        description=f"Validated events of module {module}",
    )


async def ensure_event_stream(js: JetStreamContext, module: str, max_bytes: int | None = None) -> None:
    """Create the stream when missing (writers and readers both call this). An existing stream is updated to
    allow atomic batches (streams made before ingestion published them) and, when given, to `max_bytes`."""
    config = event_stream_config(module, DEFAULT_MAX_BYTES if max_bytes is None else max_bytes)
    try:
        info = await js.stream_info(config.name or "")
    except NotFoundError:
        await js.add_stream(config)
        return
    changes: dict[str, object] = {}
    if not info.config.allow_atomic:
        changes["allow_atomic"] = True
    if max_bytes is not None and info.config.max_bytes != max_bytes:
        changes["max_bytes"] = max_bytes
    if changes:
        await js.update_stream(info.config.evolve(**changes))


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
