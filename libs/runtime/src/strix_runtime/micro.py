"""NATS micro services that speak JSON: their endpoints (parse the request into its model, call one function,
reply) and the one way to call them (`call_service`).

Every Strix micro service (auth, dashboards) renders its errors here, once: a StrixError becomes a micro error
with its HTTP-like status, a one-line description and the JSON error body the callers decode; anything else is
logged with the request id and answered as an internal error carrying that id.

A call to an endpoint that a service of this process serves, through the same NATS server (embedded mode: every
service in one process, each on its own connection), is handed to the endpoint's handler directly, with the same
bytes and headers, and its reply comes back as the same message: the request and its reply skip two trips through
the NATS server and the copies of a payload a megabyte long. Replicas in other processes still share the queue
group. Subject permissions are the server's to check, so they do not apply between services of one process (which
share their memory anyway).
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import Service
from pydantic import BaseModel, ValidationError

from strix_contracts.errors import StrixError, Unavailable, error_from_json, internal, invalid_request
from strix_runtime.logs import get_logger
from strix_runtime.requestid import request_id_from_headers

# The headers of a NATS micro error reply (nats.micro sets them; it exports no names for them).
ERROR_HEADER = "Nats-Service-Error-Code"
DESCRIPTION_HEADER = "Nats-Service-Error"

M = TypeVar("M", bound=BaseModel)
log = get_logger("micro")
Handler = Callable[[Request], Awaitable[None]]
Endpoint = tuple[str, str, Handler]  # name, subject, handler
# The handlers of the services this process started, by the NATS server they serve through and their subject.
_in_process: dict[str, dict[str, Handler]] = {}
_handlers_of: weakref.WeakKeyDictionary[Service, tuple[str, dict[str, Handler]]] = weakref.WeakKeyDictionary()
_handling: set[asyncio.Future[None]] = set()  # in-process requests under way (the loop keeps only weak references)


def _server_of(nc: NATS) -> str:
    """The id of the server `nc` is connected to (nats-py keeps the server's INFO in `_server_info` only)."""
    return str(nc._server_info.get("server_id", ""))


async def start_service(
    nc: NATS, *, name: str, version: str, description: str, queue_group: str, endpoints: Sequence[Endpoint]
) -> Service:
    """A micro service with its endpoints in one queue group (replicas share the load), started only once the
    server holds every subscription: a request sent right after start must find a responder."""
    service = await add_service(nc, name=name, version=version, description=description)
    for endpoint, subject, handler in endpoints:
        await service.add_endpoint(name=endpoint, subject=subject, handler=handler, queue_group=queue_group)
    await nc.flush()
    handlers = {subject: handler for _, subject, handler in endpoints}
    server = _server_of(nc)
    _in_process.setdefault(server, {}).update(handlers)
    _handlers_of[service] = (server, handlers)
    return service


async def stop_service(service: Service) -> None:
    """Stop taking requests, over the network and from this process."""
    server, handlers = _handlers_of.pop(service, ("", {}))
    local = _in_process.get(server, {})
    for subject, handler in handlers.items():
        if local.get(subject) is handler:
            del local[subject]
    await service.stop()


class _InProcessRequest(Request):
    """A request handed to a handler of this process: its reply resolves `reply` instead of being published."""

    def __init__(self, nc: NATS, subject: str, data: bytes, headers: dict[str, str] | None) -> None:
        super().__init__(Msg(_client=nc, subject=subject, reply="in-process", data=data, headers=headers))
        self.reply: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()

    async def respond(self, data: bytes = b"", headers: dict[str, str] | None = None) -> None:
        if not self.reply.done():
            self.reply.set_result(Msg(_client=self._msg._client, subject="in-process", data=data, headers=headers))


async def _request(nc: NATS, subject: str, body: bytes, wait: float, headers: dict[str, str] | None) -> Msg:
    """The reply of this process's handler of `subject` behind `nc`'s server if it has one, else of whoever answers
    over NATS."""
    handler = _in_process.get(_server_of(nc), {}).get(subject)
    if handler is None:
        return await nc.request(subject, body, timeout=wait, headers=headers)
    request = _InProcessRequest(nc, subject, body, dict(headers) if headers else None)
    # The handler runs on as it would for a request from the network: a caller that stops waiting does not cut
    # its work (a write half done) short.
    handling: asyncio.Future[None] = asyncio.ensure_future(handler(request))
    _handling.add(handling)
    handling.add_done_callback(_handling.discard)
    # A handler may return before it replies (some hand the work to a task of their own); one that fails says why.
    deadline = asyncio.get_running_loop().time() + wait
    await asyncio.wait((request.reply, handling), timeout=wait, return_when=asyncio.FIRST_COMPLETED)
    failure = handling.exception() if handling.done() else None
    if failure is not None and not request.reply.done():
        raise failure
    try:
        async with asyncio.timeout_at(deadline):
            return await asyncio.shield(request.reply)
    except TimeoutError as exc:
        raise NatsTimeout from exc


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


async def call_service(
    nc: NATS, subject: str, body: bytes, *, service: str, wait: float, headers: dict[str, str] | None = None
) -> Msg:
    """One request to a Strix micro service. No responder, or no answer in time, is Unavailable naming the
    service; an error reply is raised as the StrixError it carries (a reply from outside Strix's handlers, the
    micro framework's bare description, as a StrixError saying so)."""
    try:
        reply = await _request(nc, subject, body, wait, headers)
    except NoRespondersError as exc:
        raise Unavailable(f"no {service} service is running", hint=f"start `strix serve {service}`") from exc
    except NatsTimeout as exc:
        raise Unavailable(f"the {service} service did not answer within {wait:g}s") from exc
    if reply.headers and ERROR_HEADER in reply.headers:
        try:
            error = error_from_json(reply.data)
        except ValidationError:
            reason = reply.headers.get(DESCRIPTION_HEADER) or "no reason given"
            error = StrixError(f"the {service} service failed: {reason}")
        raise error
    return reply
