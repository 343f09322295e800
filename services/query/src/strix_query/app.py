"""Query wiring: a NATS micro service whose `run` endpoint answers QueryRequest with QueryResponse."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from fastapi import FastAPI
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.micro.request import Request
from prometheus_client import Counter, Histogram
from pydantic import ValidationError

from strix_clickhouse import ClickHouse
from strix_config import Catalog
from strix_contracts.errors import QueryError, StrixError, internal, invalid_request
from strix_contracts.notices import Committed
from strix_contracts.query import QueryRequest, RecordsRequest, Row
from strix_contracts.subjects import CACHED_HEADER, COMMITTED_PREFIX, QUERY_RECORDS, QUERY_RUN, QUERY_SERVICE
from strix_query.buckets_cache import BucketCache
from strix_query.cache import ResultCache
from strix_query.compiler import STATEMENT_SECONDS
from strix_query.execution import Answer, execute_cached, read_records, rollup_sizes
from strix_query.planner import Held
from strix_query.validation import check_answer_size
from strix_runtime.health import health_router
from strix_runtime.logs import get_logger
from strix_runtime.micro import respond_error, start_service, stop_service
from strix_runtime.requestid import request_id_from_headers
from strix_runtime.tracing import traced_handler

log = get_logger("query")

QUERIES = Counter("strix_query_requests", "Queries answered", ["module", "source", "outcome"])
CACHE_INVALIDATED = Counter("strix_query_cache_invalidated", "Cached answers dropped by rollup commits", ["module"])
BUCKETS_INVALIDATED = Counter(
    "strix_query_bucket_cache_invalidated", "Cached bucket rows dropped by rollup commits", ["module"]
)
BUCKETS_REUSED = Counter("strix_query_buckets_reused", "Buckets answered from the bucket cache", ["module"])
QUERY_SECONDS = Histogram("strix_query_seconds", "Query latency inside the query service", ["module"])


T = TypeVar("T")

SIZES_REFRESH_SECONDS = 15.0
# Requests answered at once: the store runs one statement at a time (chDB) or a few (a server), but answers from
# the caches and the Python around statements need not wait; the cap bounds memory under a burst.
MAX_IN_FLIGHT = 32
# The longest one request may take (several statements: top-N keys, the comparison window, the joined module);
# past it the caller hears what to narrow. Below the gateway's own deadline, so this clearer answer comes first.
QUERY_DEADLINE = 20.0
_NARROW = "narrow the window, filter, group by fewer dimensions or choose a coarser granularity"


def statement_timed_out(exc: Exception) -> bool:
    """Whether ClickHouse stopped a statement at its time limit (code 159, TIMEOUT_EXCEEDED)."""
    return getattr(exc, "code", None) == 159 or "(TIMEOUT_EXCEEDED)" in str(exc)


def too_slow(seconds: float) -> QueryError:
    return QueryError(f"the query took longer than {seconds:g} s", argument="window", hint=_NARROW)


@dataclass
class QueryService:
    catalog: Catalog
    nc: NATS
    clickhouse: ClickHouse
    sizes: dict[str, dict[str, list[Held]]] = field(default_factory=dict)
    sizes_at: float = 0.0
    cache: ResultCache[Answer] = field(default_factory=ResultCache)
    bucket_cache: BucketCache[Row] = field(default_factory=BucketCache)
    deadline: float = QUERY_DEADLINE
    in_flight: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_IN_FLIGHT))
    running: set[asyncio.Task[None]] = field(default_factory=set)

    def concurrently(self, handler: Callable[[Request], Awaitable[None]]) -> Callable[[Request], Awaitable[None]]:
        """`handler` run as a task of its own per request. NATS hands a subscription's messages over one at a time
        and waits for each callback: without this, an answer the caches hold waited behind every statement
        before it, and no request's Python overlapped another's statement. At most MAX_IN_FLIGHT run at once;
        past that the subscription waits for a slot (its messages queue in NATS's pending buffer)."""

        async def spawn(request: Request) -> None:
            await self.in_flight.acquire()
            task = asyncio.create_task(self._released(handler, request))
            self.running.add(task)
            task.add_done_callback(self.running.discard)

        return spawn

    async def _released(self, handler: Callable[[Request], Awaitable[None]], request: Request) -> None:
        try:
            await handler(request)
        finally:
            self.in_flight.release()

    async def drain(self) -> None:
        """Wait for the requests under way (after the endpoints stopped taking new ones)."""
        if self.running:
            await asyncio.wait(set(self.running), timeout=self.deadline)

    async def within_deadline(self, work: Awaitable[T]) -> T:
        """`work`, or a QueryError naming what to narrow when it outlasts the deadline or a statement its time
        limit (a statement cut off keeps its thread until ClickHouse stops it: at most STATEMENT_SECONDS)."""
        try:
            async with asyncio.timeout(self.deadline):
                return await work
        except TimeoutError as exc:
            raise too_slow(self.deadline) from exc
        except Exception as exc:
            if statement_timed_out(exc):
                raise too_slow(STATEMENT_SECONDS) from exc
            raise

    async def on_committed(self, message: Msg) -> None:
        """A rollup commit: drop cached answers over the buckets it changed."""
        try:
            notice = Committed.model_validate_json(message.data)
        except ValidationError:
            log.warning("query.bad_notice", subject=message.subject)
            return
        dropped = self.cache.invalidate(notice.module, notice.first_event, notice.last_event)
        CACHE_INVALIDATED.labels(notice.module).inc(dropped)
        buckets = self.bucket_cache.invalidate(notice.module, notice.first_event, notice.last_event)
        BUCKETS_INVALIDATED.labels(notice.module).inc(buckets)

    async def rollup_sizes(self) -> dict[str, dict[str, list[Held]]]:
        """Each rollup's parts (rows, bucket span), refreshed every few seconds: the planner reads the rollup with
        the fewest rows in the window among those that answer."""
        if time.monotonic() - self.sizes_at > SIZES_REFRESH_SECONDS:
            try:
                self.sizes = await rollup_sizes(self.clickhouse, self.catalog)
            except Exception:
                log.exception("query.sizes_failed")
            self.sizes_at = time.monotonic()
        return self.sizes

    async def healthy(self) -> bool:
        return self.nc.is_connected

    async def handle_records(self, request: Request) -> None:
        try:
            try:
                records_request = RecordsRequest.model_validate_json(request.data)
            except ValidationError as exc:
                raise invalid_request(exc) from exc
            response = await self.within_deadline(
                read_records(self.clickhouse, self.catalog, records_request, datetime.now(UTC))
            )
        except StrixError as exc:
            await respond_error(request, exc)
            return
        except Exception:
            rid = request_id_from_headers(request.headers)
            log.exception("query.records_failed", request_id=rid)
            await respond_error(request, internal(rid), "internal error")
            return
        await request.respond(response.model_dump_json().encode())

    async def handle(self, request: Request) -> None:
        started = time.perf_counter()
        module = "?"
        try:
            try:
                query = QueryRequest.model_validate_json(request.data)
            except ValidationError as exc:
                raise invalid_request(exc) from exc
            module = query.module
            sizes = await self.rollup_sizes()
            answer, cached = await self.within_deadline(
                execute_cached(
                    self.clickhouse, self.catalog, query, datetime.now(UTC), self.cache, sizes, self.bucket_cache
                )
            )
            check_answer_size(len(answer.payload), self.nc.max_payload)
        except StrixError as exc:
            QUERIES.labels(module, "-", exc.code).inc()
            await respond_error(request, exc)
            return
        except Exception:
            rid = request_id_from_headers(request.headers)
            log.exception("query.failed", module=module, request_id=rid)
            QUERIES.labels(module, "-", "internal").inc()
            await respond_error(request, internal(rid), "internal error")
            return
        elapsed = time.perf_counter() - started
        QUERY_SECONDS.labels(module).observe(elapsed)
        QUERIES.labels(module, answer.source, "cached" if cached else "ok").inc()
        if not cached:
            BUCKETS_REUSED.labels(module).inc(answer.reused_buckets)
        log.debug("query.answered", module=module, source=answer.source, rows=answer.rows, ms=elapsed * 1000)
        await request.respond(answer.payload, headers={CACHED_HEADER: "1"} if cached else None)


@asynccontextmanager
async def run_query_service(
    nc: NATS, clickhouse: ClickHouse, catalog: Catalog, deadline: float = QUERY_DEADLINE
) -> AsyncIterator[QueryService]:
    service = QueryService(catalog, nc, clickhouse, deadline=deadline)
    # Subscribe before serving: an answer cached after a commit we missed would stay stale.
    notices = await nc.subscribe(f"{COMMITTED_PREFIX}.>", cb=service.on_committed)
    micro = await start_service(
        nc,
        name=QUERY_SERVICE,
        version="0.1.0",
        description="Strix queries over rollups",
        queue_group="strix-query",
        endpoints=[
            ("run", QUERY_RUN, service.concurrently(traced_handler(service.handle))),
            ("records", QUERY_RECORDS, service.concurrently(traced_handler(service.handle_records))),
        ],
    )
    log.info("query.started", modules=catalog.names())
    try:
        yield service
    finally:
        await stop_service(micro)
        await service.drain()
        await notices.unsubscribe()
        log.info("query.stopped")


def create_app(service: QueryService) -> FastAPI:
    app = FastAPI(title="Strix query")

    async def clickhouse_ok() -> bool:
        return await service.clickhouse.ping()

    app.include_router(health_router({"nats": service.healthy, "clickhouse": clickhouse_ok}))
    return app
