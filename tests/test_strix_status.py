"""`strix status` against a real NATS server: the streams, consumers, KV record, dead letters and rollup replica
are made by the test, the way the platform makes them; the command reads them back from NATS alone."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import nats

from strix.cli import build_parser
from strix.status import run_status
from strix_contracts.deadletters import DeadLetter
from strix_contracts.subjects import dead_letter_subject, event_subject
from strix_rollup.assignment import owner
from strix_rollup.boundaries import Boundary
from strix_rollup.boundary_store import open_bucket, write_open
from strix_rollup.discovery import Membership
from strix_rollup.pinned import PinnedPuller
from strix_runtime.consumers import ensure_pinned_consumer, partition_consumer
from strix_runtime.natsserver import NatsServer
from strix_runtime.settings import StrixSettings
from strix_runtime.streams import ensure_dead_letter_stream, ensure_event_stream


async def test_status_shows_waiting_events_last_commit_reader_and_dead_letters(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    replica = Membership(nc)
    try:
        js = nc.jetstream()
        for module in ("shop", "ads"):
            await ensure_event_stream(js, module)
            for partition in range(2):
                await ensure_pinned_consumer(nc, partition_consumer(module, partition))
        await ensure_dead_letter_stream(js, "shop")
        await replica.start()
        # shop/0: one message, read and committed by a pinned reader. shop/1: three messages, none committed.
        await js.publish(event_subject("shop", 0), b"[]")
        for _ in range(3):
            await js.publish(event_subject("shop", 1), b"[]")
        puller = PinnedPuller(nc, partition_consumer("shop", 0))
        [message] = await puller.fetch(5, 0.5)
        await message.ack_sync()
        await write_open(await open_bucket(js), "shop", 1, [Boundary(2, 3, 2)])
        for n in range(2):
            letter = DeadLetter(
                b"{}", "Code: 70. refused", None, "rollup", partition=1, module="shop", sequence=2, position=n
            )
            await js.publish(dead_letter_subject("shop"), letter.payload, headers=letter.headers())

        args = build_parser(StrixSettings()).parse_args(["status", "--nats-url", nats_server.url, "--json"])
        out = io.StringIO()
        code = await run_status(args.nats_url, args.modules or None, args.stall_seconds, args.json, out)
        assert code == 0  # nothing has waited for a minute
        modules = {m["module"]: m for m in json.loads(out.getvalue())["modules"]}
        assert set(modules) == {"shop", "ads"}
        shop = {p["partition"]: p for p in modules["shop"]["partitions"]}
        assert modules["shop"]["dead_letters"] == 2 and modules["ads"]["dead_letters"] == 0
        assert [p["waiting_messages"] for p in modules["ads"]["partitions"]] == [0, 0]

        assert shop[0]["waiting_messages"] == 0 and shop[0]["oldest_waiting_seconds"] is None
        assert shop[0]["pinned_client"] == puller.pin and shop[0]["pinned_client"] is not None
        last_commit = datetime.fromisoformat(shop[0]["last_commit"])
        assert abs((datetime.now(UTC) - last_commit).total_seconds()) < 30

        assert (shop[1]["waiting_messages"], shop[1]["undelivered_messages"], shop[1]["unacked_messages"]) == (3, 3, 0)
        assert 0 <= shop[1]["oldest_waiting_seconds"] < 30
        assert shop[1]["last_commit"] is None and shop[1]["open_batches"] == 1
        assert shop[0]["reader"] == shop[1]["reader"] == replica.id == owner([replica.id], "shop", 1)
        assert shop[1]["stalled"] is None

        # With a zero stall limit, the partition whose events wait is flagged, in the table and by the exit code.
        out = io.StringIO()
        code = await run_status(nats_server.url, ["shop"], 0.0, False, out)
        table = out.getvalue()
        assert code == 1
        assert table.startswith("shop: 2 partition(s), 2 dead letter(s)")
        lines = table.splitlines()
        row = next(line for line in lines if line.split()[:2] == ["1", "3"])
        assert row.rstrip().endswith("STALLED") and replica.id in row
        assert any(line.strip().startswith("! shop/1: 3 message(s) waiting") for line in lines)
        assert "ads" not in table
    finally:
        await replica.stop()
        await nc.close()
