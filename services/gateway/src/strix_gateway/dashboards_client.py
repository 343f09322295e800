"""The gateway's way to the dashboards service: one NATS request per GraphQL field, errors as the service sent them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from pydantic import BaseModel, ValidationError

from strix_contracts.errors import StrixError, Unavailable, error_from_json
from strix_runtime.tracing import nats_request_span

ERROR_HEADER = "Nats-Service-Error-Code"
DESCRIPTION_HEADER = "Nats-Service-Error"

Reply = TypeVar("Reply", bound=BaseModel)


@dataclass(frozen=True)
class DashboardsClient:
    nc: NATS
    timeout: float = 10.0

    async def call(self, subject: str, request: BaseModel, reply_type: type[Reply]) -> Reply:
        with nats_request_span(subject) as headers:
            try:
                reply = await self.nc.request(
                    subject, request.model_dump_json().encode(), timeout=self.timeout, headers=headers
                )
            except NoRespondersError as exc:
                raise Unavailable("no dashboards service is running", hint="start `strix serve dashboards`") from exc
            except NatsTimeout as exc:
                raise Unavailable(f"the dashboards service did not answer within {self.timeout:.0f}s") from exc
        if reply.headers and ERROR_HEADER in reply.headers:
            try:
                error = error_from_json(reply.data)
            except ValidationError:
                error = StrixError(
                    f"the dashboards service failed: {reply.headers.get(DESCRIPTION_HEADER) or 'no reason given'}"
                )
            raise error
        return reply_type.model_validate_json(reply.data)
