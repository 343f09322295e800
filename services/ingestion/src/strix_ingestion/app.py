"""Ingestion wiring: HTTP routes over the validation and batching logic, JetStream as the sink.

The door: posting events needs a credential with the `write` scope whose roles the module's `access.write`
admits (strix_config.access.may_write), checked before the body is read; listing modules needs a signed-in
caller and lists those it may write. Bodies are JSON or NDJSON, declared so: `text/plain`, form and multipart
bodies (what a page of another site can post without a CORS preflight) and bodies of no declared type are
refused with 415 before anything is read or stored.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from nats.aio.client import Client as NATS
from nats.js.kv import KeyValue
from prometheus_client import Counter
from starlette.requests import ClientDisconnect

from strix_config import Catalog
from strix_config.access import may_write
from strix_contracts.errors import Forbidden, StrixError
from strix_ingestion.batches import RequestTooLarge, request_messages
from strix_ingestion.kafka_source import TopicPump, open_bucket
from strix_ingestion.publisher import EventPublisher, open_ledger, publish_request
from strix_ingestion.receipts import Receipt, request_digest
from strix_ingestion.validation import EventCodec, build_codec, decode_body
from strix_runtime.callers import CallerVerifier, install_error_handler, signed_in, strix_error_response
from strix_runtime.consumers import ensure_pinned_consumer, partition_consumer
from strix_runtime.health import health_router
from strix_runtime.logs import get_logger
from strix_runtime.streams import ensure_dead_letter_stream, ensure_event_stream

# Read while it arrives: a larger body is refused at this many bytes, never buffered whole.
MAX_BODY_BYTES = 64 * 1024 * 1024

EVENTS_ACCEPTED = Counter("strix_ingestion_events_accepted", "Events stored in JetStream", ["module"])
EVENTS_REJECTED = Counter("strix_ingestion_events_rejected", "Events rejected by validation", ["module"])
# Where a request's CPU goes before it is published (the bench reports it per million events): `validate`
# (decode and check the body), `pack` (cut the events into messages). Thread CPU time, so a busy machine does
# not inflate it.
REQUEST_CPU = Counter(
    "strix_ingestion_request_cpu_seconds", "CPU seconds of HTTP requests by stage", ["module", "stage"]
)

log = get_logger("ingestion")


@dataclass
class Ingestion:
    catalog: Catalog
    nc: NATS
    publisher: EventPublisher
    ledger: KeyValue
    codecs: dict[str, EventCodec] = field(default_factory=dict)
    pumps: list[TopicPump] = field(default_factory=list)

    async def healthy(self) -> bool:
        return self.nc.is_connected


@asynccontextmanager
async def run_ingestion(nc: NATS, catalog: Catalog, stream_max_bytes: int | None = None) -> AsyncIterator[Ingestion]:
    """HTTP ingestion, plus one pump per Kafka/Redpanda topic declared under a module's `sources:`."""
    js = nc.jetstream()
    for module in catalog.names():
        await ensure_event_stream(js, module, stream_max_bytes)
        await ensure_dead_letter_stream(js, module)
        for partition in range(catalog.modules[module].partitions):
            # The stream keeps events only for existing consumers: make sure they exist before the first event.
            await ensure_pinned_consumer(nc, partition_consumer(module, partition), update=False)
    codecs = {name: build_codec(cfg) for name, cfg in catalog.modules.items()}
    service = Ingestion(catalog, nc, EventPublisher(nc), await open_ledger(nc), codecs)
    stopping = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    if any(cfg.sources for cfg in catalog.modules.values()):
        kv = await open_bucket(nc)
        for name, cfg in catalog.modules.items():
            for source in cfg.sources:
                pump = TopicPump(nc, kv, cfg, service.codecs[name], source)
                service.pumps.append(pump)
                tasks.append(asyncio.create_task(pump.run(stopping), name=f"kafka-{name}-{source.topic}"))
    log.info("ingestion.started", modules=catalog.names(), topics=[p.source.topic for p in service.pumps])
    try:
        yield service
    finally:
        stopping.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        log.info("ingestion.stopped")


def _error(exc: StrixError) -> JSONResponse:
    return strix_error_response(exc)


# Media types of an events body (before any `;` parameter): JSON, or NDJSON under its usual names.
JSON_TYPES = frozenset({"application/json"})
NDJSON_TYPES = frozenset({"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"})


def body_kind(content_type: str | None) -> bool | None:
    """Whether the body is NDJSON (True) or JSON (False) by its declared type; None for any other type or none
    (text/plain, forms and multipart are what another site's page can post without a preflight)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in JSON_TYPES or (media.startswith("application/") and media.endswith("+json")):
        return False
    if media in NDJSON_TYPES:
        return True
    return None


def _unsupported(content_type: str | None) -> JSONResponse:
    given = content_type or "none"
    return JSONResponse(
        {
            "error": {
                "code": "unsupported_media_type",
                "message": f"events are JSON or NDJSON; the body's content type is {given}",
                "hint": "send content-type: application/json (one event or an array) or application/x-ndjson",
            }
        },
        415,
    )


def _too_large(message: str, hint: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": "too_large", "message": message, "hint": hint, **extra}}, 413)


class _BodyTooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    """The body as it arrives, refused once it passes `limit` bytes (or declares more)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _BodyTooLarge
    return bytes(body)


def ingestion_router(service: Ingestion, verifier: CallerVerifier | None = None) -> APIRouter:
    """The ingestion routes behind `verifier` (by default one over the service's connection, with Strix's
    issuer and audience)."""
    router = APIRouter(prefix="/v1", tags=["ingestion"])
    doors = verifier or CallerVerifier(service.nc)

    @router.get("/modules")
    async def modules(request: Request) -> dict[str, Any]:
        caller = signed_in(await doors.caller(request.headers))
        return {
            "modules": [
                {
                    "module": name,
                    "label": cfg.label,
                    "description": cfg.description,
                    "fields": {
                        f: {"type": spec.type, "required": spec.required, "allowed": spec.allowed}
                        for f, spec in cfg.event.fields.items()
                    },
                }
                for name, cfg in sorted(service.catalog.modules.items())
                if may_write(cfg, caller)
            ]
        }

    @router.post("/modules/{module}/events")
    async def post_events(module: str, request: Request, partial: bool = False) -> JSONResponse:
        """Store one event, a JSON array or NDJSON. All-or-nothing unless `partial=true`."""
        content_type = request.headers.get("content-type")
        ndjson = body_kind(content_type)
        if ndjson is None:
            return _unsupported(content_type)
        try:
            caller = signed_in(await doors.caller(request.headers))
        except StrixError as exc:
            return _error(exc)
        if not caller.may("write", module):
            return _error(
                Forbidden(
                    f"{caller.subject} may not post events: the credential lacks the write scope",
                    hint="post with an API key or token that has the write scope",
                )
            )
        codec = service.codecs.get(module)
        if codec is None:
            return JSONResponse(
                {
                    "error": {
                        "code": "not_found",
                        "message": f"unknown module {module!r}",
                        "known_modules": service.catalog.names(),
                    }
                },
                404,
            )
        if not may_write(codec.config, caller):
            return _error(
                Forbidden(
                    f"{caller.subject} may not post events to module {module!r}: no role of its access.write",
                    argument="module",
                    hint=f"the module's access.write names the roles that may: {', '.join(codec.config.access.write or ())}",
                )
            )
        try:
            body = await _read_body(request, MAX_BODY_BYTES)
        except ClientDisconnect:  # the client went away mid-upload: nothing was stored, nobody to answer
            log.info("ingestion.client_disconnected", module=module)
            return JSONResponse({"error": {"code": "client_disconnected", "message": "body not received"}}, 400)
        except _BodyTooLarge:
            return _too_large(f"body over {MAX_BODY_BYTES} bytes", "send the events in several requests")
        now = datetime.now(UTC)
        began = time.thread_time()
        decoded = decode_body(codec, body, ndjson, now)
        REQUEST_CPU.labels(module, "validate").inc(time.thread_time() - began)
        rejections = [{"index": r.index, "field": r.field, "reason": r.reason} for r in decoded.rejections]
        EVENTS_REJECTED.labels(module).inc(len({r.index for r in decoded.rejections}))
        if rejections and not partial:
            return JSONResponse(Receipt(module, 0, False, rejections).body(), 422)
        receipt = Receipt(module, len(decoded.events), False, rejections)
        if not decoded.events:
            return JSONResponse(receipt.body(), 200)
        key = request.headers.get("idempotency-key")
        limit = service.publisher.max_message_bytes
        began = time.thread_time()
        try:
            messages = request_messages(codec.config, decoded.events, key, limit, decoded.positions)
        except RequestTooLarge as exc:
            hint = "send the events in several smaller requests" if exc.index is None else "make the event smaller"
            extra = {} if exc.index is None else {"index": exc.index}
            return _too_large(f"{exc.message}; nothing was stored", hint, **extra)
        finally:
            REQUEST_CPU.labels(module, "pack").inc(time.thread_time() - began)
        digest = request_digest(module, body, ndjson, partial)
        try:
            answer = await publish_request(service.publisher, service.ledger, key, digest, messages, receipt, now)
        except StrixError as exc:
            log.warning("ingestion.publish_failed", module=module, error=exc.message)
            return _error(exc)
        if not answer.replayed:
            EVENTS_ACCEPTED.labels(module).inc(int(answer.body.get("stored", 0)))
        headers = {"Idempotent-Replayed": "true"} if answer.replayed else None
        return JSONResponse(answer.body, answer.status, headers=headers)

    return router


def create_app(service: Ingestion) -> FastAPI:
    """The standalone ingestion HTTP app (`strix serve ingestion`)."""
    app = FastAPI(title="Strix ingestion", docs_url=None, redoc_url=None, openapi_url=None)
    install_error_handler(app)
    app.include_router(ingestion_router(service))
    app.include_router(health_router({"nats": service.healthy}))
    return app
