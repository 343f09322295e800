"""Calls to a micro service started in the same process, through the same NATS server: handed over without NATS,
with the same answers, errors, headers and time limit as over the network, and back to the network once it stops."""

from __future__ import annotations

import asyncio

import nats
import pytest
from nats.aio.msg import Msg
from nats.micro.request import Request

from strix_contracts.errors import NotFound, StrixError, Unavailable
from strix_runtime.micro import call_service, respond_error, start_service, stop_service
from strix_runtime.natsserver import NatsServer

SUBJECT = "test.micro.echo"


async def test_a_call_through_the_services_server_is_answered_in_process(nats_server: NatsServer) -> None:
    served = await nats.connect(nats_server.url)
    caller = await nats.connect(nats_server.url)  # another connection of this process, as each service has its own
    other = await nats.connect(nats_server.url)
    seen: list[dict[str, str] | None] = []
    finished: list[bytes] = []

    async def echo(request: Request) -> None:
        seen.append(request.headers)
        if request.data == b"missing":
            await respond_error(request, NotFound("no such thing", argument="id"))
        elif request.data == b"slow":
            await asyncio.sleep(0.5)
            finished.append(request.data)
        else:
            await request.respond(request.data[::-1], headers={"X-Answered": "1"})

    # What reached the server on the subject: a listener outside the queue group sees every request sent over NATS.
    over_network: list[Msg] = []

    async def overheard(message: Msg) -> None:
        over_network.append(message)

    listener = await other.subscribe(SUBJECT, cb=overheard)
    await other.flush()
    service = await start_service(
        served, name="echo", version="0.1.0", description="test", queue_group="q", endpoints=[("e", SUBJECT, echo)]
    )
    try:
        big = bytes(range(256)) * 2048  # half a megabyte, as a dashboard answer is
        reply = await call_service(caller, SUBJECT, big, service="echo", wait=5, headers={"X-Request-Id": "r1"})
        assert reply.data == big[::-1]
        assert reply.headers == {"X-Answered": "1"}
        assert seen[-1] == {"X-Request-Id": "r1"}
        with pytest.raises(StrixError) as refused:
            await call_service(caller, SUBJECT, b"missing", service="echo", wait=5)
        assert refused.value.status == 404 and "no such thing" in str(refused.value)
        with pytest.raises(Unavailable, match=r"did not answer within 0\.2s"):
            await call_service(caller, SUBJECT, b"slow", service="echo", wait=0.2)
        assert finished == []
        await asyncio.sleep(0.5)
        assert finished == [b"slow"]  # the caller stopped waiting; the handler's work was not cut short
        await other.flush()
        assert over_network == []

        # A request over NATS (as from another process) reaches the same handler.
        reply = await other.request(SUBJECT, b"abc", timeout=5)
        assert reply.data == b"cba"
        assert [m.data for m in over_network] == [b"abc"]
    finally:
        await listener.unsubscribe()
        await stop_service(service)
    with pytest.raises(Unavailable, match="no echo service is running"):
        await call_service(caller, SUBJECT, b"abc", service="echo", wait=1)
    for connection in (served, caller, other):
        await connection.close()
