"""Dashboards wiring: registers the strix-dashboards NATS micro service (PING/INFO/STATS) and serves health and metrics.

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

log = get_logger("dashboards")

SERVICE_NAME = "strix-dashboards"


@dataclass
class Dashboards:
    nc: NATS

    async def healthy(self) -> bool:
        return self.nc.is_connected


@asynccontextmanager
async def run_dashboards(nc: NATS) -> AsyncIterator[Dashboards]:
    micro = await add_service(nc, name=SERVICE_NAME, version="0.1.0", description="Strix dashboards (shell)")
    log.info("dashboards.started")
    try:
        yield Dashboards(nc)
    finally:
        await micro.stop()
        log.info("dashboards.stopped")


def create_app(service: Dashboards) -> FastAPI:
    app = FastAPI(title="Strix dashboards")
    app.include_router(health_router({"nats": service.healthy}))
    return app
