"""Request ids and W3C trace context across the HTTP edge and a NATS hop, spans read back from memory."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import nats
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from nats.aio.msg import Msg
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.types import Receive, Scope, Send

from strix_runtime.asgi import SPAN_ATTRIBUTE, RequestContextMiddleware
from strix_runtime.natsserver import NatsServer
from strix_runtime.requestid import NATS_HEADER, accept_request_id, bound_request_id, current_request_id
from strix_runtime.testing import capture_spans, parent_id_of, span_id_of, trace_id_of
from strix_runtime.tracing import (
    clickhouse_span,
    configure_tracing,
    nats_request_span,
    outgoing_headers,
    traced_handler,
    traces_url,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


def test_a_request_id_is_taken_only_when_it_is_printable_and_short() -> None:
    assert accept_request_id("abc-123") == "abc-123"
    assert accept_request_id("  padded  ") == "padded"
    assert accept_request_id("x" * 128) == "x" * 128
    for refused in (None, "", "   ", "x" * 129, "line\nbreak", "tab\there", "caf\u00e9", "nul\x00"):
        assert accept_request_id(refused) is None, refused


def test_otlp_endpoints_name_the_collector_and_traces_go_to_its_v1_traces() -> None:
    assert traces_url("http://collector:4318") == "http://collector:4318/v1/traces"
    assert traces_url("http://collector:4318/") == "http://collector:4318/v1/traces"
    assert traces_url("https://c.example/otlp") == "https://c.example/otlp/v1/traces"
    assert traces_url("http://collector:4318/v1/traces") == "http://collector:4318/v1/traces"


def test_without_an_endpoint_tracing_stays_silent() -> None:
    assert configure_tracing("strix", None) is None
    assert configure_tracing("strix", "") is None


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item}")
    async def item(item: str, request: Request) -> JSONResponse:
        return JSONResponse({"item": item, "request_id": current_request_id()})

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("disk on fire")

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=RequestContextMiddleware(_app()), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://strix") as http:
        yield http


async def test_the_client_request_id_is_bound_and_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/items/7", headers={"X-Request-ID": "client-chosen-1"})
    assert response.headers["X-Request-ID"] == "client-chosen-1"
    assert response.json() == {"item": "7", "request_id": "client-chosen-1"}


async def test_a_missing_or_unsafe_request_id_is_replaced_by_a_new_one(client: httpx.AsyncClient) -> None:
    made = set()
    for headers in ({}, {"X-Request-ID": "x" * 500}, {"X-Request-ID": "two\tparts"}):
        response = await client.get("/items/7", headers=headers)
        echoed = response.headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", echoed), echoed
        assert response.json()["request_id"] == echoed
        made.add(echoed)
    assert len(made) == 3


def _server_span(spans: InMemorySpanExporter) -> ReadableSpan:
    (span,) = [span for span in spans.get_finished_spans() if span.kind == SpanKind.SERVER]
    return span


async def test_an_http_request_is_a_server_span_continuing_the_callers_trace(client: httpx.AsyncClient) -> None:
    """FastAPI's own instrumentation makes the span; the middleware adds the request id to it."""
    with capture_spans() as spans:
        await client.get("/items/7", headers={"traceparent": TRACEPARENT, "X-Request-ID": "r-1"})
    span = _server_span(spans)
    assert span.name == "GET /items/{item}"
    assert (trace_id_of(span), parent_id_of(span)) == (TRACE_ID, PARENT_ID)
    assert span.attributes is not None
    assert span.attributes["http.route"] == "/items/{item}"
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes[SPAN_ATTRIBUTE] == "r-1"
    # Every span of the request is in the caller's trace.
    assert {trace_id_of(s) for s in spans.get_finished_spans()} == {TRACE_ID}


async def test_without_a_provider_the_callers_trace_is_still_the_current_context() -> None:
    """No span is recorded, yet what the application logs and sends on carries the caller's trace."""
    seen: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen["headers"] = outgoing_headers()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    transport = httpx.ASGITransport(app=RequestContextMiddleware(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://strix") as http:
        response = await http.get("/", headers={"traceparent": TRACEPARENT, "X-Request-ID": "r-2"})
    assert response.headers["X-Request-ID"] == "r-2"
    assert seen["headers"] == {NATS_HEADER: "r-2", "traceparent": TRACEPARENT}


async def test_an_unhandled_error_is_a_failed_span_and_a_500_with_the_request_id(
    client: httpx.AsyncClient,
) -> None:
    with capture_spans() as spans:
        response = await client.get("/boom", headers={"X-Request-ID": "r-boom"})
    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == "r-boom"
    span = _server_span(spans)
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "RuntimeError"


async def test_the_nats_hop_carries_the_request_id_and_is_a_child_span(nats_server: NatsServer) -> None:
    """A real NATS server between the asking side and the answering handler, as the gateway asks the query
    service: the handler's span is the child of the request's span, in the caller's trace."""
    nc = await nats.connect(nats_server.url)
    seen: dict[str, Any] = {}

    async def handle(message: Msg) -> None:
        seen["request_id"] = current_request_id()
        seen["headers"] = dict(message.headers or {})
        await message.respond(b"ok")

    try:
        await nc.subscribe("probe.run", cb=traced_handler(handle))
        with capture_spans() as spans, bound_request_id("r-nats"):
            with nats_request_span("probe.run") as headers:
                reply = await nc.request("probe.run", b"{}", timeout=5, headers=headers)
            assert reply.data == b"ok"
        # Outside a request and a span there is nothing to send: no header block.
        assert outgoing_headers() is None
    finally:
        await nc.close()

    finished = {span.kind: span for span in spans.get_finished_spans()}
    client, server = finished[SpanKind.CLIENT], finished[SpanKind.SERVER]
    assert (client.name, server.name) == ("request probe.run", "process probe.run")
    assert trace_id_of(server) == trace_id_of(client)
    assert parent_id_of(server) == span_id_of(client)
    assert seen["request_id"] == "r-nats"
    assert seen["headers"][NATS_HEADER] == "r-nats"
    assert seen["headers"]["traceparent"].startswith(f"00-{trace_id_of(client)}-{span_id_of(client)}-")


async def test_a_nats_message_without_headers_is_served_under_a_new_request_id(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    ids: list[str | None] = []

    async def handle(message: Msg) -> None:
        ids.append(current_request_id())
        await message.respond(b"ok")

    try:
        await nc.subscribe("probe.bare", cb=traced_handler(handle))
        await nc.request("probe.bare", b"", timeout=5)
        await nc.request("probe.bare", b"", timeout=5)
    finally:
        await nc.close()
    assert len(ids) == 2 and ids[0] != ids[1]
    assert all(i is not None and re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_a_clickhouse_statement_is_a_client_span_under_the_current_one() -> None:
    with capture_spans() as spans, clickhouse_span("insert rollup", table="clickstream_hourly", rows=3):
        pass
    (span,) = spans.get_finished_spans()
    assert (span.name, span.kind) == ("clickhouse insert rollup", SpanKind.CLIENT)
    assert span.attributes is not None
    assert dict(span.attributes) == {
        "db.system.name": "clickhouse",
        "db.operation.name": "insert rollup",
        "table": "clickstream_hourly",
        "rows": 3,
    }


EXPORTING = """
import sys
from opentelemetry import trace
from strix_runtime.tracing import clickhouse_span, configure_tracing

provider = configure_tracing("strix-query", sys.argv[1], ["query"])
with trace.get_tracer("probe").start_as_current_span("outer"), clickhouse_span("select"):
    pass
provider.shutdown()
"""


async def test_with_an_endpoint_spans_are_exported_over_otlp_http() -> None:
    """A real OTLP/HTTP receiver on a free port; the exporting process is a separate one, as the global
    provider of a process can be set only once."""
    received: list[ExportTraceServiceRequest] = []
    receiver = FastAPI()

    @receiver.post("/v1/traces")
    async def traces(request: Request) -> JSONResponse:
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.body())
        received.append(message)
        return JSONResponse({})

    server = uvicorn.Server(uvicorn.Config(receiver, host="127.0.0.1", port=0, log_config=None, lifespan="off"))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", EXPORTING, f"http://127.0.0.1:{port}", stderr=asyncio.subprocess.PIPE
        )
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, stderr.decode()
    finally:
        server.should_exit = True
        await serving

    spans = [
        (span.name, span.kind)
        for request in received
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    assert sorted(spans) == [("clickhouse select", 3), ("outer", 1)]  # CLIENT, INTERNAL in OTLP numbering
    attributes = {a.key: a.value for a in received[0].resource_spans[0].resource.attributes}
    assert attributes["service.name"].string_value == "strix-query"
    assert [v.string_value for v in attributes["strix.services"].array_value.values] == ["query"]
