"""Rollup wiring: create the ClickHouse objects of every module, then run one loop per stream partition, and
watch the lag of the partitions this replica serves (Prometheus gauges; readiness fails on a stalled one)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import FastAPI
from nats.aio.client import Client as NATS
from prometheus_client import Gauge

from strix_clickhouse import ClickHouse, plan_module
from strix_clickhouse.ddl import EXISTING_COLUMNS_SQL, check_states, existing_columns
from strix_config import Catalog
from strix_rollup.boundary_store import open_bucket
from strix_rollup.consumer import BatchLimits, PartitionState, PartitionWorker, run_partition
from strix_rollup.discovery import Membership
from strix_rollup.joint import JointWorker, run_joint
from strix_rollup.lag import LagLimits, PartitionLag, lag_from_info, seconds_since, stall_reason
from strix_rollup.settings import RollupSettings
from strix_runtime.consumers import consumer_info, first_waiting_time, partition_consumer
from strix_runtime.health import health_router
from strix_runtime.logs import get_logger
from strix_runtime.streams import ensure_dead_letter_stream, ensure_event_stream

log = get_logger("rollup")

_LABELS = ["module", "partition"]
PENDING = Gauge("strix_rollup_pending_messages", "Event messages stored and not yet committed", _LABELS)
OLDEST = Gauge("strix_rollup_oldest_waiting_seconds", "Age of the oldest event message not yet committed", _LABELS)
LAST_COMMIT = Gauge("strix_rollup_last_commit_timestamp_seconds", "Unix time of the partition's last commit", _LABELS)
STALLED = Gauge("strix_rollup_partition_stalled", "1 while events wait and the partition does not advance", _LABELS)
_GAUGES = (PENDING, OLDEST, LAST_COMMIT, STALLED)

PartitionKey = tuple[str, int]


@dataclass
class Rollup:
    catalog: Catalog
    nc: NATS
    clickhouse: ClickHouse
    partitions: dict[PartitionKey, PartitionState] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    membership: Membership | None = None
    lag: dict[PartitionKey, PartitionLag] = field(default_factory=dict)  # of the partitions this replica serves
    stalled: dict[PartitionKey, str] = field(default_factory=dict)  # why each stalled partition is stalled
    serving_since: dict[PartitionKey, datetime] = field(default_factory=dict)

    async def healthy(self) -> bool | str:
        """False when NATS or a loop is down; the reason when a partition this replica serves is stalled."""
        if not (self.nc.is_connected and all(not t.done() for t in self.tasks)):
            return False
        if self.stalled:
            return "stalled: " + "; ".join(self.stalled[k] for k in sorted(self.stalled))
        return True

    def serves(self, key: PartitionKey) -> bool:
        return self.membership is None or self.membership.serves(*key)

    def inserted(self, module: str) -> int:
        return sum(s.inserted_events for (m, _), s in self.partitions.items() if m == module)


async def apply_schema(clickhouse: ClickHouse, catalog: Catalog) -> None:
    """Refuses to start when an existing rollup holds a metric's state other than the configs declare."""
    found = await clickhouse.query(EXISTING_COLUMNS_SQL, {"database": clickhouse.database})
    check_states([catalog.modules[n] for n in catalog.names()], existing_columns(found.rows), clickhouse.database)
    for name in catalog.names():
        statements = plan_module(catalog.modules[name], clickhouse.database)
        await clickhouse.apply(statements)
        log.info("rollup.schema_applied", module=name, objects=[s.name for s in statements])


def limits_from(settings: RollupSettings) -> BatchLimits:
    return BatchLimits(
        max_messages=settings.max_messages, ack_wait=settings.ack_wait, priority_timeout=settings.priority_timeout
    )


def lag_limits_from(settings: RollupSettings) -> LagLimits:
    return LagLimits(stall_seconds=settings.stall_seconds, poll_seconds=settings.lag_poll_seconds)


@asynccontextmanager
async def run_rollup(
    nc: NATS,
    clickhouse: ClickHouse,
    catalog: Catalog,
    limits: BatchLimits | None = None,
    membership_refresh: float = 1.5,
    lag_limits: LagLimits | None = None,
    joint: bool | None = None,
) -> AsyncIterator[Rollup]:
    """Every partition of every module gets a worker. Replicas deal the partitions among themselves
    (discovery.py) and the pinned-client priority group lets one of them at a time read each partition.
    `joint` (default: when the store is chDB, which runs one statement at a time): one loop per module instead,
    inserting a batch of every partition as one block (joint.py), and replicas deal whole modules."""
    if joint is None:
        chosen = RollupSettings().joint
        joint = clickhouse.embedded if chosen is None else chosen
    if limits is None or lag_limits is None:
        settings = RollupSettings()
        limits = limits or limits_from(settings)
        lag_limits = lag_limits or lag_limits_from(settings)
    await apply_schema(clickhouse, catalog)
    service = Rollup(catalog, nc, clickhouse)
    stopping = service.stopping
    membership = service.membership = Membership(nc)
    membership.whole_modules = joint
    await membership.start()
    await membership.refresh()  # a replica joining must not believe it is alone, even for a moment
    service.tasks.append(asyncio.create_task(_refresh(membership, stopping, membership_refresh), name="membership"))
    js = nc.jetstream()
    boundaries = await open_bucket(js)
    for name in catalog.names():
        config = catalog.modules[name]
        await ensure_event_stream(js, name)
        await ensure_dead_letter_stream(js, name)  # where events ClickHouse refuses go
        states = {partition: PartitionState() for partition in range(config.partitions)}
        service.partitions.update({(name, partition): state for partition, state in states.items()})
        if joint:
            joint_worker = JointWorker(nc, clickhouse, boundaries, config, states, limits, membership)
            loops = {"joint": run_joint(joint_worker, stopping)}
        else:
            loops = {
                str(partition): run_partition(
                    PartitionWorker(nc, clickhouse, boundaries, config, partition, state, limits, membership), stopping
                )
                for partition, state in states.items()
            }
        for loop_name, loop in loops.items():
            task = asyncio.create_task(loop, name=f"rollup-{name}-{loop_name}")
            task.add_done_callback(_report_crash)
            service.tasks.append(task)
    service.tasks.append(asyncio.create_task(_watch_lag(service, lag_limits, stopping), name="rollup-lag"))
    log.info("rollup.started", modules=catalog.names(), loops=len(service.tasks), joint=joint)
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


async def _watch_lag(service: Rollup, limits: LagLimits, stopping: asyncio.Event) -> None:
    """Every `poll_seconds`: the lag of each partition this replica serves into the gauges and the readiness."""
    while not stopping.is_set():
        for key in list(service.partitions):
            try:
                await read_lag(service, key, limits.stall_seconds, datetime.now(UTC))
            except Exception as exc:  # NATS away for a moment, a consumer not created yet: next round
                log.warning("rollup.lag_unreadable", module=key[0], partition=key[1], error=repr(exc)[:300])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), limits.poll_seconds)


async def read_lag(service: Rollup, key: PartitionKey, stall_seconds: float, now: datetime) -> None:
    """One partition's lag from its consumer info; forgotten (gauges removed) while another replica serves it."""
    labels = (key[0], str(key[1]))
    if not service.serves(key):
        if service.serving_since.pop(key, None) is not None:
            for gauge in _GAUGES:
                with contextlib.suppress(KeyError):
                    gauge.remove(*labels)
        service.lag.pop(key, None)
        service.stalled.pop(key, None)
        return
    since = service.serving_since.setdefault(key, now)
    consumer = partition_consumer(*key)
    info = await consumer_info(service.nc, consumer)
    lag = lag_from_info(*key, info, None)
    if lag.waiting:
        lag = lag_from_info(*key, info, await first_waiting_time(service.nc, consumer, lag.ack_floor))
    service.lag[key] = lag
    PENDING.labels(*labels).set(lag.waiting)
    OLDEST.labels(*labels).set(seconds_since(lag.oldest_waiting, now) or 0.0)
    if lag.last_commit is not None:
        LAST_COMMIT.labels(*labels).set(lag.last_commit.timestamp())
    reason = stall_reason(lag, now, stall_seconds, since)
    STALLED.labels(*labels).set(1 if reason else 0)
    if reason is None:
        if service.stalled.pop(key, None) is not None:
            log.info("rollup.partition_advancing", module=key[0], partition=key[1])
    elif key not in service.stalled:
        log.error("rollup.partition_stalled", module=key[0], partition=key[1], reason=reason)
        service.stalled[key] = reason
    else:
        service.stalled[key] = reason


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("rollup.loop_crashed", loop=task.get_name(), error=repr(task.exception()))


def create_app(service: Rollup) -> FastAPI:
    """Health and metrics for `strix serve rollup`."""
    app = FastAPI(title="Strix rollup")

    async def clickhouse_ok() -> bool:
        return await service.clickhouse.ping()

    app.include_router(health_router({"rollup": service.healthy, "clickhouse": clickhouse_ok}))
    return app
