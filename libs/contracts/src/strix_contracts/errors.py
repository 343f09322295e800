"""The error tree every transport renders in one place (HTTP, NATS micro, GraphQL)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError


class ErrorBody(BaseModel):
    """An error as it crosses NATS: what went wrong, where, and what to do about it."""

    code: str
    message: str
    argument: str | None = None
    hint: str | None = None
    request_id: str | None = None  # internal errors: the id their log line carries, for the caller to quote
    # Data the caller acts on, such as the current dashboard of a refused edit (a Conflict's `current`).
    detail: dict[str, Any] | None = None


class StrixError(Exception):
    status = 500
    code = "internal"

    def __init__(
        self,
        message: str,
        *,
        argument: str | None = None,
        hint: str | None = None,
        request_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.argument = argument
        self.hint = hint
        self.request_id = request_id
        self.detail = detail

    def body(self) -> ErrorBody:
        return ErrorBody(
            code=self.code,
            message=self.message,
            argument=self.argument,
            hint=self.hint,
            request_id=self.request_id,
            detail=self.detail,
        )

    def describe(self) -> str:
        parts = [f"{self.argument}: {self.message}" if self.argument else self.message]
        if self.hint:
            parts.append(self.hint)
        return "; ".join(parts)


class QueryError(StrixError):
    """The caller asked for something invalid; `argument` names which part."""

    status = 400
    code = "invalid_query"


class NotFound(StrixError):
    status = 404
    code = "not_found"


class Conflict(StrixError):
    """The thing changed since the caller read it (a stale revision); `detail` may carry its current state."""

    status = 409
    code = "conflict"


class Unavailable(StrixError):
    status = 503
    code = "unavailable"


class Unauthorized(StrixError):
    """No identity, or one that does not hold: a missing, malformed, expired or forged credential."""

    status = 401
    code = "unauthorized"


class Forbidden(StrixError):
    """A valid identity without the right to do this."""

    status = 403
    code = "forbidden"


def invalid_request(exc: ValidationError) -> QueryError:
    """A request that does not fit its contract, named by the first part that is wrong (with the hint a contract
    check put in the error's context)."""
    first = exc.errors()[0]
    hint = (first.get("ctx") or {}).get("hint")
    return QueryError(
        str(first["msg"]), argument=".".join(str(p) for p in first["loc"]), hint=str(hint) if hint else None
    )


def internal(request_id: str) -> StrixError:
    """What a caller hears of an unexpected failure: that it happened and the id of its log line, never its text
    (a database's message or a path of the installation)."""
    return StrixError(
        f"internal error (request id {request_id})",
        hint="the failure is logged under this request id; quote it when reporting the problem",
        request_id=request_id,
    )


_BY_CODE: dict[str, type[StrixError]] = {
    cls.code: cls for cls in (StrixError, QueryError, NotFound, Conflict, Unavailable, Unauthorized, Forbidden)
}


def error_from_body(body: ErrorBody) -> StrixError:
    cls = _BY_CODE.get(body.code, StrixError)
    return cls(body.message, argument=body.argument, hint=body.hint, request_id=body.request_id, detail=body.detail)


def error_from_json(data: bytes | str | dict[str, Any]) -> StrixError:
    body = ErrorBody.model_validate(data) if isinstance(data, dict) else ErrorBody.model_validate_json(data)
    return error_from_body(body)
