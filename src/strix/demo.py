"""The demo clickstream: posts generated events to the ingestion API at a steady rate, so numbers move.

Controlled over HTTP like the original generator: GET /demo/status (any signed-in caller), POST /demo/start and
POST /demo/stop (the admin scope). The generator posts through the ingestion door like any producer, with a
write-scoped API key it creates at start (`demo_key`) and revokes when it stops.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import JSONResponse
from nats.aio.client import Client as NATS
from pydantic import BaseModel

from strix.generators import clickstream_events
from strix_contracts.caller import Caller
from strix_contracts.errors import QueryError
from strix_runtime.callers import CallerVerifier, requires
from strix_runtime.logs import get_logger
from strix_runtime.micro import call_service
from strix_tokens import messages

log = get_logger("demo")

# Events per second the demo may send: each half-second tick builds its events in memory and posts them at once
# (a rate of 1e9 took the process from 1.6 to 3.2 GB and blocked its event loop).
MIN_RATE = 1.0
MAX_RATE = 5000.0


def check_rate(rate: float) -> None:
    """A rate the demo can keep: finite and within [MIN_RATE, MAX_RATE] (NaN compares false and is refused)."""
    if not MIN_RATE <= rate <= MAX_RATE:
        raise QueryError(
            f"{rate:g} events per second is outside {MIN_RATE:g}..{MAX_RATE:g}",
            argument="rate",
            hint=f"give a rate from {MIN_RATE:g} to {MAX_RATE:g} events per second",
        )


@dataclass
class DemoGenerator:
    ingest_url: str
    rate: float = 200.0  # events per second
    customers: int = 500
    backfill_hours: int = 24
    sent: int = 0
    failed_batches: int = 0
    headers: dict[str, str] = field(default_factory=dict, repr=False)  # the credential its posts carry
    started_at: float | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    _rng: random.Random = field(default_factory=lambda: random.Random(7), repr=False)

    def __post_init__(self) -> None:
        check_rate(self.rate)

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def start(self) -> None:
        if not self.running:
            self.started_at = time.time()
            self.task = asyncio.create_task(self._run(), name="demo-generator")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
            self.task = None

    def status(self) -> dict[str, Any]:
        return {"running": self.running, "rate": self.rate, "sent": self.sent, "failed_batches": self.failed_batches}

    async def _post(self, client: httpx.AsyncClient, events: list[dict[str, Any]]) -> None:
        try:
            response = await client.post(self.ingest_url, json=events)
            response.raise_for_status()
            self.sent += len(events)
        except httpx.HTTPError as exc:
            self.failed_batches += 1
            log.warning("demo.post_failed", error=str(exc))

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=30, headers=self.headers) as client:
            if self.backfill_hours and self.sent == 0:
                # A day of history first, so dashboards have a shape at once.
                now = datetime.now(UTC)
                history = clickstream_events(
                    self._rng, int(self.rate * 60), now - timedelta(hours=self.backfill_hours), now, self.customers
                )
                for i in range(0, len(history), 2000):
                    await self._post(client, history[i : i + 2000])
                log.info("demo.backfilled", events=len(history), hours=self.backfill_hours)
            tick = 0.5
            while True:
                began = time.monotonic()
                now = datetime.now(UTC)
                count = max(1, int(self.rate * tick))
                await self._post(
                    client, clickstream_events(self._rng, count, now - timedelta(seconds=tick), now, self.customers)
                )
                await asyncio.sleep(max(0.0, tick - (time.monotonic() - began)))


async def _auth_call(nc: NATS, subject: str, body: BaseModel) -> bytes:
    reply = await call_service(nc, subject, body.model_dump_json().encode(), service="auth", wait=10)
    data: bytes = reply.data
    return data


async def demo_key(nc: NATS) -> tuple[str, str]:
    """(id, key) of a new API key that may post events only, for the generator's posts."""
    request = messages.ApiKeyCreate(name="demo generator", scopes=["write"])
    created = messages.ApiKeyCreated.model_validate_json(await _auth_call(nc, messages.AUTH_KEYS_CREATE, request))
    return created.id, created.key


async def revoke_demo_key(nc: NATS, key_id: str) -> None:
    await _auth_call(nc, messages.AUTH_KEYS_REVOKE, messages.ApiKeyRef(id=key_id))


def mount_demo(app: FastAPI, router: APIRouter) -> None:
    """Add the demo routes to a running app, ahead of its routes: the web UI's catch-all (GET /{path}) would
    otherwise answer GET /demo/status with its page."""
    before = len(app.router.routes)
    app.include_router(router)
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[0:0] = added


def demo_router(generator: DemoGenerator, verifier: CallerVerifier) -> APIRouter:
    """Demo control for admins; its status for any signed-in caller."""
    router = APIRouter(prefix="/demo", tags=["demo"])
    admin = Depends(requires(verifier, "admin"))
    signed_in = Depends(requires(verifier, "read"))

    @router.get("/status")
    async def status(_: Caller = signed_in) -> dict[str, Any]:
        return generator.status()

    @router.post("/start", response_model=None)
    async def start(rate: float | None = None, _: Caller = admin) -> dict[str, Any] | JSONResponse:
        """Start (or keep running) at `rate` events per second; a rate out of range is a 422 and changes
        nothing."""
        if rate is not None:
            try:
                check_rate(rate)
            except QueryError as exc:
                return JSONResponse(exc.body().model_dump(exclude_none=True), status_code=422)
            generator.rate = rate
        generator.start()
        return generator.status()

    @router.post("/stop")
    async def stop(_: Caller = admin) -> dict[str, Any]:
        await generator.stop()
        return generator.status()

    return router
