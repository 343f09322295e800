"""Spans in memory, for tests: what the process would export, read back without a collector."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@contextmanager
def capture_spans() -> Iterator[InMemorySpanExporter]:
    """Every span finished in the block, kept in memory. A process has one global provider and it can be set
    once: the first call installs an SDK provider, later calls add their exporter to it; each exporter stops
    keeping spans when its block ends."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        yield exporter
    finally:
        exporter.shutdown()


def trace_id_of(span: ReadableSpan) -> str:
    context = span.context
    assert context is not None
    return format(context.trace_id, "032x")


def span_id_of(span: ReadableSpan) -> str:
    context = span.context
    assert context is not None
    return format(context.span_id, "016x")


def parent_id_of(span: ReadableSpan) -> str | None:
    return format(span.parent.span_id, "016x") if span.parent is not None else None
