"""Health and metrics over HTTP, the same for every service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

# A check passes with True; it fails with False, or with a text saying what is wrong (shown under "reasons").
HealthCheck = Callable[[], Awaitable[bool | str]]


def health_router(checks: Mapping[str, HealthCheck]) -> APIRouter:
    """`/healthz` runs every check (200 when all pass, 503 otherwise); `/metrics` is Prometheus text."""
    router = APIRouter()

    @router.get("/healthz", tags=["operations"])
    async def healthz() -> JSONResponse:
        answers = {name: await check() for name, check in checks.items()}
        results = {name: answer is True for name, answer in answers.items()}
        reasons = {name: answer for name, answer in answers.items() if isinstance(answer, str)}
        healthy = all(results.values())
        body: dict[str, object] = {"status": "ok" if healthy else "degraded", "checks": results}
        if reasons:
            body["reasons"] = reasons
        return JSONResponse(body, 200 if healthy else 503)

    @router.get("/metrics", tags=["operations"])
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
