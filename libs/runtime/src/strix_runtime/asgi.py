"""The HTTP edge of every request: its request id and the caller's trace context, as plain ASGI middleware.

Plain ASGI rather than Starlette's BaseHTTPMiddleware: it neither buffers nor copies bodies, it works for
websockets (GraphQL subscriptions) too, and what it binds stays current in the task that runs the application,
so uvicorn's access line and every log line of the request carry the request id.

The HTTP server span itself is FastAPI's own OpenTelemetry instrumentation (`FastAPI(telemetry=...)`): it
continues the caller's `traceparent`, names the span for the route and follows the HTTP semantic conventions,
and it is active only when a tracer provider is installed. This middleware makes the caller's context current
in every case, so without a provider the caller's trace still reaches log lines and NATS headers.

Wrap the whole application with it (outside Starlette's error middleware): then a 500 answer carries its
`X-Request-ID` too, and an unhandled exception is logged here, once, with the request id and trace, instead of
as uvicorn's bare traceback.
"""

from __future__ import annotations

import json

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from strix_runtime.logs import get_logger
from strix_runtime.requestid import HTTP_HEADER, accept_request_id, bound_request_id, new_request_id

log = get_logger("http")

_REQUEST_ID = HTTP_HEADER.lower().encode()
_TRACE_HEADERS = {b"traceparent", b"tracestate"}
SPAN_ATTRIBUTE = "strix.request_id"


class RequestContextMiddleware:
    """Accepts the client's `X-Request-ID` (or makes one), binds it to the request's log lines, echoes it in
    the answer and on the request's server span, and makes the client's `traceparent` the current context."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        offered: str | None = None
        carrier: dict[str, str] = {}
        for name, value in scope["headers"]:
            if name == _REQUEST_ID:
                offered = value.decode("latin-1")
            elif name in _TRACE_HEADERS:
                carrier[name.decode("latin-1")] = value.decode("latin-1")
        request_id = accept_request_id(offered) or new_request_id()
        echo = (_REQUEST_ID, request_id.encode())
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] in ("http.response.start", "websocket.accept"):
                started = True
                message = {**message, "headers": [*message.get("headers", ()), echo]}
                # Called from inside the application: the current span is the request's server span.
                trace.get_current_span().set_attribute(SPAN_ATTRIBUTE, request_id)
            await send(message)

        token = otel_context.attach(propagate.extract(carrier)) if carrier else None
        try:
            with bound_request_id(request_id):
                try:
                    await self.app(scope, receive, send_with_id)
                except Exception:
                    log.exception("http.unhandled_error", method=scope.get("method"), path=scope.get("path"))
                    if not started and scope["type"] == "http":
                        await _internal_error(send, request_id)
                    # Else Starlette's 500 has gone out; either way uvicorn need not log the exception again.
        finally:
            if token is not None:
                otel_context.detach(token)


async def _internal_error(send: Send, request_id: str) -> None:
    body = json.dumps({"detail": "internal error", "request_id": request_id}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (_REQUEST_ID, request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
