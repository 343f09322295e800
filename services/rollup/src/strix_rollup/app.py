"""Rollup wiring: create the ClickHouse objects of every module, then run one loop per stream partition."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI
from nats.aio.client import Client as NATS

from strix_clickhouse import ClickHouse, plan_module
from strix_config import Catalog
from strix_contracts.streams import ensure_event_stream
from strix_rollup.boundary_store import open_bucket
from strix_rollup.consumer import BatchLimits, PartitionState, PartitionWorker, run_partition
from strix_rollup.discovery import Membership
from strix_rollup.settings import RollupSettings
from strix_runtime.health import health_router
from strix_runtime.logs import get_logger

log = get_logger("rollup")


@dataclass
class Rollup:
    catalog: Catalog
    nc: NATS
    clickhouse: ClickHouse
    partitions: dict[tuple[str, int], PartitionState] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    membership: Membership | None = None

    async def healthy(self) -> bool:
        return self.nc.is_connected and all(not t.done() for t in self.tasks)

    def inserted(self, module: str) -> int:
        return sum(s.inserted_events for (m, _), s in self.partitions.items() if m == module)


async def apply_schema(clickhouse: ClickHouse, catalog: Catalog) -> None:
    for name in catalog.names():
        statements = plan_module(catalog.modules[name], clickhouse.database)
        await clickhouse.apply(statements)
        log.info("rollup.schema_applied", module=name, objects=[s.name for s in statements])


def limits_from(settings: RollupSettings) -> BatchLimits:
    return BatchLimits(
        max_messages=settings.max_messages, ack_wait=settings.ack_wait, priority_timeout=settings.priority_timeout
    )


@asynccontextmanager
async def run_rollup(
    nc: NATS,
    clickhouse: ClickHouse,
    catalog: Catalog,
    limits: BatchLimits | None = None,
    membership_refresh: float = 1.5,
) -> AsyncIterator[Rollup]:
    """Every partition of every module gets a worker. Replicas deal the partitions among themselves
    (discovery.py) and the pinned-client priority group lets one of them at a time read each partition."""
    limits = limits or limits_from(RollupSettings())
    await apply_schema(clickhouse, catalog)
    service = Rollup(catalog, nc, clickhouse)
    stopping = service.stopping
    membership = service.membership = Membership(nc)
    await membership.start()
    await membership.refresh()  # a replica joining must not believe it is alone, even for a moment
    service.tasks.append(asyncio.create_task(_refresh(membership, stopping, membership_refresh), name="membership"))
    js = nc.jetstream()
    boundaries = await open_bucket(js)
    for name in catalog.names():
        config = catalog.modules[name]
        await ensure_event_stream(js, name)
        for partition in range(config.partitions):
            state = PartitionState()
            service.partitions[(name, partition)] = state
            worker = PartitionWorker(nc, clickhouse, boundaries, config, partition, state, limits, membership)
            task = asyncio.create_task(run_partition(worker, stopping), name=f"rollup-{name}-{partition}")
            task.add_done_callback(_report_crash)
            service.tasks.append(task)
    log.info("rollup.started", modules=catalog.names(), loops=len(service.tasks))
    try:
        yield service
    finally:
        stopping.set()
        await asyncio.gather(*service.tasks, return_exceptions=True)
        await membership.stop()
        log.info("rollup.stopped")


async def _refresh(membership: Membership, stopping: asyncio.Event, every: float) -> None:
    """Keep the view of live replicas current; partitions move when it changes."""
    while not stopping.is_set():
        try:
            before = membership.replicas
            replicas = await membership.refresh()
            if replicas != before:
                log.info("rollup.replicas_changed", replicas=replicas, me=membership.id)
        except Exception:
            log.exception("rollup.membership_refresh_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), every)


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("rollup.loop_crashed", loop=task.get_name(), error=repr(task.exception()))


def create_app(service: Rollup) -> FastAPI:
    """Health and metrics for `strix serve rollup`."""
    app = FastAPI(title="Strix rollup")

    async def clickhouse_ok() -> bool:
        return await service.clickhouse.ping()

    app.include_router(health_router({"nats": service.healthy, "clickhouse": clickhouse_ok}))
    return app
