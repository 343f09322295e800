"""The composition root: build every service of one process and serve their HTTP routes on one port.

`strix up` runs all of them (embedded); `strix serve <service>` runs one. Both go through here, so embedded and
distributed share one code path: the services talk over NATS either way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nats
import uvicorn
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from nats.aio.client import Client as NATS

from strix_clickhouse import ClickHouse, connect
from strix_config import Catalog
from strix_runtime.asgi import RequestContextMiddleware
from strix_runtime.callers import CallerVerifier, DoorOptions, development_token, install_error_handler
from strix_runtime.health import health_router
from strix_runtime.logs import get_logger
from strix_runtime.natsauth import (
    OPERATOR,
    NatsCredentials,
    inbox_prefix,
    render_authorization,
    service_users,
    user_name,
    user_names,
)
from strix_runtime.natsserver import NatsServer, embedded_passwords, passwords_file, start_nats_server
from strix_runtime.tracing import configure_tracing

if TYPE_CHECKING:
    from strix_auth.app import AuthOptions

log = get_logger("platform")

SERVICES = ("ingestion", "rollup", "query", "gateway", "dashboards", "auth")
NEEDS_CLICKHOUSE = {"rollup", "query"}


@dataclass(frozen=True)
class PlatformOptions:
    catalog: Catalog
    data_dir: Path
    services: Sequence[str] = SERVICES
    nats_url: str | None = None
    nats_port: int = 4222
    clickhouse_url: str | None = None
    clickhouse_database: str = "strix"
    host: str = "127.0.0.1"
    port: int = 8000
    access_log: bool = True
    # OTLP/HTTP collector for spans; None: nothing is exported (trace context still flows through).
    otlp_endpoint: str | None = None
    # Who may come in (README "Every door closed"): token issuer and audience, the schema open signed out
    # (embedded mode), CORS origins, /metrics access.
    doors: DoorOptions = field(default_factory=DoorOptions)
    # Distributed mode: the NATS user every service of this process connects as (None: no credentials). Embedded
    # mode ignores it: each service connects as its own user of the server the platform starts.
    nats_credentials: NatsCredentials | None = None
    # The auth service's options (sign-in: development sign-in, OpenID provider); None: its defaults (all off).
    auth: AuthOptions | None = None
    # The site's external base URL, for the OpenID callback; None: each request's own.
    public_url: str | None = None


@dataclass
class Platform:
    options: PlatformOptions
    nats_url: str
    http_url: str
    nc: NATS  # the platform's own connection (health, tools); embedded: the operator user
    clickhouse: ClickHouse | None
    services: dict[str, Any] = field(default_factory=dict)
    connections: dict[str, NATS] = field(default_factory=dict)  # each service's own connection
    nats_server: NatsServer | None = None
    app: FastAPI | None = None


HealthCheck = Callable[[], Awaitable[bool]]


async def _start_service(
    name: str, stack: AsyncExitStack, nc: NATS, ch: ClickHouse | None, catalog: Catalog, auth: AuthOptions | None = None
) -> Any:
    """Import lazily: `strix serve gateway` needs no chDB in memory."""
    if name == "ingestion":
        from strix_ingestion.app import run_ingestion
        from strix_ingestion.settings import IngestionSettings

        max_bytes = IngestionSettings().stream_max_bytes
        return await stack.enter_async_context(run_ingestion(nc, catalog, max_bytes))
    if name == "rollup":
        from strix_rollup.app import run_rollup

        assert ch is not None
        return await stack.enter_async_context(run_rollup(nc, ch, catalog))
    if name == "query":
        from strix_query.app import run_query_service

        assert ch is not None
        return await stack.enter_async_context(run_query_service(nc, ch, catalog))
    if name == "gateway":
        from strix_gateway.app import run_gateway

        return await stack.enter_async_context(run_gateway(nc, catalog))
    if name == "dashboards":
        from strix_dashboards.app import run_dashboards

        return await stack.enter_async_context(run_dashboards(nc, catalog))
    if name == "auth":
        from strix_auth.app import run_auth

        return await stack.enter_async_context(run_auth(nc, auth))
    raise ValueError(f"unknown service {name!r}; services: {', '.join(SERVICES)}")


def build_http_app(platform: Platform) -> FastAPI:
    """One HTTP app for the services of this process: ingestion API, GraphQL, health, metrics; every door
    behind the caller verifier, the OpenAPI pages only when the schema is open signed out (embedded mode)."""
    doors = platform.options.doors
    # FastAPI's own /docs and /redoc load their scripts from public CDNs: /docs is served from bundled assets
    # instead (strix_gateway.webapp.apidocs_router), ReDoc not at all.
    pages: dict[str, Any] = {"docs_url": None, "redoc_url": None}
    if not doors.open_schema:
        pages["openapi_url"] = None
    app = FastAPI(title="Strix", description="Configuration-driven real-time analytics.", **pages)
    if doors.open_schema:
        from strix_gateway.webapp import apidocs_router

        app.include_router(apidocs_router(app.openapi_url or "/openapi.json", app.title))
    install_error_handler(app)
    if doors.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(doors.cors_origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-Strix-Link", "X-Request-ID"],
            allow_credentials=True,  # the web UI's refresh cookie on /auth
            max_age=600,
        )

    def verifier(service: Any) -> CallerVerifier:
        return CallerVerifier(service.nc, issuer=doors.issuer, audience=doors.audience)

    checks: dict[str, HealthCheck] = {}

    async def nats_ok() -> bool:
        return platform.nc.is_connected

    checks["nats"] = nats_ok
    if platform.clickhouse is not None:
        checks["clickhouse"] = platform.clickhouse.ping
    for name, service in platform.services.items():
        checks[name] = service.healthy
    if "ingestion" in platform.services:
        from strix_ingestion.app import ingestion_router

        app.include_router(ingestion_router(platform.services["ingestion"], verifier(platform.services["ingestion"])))
    if "gateway" in platform.services:
        from strix_gateway.app import graphql_router

        gateway = platform.services["gateway"]

        async def dev_token() -> str:
            return await development_token(platform.nc)

        developer = dev_token if doors.developer_graphiql else None
        app.include_router(graphql_router(gateway, verifier(gateway), doors, developer))
        from strix_gateway.signin import SignInOptions, signin_router

        app.include_router(signin_router(gateway.nc, verifier(gateway), SignInOptions(platform.options.public_url)))

    app.include_router(health_router(checks, doors.metrics))
    if "gateway" in platform.services:
        from strix_gateway.webapp import default_web_dist, web_router

        app.include_router(web_router(default_web_dist()))  # the web UI at /: last, its catch-all route goes last
    return app


class _QuietServer(uvicorn.Server):
    """Signals belong to the strix CLI, which stops every service in order; uvicorn must not take them."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve_http(app: FastAPI, options: PlatformOptions, stack: AsyncExitStack) -> str:
    """Every route of this process behind one request-context middleware (request id, server span); uvicorn
    logs through the root logger that `configure_logging` set up (log_config=None), so its lines are JSON."""
    # A bounded graceful shutdown: an idle keep-alive or a forgotten subscription must not hold Ctrl-C forever.
    config = uvicorn.Config(
        RequestContextMiddleware(app),
        host=options.host,
        port=options.port,
        log_config=None,
        access_log=options.access_log,
        lifespan="off",
        timeout_graceful_shutdown=5,
    )
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve(), name="http")

    async def stop() -> None:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task

    stack.push_async_callback(stop)
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError(f"HTTP server did not start on {options.host}:{options.port}")
        await asyncio.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()
    return f"http://{bound[0]}:{bound[1]}"


def tracing_service_name(services: Sequence[str]) -> str:
    """`strix` for the whole platform in one process, else `strix-<service>[-<service>...]`."""
    if set(services) == set(SERVICES):
        return "strix"
    return "strix-" + "-".join(services)


async def _start_embedded_nats(options: PlatformOptions) -> tuple[NatsServer, dict[str, NatsCredentials | None]]:
    """The embedded NATS server, admitting only a user per service and the operator; their passwords are kept in
    <data_dir>/nats/users.json (mode 0600) for operator tools such as `strix status`."""
    passwords = embedded_passwords(passwords_file(options.data_dir), user_names())
    authorization = render_authorization(service_users(passwords, options.catalog.names()))
    server = await asyncio.to_thread(
        start_nats_server, options.data_dir / "nats", options.nats_port, authorization=authorization
    )
    credentials: dict[str, NatsCredentials | None] = {
        name: NatsCredentials(user_name(name), passwords[user_name(name)]) for name in SERVICES
    }
    credentials[OPERATOR] = NatsCredentials(OPERATOR, passwords[OPERATOR])
    return server, credentials


async def _connect(url: str, name: str, credentials: NatsCredentials | None, inbox: str) -> NATS:
    """A connection that reconnects forever, with replies under `inbox` (the prefix its user may read); with
    credentials, as that user."""
    login = {} if credentials is None else {"user": credentials.user, "password": credentials.password}
    return await nats.connect(
        url, name=name, inbox_prefix=inbox, max_reconnect_attempts=-1, reconnect_time_wait=0.5, **login
    )


@asynccontextmanager
async def run_platform(options: PlatformOptions) -> AsyncIterator[Platform]:
    async with AsyncExitStack() as stack:
        tracer_provider = configure_tracing(
            tracing_service_name(options.services), options.otlp_endpoint, options.services
        )
        if tracer_provider is not None:
            # Last out, so the shutdown's own spans are sent; off the loop, as a missing collector is waited for.
            stack.push_async_callback(asyncio.to_thread, tracer_provider.shutdown)
            log.info("platform.tracing", otlp_endpoint=options.otlp_endpoint)
        nats_server = None
        nats_url = options.nats_url
        credentials = {name: options.nats_credentials for name in SERVICES}
        own = options.nats_credentials
        if nats_url is None:
            nats_server, credentials = await _start_embedded_nats(options)
            stack.callback(nats_server.stop)
            nats_url = nats_server.url
            own = credentials[OPERATOR]
            log.info("platform.nats_started", url=nats_url, store=str(nats_server.store_dir))
        # Distributed mode: a service's user reads only its own inbox, so the platform's connection takes the first's.
        own_inbox = inbox_prefix(options.services[0]) if nats_server is None and own is not None else "_INBOX"
        nc = await _connect(nats_url, "strix", own, own_inbox)
        stack.push_async_callback(nc.close)  # services have stopped and awaited their publishes
        clickhouse = None
        if NEEDS_CLICKHOUSE & set(options.services):
            url = options.clickhouse_url or f"chdb://{(options.data_dir / 'clickhouse').resolve()}"
            clickhouse = await asyncio.to_thread(connect, url, options.clickhouse_database)
            stack.callback(clickhouse.close)
            log.info("platform.clickhouse_opened", url=url.split("@")[-1], database=options.clickhouse_database)
        platform = Platform(options, nats_url, "", nc, clickhouse, nats_server=nats_server)
        # Rollup first: it creates the tables the query service reads.
        for name in sorted(options.services, key=lambda s: SERVICES.index(s) if s != "rollup" else -1):
            # Each service on its own connection, as its own NATS user: closed after the service has stopped.
            connection = await _connect(nats_url, f"strix-{name}", credentials.get(name), inbox_prefix(name))
            stack.push_async_callback(connection.close)
            platform.connections[name] = connection
            platform.services[name] = await _start_service(
                name, stack, connection, clickhouse, options.catalog, options.auth
            )
        platform.app = build_http_app(platform)
        platform.http_url = await _serve_http(platform.app, options, stack)
        log.info("platform.ready", http=platform.http_url, services=list(platform.services))
        yield platform
