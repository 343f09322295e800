"""The gateway's requests to the query service, against a real NATS server."""

from __future__ import annotations

import nats
import pytest
from nats.micro import add_service
from nats.micro.request import Request

from strix_contracts.errors import QueryError, StrixError
from strix_contracts.query import QueryRequest, TimeWindow
from strix_contracts.subjects import QUERY_RUN
from strix_gateway.client import run_query
from strix_runtime.natsserver import NatsServer

REQUEST = QueryRequest(module="clickstream", window=TimeWindow(last=1, unit="day"), metrics=["events"])


async def _serve(server: NatsServer, handler: object) -> tuple[nats.NATS, object]:
    nc = await nats.connect(server.url)
    service = await add_service(nc, name="fake-query", version="0.0.1")
    await service.add_endpoint(name="run", subject=QUERY_RUN, handler=handler)  # type: ignore[arg-type]
    return nc, service


async def test_a_failure_outside_strix_handlers_still_reads_as_an_error_with_its_reason(
    nats_server: NatsServer,
) -> None:
    """The micro framework answers an unhandled exception with a bare 500 and an empty body."""

    async def crash(request: Request) -> None:
        raise RuntimeError("disk on fire")

    nc, _ = await _serve(nats_server, crash)
    try:
        with pytest.raises(StrixError) as caught:
            await run_query(nc, REQUEST, request_timeout=5)
        assert "disk on fire" in str(caught.value)
    finally:
        await nc.close()


async def test_a_strix_error_keeps_its_kind_argument_and_hint(nats_server: NatsServer) -> None:
    async def refuse(request: Request) -> None:
        error = QueryError("too big", argument="groupBy", hint="ask for the top N")
        await request.respond_error("400", error.describe(), error.body().model_dump_json().encode())

    nc, _ = await _serve(nats_server, refuse)
    try:
        with pytest.raises(QueryError) as caught:
            await run_query(nc, REQUEST, request_timeout=5)
        assert (caught.value.argument, caught.value.hint) == ("groupBy", "ask for the top N")
    finally:
        await nc.close()
