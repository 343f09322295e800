"""No event can stop a partition: what ClickHouse refuses is set aside, everything else is counted exactly.

A real NATS server and chDB; events are published straight into the module's stream (as ingestion would store
them, poison included: ingestion's own checks are not what is under test) and one partition worker drains it.
Every number is compared with a plain-Python computation over the events that should have landed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from strix_clickhouse import ClickHouse
from strix_config import Catalog, ModuleConfig
from strix_contracts.deadletters import DeadLetter
from strix_contracts.subjects import dead_letter_stream, event_subject
from strix_rollup.app import apply_schema
from strix_rollup.boundary_store import open_bucket
from strix_rollup.consumer import BatchLimits, PartitionState, PartitionWorker
from strix_runtime.natsserver import NatsServer
from strix_runtime.streams import ensure_dead_letter_stream, ensure_event_stream

MODULE = "orders"
TOO_BIG = 9223372036854775808  # Int64 max + 1: JSON carries it, the column cannot
GRANULARITY = {"by_minute": "minute", "by_hour": "hour", "by_day": "day"}

# Kept forever: a ten-year backfill must stay in the raw table and in every rollup.
CONFIG = ModuleConfig.model_validate(
    {
        "module": MODULE,
        "event": {
            "time_field": "ts",
            "fields": {
                "ts": {"type": "datetime"},
                "customer": {"type": "string"},
                "kind": {"type": "string"},
                "quantity": {"type": "int"},
                "amount": {"type": "decimal", "scale": 2},
            },
        },
        "partition_by": "customer",
        "partitions": 1,
        "dimensions": {"kind": {}},
        "metrics": {
            "events": {"kind": "count"},
            "items": {"kind": "sum", "field": "quantity"},
            "amount": {"kind": "sum", "field": "amount"},
        },
        "rollups": {
            "by_minute": {"granularity": "minute", "dimensions": ["kind"]},
            "by_hour": {"granularity": "hour", "dimensions": ["kind"]},
            "by_day": {"granularity": "day"},
        },
        "raw": {"keep": True},
    }
)


def event(ts: datetime, n: int, quantity: int | None = None) -> dict[str, Any]:
    return {
        "ts": ts.isoformat(),
        "customer": "c1",
        "kind": "ab"[n % 2],
        "quantity": n % 7 + 1 if quantity is None else quantity,
        "amount": f"{n % 13}.{n % 100:02d}",
    }


# ---- the independent computation ----------------------------------------------------------------------------


def bucket(moment: datetime, granularity: str) -> datetime:
    if granularity == "minute":
        return moment.replace(second=0, microsecond=0)
    if granularity == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def expected(events: list[dict[str, Any]], rollup: str | None) -> dict[tuple[Any, ...], tuple[int, int, Decimal]]:
    """(bucket, kind) -> (events, items, amount); the raw table as one group."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        moment = datetime.fromisoformat(e["ts"]).astimezone(UTC)
        if rollup is None:
            key: tuple[Any, ...] = ()
        elif rollup == "by_day":
            key = (bucket(moment, "day"),)
        else:
            key = (bucket(moment, GRANULARITY[rollup]), e["kind"])
        groups[key].append(e)
    return {
        k: (len(es), sum(e["quantity"] for e in es), sum((Decimal(e["amount"]) for e in es), Decimal(0)))
        for k, es in groups.items()
    }


async def stored(clickhouse: ClickHouse, rollup: str | None) -> dict[tuple[Any, ...], tuple[int, int, Decimal]]:
    db = clickhouse.database
    if rollup is None:
        sql = f"SELECT count(), sum(quantity), sum(amount) FROM `{db}`.`{MODULE}_events`"
        rows = (await clickhouse.query(sql)).rows
        return {(): (int(rows[0][0]), int(rows[0][1]), Decimal(rows[0][2]))} if rows[0][0] else {}
    keys = "bucket" if rollup == "by_day" else "bucket, kind"
    sql = (
        f"SELECT {keys}, countMerge(events), sumMerge(items), sumMerge(amount) "
        f"FROM `{db}`.`{MODULE}__{rollup}` GROUP BY {keys}"
    )
    result: dict[tuple[Any, ...], tuple[int, int, Decimal]] = {}
    for row in (await clickhouse.query(sql)).rows:
        *key, count, items, amount = row
        moment = key[0] if key[0].tzinfo else key[0].replace(tzinfo=UTC)
        result[(moment.astimezone(UTC), *key[1:])] = (int(count), int(items), Decimal(amount))
    return result


async def assert_counted_exactly(clickhouse: ClickHouse, events: list[dict[str, Any]]) -> None:
    assert events, "nothing to compare: the test would prove nothing"
    for rollup in [None, *GRANULARITY]:
        want = expected(events, rollup)
        got = await stored(clickhouse, rollup)
        assert got == want, f"{rollup or 'raw'}: {len(got)} groups stored, {len(want)} expected"


# ---- driving a worker ------------------------------------------------------------------------------------------


async def setup(nc: NATS, clickhouse: ClickHouse, limits: BatchLimits) -> PartitionWorker:
    await apply_schema(clickhouse, Catalog({MODULE: CONFIG}))
    js = nc.jetstream()
    await ensure_event_stream(js, MODULE)
    await ensure_dead_letter_stream(js, MODULE)
    worker = PartitionWorker(nc, clickhouse, await open_bucket(js), CONFIG, 0, PartitionState(), limits)
    await worker.start()
    return worker


async def waiting(nc: NATS, worker: PartitionWorker) -> int:
    reply = await nc.request(f"$JS.API.CONSUMER.INFO.{worker.consumer.stream}.{worker.consumer.name}", b"")
    info = json.loads(reply.data)
    return int(info["num_pending"]) + int(info["num_ack_pending"])


async def drain(nc: NATS, worker: PartitionWorker, within: float = 30, idle: float = 0.5) -> None:
    """Step the worker until nothing has waited for `idle` seconds. The consumer counts a message a moment after
    the stream acked its publish, so an empty count right after publishing does not mean drained."""
    stopping = asyncio.Event()
    deadline = time.monotonic() + within
    idle_since: float | None = None
    while True:
        assert time.monotonic() < deadline, "the partition did not drain: it is stuck"
        if await waiting(nc, worker):
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > idle:
            return
        await worker.step(stopping)


async def publish(nc: NATS, messages: list[list[dict[str, Any]]]) -> None:
    js = nc.jetstream()
    for events in messages:
        await js.publish(event_subject(MODULE, 0), json.dumps(events).encode())


async def dead_letters(nc: NATS) -> list[DeadLetter]:
    js = nc.jetstream()
    info = await js.stream_info(dead_letter_stream(MODULE))
    if not info.state.messages:
        return []
    letters = []
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        raw = await js.get_msg(dead_letter_stream(MODULE), sequence)
        letters.append(DeadLetter.from_headers(raw.data or b"", dict(raw.headers or {})))
    return letters


LIMITS = BatchLimits(max_messages=50, fetch_wait=0.2, ack_wait=1.0, priority_timeout=1.0)


async def test_a_ten_year_backfill_in_one_message_is_counted_in_raw_and_every_rollup(
    nats_server: NatsServer, clickhouse: ClickHouse
) -> None:
    events = [
        event(datetime(2016 + i // 12, i % 12 + 1, 1 + i % 28, i % 24, i % 60, tzinfo=UTC), i) for i in range(120)
    ]
    nc = await nats.connect(nats_server.url)
    try:
        worker = await setup(nc, clickhouse, LIMITS)
        await publish(nc, [events])
        await drain(nc, worker)
        await assert_counted_exactly(clickhouse, events)
        assert worker.state.dead_letters == 0 and await dead_letters(nc) == []
        assert len({(e["ts"][:7]) for e in events}) == 120  # one event a month: 120 monthly partitions in one block
    finally:
        await nc.close()


async def test_a_poison_event_goes_to_the_dead_letters_and_the_partition_goes_on(
    nats_server: NatsServer, clickhouse: ClickHouse
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    good = [[event(start + timedelta(minutes=m * 10 + i), m * 10 + i) for i in range(5)] for m in range(4)]
    poison = event(start + timedelta(minutes=17), 99, quantity=TOO_BIG)
    messages = [good[0], [*good[1][:2], poison, *good[1][2:]], good[2]]  # the poison event is message 2, position 2
    nc = await nats.connect(nats_server.url)
    try:
        worker = await setup(nc, clickhouse, LIMITS)
        await publish(nc, messages)
        await drain(nc, worker)
        await publish(nc, [good[3]])  # later events of the partition are counted too
        await drain(nc, worker)
        await assert_counted_exactly(clickhouse, [e for m in good for e in m])

        [letter] = await dead_letters(nc)
        assert (letter.source, letter.module, letter.partition) == ("rollup", MODULE, 0)
        assert (letter.sequence, letter.position, letter.field) == (2, 2, "quantity")
        assert "Unable to create native array for column `quantity`" in letter.reason
        assert json.loads(letter.payload) == json.loads(json.dumps(poison))
        assert worker.state.dead_letters == 1
    finally:
        await nc.close()


async def test_an_isolated_batch_re_formed_after_a_crash_counts_once_and_dead_letters_once(
    nats_server: NatsServer, clickhouse: ClickHouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    good = [event(start + timedelta(seconds=i), i) for i in range(40)]
    poisons = [event(start, 100 + n, quantity=TOO_BIG + n) for n in range(3)]
    messages = [[*good[:10], poisons[0]], good[10:20], [poisons[1], *good[20:30], poisons[2]], good[30:]]
    first = await nats.connect(nats_server.url)
    dying = await setup(first, clickhouse, LIMITS)
    await publish(first, messages)

    async def die(self: Msg, *args: Any) -> Msg:
        raise ConnectionError("SIGKILL after the inserts, before the first ack")

    monkeypatch.setattr(Msg, "ack_sync", die)
    with pytest.raises(ConnectionError):
        for _ in range(20):
            await dying.step(asyncio.Event())
    monkeypatch.undo()
    await first.close()
    await assert_counted_exactly(clickhouse, good)  # isolated and inserted, not acked
    assert len(await dead_letters_of(nats_server)) == 3

    second = await nats.connect(nats_server.url)
    try:
        survivor = await setup(second, clickhouse, LIMITS)
        await drain(second, survivor)  # the recorded batch comes back, is refused and split the same way again
        await assert_counted_exactly(clickhouse, good)
        letters = await dead_letters(second)
        assert Counter((d.sequence, d.position) for d in letters) == Counter({(1, 10): 1, (3, 0): 1, (3, 11): 1})
    finally:
        await second.close()


async def dead_letters_of(server: NatsServer) -> list[DeadLetter]:
    nc = await nats.connect(server.url)
    try:
        return await dead_letters(nc)
    finally:
        await nc.close()


async def test_an_event_clickhouse_itself_refuses_is_isolated_by_its_error_code(
    nats_server: NatsServer, clickhouse: ClickHouse
) -> None:
    """A refusal from the server (here a table constraint an operator added: code 469, VIOLATED_CONSTRAINT)
    rather than from the client's serialisation: the same split, the same dead letter, with the server's text."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    good = [event(start + timedelta(seconds=i), i) for i in range(25)]
    refused = [event(start, 200, quantity=5000), event(start, 201, quantity=7000)]
    nc = await nats.connect(nats_server.url)
    try:
        worker = await setup(nc, clickhouse, LIMITS)
        table = f"`{clickhouse.database}`.`{MODULE}_events`"
        await clickhouse.command(f"ALTER TABLE {table} ADD CONSTRAINT sane_quantity CHECK quantity < 1000")
        await publish(nc, [good[:12], [refused[0], *good[12:20]], [*good[20:], refused[1]]])
        await drain(nc, worker)
        await assert_counted_exactly(clickhouse, good)
        letters = await dead_letters(nc)
        assert [(d.sequence, d.position) for d in letters] == [(2, 0), (3, 5)]
        assert all("Code: 469" in d.reason and "sane_quantity" in d.reason for d in letters)
        assert [json.loads(d.payload)["quantity"] for d in letters] == [5000, 7000]
    finally:
        await nc.close()
