"""The gateway's only way to the query service: one NATS request per question."""

from __future__ import annotations

from typing import Any, TypeVar

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from pydantic import BaseModel

from strix_contracts.query import QueryRequest, RecordsRequest, RecordsResponse
from strix_contracts.subjects import CACHED_HEADER, QUERY_RECORDS, QUERY_RUN
from strix_gateway.fastrows import decode_answer
from strix_runtime.micro import call_service
from strix_runtime.tracing import nats_request_span

Reply = TypeVar("Reply", bound=BaseModel)


async def _request(nc: NATS, subject: str, request: BaseModel, reply_type: type[Reply], wait: float) -> Reply:
    return reply_type.model_validate_json((await _reply(nc, subject, request, wait)).data)


async def _reply(nc: NATS, subject: str, request: BaseModel, wait: float) -> Msg:
    """One request in a client span; its headers carry the request id and the trace context."""
    with nats_request_span(subject) as headers:
        return await call_service(
            nc, subject, request.model_dump_json().encode(), service="query", wait=wait, headers=headers
        )


async def run_query(nc: NATS, request: QueryRequest, request_timeout: float = 30.0) -> dict[str, Any]:
    """The answer as plain data: the query service built it from the QueryResponse model, and re-validating
    thousands of rows with pydantic here would cost more than the query itself."""
    reply = await _reply(nc, QUERY_RUN, request, request_timeout)
    answer = decode_answer(reply.data, laid_out=request.row_layout is not None)
    answer["cached"] = bool(reply.headers and reply.headers.get(CACHED_HEADER))
    return answer


async def read_records(nc: NATS, request: RecordsRequest, request_timeout: float = 30.0) -> RecordsResponse:
    return await _request(nc, QUERY_RECORDS, request, RecordsResponse, request_timeout)
