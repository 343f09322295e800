"""The joint loop inserts a batch of every partition as one block, and a crash at any point of a joint batch's
life — after the insert, halfway through the acks, halfway through recording it — leaves every event counted
once: the next loop re-forms, finishes or forgets the group from the records (joint.py)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest
import pytest_asyncio
from pydantic import ValidationError
from services.rollup.tests.test_partition_worker import EVENTS_PER_MESSAGE, count, dying_acks, payload

import strix_rollup.consumer as consumer_module
import strix_rollup.joint as joint_module
from strix_clickhouse import ClickHouse
from strix_config import Catalog, load_catalog
from strix_contracts.subjects import event_subject
from strix_rollup.app import apply_schema, run_rollup
from strix_rollup.boundary_store import open_bucket, read_open
from strix_rollup.consumer import INSERT_SECONDS, BatchLimits, PartitionState, PartitionWorker
from strix_rollup.joint import JointWorker
from strix_runtime.natsserver import NatsServer
from strix_runtime.streams import ensure_event_stream

REPO = Path(__file__).resolve().parents[3]
CONFIG = load_catalog(REPO / "configs").modules["clickstream"]
LIMITS = BatchLimits(max_messages=6, fetch_wait=0.2, linger=0.05, ack_wait=1.0, priority_timeout=1.0)
PER_PARTITION = 3  # messages published to each partition


def worker(nc: Any, clickhouse: ClickHouse, boundaries: Any) -> JointWorker:
    states = {p: PartitionState() for p in range(CONFIG.partitions)}
    return JointWorker(nc, clickhouse, boundaries, CONFIG, states, LIMITS)


async def records(boundaries: Any) -> int:
    return sum([len(await read_open(boundaries, "clickstream", p)) for p in range(CONFIG.partitions)])


async def pending(nc: Any) -> int:
    """Messages delivered and not acked, over every partition consumer."""
    total = 0
    for partition in range(CONFIG.partitions):
        reply = await nc.request(f"$JS.API.CONSUMER.INFO.events_clickstream.rollup_clickstream_{partition}", b"")
        total += int(json.loads(reply.data)["num_ack_pending"])
    return total


@pytest_asyncio.fixture
async def published(nats_server: NatsServer, clickhouse: ClickHouse) -> AsyncIterator[int]:
    """Messages in every partition (the consumers made first: the stream keeps only what a consumer wants)."""
    await apply_schema(clickhouse, Catalog({"clickstream": CONFIG}))
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_event_stream(js, "clickstream")
    await worker(nc, clickhouse, await open_bucket(js)).start()
    message = 0
    for partition in range(CONFIG.partitions):
        for _ in range(PER_PARTITION):
            await js.publish(event_subject("clickstream", partition), payload(message))
            message += 1
    await nc.close()
    yield message * EVENTS_PER_MESSAGE


async def settle(nc: Any, clickhouse: ClickHouse, expected: int, survivor: JointWorker, boundaries: Any) -> None:
    """Step the surviving loop until nothing is recorded or unacked, and every event is counted."""
    stopping = asyncio.Event()
    deadline = time.monotonic() + 30
    while await records(boundaries) or await pending(nc) or await count(clickhouse) < expected:
        assert time.monotonic() < deadline, "the partitions never settled: a group is stuck"
        await survivor.step(stopping)


async def a_survivor_settles(nats_server: NatsServer, clickhouse: ClickHouse, published: int) -> None:
    """A new loop on a new connection finishes whatever the dead one left recorded; every event counts once."""
    second = await nats.connect(nats_server.url)
    try:
        boundaries = await open_bucket(second.jetstream())
        survivor = worker(second, clickhouse, boundaries)
        await survivor.start()
        await settle(second, clickhouse, published, survivor, boundaries)
        assert await count(clickhouse) == published
        survivor.stop_fetches()
    finally:
        await second.close()


async def test_one_insert_takes_a_batch_of_every_partition(
    nats_server: NatsServer, clickhouse: ClickHouse, published: int
) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        boundaries = await open_bucket(nc.jetstream())
        loop = worker(nc, clickhouse, boundaries)
        await loop.start()
        before = _insert_count()
        await settle(nc, clickhouse, published, loop, boundaries)
        assert await count(clickhouse) == published
        assert _insert_count() - before == 1, "the partitions' batches went in as more than one insert"
        assert all(s.inserted_events == PER_PARTITION * EVENTS_PER_MESSAGE for s in _states(loop))
    finally:
        await nc.close()


def _insert_count() -> float:
    for metric in INSERT_SECONDS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count") and sample.labels.get("module") == "clickstream":
                return sample.value
    return 0.0


def _states(loop: JointWorker) -> list[PartitionState]:
    return [part.state for part in loop.parts.values()]


@pytest.mark.parametrize("acks_before_death", [0, 1, PER_PARTITION + 1])
async def test_a_crash_after_the_insert_counts_every_event_once(
    nats_server: NatsServer,
    clickhouse: ClickHouse,
    published: int,
    monkeypatch: pytest.MonkeyPatch,
    acks_before_death: int,
) -> None:
    """Killed before any ack (the group is re-formed and dropped by its token), within the first member's acks
    (a member acked halfway: the group landed, finished without an insert), or after the first member was acked
    and forgotten (likewise)."""
    first = await nats.connect(nats_server.url)
    boundaries = await open_bucket(first.jetstream())
    dying = worker(first, clickhouse, boundaries)
    await dying.start()
    dying_acks(monkeypatch, acks_before_death)
    with pytest.raises(ConnectionError):
        for _ in range(20):
            await dying.step(asyncio.Event())
    monkeypatch.undo()
    dying.stop_fetches()
    assert await count(clickhouse) == published
    assert await records(boundaries) >= CONFIG.partitions - 1
    await first.close()

    await a_survivor_settles(nats_server, clickhouse, published)  # not inserted a second time


@pytest.mark.parametrize("dies_on_write", [2, CONFIG.partitions + 1], ids=["recording", "forgetting"])
async def test_a_crash_between_record_writes_counts_every_event_once(
    nats_server: NatsServer,
    clickhouse: ClickHouse,
    published: int,
    monkeypatch: pytest.MonkeyPatch,
    dies_on_write: int,
) -> None:
    """Killed while recording the group (a later member's record missing: nothing was inserted, the group is
    forgotten), or after every member's messages were acked, while the records were forgotten (no message comes
    back: whatever the records say, nothing is counted again and no record is left behind)."""
    first = await nats.connect(nats_server.url)
    boundaries = await open_bucket(first.jetstream())
    dying = worker(first, clickhouse, boundaries)
    await dying.start()
    writes = 0
    real_write = joint_module.write_open

    async def dies_on_that_write(*args: Any) -> None:
        nonlocal writes
        writes += 1
        if writes == dies_on_write:
            raise ConnectionError("SIGKILL")
        await real_write(*args)

    monkeypatch.setattr(joint_module, "write_open", dies_on_that_write)
    monkeypatch.setattr(consumer_module, "write_open", dies_on_that_write)  # where members are forgotten
    with pytest.raises(ConnectionError):
        for _ in range(20):
            await dying.step(asyncio.Event())
    monkeypatch.undo()
    dying.stop_fetches()
    if dies_on_write == 2:
        assert await count(clickhouse) == 0  # nothing inserted: the group was never fully recorded
        assert 1 <= await records(boundaries) < CONFIG.partitions  # the first member's record, not every member's
    else:
        assert await count(clickhouse) == published
        assert await pending(first) == 0  # every message acked
        assert await records(boundaries) >= 1  # the record whose write failed, at least
    await first.close()

    await a_survivor_settles(nats_server, clickhouse, published)


async def test_a_per_partition_loop_leaves_a_joint_record_alone(
    nats_server: NatsServer, clickhouse: ClickHouse, published: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replica that does not run jointly must not re-form a member on its own (it would go under another token):
    it waits, and the joint loop that comes back finishes the group."""
    first = await nats.connect(nats_server.url)
    boundaries = await open_bucket(first.jetstream())
    dying = worker(first, clickhouse, boundaries)
    await dying.start()
    dying_acks(monkeypatch, 0)
    with pytest.raises(ConnectionError):
        for _ in range(20):
            await dying.step(asyncio.Event())
    monkeypatch.undo()
    dying.stop_fetches()
    await first.close()

    second = await nats.connect(nats_server.url)
    try:
        boundaries = await open_bucket(second.jetstream())
        alone = PartitionWorker(second, clickhouse, boundaries, CONFIG, 0, PartitionState(), LIMITS)
        await alone.start()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            await alone.step(asyncio.Event())
        assert await count(clickhouse) == published
        assert alone.state.inserted_events == 0
        await alone.release()
    finally:
        await second.close()
    await a_survivor_settles(nats_server, clickhouse, published)


@pytest.mark.parametrize(("setting", "joint"), [(None, True), ("false", False), ("true", True)])
async def test_the_joint_loop_is_the_default_over_chdb_and_the_setting_overrides_it(
    nats_server: NatsServer,
    clickhouse: ClickHouse,
    monkeypatch: pytest.MonkeyPatch,
    setting: str | None,
    joint: bool,
) -> None:
    assert clickhouse.embedded  # the suite's store is chDB
    if setting is not None:
        monkeypatch.setenv("STRIX_ROLLUP_JOINT", setting)
    nc = await nats.connect(nats_server.url)
    try:
        async with run_rollup(nc, clickhouse, Catalog({"clickstream": CONFIG}), LIMITS) as service:
            loops = {task.get_name() for task in service.tasks if task.get_name().startswith("rollup-clickstream")}
            assert service.membership is not None and service.membership.whole_modules is joint
            expected = ["joint"] if joint else [str(p) for p in range(CONFIG.partitions)]
            assert loops == {f"rollup-clickstream-{name}" for name in expected}
    finally:
        await nc.close()


async def test_a_setting_that_is_not_a_boolean_is_refused_by_name(
    clickhouse: ClickHouse, nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRIX_ROLLUP_JOINT", "sometimes")
    nc = await nats.connect(nats_server.url)
    try:
        with pytest.raises(ValidationError, match="joint"):
            async with run_rollup(nc, clickhouse, Catalog({"clickstream": CONFIG}), LIMITS):
                pass
    finally:
        await nc.close()


async def test_a_crash_while_a_group_lands_and_the_next_is_recorded_counts_every_event_once(
    nats_server: NatsServer, clickhouse: ClickHouse, published: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Groups overlap: one is inserted and acked while the next is read, probed and recorded. Killed halfway
    through the second group's acks (the third group read and recorded meanwhile, or about to be): the survivor
    finishes the second without an insert and re-forms the third; every event counts once."""
    first = await nats.connect(nats_server.url)
    boundaries = await open_bucket(first.jetstream())
    one_message_each = BatchLimits(max_messages=1, fetch_wait=0.2, linger=0.05, ack_wait=1.0, priority_timeout=1.0)
    states = {p: PartitionState() for p in range(CONFIG.partitions)}
    dying = JointWorker(first, clickhouse, boundaries, CONFIG, states, one_message_each)
    await dying.start()
    dying_acks(monkeypatch, CONFIG.partitions + 1)  # the first group's acks, and one of the second's
    with pytest.raises(ConnectionError):
        for _ in range(20):
            await dying.step(asyncio.Event())
    monkeypatch.undo()
    dying.stop_fetches()
    assert 0 < await count(clickhouse) < published  # the first groups landed, not every one
    assert await records(boundaries) >= 1
    await first.close()

    await a_survivor_settles(nats_server, clickhouse, published)
