"""End-to-end fixtures: the whole platform in this process, on a real NATS server and the test chDB store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from strix.platform import Platform, PlatformOptions, run_platform
from strix_clickhouse import connect
from strix_config import load_catalog
from strix_runtime.logs import configure_logging
from strix_runtime.natsserver import NatsServer
from tests.support import signed_in_client

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIGS = REPO / "configs"
CLIENT_CONFIGS = Path(__file__).resolve().parent / "fixtures" / "client-configs"

PlatformFactory = Callable[..., AbstractAsyncContextManager[tuple[Platform, httpx.AsyncClient]]]


@pytest.fixture(scope="session", autouse=True)
def _logs() -> None:
    configure_logging("warning")


@pytest.fixture
def start_platform(
    tmp_path: Path, nats_server: NatsServer, clickhouse_url: str, clickhouse_database: str
) -> PlatformFactory:
    """Start every service on the test's NATS server and its own ClickHouse database; HTTP on a free port (other
    PlatformOptions as keyword arguments). The
    client signs every request with an admin API key (every module, no row filter): tests of the doors
    themselves make their own credentials."""

    @asynccontextmanager
    async def start(config_dir: Path, **overrides: Any) -> AsyncIterator[tuple[Platform, httpx.AsyncClient]]:
        options = PlatformOptions(
            catalog=load_catalog(config_dir),
            data_dir=tmp_path / "data",
            nats_url=nats_server.url,
            clickhouse_url=clickhouse_url,
            clickhouse_database=clickhouse_database,
            port=0,
            **overrides,
        )
        async with run_platform(options) as platform, await signed_in_client(platform.http_url, platform.nc) as client:
            yield platform, client
        # dropped once every service has stopped, so none of them logs the database vanishing under it
        leftover = connect(clickhouse_url, clickhouse_database)
        try:
            await leftover.command(f"DROP DATABASE IF EXISTS `{clickhouse_database}` SYNC")
        finally:
            leftover.close()

    return start
