"""NATS micro service endpoints that speak JSON: parse the request into its model, call one function, reply.

Every Strix micro service (auth, dashboards) renders its errors here, once: a StrixError becomes a micro error
with its HTTP-like status, a one-line description and the JSON error body the callers decode; anything else is
logged with the request id and answered as an internal error carrying that id.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from nats.micro.request import Request
from pydantic import BaseModel, ValidationError

from strix_contracts.errors import StrixError, internal, invalid_request
from strix_runtime.logs import get_logger
from strix_runtime.requestid import request_id_from_headers

M = TypeVar("M", bound=BaseModel)
log = get_logger("micro")
Handler = Callable[[Request], Awaitable[None]]


async def respond_error(request: Request, exc: StrixError, description: str | None = None) -> None:
    """The one place a StrixError becomes a NATS micro error: status code, description, JSON body."""
    await request.respond_error(str(exc.status), description or exc.describe(), exc.body().model_dump_json().encode())


def json_endpoint(model: type[M], call: Callable[[M], Awaitable[BaseModel | dict[str, Any]]]) -> Handler:
    """Parse -> call -> reply, with every error rendered once (a failure's log line names its subject)."""

    async def handle(request: Request) -> None:
        try:
            try:
                parsed = model.model_validate_json(request.data or b"{}")
            except ValidationError as exc:
                raise invalid_request(exc) from exc
            answer = await call(parsed)
        except StrixError as exc:
            await respond_error(request, exc)
            return
        except Exception:
            rid = request_id_from_headers(request.headers)
            log.exception("micro.failed", subject=request.subject, request_id=rid)
            await respond_error(request, internal(rid), "internal error")
            return
        body = answer.model_dump_json() if isinstance(answer, BaseModel) else json.dumps(answer)
        await request.respond(body.encode())

    return handle
