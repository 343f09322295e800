"""Gateway wiring: the generated schema served at /graphql (GraphiQL in a browser)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import msgspec
import strawberry
from cross_web import HTTPException
from fastapi import APIRouter, FastAPI
from nats.aio.client import Client as NATS
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.fastapi import GraphQLRouter
from strawberry.http.exceptions import WebSocketDisconnected

from strix_config import Catalog
from strix_contracts.query import QueryRequest, RecordsRequest, RecordsResponse
from strix_gateway.client import read_records, run_query
from strix_gateway.history import load_and_record
from strix_gateway.limits import DEADLINE, MAX_VARIABLE_DEPTH, MAX_WHERE_DEPTH, within_deadline
from strix_gateway.live import LiveFeed
from strix_gateway.schema import build_schema
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
    schema = build_schema(catalog, run, read, LiveFeed(nc), removed)
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
    """GraphQL over HTTP with a C JSON encoder: answers run to megabytes (stdlib json: ~40 ms for 2 MB)."""

    websocket_adapter_class = _TextFrames

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


def graphql_router(gateway: Gateway) -> APIRouter:
    router: APIRouter = _Router(gateway.schema, path="/graphql", graphql_ide="graphiql")
    return router


def create_app(gateway: Gateway) -> FastAPI:
    app = FastAPI(title="Strix gateway")
    app.include_router(graphql_router(gateway))
    app.include_router(health_router({"nats": gateway.healthy}))
    return app
