"""The one place Strix errors become GraphQL errors, and where unexpected failures lose their text.

A StrixError the caller can act on (an invalid query, a module not found, a service unavailable) keeps its
message, argument and hint. Anything else (an internal error of the query service, an exception in a resolver,
a RecursionError) is logged with the request id and answered as "internal error (request id ...)" by
`InternalErrors` in schema.py: a caller never reads a database's message or a path of the installation.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from strix_contracts.errors import StrixError
from strix_runtime.requestid import HTTP_HEADER, accept_request_id, current_request_id, new_request_id


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
    that `InternalErrors` (schema.py) answers it with the request id and never with its text."""
    return exc if exc.code == StrixError.code else to_graphql_error(exc)


def unexpected(error: GraphQLError) -> bool:
    """Raised while resolving by something other than a GraphQL error (which carries its own message)."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


def request_id(context: Any) -> str:
    """The id of the request being served: the one bound for its log lines (the HTTP edge binds it), else the
    client's `X-Request-ID` when sane, else a new one."""
    bound = current_request_id()
    if bound:
        return bound
    request = context.get("request") if isinstance(context, dict) else None
    given = accept_request_id(request.headers.get(HTTP_HEADER)) if request is not None else None
    return given or new_request_id()
