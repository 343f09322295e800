"""Every Strix service connects to NATS as its own user, allowed exactly the subjects it uses.

Against real nats-server processes: a connection without credentials (or with a wrong password) is refused; a
service's user publishing or subscribing outside its permissions gets a permissions violation and nothing is
stored or delivered; and the embedded platform, started with its secured server, takes events over HTTP, counts
them and answers GraphQL with every service on its own user, without one violation in the server's log.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import stat
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import nats
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout

from strix.generators import clickstream_events
from strix.platform import PlatformOptions, run_platform
from strix.status import run_status
from strix_auth.app import AuthOptions
from strix_config import load_catalog
from strix_contracts.subjects import QUERY_RUN, event_stream, event_subject
from strix_runtime import natsauth
from strix_runtime.consumers import ensure_pinned_consumer, partition_consumer
from strix_runtime.natsauth import NatsCredentials, inbox_prefix, user_name
from strix_runtime.natsserver import embedded_passwords, operator_credentials, passwords_file, start_nats_server
from strix_runtime.streams import ensure_event_stream
from strix_testkit.plugin import SecuredNats
from tests.conftest import EXAMPLE_CONFIGS, REPO
from tests.support import graphql, post_events, wait_for_count

SecuredFactory = Callable[[Sequence[str]], SecuredNats]


class Violations:
    """The asynchronous errors a connection received (the server's -ERR lines, such as permission violations)."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    async def record(self, error: Exception) -> None:
        self.errors.append(str(error))

    async def wait_for(self, fragment: str, within: float = 5.0) -> str:
        deadline = asyncio.get_running_loop().time() + within
        while asyncio.get_running_loop().time() < deadline:
            found = [e for e in self.errors if fragment.lower() in e.lower()]  # nats-py lowercases some
            if found:
                return found[0]
            await asyncio.sleep(0.02)
        raise AssertionError(f"no error containing {fragment!r}; got {self.errors}")


async def _connect(url: str, credentials: NatsCredentials, service: str | None, errors: Violations) -> NATS:
    return await nats.connect(
        url,
        user=credentials.user,
        password=credentials.password,
        inbox_prefix=inbox_prefix(service) if service else "_INBOX",
        error_cb=errors.record,
        allow_reconnect=False,
    )


async def _refusal(url: str, credentials: NatsCredentials | None) -> str:
    """Why the server refused a connection (nats-py leaves a refused connection's socket open: closed here)."""
    client = NATS()
    login = {} if credentials is None else {"user": credentials.user, "password": credentials.password}
    try:
        await client.connect(
            url, allow_reconnect=False, max_reconnect_attempts=0, error_cb=Violations().record, **login
        )
    except NatsError as exc:
        return str(exc)
    finally:
        await client.close()
        if client._transport is not None:
            client._transport.close()
    raise AssertionError("the server admitted the connection")


def test_the_names_the_table_lists_are_the_ones_the_services_use() -> None:
    """natsauth cannot import services (libs import no service): its copies of their names are held equal here."""
    from strix_auth import store as auth_store
    from strix_dashboards import app as dashboards_app
    from strix_dashboards import store as dashboards_store
    from strix_gateway import history
    from strix_ingestion import kafka_source, publisher
    from strix_rollup import boundary_store, discovery
    from strix_runtime import callers

    assert natsauth.INGESTION_LEDGER == publisher.LEDGER_BUCKET
    assert natsauth.KAFKA_BATCHES == kafka_source.BUCKET
    assert natsauth.ROLLUP_BATCHES == boundary_store.BUCKET
    assert natsauth.SCHEMA_HISTORY == history.BUCKET
    buckets = {v for k, v in vars(auth_store).items() if k.endswith("_BUCKET") and isinstance(v, str)}
    assert set(natsauth.AUTH_BUCKETS) == buckets
    assert natsauth.ROLLUP_SERVICE == discovery.SERVICE
    assert natsauth.LINK_RESOLVE == callers.LINK_RESOLVE
    assert natsauth.DASHBOARDS_BUCKETS == (dashboards_store.BUCKET,)
    assert natsauth.DASHBOARDS_SERVICE == dashboards_app.SERVICE_NAME
    from strix.platform import SERVICES

    assert natsauth.SERVICES == SERVICES


def test_the_authorization_block_admits_no_one_by_default() -> None:
    passwords = {user: f"pw-{user}" for user in natsauth.user_names()}
    text = natsauth.render_authorization(natsauth.service_users(passwords, ["orders"]))
    assert "no_auth_user" not in text and "default_permissions" not in text
    assert text.count("user: ") == len(natsauth.SERVICES) + 1
    # The query service publishes nothing but its answers: denied every subject, allowed its responses.
    query = text[text.index('user: "strix-query"') :].split("    },")[0]
    assert 'publish: {deny: [">"]}' in query and "allow_responses: true" in query
    # Only ingestion writes events; deployed servers read passwords from their environment.
    events = [
        p.name
        for p in natsauth.service_users(passwords, ["orders"])
        if p.permissions and "events.orders.*" in p.permissions.publish
    ]
    assert events == ["strix-ingestion"]
    deployed = natsauth.render_authorization(natsauth.service_users(passwords, ["orders"]), passwords_from_env=True)
    assert "pw-" not in deployed and "password: $STRIX_NATS_PASSWORD_GATEWAY" in deployed


def test_the_deployed_authorization_block_is_the_one_the_configs_give() -> None:
    """deploy/nats/authorization.conf is `strix nats-auth` over configs/: regenerate it after adding a module."""
    expected = natsauth.deployed_authorization(load_catalog(EXAMPLE_CONFIGS).names())
    assert (REPO / "deploy" / "nats" / "authorization.conf").read_text(encoding="utf-8") == expected, (
        "run `uv run strix nats-auth --config-dir configs --output deploy/nats/authorization.conf`"
    )


def test_processes_take_their_nats_user_from_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from strix.cli import _nats_credentials
    from strix_runtime.settings import StrixSettings

    monkeypatch.setenv("STRIX_DATA_DIR", str(tmp_path))
    assert _nats_credentials(StrixSettings()) is None
    assert _nats_credentials(StrixSettings(), tool=True) is None  # no embedded server there yet
    passwords = embedded_passwords(passwords_file(tmp_path), natsauth.user_names())
    assert stat.S_IMODE(passwords_file(tmp_path).stat().st_mode) == 0o600
    assert _nats_credentials(StrixSettings(), tool=True) == NatsCredentials(
        natsauth.OPERATOR, passwords[natsauth.OPERATOR]
    )
    monkeypatch.setenv("STRIX_NATS_USER", "strix-query")
    monkeypatch.setenv("STRIX_NATS_PASSWORD", "from-a-secret")
    credentials = NatsCredentials("strix-query", "from-a-secret")
    assert _nats_credentials(StrixSettings()) == credentials == _nats_credentials(StrixSettings(), tool=True)
    assert "from-a-secret" not in repr(credentials)


async def test_a_deployed_server_reads_the_passwords_from_its_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    passwords = {user: natsauth.new_password() for user in natsauth.user_names()}
    for user, password in passwords.items():
        monkeypatch.setenv(natsauth.password_variable(user), password)
    server = start_nats_server(tmp_path / "nats", authorization=natsauth.deployed_authorization(["orders"]))
    try:
        gateway = await _connect(
            server.url, NatsCredentials("strix-gateway", passwords["strix-gateway"]), "gateway", Violations()
        )
        await gateway.close()
        assert "Authorization Violation" in await _refusal(server.url, None)
        assert "Authorization Violation" in await _refusal(server.url, NatsCredentials("strix-gateway", ""))
    finally:
        server.stop()


async def test_a_connection_without_credentials_is_refused(secured_nats_server: SecuredFactory) -> None:
    secured = secured_nats_server(["orders"])
    assert "Authorization Violation" in await _refusal(secured.url, None)
    wrong = NatsCredentials(user_name("gateway"), "not-the-password")
    assert "Authorization Violation" in await _refusal(secured.url, wrong)


async def test_a_service_cannot_publish_into_another_services_subjects(secured_nats_server: SecuredFactory) -> None:
    secured = secured_nats_server(["orders"])
    ingestion = await _connect(secured.url, secured.credentials["strix-ingestion"], "ingestion", Violations())
    gateway_errors = Violations()
    gateway = await _connect(secured.url, secured.credentials["strix-gateway"], "gateway", gateway_errors)
    try:
        js = ingestion.jetstream()
        await ensure_event_stream(js, "orders")
        for partition in (0, 1):  # interest retention: a stream keeps a message only for an existing consumer
            await ensure_pinned_consumer(ingestion, partition_consumer("orders", partition), update=False)
        ack = await js.publish(event_subject("orders", 0), b'{"order": 1}')
        assert ack.seq == 1

        # The gateway's user writes no events: the server refuses the publish, the stream stores nothing.
        await gateway.publish(event_subject("orders", 0), b'{"order": 2}')
        await gateway.flush()
        error = await gateway_errors.wait_for("permissions violation")
        assert 'publish to "events.orders.0"' in error
        with pytest.raises(NatsTimeout):  # no ack either: JetStream never saw the message
            await gateway.request(event_subject("orders", 1), b'{"order": 3}', timeout=0.5)
        info = await js.stream_info(event_stream("orders"))
        assert (info.state.last_seq, info.state.messages) == (1, 1)

        # Nor may it read or change a stream it does not own through the JetStream API.
        with pytest.raises(NatsTimeout):
            await gateway.request(f"$JS.API.STREAM.PURGE.{event_stream('orders')}", b"", timeout=0.5)
        info = await js.stream_info(event_stream("orders"))
        assert info.state.messages == 1
    finally:
        await gateway.close()
        await ingestion.close()


async def test_only_the_gateway_calls_the_query_service(secured_nats_server: SecuredFactory) -> None:
    """query.run is answered only by the query user and called only by the gateway's."""
    secured = secured_nats_server(["orders"])
    query = await _connect(secured.url, secured.credentials["strix-query"], "query", Violations())
    received: list[bytes] = []

    async def answer(message: Msg) -> None:
        received.append(message.data)
        await message.respond(b"answer")

    await query.subscribe(QUERY_RUN, queue="strix-query", cb=answer)
    await query.flush()
    gateway = await _connect(secured.url, secured.credentials["strix-gateway"], "gateway", Violations())
    ingestion_errors = Violations()
    ingestion = await _connect(secured.url, secured.credentials["strix-ingestion"], "ingestion", ingestion_errors)
    rollup_errors = Violations()
    rollup = await _connect(secured.url, secured.credentials["strix-rollup"], "rollup", rollup_errors)
    try:
        assert (await gateway.request(QUERY_RUN, b"from the gateway", timeout=5)).data == b"answer"

        # Another service's user may not call it: refused, and the query service never sees the request.
        with pytest.raises(NatsTimeout):
            await ingestion.request(QUERY_RUN, b"from ingestion", timeout=0.5)
        assert 'publish to "query.run"' in await ingestion_errors.wait_for("permissions violation")

        # Nor pose as the query service, nor read the gateway's replies.
        stolen: list[bytes] = []

        async def steal(message: Msg) -> None:
            stolen.append(message.data)

        await rollup.subscribe(QUERY_RUN, cb=steal)
        await rollup.subscribe(f"{inbox_prefix('gateway')}.>", cb=steal)
        await rollup.subscribe(">", cb=steal)
        await rollup.flush()
        assert 'subscription to "query.run"' in await rollup_errors.wait_for('subscription to "query.run"')
        await rollup_errors.wait_for(f'subscription to "{inbox_prefix("gateway")}.>"')
        await rollup_errors.wait_for('subscription to ">"')
        assert (await gateway.request(QUERY_RUN, b"again", timeout=5)).data == b"answer"
        assert received == [b"from the gateway", b"again"]
        assert stolen == []
    finally:
        for connection in (rollup, ingestion, gateway, query):
            await connection.close()


@pytest.mark.e2e
async def test_the_embedded_platform_runs_with_every_service_on_its_own_user(
    tmp_path: Path, clickhouse_url: str, clickhouse_database: str
) -> None:
    """`strix up`'s path: the platform starts a secured server, each service connects as its own user; events
    posted over HTTP are counted and GraphQL answers, and the server logged no permission violation."""
    catalog = load_catalog(EXAMPLE_CONFIGS)
    options = PlatformOptions(
        catalog=catalog,
        data_dir=tmp_path / "data",
        nats_port=-1,
        clickhouse_url=clickhouse_url,
        clickhouse_database=clickhouse_database,
        port=0,
        auth=AuthOptions(dev_sign_in=True),  # what `strix up` turns on
    )
    now = datetime.now(UTC)
    sent = clickstream_events(random.Random(11), 700, now - timedelta(hours=3), now - timedelta(seconds=1))
    async with run_platform(options) as platform:
        assert platform.nats_server is not None
        users_file = options.data_dir / "nats" / "users.json"
        for secret in (users_file, options.data_dir / "nats" / "nats-server.conf"):
            assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret
        passwords = json.loads(users_file.read_text())
        assert set(passwords) == set(natsauth.user_names())
        assert {c.connected_url.netloc for c in platform.connections.values() if c.connected_url} == {
            f"{platform.nats_server.host}:{platform.nats_server.port}"
        }
        assert sorted(platform.connections) == sorted(natsauth.SERVICES)

        assert "Authorization Violation" in await _refusal(platform.nats_url, None)

        async with httpx.AsyncClient(base_url=platform.http_url, timeout=60) as client:
            # Embedded mode's development sign-in (README "Sign-in"): a token that may write and read.
            signed_in = await client.post("/auth/dev", json={"user": "nats-test", "scopes": ["read", "write"]})
            assert signed_in.status_code == 200, signed_in.text
            client.headers["Authorization"] = f"Bearer {signed_in.json()['access_token']}"
            await post_events(client, "clickstream", sent)
            await wait_for_count(client, "clickstream", "events", len(sent))
            body = await graphql(
                client,
                "{ clickstream(window: {last: 1, unit: DAY}, granularity: TOTAL, metrics: [EVENTS]) { rows { events } } }",
            )
            assert body["data"]["clickstream"]["rows"] == [{"events": len(sent)}], body
        assert [line for line in platform.nats_server.log if "Violation" in line] == []

        # Operator tools reach the embedded server as its operator user, from the password kept under data_dir.
        out = io.StringIO()
        operator = operator_credentials(options.data_dir)
        assert await run_status(platform.nats_url, ["clickstream"], 3600, True, out, credentials=operator) == 0
        assert [m["module"] for m in json.loads(out.getvalue())["modules"]] == ["clickstream"]

        # A direct publish as the gateway's user, past validation: refused, not stored, not counted.
        before = await platform.nc.jetstream().stream_info(event_stream("clickstream"))
        errors = Violations()
        gateway = await _connect(
            platform.nats_url, NatsCredentials(user_name("gateway"), passwords[user_name("gateway")]), "gateway", errors
        )
        try:
            await gateway.publish(event_subject("clickstream", 0), json.dumps(sent[0]).encode())
            await gateway.flush()
            await errors.wait_for("permissions violation")
        finally:
            await gateway.close()
        after = await platform.nc.jetstream().stream_info(event_stream("clickstream"))
        assert after.state.last_seq == before.state.last_seq
        assert platform.clickhouse is not None
        await platform.clickhouse.command(f"DROP DATABASE IF EXISTS `{clickhouse_database}` SYNC")

    # The passwords are kept for the next start (and for `strix status`), not made anew.
    assert embedded_passwords(users_file, natsauth.user_names()) == passwords
