"""Every line a Strix process writes to stderr is one JSON object, whoever logged it."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from typing import Any

from opentelemetry import trace

from strix_runtime.logs import stdlib_formatter
from strix_runtime.requestid import bound_request_id
from strix_runtime.testing import capture_spans

# A process that logs the ways a Strix process does: our structlog events, a library's stdlib record with an
# exception, a warning, an exception no task retrieved, and finally an uncaught exception.
SCRIPT = r"""
import asyncio, gc, logging, warnings
from strix_runtime.logs import configure_logging, get_logger
from strix_runtime.requestid import bound_request_id

configure_logging("info")
log = get_logger("probe")
with bound_request_id("req-1"):
    log.info("probe.started", answer=42)
    try:
        {}["missing"]
    except KeyError:
        logging.getLogger("strawberry.execution").error("Syntax Error: Unexpected Name 'nonsense'.", exc_info=True)
        log.exception("probe.failed")
logging.getLogger("nats.aio.client").info("multi\nline %s", "message")
logging.getLogger("chatty").debug("below the level: not written")
warnings.warn("something deprecated", UserWarning, stacklevel=1)

async def fail() -> None:
    raise RuntimeError("nobody awaits me")

async def main() -> None:
    task = asyncio.get_running_loop().create_task(fail())
    await asyncio.sleep(0.01)
    del task
    gc.collect()

asyncio.run(main())
raise SystemError("the end")
"""


def _lines(stderr: str) -> list[dict[str, Any]]:
    lines = stderr.splitlines()
    assert lines, "nothing was logged"
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise AssertionError(f"not a JSON line: {line!r}\nall of stderr:\n{stderr}") from exc
    return parsed


def test_every_stderr_line_of_a_process_is_one_json_object() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stdout == ""
    lines = _lines(done.stderr)
    by_event = {line["event"]: line for line in lines}

    ours = by_event["probe.started"]
    assert (ours["service"], ours["answer"], ours["request_id"], ours["level"]) == ("probe", 42, "req-1", "info")
    assert ours["timestamp"].endswith("Z")

    strawberry = by_event["Syntax Error: Unexpected Name 'nonsense'."]
    assert (strawberry["logger"], strawberry["level"], strawberry["request_id"]) == (
        "strawberry.execution",
        "error",
        "req-1",
    )
    assert "Traceback (most recent call last)" in strawberry["exception"]
    assert "KeyError: 'missing'" in strawberry["exception"]
    assert "KeyError: 'missing'" in by_event["probe.failed"]["exception"]

    assert by_event["multi\nline message"]["logger"] == "nats.aio.client"
    assert "request_id" not in by_event["multi\nline message"]
    assert not any(line["event"] == "below the level: not written" for line in lines)

    warned = [line for line in lines if line.get("logger") == "py.warnings"]
    assert len(warned) == 1 and "something deprecated" in warned[0]["event"]

    never_retrieved = [line for line in lines if line.get("logger") == "asyncio"]
    assert len(never_retrieved) == 1 and "RuntimeError: nobody awaits me" in never_retrieved[0]["exception"]

    uncaught = lines[-1]
    assert (uncaught["event"], uncaught["level"]) == ("uncaught_exception", "critical")
    assert "SystemError: the end" in uncaught["exception"]


def _render(record: logging.LogRecord) -> dict[str, Any]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(stdlib_formatter())
    handler.handle(record)
    rendered: dict[str, Any] = json.loads(stream.getvalue())
    return rendered


def test_an_access_line_has_fields_the_request_id_and_the_trace() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/healthz", "1.1", 200),
        None,
    )
    with (
        capture_spans() as spans,
        bound_request_id("r-7"),
        trace.get_tracer("test").start_as_current_span("GET /healthz") as span,
    ):
        line = _render(record)
        context = span.get_span_context()
    assert spans.get_finished_spans()
    assert line["event"] == '127.0.0.1:5000 - "GET /healthz HTTP/1.1" 200'
    assert (line["client"], line["method"], line["path"], line["status"]) == ("127.0.0.1:5000", "GET", "/healthz", 200)
    assert line["request_id"] == "r-7"
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")
    assert "positional_args" not in line
