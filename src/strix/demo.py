"""The demo clickstream: posts generated events to the ingestion API at a steady rate, so numbers move.

It posts eight days of history in the background (newest hour first) while the live stream runs, both at the same
average rate and on one daily curve (`strix.generators.daily_shape`), so "vs the previous period" and "vs a week
earlier" compare like with like. The history is capped (`MAX_HISTORY_EVENTS`): past that, its rate is lower than
the live one's and comparisons drift upwards. With a `mark` file (under the data dir), a restart posts only the
history it missed while stopped, not the eight days again.

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
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import JSONResponse
from nats.aio.client import Client as NATS
from pydantic import BaseModel

from strix.generators import clickstream_events, clickstream_history, daily_shape
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
HISTORY_DAYS = 8  # a day compared with the one before, and with the same day a week earlier
MAX_HISTORY_EVENTS = 1_500_000  # ~ a minute or two of background posting on a laptop
HISTORY_BATCH = 2000
MARK_EVERY = 60.0  # seconds between updates of the mark: a crash re-posts at most this much of the live stream


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
    backfill_hours: int = 24 * HISTORY_DAYS
    sent: int = 0
    history_sent: int = 0
    history_done: bool = False
    failed_batches: int = 0
    headers: dict[str, str] = field(default_factory=dict, repr=False)  # the credential its posts carry
    started_at: float | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    _rng: random.Random = field(default_factory=lambda: random.Random(7), repr=False)
    _history_rng: random.Random = field(default_factory=lambda: random.Random(8), repr=False)
    # Where the time the demo's events reach is kept across restarts (None: post the whole history at each start).
    mark: Path | None = None

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

    def _reached(self) -> datetime | None:
        """Until when an earlier run posted the demo's events (from the mark), if it did."""
        try:
            reached = datetime.fromisoformat(self.mark.read_text().strip()) if self.mark else None
        except (OSError, ValueError):
            return None
        return reached if reached is not None and reached.tzinfo is not None else None

    def _write_mark(self, moment: datetime) -> None:
        if self.mark is not None:
            try:
                self.mark.write_text(moment.isoformat())
            except OSError as exc:
                log.warning("demo.mark_failed", error=str(exc))

    @property
    def history_rate(self) -> float:
        """The history's average events per second: the live rate, unless that would pass MAX_HISTORY_EVENTS."""
        seconds = self.backfill_hours * 3600
        return min(self.rate, MAX_HISTORY_EVENTS / seconds) if seconds else 0.0

    def status(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "rate": self.rate,
            "sent": self.sent,
            "failed_batches": self.failed_batches,
            "history": {"hours": self.backfill_hours, "sent": self.history_sent, "done": self.history_done},
        }

    async def _post(self, client: httpx.AsyncClient, events: list[dict[str, Any]]) -> bool:
        try:
            response = await client.post(self.ingest_url, json=events)
            response.raise_for_status()
            self.sent += len(events)
            return True
        except httpx.HTTPError as exc:
            self.failed_batches += 1
            log.warning("demo.post_failed", error=str(exc))
            return False

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=30, headers=self.headers) as client:
            history = None
            if self.backfill_hours and not self.history_done and self.history_sent == 0:
                now = datetime.now(UTC)
                start = max(now - timedelta(hours=self.backfill_hours), self._reached() or now - timedelta(days=365))
                history = asyncio.create_task(self._backfill(client, start, now), name="demo-history")
            else:
                self.history_done = True
            try:
                await self._live(client)
            finally:
                if history is not None:
                    history.cancel()
                    await asyncio.gather(history, return_exceptions=True)
                if self.history_done:
                    self._write_mark(datetime.now(UTC))

    async def _backfill(self, client: httpx.AsyncClient, start: datetime, now: datetime) -> None:
        """The history of [start, now), newest hour first, one batch at a time beside the live stream."""
        rate = self.history_rate
        for hour in clickstream_history(self._history_rng, rate, start, now, self.customers):
            for i in range(0, len(hour), HISTORY_BATCH):
                batch = hour[i : i + HISTORY_BATCH]
                if await self._post(client, batch):
                    self.history_sent += len(batch)
        self.history_done = True
        log.info("demo.backfilled", events=self.history_sent, hours=self.backfill_hours, rate=rate)

    async def _live(self, client: httpx.AsyncClient) -> None:
        """`rate` events a second on the daily curve, posted every half second (a fraction carried over)."""
        tick = 0.5
        marked = 0.0
        while True:
            began = time.monotonic()
            now = datetime.now(UTC)
            if self.history_done and began - marked >= MARK_EVERY:  # a mark says the history is in, too
                self._write_mark(now)
                marked = began
            expected = self.rate * tick * daily_shape(now)
            count = int(expected) + (1 if self._rng.random() < expected - int(expected) else 0)
            if count:
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
