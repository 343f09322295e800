"""Auth wiring: registers the strix-auth NATS micro service (PING/INFO/STATS) and serves health and metrics.

Nothing else yet: its behaviour comes with its own issue, and no endpoint pretends to offer it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from nats.aio.client import Client as NATS
from nats.micro import add_service

from strix_runtime.health import health_router
from strix_runtime.logs import get_logger

log = get_logger("auth")

SERVICE_NAME = "strix-auth"


@dataclass
class Auth:
    nc: NATS

    async def healthy(self) -> bool:
        return self.nc.is_connected


@asynccontextmanager
async def run_auth(nc: NATS) -> AsyncIterator[Auth]:
    micro = await add_service(nc, name=SERVICE_NAME, version="0.1.0", description="Strix auth (shell)")
    log.info("auth.started")
    try:
        yield Auth(nc)
    finally:
        await micro.stop()
        log.info("auth.stopped")


def create_app(service: Auth) -> FastAPI:
    app = FastAPI(title="Strix auth")
    app.include_router(health_router({"nats": service.healthy}))
    return app
