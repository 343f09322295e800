"""A stuck pipeline is visible: per-partition lag as Prometheus gauges, and readiness that fails, naming the
partition and why, when events wait and the partition does not advance; it recovers once the partition moves."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import nats
from prometheus_client import REGISTRY

from strix_clickhouse import ClickHouse
from strix_config import Catalog, ModuleConfig
from strix_contracts.subjects import event_subject
from strix_rollup.app import create_app, run_rollup
from strix_rollup.consumer import BatchLimits
from strix_rollup.lag import LagLimits, PartitionLag, lag_from_info, parse_time, stall_reason
from strix_runtime.natsserver import NatsServer

MODULE = "lagging"
CONFIG = ModuleConfig.model_validate(
    {
        "module": MODULE,
        "event": {"time_field": "ts", "fields": {"ts": {"type": "datetime"}, "user": {"type": "string"}}},
        "partition_by": "user",
        "partitions": 2,
        "dimensions": {"user": {}},
        "metrics": {"events": {"kind": "count"}},
        "raw": {"keep": True},
    }
)
NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


def lag(**overrides: Any) -> PartitionLag:
    values: dict[str, Any] = {
        "module": "m",
        "partition": 3,
        "undelivered": 0,
        "unacked": 0,
        "ack_floor": 10,
        "last_commit": NOW - timedelta(seconds=500),
        "oldest_waiting": None,
        "pinned": "pin",
        "pinned_since": NOW - timedelta(hours=1),
    }
    return PartitionLag(**{**values, **overrides})


def test_consumer_info_becomes_a_partition_lag() -> None:
    info = {
        "num_pending": 7,
        "num_ack_pending": 3,
        "ack_floor": {"consumer_seq": 4, "stream_seq": 41, "last_active": "2026-12-01T11:59:30.123456789Z"},
        "priority_groups": [{"group": "rollup", "pinned_client_id": "Dp1", "pinned_ts": "2026-12-01T11:00:00Z"}],
    }
    got = lag_from_info("m", 1, info, "2026-12-01T11:58:00.5Z")
    assert (got.undelivered, got.unacked, got.waiting, got.ack_floor, got.pinned) == (7, 3, 10, 41, "Dp1")
    assert got.last_commit == datetime(2026, 12, 1, 11, 59, 30, 123456, tzinfo=UTC)
    assert got.oldest_waiting == datetime(2026, 12, 1, 11, 58, 0, 500000, tzinfo=UTC)
    assert got.pinned_since == datetime(2026, 12, 1, 11, 0, tzinfo=UTC)
    idle = lag_from_info("m", 1, {"num_pending": 0, "num_ack_pending": 0, "ack_floor": {"stream_seq": 0}}, None)
    assert (idle.waiting, idle.last_commit, idle.pinned, idle.oldest_waiting) == (0, None, None, None)
    assert parse_time("0001-01-01T00:00:00Z") is None


def test_a_partition_is_stalled_only_when_events_wait_and_nothing_moved_for_the_limit() -> None:
    old = NOW - timedelta(seconds=90)
    assert stall_reason(lag(), NOW, 60) is None  # nothing waits, however old the last commit
    assert stall_reason(lag(unacked=2, oldest_waiting=NOW - timedelta(seconds=30)), NOW, 60) is None  # just arrived
    recent_commit = lag(unacked=2, oldest_waiting=old, last_commit=NOW - timedelta(seconds=5))
    assert stall_reason(recent_commit, NOW, 60) is None  # a backlog being worked through
    taken_over = lag(unacked=2, oldest_waiting=old)
    assert stall_reason(taken_over, NOW, 60, serving_since=NOW - timedelta(seconds=10)) is None  # just took it
    reason = stall_reason(lag(undelivered=5, unacked=2, oldest_waiting=old), NOW, 60)
    assert (
        reason
        == "m/3: 7 message(s) waiting, the oldest for 90 s, last commit 500 s ago: no progress for 90 s (limit 60 s)"
    )
    never = stall_reason(lag(unacked=1, oldest_waiting=old, last_commit=None), NOW, 60)
    assert never is not None and "nothing committed yet" in never


def gauge(name: str, partition: int) -> float | None:
    return REGISTRY.get_sample_value(name, {"module": MODULE, "partition": str(partition)})


async def wait_until(predicate: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


async def test_readiness_names_a_stalled_partition_and_recovers(
    nats_server: NatsServer, clickhouse: ClickHouse
) -> None:
    nc = await nats.connect(nats_server.url)
    limits = BatchLimits(max_messages=10, fetch_wait=0.2, max_backoff=0.3, ack_wait=30, priority_timeout=1.0)
    watch = LagLimits(stall_seconds=1.5, poll_seconds=0.2)
    db = clickhouse.database
    try:
        async with run_rollup(nc, clickhouse, Catalog({MODULE: CONFIG}), limits, lag_limits=watch) as service:
            app = create_app(service)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://rollup") as http:
                assert (await http.get("/healthz")).status_code == 200

                async def consumers_made() -> bool:  # events sent before their consumer exists are not kept
                    return len(service.lag) == CONFIG.partitions

                await wait_until(consumers_made, 10, "the partition consumers were never created")
                # The raw table goes away: every insert fails (transiently: UNKNOWN_TABLE), partition 1 waits.
                await clickhouse.command(f"RENAME TABLE `{db}`.`{MODULE}_events` TO `{db}`.`{MODULE}_hidden`")
                js = nc.jetstream()
                now = datetime.now(UTC).isoformat()
                for n in range(3):
                    await js.publish(event_subject(MODULE, 1), json.dumps([{"ts": now, "user": f"u{n}"}]).encode())

                async def stalled() -> bool:
                    return (await http.get("/healthz")).status_code == 503

                await wait_until(stalled, 15, "readiness never failed while partition 1 was stuck")
                body = (await http.get("/healthz")).json()
                assert body["checks"]["rollup"] is False
                reason = body["reasons"]["rollup"]
                assert f"{MODULE}/1: 3 message(s) waiting" in reason and "nothing committed yet" in reason
                assert f"{MODULE}/0" not in reason
                assert gauge("strix_rollup_pending_messages", 1) == 3
                assert gauge("strix_rollup_pending_messages", 0) == 0
                assert (gauge("strix_rollup_oldest_waiting_seconds", 1) or 0) >= 1.5
                assert gauge("strix_rollup_partition_stalled", 1) == 1
                assert gauge("strix_rollup_partition_stalled", 0) == 0
                metrics = (await http.get("/metrics")).text
                assert f'strix_rollup_pending_messages{{module="{MODULE}",partition="1"}} 3.0' in metrics

                # The table is back: the partition advances and readiness passes again.
                await clickhouse.command(f"RENAME TABLE `{db}`.`{MODULE}_hidden` TO `{db}`.`{MODULE}_events`")

                async def ready() -> bool:
                    return (await http.get("/healthz")).status_code == 200

                await wait_until(ready, 15, "readiness did not recover once the partition advanced")
                count = await clickhouse.query(f"SELECT count() FROM `{db}`.`{MODULE}_events`")
                assert count.rows[0][0] == 3
                await wait_until(
                    lambda: _equals(gauge("strix_rollup_pending_messages", 1), 0), 5, "lag gauge never went to 0"
                )
                assert gauge("strix_rollup_partition_stalled", 1) == 0
                assert (gauge("strix_rollup_last_commit_timestamp_seconds", 1) or 0) > time.time() - 30
    finally:
        await nc.close()


async def _equals(value: float | None, expected: float) -> bool:
    return value == expected
