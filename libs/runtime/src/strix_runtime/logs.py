"""Structured logs: one JSON object per line on stderr, whoever logs.

Strix code logs through structlog; libraries (strawberry, uvicorn, nats, asyncio, httpx) log through the standard
`logging` module. Both end in the same processors and the same renderer: structlog's own pipeline writes its
events directly, and a `structlog.stdlib.ProcessorFormatter` on the root logger's one handler renders every
standard record. So a library's line has the same fields as ours: `event`, `level`, `timestamp`, `logger`, the
`request_id` bound for the request being served (`strix_runtime.requestid`) and, while a span is active, its
`trace_id` and `span_id`. An exception is the `exception` field of its line (its traceback escaped into one JSON
string), never a multi-line traceback on stderr; uncaught exceptions and `warnings` take the same way.
"""

from __future__ import annotations

import logging
import sys
import threading
from types import TracebackType
from typing import Any

import structlog
from opentelemetry import trace

# Libraries that log each of their own HTTP calls at INFO (the demo generator posts several times a second).
QUIET_LOGGERS = ("httpx", "httpcore")


def add_trace_context(_logger: Any, _method: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
    """The active OpenTelemetry span's ids, as the W3C trace context writes them (32 and 16 hex digits)."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format(context.trace_id, "032x"))
        event.setdefault("span_id", format(context.span_id, "016x"))
    return event


def lift_access_fields(_logger: Any, _method: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
    """A uvicorn access line as fields (client, method, path, status) besides its usual text; other libraries'
    positional arguments are already in their message."""
    args = event.pop("positional_args", ())
    if event.get("logger") == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
        client, method, path, http_version, status = args
        event.update(client=client, method=method, path=path, http_version=http_version, status=status)
    return event


def _shared_processors() -> list[structlog.typing.Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_context,
    ]


def _renderer(json: bool) -> structlog.typing.Processor:
    return structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)


def stdlib_formatter(json: bool = True) -> logging.Formatter:
    """The formatter that renders a standard `logging` record as Strix renders its own events."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_shared_processors(), structlog.stdlib.add_logger_name, lift_access_fields],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _renderer(json),
        ],
        pass_foreign_args=True,
    )


def configure_logging(level: str = "info", json: bool = True) -> None:
    """Once per process, at its entry point: structlog, the root logger, uncaught exceptions and warnings."""
    numeric = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            _renderer(json),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(stdlib_formatter(json))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def _log_uncaught(kind: type[BaseException], value: BaseException, traceback: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, traceback)
        return
    logging.getLogger("strix").critical("uncaught_exception", exc_info=(kind, value, traceback))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None or issubclass(args.exc_type, SystemExit):
        return
    thread = args.thread.name if args.thread is not None else "?"
    logging.getLogger("strix").critical(
        "uncaught_exception_in_thread %s", thread, exc_info=(args.exc_type, args.exc_value, args.exc_traceback)
    )


def get_logger(service: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(service=service)
    return logger


__all__ = ["add_trace_context", "configure_logging", "get_logger", "stdlib_formatter"]
