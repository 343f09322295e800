"""W3C trace context through OpenTelemetry: spans for the HTTP request, the NATS hop and the ClickHouse statement.

Code here uses only the OpenTelemetry API. Until `configure_tracing` installs an SDK provider (an OTLP endpoint
is configured), the API's tracer records nothing and exports nothing, yet an incoming `traceparent` still flows
through: the HTTP span, the NATS headers and every log line's `trace_id` keep the caller's trace. With an
endpoint, each process exports its spans over OTLP/HTTP, batched, and the caller's trace gains Strix's spans.

The NATS hop is request/reply. The asking side opens a CLIENT span around the request and sends its context in
the message headers (`traceparent`, `tracestate`, through the global propagator) with the request id
(`Strix-Request-Id`); the answering side extracts both and serves the message in a SERVER span, a child of the
asking span, with the request id bound for its log lines.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Span, SpanKind

from strix_runtime.requestid import NATS_HEADER, bound_request_id, current_request_id, request_id_from_headers

TRACES_PATH = "/v1/traces"

# A proxy until a provider is installed; not I/O, and it follows `configure_tracing` whenever that runs.
_tracer = trace.get_tracer("strix")


def traces_url(endpoint: str) -> str:
    """OTLP/HTTP endpoints name the collector (`http://collector:4318`, as OTEL_EXPORTER_OTLP_ENDPOINT does);
    traces go to its `/v1/traces`. A URL that already ends there is kept."""
    path = urlsplit(endpoint).path.rstrip("/")
    if path.endswith(TRACES_PATH):
        return endpoint
    return endpoint.rstrip("/") + TRACES_PATH


def build_tracer_provider(service_name: str, exporter: SpanExporter, services: Sequence[str] = ()) -> TracerProvider:
    """A provider whose spans name this process (`service.name`, and which Strix services it runs) and are
    handed to `exporter` in batches, off the event loop."""
    attributes: dict[str, str | list[str]] = {"service.name": service_name}
    if services:
        attributes["strix.services"] = list(services)
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def configure_tracing(
    service_name: str, otlp_endpoint: str | None, services: Sequence[str] = ()
) -> TracerProvider | None:
    """Once per process: export spans over OTLP/HTTP to `otlp_endpoint`, or stay silent when it is None (no
    provider, nothing recorded, no connection attempted). The caller shuts the returned provider down on exit,
    which sends what is still batched."""
    if not otlp_endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = build_tracer_provider(service_name, OTLPSpanExporter(endpoint=traces_url(otlp_endpoint)), services)
    trace.set_tracer_provider(provider)
    return provider


def _lowercase(headers: Mapping[str, str] | None) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()} if headers else {}


def outgoing_headers(headers: Mapping[str, str] | None = None) -> dict[str, str] | None:
    """Headers for a NATS message sent on behalf of the request being served: the given ones, the request id
    and the current trace context. None when there is nothing to send (a header block costs every hop)."""
    out = dict(headers) if headers else {}
    request_id = current_request_id()
    if request_id is not None:
        out[NATS_HEADER] = request_id
    propagate.inject(out)
    return out or None


@contextmanager
def nats_request_span(subject: str) -> Iterator[dict[str, str] | None]:
    """Around a NATS request: a CLIENT span, and the headers to send with the request (its trace context and
    the request id). An exception leaving the block marks the span failed."""
    with _tracer.start_as_current_span(
        f"request {subject}",
        kind=SpanKind.CLIENT,
        attributes={
            "messaging.system": "nats",
            "messaging.operation.type": "send",
            "messaging.destination.name": subject,
        },
    ):
        yield outgoing_headers()


@contextmanager
def nats_message_context(subject: str, headers: Mapping[str, str] | None, name: str | None = None) -> Iterator[Span]:
    """Around the handling of one NATS message: its request id bound for the log lines, and a SERVER span that
    continues the trace of the headers' `traceparent` (a new trace when there is none)."""
    carrier = _lowercase(headers)
    with (
        bound_request_id(request_id_from_headers(headers)),
        _tracer.start_as_current_span(
            name or f"process {subject}",
            context=propagate.extract(carrier),
            kind=SpanKind.SERVER,
            attributes={
                "messaging.system": "nats",
                "messaging.operation.type": "process",
                "messaging.destination.name": subject,
            },
        ) as span,
    ):
        yield span


class Message(Protocol):
    """A NATS message as a handler gets it: `nats.aio.msg.Msg` and `nats.micro.request.Request` both fit."""

    @property
    def subject(self) -> str: ...

    @property
    def headers(self) -> dict[str, str] | None: ...


M = TypeVar("M", bound=Message)


def traced_handler(handler: Callable[[M], Awaitable[None]], name: str | None = None) -> Callable[[M], Awaitable[None]]:
    """`handler` served inside `nats_message_context`: wrap it where it is subscribed or added as an endpoint,
    `handler=traced_handler(service.handle)`, and its log lines carry the asker's request id and trace."""

    async def serve(message: M) -> None:
        with nats_message_context(message.subject, message.headers, name):
            await handler(message)

    return serve


@contextmanager
def clickhouse_span(statement_kind: str, **attributes: str | int | float | bool) -> Iterator[Span]:
    """Around one ClickHouse statement: a CLIENT span named for its kind (`select`, `insert rollup`); extra
    attributes (a table, a row count) describe it. Never pass SQL values here: spans leave the process."""
    with _tracer.start_as_current_span(
        f"clickhouse {statement_kind}",
        kind=SpanKind.CLIENT,
        attributes={"db.system.name": "clickhouse", "db.operation.name": statement_kind, **attributes},
    ) as span:
        yield span
