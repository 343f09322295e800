"""The gateway's only way to the query service: one NATS request per query."""

from __future__ import annotations

from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from strix_contracts.errors import Unavailable, error_from_json
from strix_contracts.query import QueryRequest, QueryResponse
from strix_contracts.subjects import QUERY_RUN

ERROR_HEADER = "Nats-Service-Error-Code"


async def run_query(nc: NATS, request: QueryRequest, request_timeout: float = 30.0) -> QueryResponse:
    try:
        reply = await nc.request(QUERY_RUN, request.model_dump_json().encode(), timeout=request_timeout)
    except NoRespondersError as exc:
        raise Unavailable("no query service is running", hint="start `strix serve query`") from exc
    except NatsTimeout as exc:
        raise Unavailable(f"the query service did not answer within {request_timeout:.0f}s") from exc
    if reply.headers and ERROR_HEADER in reply.headers:
        raise error_from_json(reply.data)
    return QueryResponse.model_validate_json(reply.data)
