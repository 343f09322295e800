"""Request ids: one per request a client makes, in every log line of every service that serves it.

The HTTP edge takes the client's `X-Request-ID` when it is sane (printable ASCII, at most 128 characters) and
makes one otherwise, binds it for the request (structlog contextvars, so every log line carries `request_id`)
and echoes it in the answer (`strix_runtime.asgi`). A service asking another over NATS sends it in the
`Strix-Request-Id` header, and the service answering binds it again (`strix_runtime.tracing`). A NATS message
that arrives without one gets a fresh id, so one handling's lines still belong together.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

import structlog

HTTP_HEADER = "X-Request-ID"
NATS_HEADER = "Strix-Request-Id"
MAX_LENGTH = 128

_SANE = re.compile(rf"[\x20-\x7e]{{1,{MAX_LENGTH}}}")
_CURRENT: ContextVar[str | None] = ContextVar("strix_request_id", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(value: str | None) -> str | None:
    """The client's id when it is printable ASCII of 1 to 128 characters (surrounding blanks dropped), else
    None: a log line must not carry a control character or a megabyte chosen by a client."""
    if value is None:
        return None
    value = value.strip()
    return value if _SANE.fullmatch(value) else None


def current_request_id() -> str | None:
    """The id of the request being served in this task, if any."""
    return _CURRENT.get()


@contextmanager
def bound_request_id(request_id: str) -> Iterator[str]:
    """Within the block, `current_request_id()` is `request_id` and every log line carries it."""
    token = _CURRENT.set(request_id)
    try:
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            yield request_id
    finally:
        _CURRENT.reset(token)


def request_id_from_headers(headers: Mapping[str, str] | None) -> str:
    """The id a NATS message carries (`Strix-Request-Id`, any letter case), or a new one."""
    if headers:
        for name, value in headers.items():
            if name.lower() == NATS_HEADER.lower():
                accepted = accept_request_id(value)
                if accepted is not None:
                    return accepted
    return new_request_id()
