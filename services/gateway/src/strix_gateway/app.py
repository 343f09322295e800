"""Gateway wiring: the generated schema served at /graphql (GraphiQL in a browser), behind the caller verifier.

Every request is verified at the door: over HTTP from its headers, over a websocket from the connection_init
payload (`{"Authorization": "Bearer ..."}`; browsers cannot set headers on a websocket). The verified `Caller`
(None when signed out) is `info.context["caller"]`, which every resolver puts into its QueryRequest or
RecordsRequest. A credential that does not hold is refused before any GraphQL work: HTTP 401 with a GraphQL error
body, or a websocket closed with 4403 at connection_init. Signed out, nothing is read; introspection and the
GraphiQL page are served signed out only with `open_schema` (embedded mode), where GraphiQL opens signed in as the
local developer.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import msgspec
import strawberry
from cross_web import HTTPException
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.requests import HTTPConnection
from fastapi.responses import HTMLResponse
from nats.aio.client import Client as NATS
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.types.unset import UNSET, UnsetType

from strix_config import Catalog
from strix_contracts.errors import StrixError, Unauthorized
from strix_contracts.query import QueryRequest, RecordsRequest, RecordsResponse
from strix_gateway.client import read_records, run_query
from strix_gateway.dashboards_client import DashboardsClient
from strix_gateway.history import load_and_record
from strix_gateway.limits import DEADLINE, MAX_VARIABLE_DEPTH, MAX_WHERE_DEPTH, within_deadline
from strix_gateway.live import LiveFeed
from strix_gateway.schema import build_schema
from strix_gateway.webapp import graphiql_html, graphiql_router
from strix_runtime.callers import CallerVerifier, DoorOptions, install_error_handler
from strix_runtime.health import health_router
from strix_runtime.logs import get_logger

log = get_logger("gateway")


@dataclass
class Gateway:
    catalog: Catalog
    nc: NATS
    schema: strawberry.Schema

    async def healthy(self) -> bool:
        return self.nc.is_connected


@asynccontextmanager
async def run_gateway(nc: NATS, catalog: Catalog, deadline: float = DEADLINE) -> AsyncIterator[Gateway]:
    async def run(request: QueryRequest) -> dict[str, Any]:
        return await within_deadline(run_query(nc, request), deadline)

    async def read(request: RecordsRequest) -> RecordsResponse:
        return await within_deadline(read_records(nc, request), deadline)

    removed = await load_and_record(nc, catalog)
    schema = build_schema(catalog, run, read, LiveFeed(nc), removed, DashboardsClient(nc))
    log.info("gateway.started", modules=catalog.names())
    yield Gateway(catalog, nc, schema)
    log.info("gateway.stopped")


class _TextFrames(ASGIWebSocketAdapter):
    """graphql-transport-ws messages as text frames: browser clients (graphql-ws, GraphiQL) parse only text,
    and strawberry sends bytes as binary frames."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(msgspec.json.encode(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class _Router(GraphQLRouter[Any, Any]):
    """GraphQL over HTTP with a C JSON encoder: answers run to megabytes (stdlib json: ~40 ms for 2 MB); the
    door's verdict on the credential applied before any GraphQL work."""

    websocket_adapter_class = _TextFrames

    def __init__(self, gateway: Gateway, verifier: CallerVerifier, doors: DoorOptions, dev_token: DevToken | None):
        super().__init__(
            gateway.schema,
            path="/graphql",
            graphql_ide="graphiql",
            context_getter=_context_getter(verifier, doors.open_schema),
            allowed_origins=doors.cors_origins,  # the web UI's origin may open the websocket too
        )
        self.verifier, self.doors, self.dev_token = verifier, doors, dev_token

    async def run(  # type: ignore[override]  # one body for both overloads, as the base class has
        self, request: Request | WebSocket, context: Any = UNSET, root_value: Any = UNSET
    ) -> Response | WebSocket:
        """A credential that does not hold: 401 (503 when it could not be checked) with a GraphQL error body,
        before the body is even parsed. A websocket is judged at connection_init (`on_ws_connect`)."""
        error = context.get("credential_error") if isinstance(context, dict) else None
        if isinstance(request, Request) and isinstance(error, StrixError):
            return credential_refused(error)
        return await super().run(request, context=context, root_value=root_value)

    async def on_ws_connect(self, context: Any) -> UnsetType | dict[str, object] | None:
        """The caller of a websocket: from the connection_init payload, else from the upgrade request's headers."""
        params = context.get("connection_params")
        try:
            if isinstance(params, dict) and params:
                context["caller"] = await self.verifier.caller(params)
                context["recheck"] = _recheck(self.verifier, params)
            elif isinstance(context.get("credential_error"), StrixError):
                raise context["credential_error"]
        except StrixError as exc:
            raise ConnectionRejectionError({"code": exc.code, "message": exc.describe()}) from exc
        context["credential_error"] = None
        return cast(UnsetType, UNSET)

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        """GraphiQL, when the schema is open to signed-out callers (embedded mode); there, signed in as the local
        developer, said on the page."""
        if not self.doors.open_schema:
            return HTMLResponse(_IDE_OFF, status_code=404)
        page = graphiql_html()  # bundled in this package: strawberry's page loads a public CDN
        if self.dev_token is not None:
            try:
                page = with_dev_token(page, await self.dev_token())
            except StrixError as exc:  # the development sign-in is off: the page opens signed out
                log.warning("gateway.graphiql_signed_out", reason=exc.describe())
        return HTMLResponse(page)

    def encode_json(self, data: object) -> bytes:
        return msgspec.json.encode(data)

    def decode_json(self, data: str | bytes) -> object:
        """The body as JSON; one nested deeper than the decoder recurses (~1 000 levels) is a 400 that says so,
        not a RecursionError's 500."""
        try:
            return super().decode_json(data)
        except RecursionError as exc:
            raise HTTPException(
                400,
                f"the request body nests too deeply to read: variables nest at most {MAX_VARIABLE_DEPTH} levels, "
                f"a `where` at most {MAX_WHERE_DEPTH} levels of and/or",
            ) from exc


_IDE_OFF = (
    "<!doctype html><title>Strix GraphQL</title><p>GraphiQL is served signed out only in embedded mode "
    "(<code>strix up</code>, or <code>STRIX_OPEN_SCHEMA=true</code>). Send queries with "
    "<code>Authorization: Bearer &lt;token or API key&gt;</code>.</p>"
)


def _context_getter(
    verifier: CallerVerifier, open_schema: bool
) -> Callable[[HTTPConnection], Awaitable[dict[str, Any]]]:
    async def context(connection: HTTPConnection) -> dict[str, Any]:
        caller, error = None, None
        try:
            caller = await verifier.caller(connection.headers)
        except StrixError as exc:
            error = exc
        return {
            "caller": caller,
            "credential_error": error,
            "open_schema": open_schema,
            "recheck": _recheck(verifier, connection.headers),
        }

    return context


def _recheck(verifier: CallerVerifier, headers: Mapping[str, Any]) -> Callable[[], Awaitable[None]]:
    """Verify the same credential again (a live subscription re-runs for as long as the socket is open)."""

    async def recheck() -> None:
        if await verifier.caller(headers) is None:
            raise Unauthorized("sign in first: this subscription carries no credential")

    return recheck


def credential_refused(error: StrixError) -> Response:
    """The one rendering of a refused credential over GraphQL-over-HTTP: its status and a GraphQL error."""
    extensions: dict[str, Any] = {"code": error.code.upper()}  # UNAUTHORIZED, as a resolver's refusal reads
    if error.argument:
        extensions["argument"] = error.argument
    if error.hint:
        extensions["hint"] = error.hint
    body = {"data": None, "errors": [{"message": error.describe(), "extensions": extensions}]}
    headers = {"WWW-Authenticate": 'Bearer realm="strix", error="invalid_token"'} if error.status == 401 else {}
    if error.status == 503:
        headers["Retry-After"] = "2"
    return Response(msgspec.json.encode(body), error.status, headers=headers, media_type="application/json")


_DEV_BANNER = (
    '<div style="position:fixed;bottom:0;right:0;z-index:99;background:#b45309;color:#fff;font:12px sans-serif;'
    'padding:4px 8px">Embedded mode: signed in as the local developer (development sign-in)</div>'
)


def with_dev_token(page: str, token: str) -> str:
    """The GraphiQL page sending `token` with every request and subscription, and saying so on the page."""
    headers = json.dumps({"Authorization": f"Bearer {token}"}).replace("<", "\\u003c")
    page = page.replace(
        "const defaultHeaders = {};",
        f"const defaultHeaders = {headers}; // embedded mode only: the development sign-in",
    )
    page = page.replace(
        "        subscriptionUrl,\n      });",
        "        subscriptionUrl,\n        wsConnectionParams: defaultHeaders,\n      });",
    )
    return page.replace("<body>", "<body>" + _DEV_BANNER, 1)


# A token for the GraphiQL page of embedded mode, signed in as the local developer.
DevToken = Callable[[], Awaitable[str]]


def graphql_router(
    gateway: Gateway,
    verifier: CallerVerifier | None = None,
    doors: DoorOptions | None = None,
    dev_token: DevToken | None = None,
) -> APIRouter:
    """/graphql behind `verifier` (by default one over the gateway's connection, with Strix's issuer and
    audience); `doors` says whether the schema is open signed out and which browser origins may connect;
    `dev_token`, given in embedded mode only, signs the GraphiQL page in as the local developer."""
    router = _Router(gateway, verifier or CallerVerifier(gateway.nc), doors or DoorOptions(), dev_token)
    router.include_router(graphiql_router())  # the GraphiQL page's bundled assets
    return router


def create_app(gateway: Gateway) -> FastAPI:
    app = FastAPI(title="Strix gateway", docs_url=None, redoc_url=None, openapi_url=None)
    install_error_handler(app)
    app.include_router(graphql_router(gateway))
    app.include_router(health_router({"nats": gateway.healthy}))
    return app
