"""No event can stop a partition (issue 9): a poison event between good events of one partition, on the whole
platform (real NATS server, chDB, every service).

The poison event carries a quantity beyond Int64. Ingestion refuses such values, so it is published straight into
the module's stream, as a message ingestion could have written, between events sent over HTTP. ClickHouse cannot
store it; the rollup must set it aside in the dead-letter stream with ClickHouse's reason and count every good
event exactly once — in the raw table and in every rollup, checked against a plain-Python computation — including
the events sent after it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import nats

from strix_clickhouse import ClickHouse
from strix_config import ModuleConfig, load_catalog
from strix_contracts.subjects import event_subject, partition_of
from strix_ingestion.deadletters import StoredLetter, dead_letters
from tests.conftest import EXAMPLE_CONFIGS, PlatformFactory
from tests.support import bucket_of, normalised, post_events

MODULE = "clickstream"
TOO_BIG = 2**63  # one more than Int64 holds
ACTIONS = ["view", "view", "add_to_cart", "purchase"]


def event(n: int, customer: str, start: datetime) -> dict[str, Any]:
    return {
        "event_id": f"poison-test-{n}",
        "ts": (start + timedelta(seconds=37 * n)).isoformat(),
        "customer_id": customer,
        "session_id": f"s{n % 3}",
        "action": ACTIONS[n % 4],
        "product_group": ["shoes", "hats", "bags"][n % 3],
        "product_id": f"p{n % 5}",
        "country": ["FI", "SE"][n % 2],
        "device": ["desktop", "mobile", "tablet"][n % 3],
        "price": f"{n % 40 + 1}.{n % 100:02d}",
        "quantity": n % 4 + 1,
    }


def totals(events: list[dict[str, Any]]) -> tuple[int, int, Decimal, int]:
    """(events, views, revenue, items sold) — the metrics' definitions in configs/clickstream.yaml, by hand."""
    purchases = [e for e in events if e["action"] == "purchase"]
    return (
        len(events),
        sum(1 for e in events if e["action"] == "view"),
        sum((e["price"] for e in purchases), Decimal(0)),
        sum(e["quantity"] for e in purchases),
    )


def expected(config: ModuleConfig, events: list[dict[str, Any]], rollup: str) -> dict[tuple[Any, ...], Any]:
    spec = config.rollups[rollup]
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        key = (bucket_of(e["ts"], spec.granularity, "UTC"), *(e[config.dimension_field(d)] for d in spec.dimensions))
        groups[key].append(e)
    return {key: totals(group) for key, group in groups.items()}


async def stored(clickhouse: ClickHouse, config: ModuleConfig, rollup: str) -> dict[tuple[Any, ...], Any]:
    dims = [f"`{d}`" for d in config.rollups[rollup].dimensions]
    keys = ", ".join(["bucket", *dims])
    sql = (
        f"SELECT {keys}, countMerge(events), countIfMerge(views), sumIfMerge(revenue), sumIfMerge(items_sold) "
        f"FROM `{clickhouse.database}`.`{MODULE}__{rollup}` GROUP BY {keys}"
    )
    result = {}
    for row in (await clickhouse.query(sql)).rows:
        moment, *values = row[: 1 + len(dims)]
        count, views, revenue, items = row[1 + len(dims) :]
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        result[(moment.astimezone(UTC), *values)] = (int(count), int(views), Decimal(revenue), int(items))
    return result


async def raw(clickhouse: ClickHouse) -> tuple[list[str], tuple[int, int, Decimal, int]]:
    table = f"`{clickhouse.database}`.`{MODULE}_events`"
    ids = (await clickhouse.query(f"SELECT event_id FROM {table} ORDER BY event_id")).rows
    sums = (
        await clickhouse.query(
            f"SELECT count(), countIf(action = 'view'), sumIf(price, action = 'purchase'), "
            f"sumIf(quantity, action = 'purchase') FROM {table}"
        )
    ).rows[0]
    return [r[0] for r in ids], (int(sums[0]), int(sums[1]), Decimal(sums[2]), int(sums[3]))


async def wait_for(check: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.25)


async def test_a_poison_event_between_good_events_is_dead_lettered_and_the_partition_goes_on(
    start_platform: PlatformFactory,
) -> None:
    config = load_catalog(EXAMPLE_CONFIGS).modules[MODULE]
    customer = "poison-customer"
    partition = partition_of(customer, config.partitions)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    sent = [event(n, customer, start) for n in range(80)]
    poison = {**event(1000, customer, start), "quantity": TOO_BIG}
    before, around, after, later = sent[:30], sent[30:32], sent[32:60], sent[60:]

    async with start_platform(EXAMPLE_CONFIGS) as (platform, client):
        assert platform.clickhouse is not None
        clickhouse = platform.clickhouse
        await post_events(client, MODULE, before)
        # One stream message as ingestion writes them (a JSON array of normalised events): good, poison, good.
        async with await nats.connect(platform.nats_url) as nc:
            message = [around[0], poison, around[1]]
            await nc.jetstream().publish(event_subject(MODULE, partition), json.dumps(message).encode())
        await post_events(client, MODULE, after)

        async def counted(n: int) -> bool:
            ids, _ = await raw(clickhouse)
            assert len(ids) <= n, f"{len(ids)} raw events, only {n} good ones sent"
            return len(ids) == n

        await wait_for(lambda: counted(60), 90, "the good events around the poison event were never all counted")
        await post_events(client, MODULE, later)  # and the partition goes on
        await wait_for(lambda: counted(80), 90, "events sent after the poison event were never counted")

        good = [normalised(config, e) for e in sent]
        ids, sums = await raw(clickhouse)
        assert ids == sorted(e["event_id"] for e in good)  # each good event once, the poison event not at all
        assert sums == totals(good)
        for rollup in config.rollups:
            want = expected(config, good, rollup)
            assert want, "the comparison holds no rows: the test would prove nothing"
            assert await stored(clickhouse, config, rollup) == want, f"rollup {rollup} differs"

        async with await nats.connect(platform.nats_url) as nc:
            letters: list[StoredLetter] = [letter async for letter in dead_letters(nc, MODULE)]
        assert len(letters) == 1, [s.letter for s in letters]
        letter = letters[0].letter
        assert (letter.source, letter.module, letter.partition, letter.position) == ("rollup", MODULE, partition, 1)
        assert letter.field == "quantity"
        assert "Unable to create native array for column `quantity`" in letter.reason
        assert json.loads(letter.payload) == poison
        rollup_service = platform.services["rollup"]
        assert rollup_service.partitions[(MODULE, partition)].dead_letters == 1
        health = await client.get("/healthz")
        assert health.status_code == 200, health.text

        # What an operator runs: the dead letter with its reason, and a partition that is not behind.
        listed = [
            json.loads(line) for line in (await strix("dlq", "list", MODULE, *platform_args(platform))).splitlines()
        ]
        assert [(d["source"], d["partition"], d["position"], d["field"]) for d in listed] == [
            ("rollup", partition, 1, "quantity")
        ]
        assert "Unable to create native array for column `quantity`" in listed[0]["reason"]
        status = json.loads(await strix("status", MODULE, "--json", "--nats-url", platform.nats_url))
        [module] = status["modules"]
        assert module["dead_letters"] == 1
        assert [p["waiting_messages"] for p in module["partitions"]] == [0] * config.partitions
        assert all(p["stalled"] is None for p in module["partitions"])


def platform_args(platform: Any) -> list[str]:
    return ["--nats-url", platform.nats_url, "--config-dir", str(EXAMPLE_CONFIGS)]


async def strix(*args: str) -> str:
    """Run the `strix` command in its own process; its standard output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "strix.cli", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()
