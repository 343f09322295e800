"""Pytest fixtures that start real parts. A missing binary fails the run; nothing is skipped or mocked.

- `nats_server`: a fresh nats-server with JetStream for each test (port picked by the server; ~50 ms), open to
  any client.
- `secured_nats_server`: a factory of fresh servers that admit only the Strix users (one per service and the
  operator, permissions from strix_runtime.natsauth for the given modules), with their generated passwords.
- `clickhouse_url`: the ClickHouse every test of this process shares: `CLICKHOUSE_URL` when set (a server),
  else one chDB store (chDB opens one data directory per process).
- `clickhouse`: a client bound to a database of the test's own, dropped afterwards.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from strix_clickhouse import ClickHouse, connect
from strix_runtime.natsauth import NatsCredentials, new_password, render_authorization, service_users, user_names
from strix_runtime.natsserver import NatsServer, start_nats_server


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = start_nats_server(tmp_path / "nats", port=-1)
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class SecuredNats:
    """A server admitting only the Strix users, and what each presents (`credentials["strix-gateway"]`)."""

    server: NatsServer
    credentials: dict[str, NatsCredentials]

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def secured_nats_server(tmp_path: Path) -> Iterator[Callable[[Sequence[str]], SecuredNats]]:
    """`secured_nats_server(["orders"])`: a server whose users may reach the subjects of these modules."""
    started: list[NatsServer] = []

    def start(modules: Sequence[str]) -> SecuredNats:
        passwords = {user: new_password() for user in user_names()}
        authorization = render_authorization(service_users(passwords, modules))
        server = start_nats_server(tmp_path / f"nats-secured-{len(started)}", port=-1, authorization=authorization)
        started.append(server)
        return SecuredNats(server, {user: NatsCredentials(user, password) for user, password in passwords.items()})

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture(scope="session")
def clickhouse_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("CLICKHOUSE_URL")
    if url:
        return url
    return f"chdb://{tmp_path_factory.mktemp('chdb').resolve()}"


@pytest.fixture
def clickhouse_database(request: pytest.FixtureRequest) -> str:
    name = re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:40]
    return f"t_{name}_{uuid.uuid4().hex[:6]}"


@pytest_asyncio.fixture
async def clickhouse(clickhouse_url: str, clickhouse_database: str) -> AsyncIterator[ClickHouse]:
    client = connect(clickhouse_url, clickhouse_database)
    await client.command(f"CREATE DATABASE IF NOT EXISTS `{clickhouse_database}`")
    try:
        yield client
    finally:
        await client.command(f"DROP DATABASE IF EXISTS `{clickhouse_database}` SYNC")
        client.close()
