"""Back-pressure: while rollup is away, ingestion keeps accepting until the stream is full, then answers 503 with
Retry-After; once rollup is back it catches up and every accepted event is counted — nothing lost."""

from __future__ import annotations

import contextlib
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import pytest

from strix.generators import clickstream_events
from strix.platform import PlatformOptions, run_platform
from strix_clickhouse import ClickHouse
from strix_config import load_catalog
from strix_rollup.app import run_rollup
from strix_runtime.natsserver import NatsServer
from tests.conftest import EXAMPLE_CONFIGS
from tests.support import signed_in_client, wait_for_count

pytestmark = pytest.mark.e2e


async def test_full_stream_means_503_then_catch_up_without_loss(
    tmp_path: Path,
    nats_server: NatsServer,
    clickhouse: ClickHouse,
    clickhouse_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STRIX_INGESTION_STREAM_MAX_BYTES", "400000")
    catalog = load_catalog(EXAMPLE_CONFIGS)
    now = datetime.now(UTC)
    events = clickstream_events(random.Random(61), 6000, now - timedelta(hours=1), now)
    options = PlatformOptions(
        catalog=catalog,
        data_dir=tmp_path,
        services=("ingestion", "query", "gateway", "auth"),
        nats_url=nats_server.url,
        clickhouse_url=clickhouse_url,
        clickhouse_database=clickhouse.database,
        port=0,
    )
    async with contextlib.AsyncExitStack() as stack:
        # The tables exist (rollup ran once), then rollup is away while events arrive.
        first_nc = await nats.connect(nats_server.url)
        async with run_rollup(first_nc, clickhouse, catalog):
            pass
        await first_nc.close()
        platform = await stack.enter_async_context(run_platform(options))
        client = await stack.enter_async_context(await signed_in_client(platform.http_url, platform.nc))
        accepted = 0
        refused = None
        for start in range(0, len(events), 200):
            response = await client.post("/v1/modules/clickstream/events", json=events[start : start + 200])
            if response.status_code == 503:
                refused = response
                break
            assert response.status_code == 200, response.text
            accepted += response.json()["accepted"]
        assert refused is not None, "the stream never filled up"
        assert refused.headers["retry-after"] and refused.json()["error"]["code"] == "unavailable"
        assert 0 < accepted < len(events)

        rollup_nc = await nats.connect(nats_server.url)
        stack.push_async_callback(rollup_nc.close)
        await stack.enter_async_context(run_rollup(rollup_nc, clickhouse, catalog))
        # A 503 means "send the same request again": the partitions stored before the stream filled up are
        # de-duplicated on the retry by their message ids, so the batch counts exactly once.
        retry = await client.post("/v1/modules/clickstream/events", json=events[accepted : accepted + 200])
        while retry.status_code == 503:
            retry = await client.post("/v1/modules/clickstream/events", json=events[accepted : accepted + 200])
        assert retry.status_code == 200
        await wait_for_count(client, "clickstream", "events", accepted + 200, within=60)
