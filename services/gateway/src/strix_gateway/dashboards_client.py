"""The gateway's way to the dashboards service: one NATS request per GraphQL field, errors as the service sent them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from nats.aio.client import Client as NATS
from pydantic import BaseModel

from strix_runtime.micro import call_service
from strix_runtime.tracing import nats_request_span

Reply = TypeVar("Reply", bound=BaseModel)


@dataclass(frozen=True)
class DashboardsClient:
    nc: NATS
    timeout: float = 10.0

    async def call(self, subject: str, request: BaseModel, reply_type: type[Reply]) -> Reply:
        with nats_request_span(subject) as headers:
            reply = await call_service(
                self.nc,
                subject,
                request.model_dump_json().encode(),
                service="dashboards",
                wait=self.timeout,
                headers=headers,
            )
        return reply_type.model_validate_json(reply.data)
