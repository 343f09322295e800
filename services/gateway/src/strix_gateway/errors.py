"""The one place Strix errors become GraphQL errors, and where unexpected failures lose their text.

A StrixError the caller can act on (an invalid query, a module not found, a service unavailable) keeps its
message, argument and hint. Anything else (an internal error of the query service, an exception in a resolver,
a RecursionError) is logged with the request id and answered as "internal error (request id ...)": a caller
never reads a database's message or a path of the installation.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import structlog
from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from strix_contracts.errors import StrixError, internal
from strix_runtime.logs import get_logger

log = get_logger("gateway")

REQUEST_ID_HEADER = "X-Request-ID"


def to_graphql_error(exc: StrixError) -> GraphQLError:
    """A GraphQL error with `code`, `argument` and `hint` extensions."""
    extensions: dict[str, Any] = {"code": exc.code.upper()}
    if exc.argument:
        extensions["argument"] = exc.argument
    if exc.hint:
        extensions["hint"] = exc.hint
    return GraphQLError(exc.describe(), extensions=extensions)


def resolver_error(exc: StrixError) -> Exception:
    """What a resolver raises for a StrixError: its GraphQL error, but an internal error stays what it is, so
    that `InternalErrors` answers it with the request id and never with its text."""
    return exc if exc.code == StrixError.code else to_graphql_error(exc)


def request_id(context: Any) -> str:
    """The id of the request being served: the one bound for its log lines, else the client's `X-Request-ID`
    (printable, at most 128 characters), else a new one."""
    bound = structlog.contextvars.get_contextvars().get("request_id")
    if isinstance(bound, str) and bound:
        return bound
    request = context.get("request") if isinstance(context, dict) else None
    given = request.headers.get(REQUEST_ID_HEADER, "") if request is not None else ""
    return given if 0 < len(given) <= 128 and given.isprintable() else uuid.uuid4().hex


def _unexpected(error: GraphQLError) -> bool:
    """Raised while resolving a field by something other than a GraphQL error (which carries its own message)."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


class InternalErrors(MaskErrors):
    """Unexpected failures as `internal error (request id ...)` with `extensions.requestId`; each is logged with
    the id (and the query service's own id when it reported one)."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_unexpected)
        self.request_id = ""

    def on_operation(self) -> Iterator[None]:
        self.request_id = request_id(self.execution_context.context)
        yield from super().on_operation()

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        upstream = original.request_id if isinstance(original, StrixError) else None
        log.error(
            "gateway.internal_error",
            request_id=self.request_id,
            upstream_request_id=upstream,
            path=error.path,
            error=repr(original),
            exc_info=original,
        )
        masked = internal(self.request_id)
        return GraphQLError(
            masked.message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": "INTERNAL", "requestId": self.request_id, "hint": masked.hint},
        )
