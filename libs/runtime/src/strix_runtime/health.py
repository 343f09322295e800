"""Health and metrics over HTTP, the same for every service."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

# A check passes with True; it fails with False, or with a text saying what is wrong (shown under "reasons").
HealthCheck = Callable[[], Awaitable[bool | str]]


@dataclass(frozen=True)
class MetricsAccess:
    """Who may read /metrics: a request with `Authorization: Bearer <token>`, or from one of `networks`. Neither
    set: nobody (the scrape target must be configured)."""

    token: str | None = None
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def of(cls, token: str | None, networks: Iterable[str]) -> MetricsAccess:
        return cls(token or None, tuple(ipaddress.ip_network(n, strict=False) for n in networks))

    def allows(self, authorization: str | None, client_host: str | None) -> bool:
        if self.token and authorization:
            scheme, _, given = authorization.partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode()):
                return True
        if client_host and self.networks:
            try:
                address = ipaddress.ip_address(client_host)
            except ValueError:
                return False
            return any(address in network for network in self.networks)
        return False


def health_router(checks: Mapping[str, HealthCheck], metrics_access: MetricsAccess | None = None) -> APIRouter:
    """`/healthz` runs every check (200 when all pass, 503 otherwise); `/metrics` is Prometheus text, for
    whom `metrics_access` admits (None: anyone, for the test apps of single services; the platform always
    passes its rule)."""
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
    async def metrics(request: Request) -> Response:
        if metrics_access is not None:
            host = request.client.host if request.client else None
            if not metrics_access.allows(request.headers.get("authorization"), host):
                return JSONResponse(
                    {
                        "error": {
                            "code": "unauthorized",
                            "message": "/metrics needs its bearer token or a request from an allowed network",
                            "hint": "set STRIX_METRICS_TOKEN and scrape with `Authorization: Bearer <token>`, or "
                            "STRIX_METRICS_NETWORKS",
                        }
                    },
                    401,
                    headers={"WWW-Authenticate": 'Bearer realm="strix-metrics"'},
                )
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
