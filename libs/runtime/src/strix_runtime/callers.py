"""Who is calling: the one verifier every door (GraphQL, ingestion, demo control, auth routes) uses.

A request carries at most one credential:
- `Authorization: Bearer <JWT>`: a Strix access token, verified here against the auth service's JWKS (signature,
  `alg` exactly ES256, issuer, audience, expiry; see strix_tokens.access);
- `Authorization: Bearer strix_<id>_<secret>` or `X-API-Key: strix_<id>_<secret>`: an API key, checked by the
  auth service (`auth.keys.verify`) on every request;
- `X-Strix-Link: <token>`: a dashboard's public link, resolved by the dashboards service
  (`dashboards.link.resolve`) into a read-only caller limited to that dashboard's modules.
No credential: the caller is None (signed out) and each door decides what a signed-out caller may do (nothing,
mostly). A credential that does not hold is `Unauthorized` with the reason (expired, audience, issuer, signature,
algorithm, revoked ...); two credentials at once are refused rather than one silently preferred.

Caching, and why:
- The JWKS is cached: fetched on first use, refreshed when older than `jwks_max_age` (lazily, on the next request;
  a failed refresh keeps the keys it had, so an auth outage does not sign everyone out), and refetched at once
  when a token names a key it lacks (a rotation happened since). Concurrent fetches share one request.
- API keys are NOT cached here. A revoked key must fail at once on every replica; the auth service keeps the
  records in a watched cache of its own, so a verify is one NATS round trip (measured: 0.38 ms median, 0.66 ms p99,
  auth in the same process; a token verifies in 0.16 ms) and revocation needs no second cache to invalidate.

Invariants: no I/O at import; nothing here reads settings (issuer, audience and ages are arguments); the clock is
an argument (tests pass a fixed one).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from nats.aio.client import Client as NATS
from pydantic import BaseModel, ValidationError

from strix_contracts.caller import Caller
from strix_contracts.dashboards import DASHBOARDS_LINK_RESOLVE, LinkToken
from strix_contracts.errors import StrixError, Unauthorized, Unavailable
from strix_runtime.health import MetricsAccess
from strix_runtime.micro import call_service
from strix_runtime.settings import StrixSettings
from strix_tokens import messages
from strix_tokens.access import UnknownKeyId, verify_access_token
from strix_tokens.apikeys import PREFIX, parse_api_key

AUTHORIZATION = "authorization"
API_KEY_HEADER = "x-api-key"
LINK_HEADER = "x-strix-link"
LINK_RESOLVE = DASHBOARDS_LINK_RESOLVE  # the dashboards service turns a public link's token into its Caller
MAX_CREDENTIAL_BYTES = 8192

CredentialKind = Literal["token", "api_key", "link"]


@dataclass(frozen=True)
class Credential:
    kind: CredentialKind
    value: str


def credential_from_headers(headers: Mapping[str, Any]) -> Credential | None:
    """The one credential of a request's headers (or a websocket's connection_init payload), None when there is
    none. Header names are matched without regard to case; a malformed Authorization or two credentials at once
    are Unauthorized."""
    found: list[Credential] = []
    for name, value in headers.items():
        key = name.lower() if isinstance(name, str) else ""
        if key not in (AUTHORIZATION, API_KEY_HEADER, LINK_HEADER) or value in (None, ""):
            continue
        if not isinstance(value, str) or len(value) > MAX_CREDENTIAL_BYTES:
            raise Unauthorized(f"the {name} header is not a credential", argument=name)
        if key == AUTHORIZATION:
            scheme, _, secret = value.strip().partition(" ")
            secret = secret.strip()
            if scheme.lower() != "bearer" or not secret:
                raise Unauthorized(
                    "Authorization is not a Bearer credential",
                    argument="Authorization",
                    hint="send `Authorization: Bearer <access token or API key>`",
                )
            kind: CredentialKind = "api_key" if secret.startswith(f"{PREFIX}_") else "token"
            found.append(Credential(kind, secret))
        elif key == API_KEY_HEADER:
            found.append(Credential("api_key", value.strip()))
        else:
            found.append(Credential("link", value.strip()))
    if len(found) > 1:
        raise Unauthorized(
            "the request carries more than one credential",
            hint="send one of Authorization, X-API-Key or X-Strix-Link",
        )
    return found[0] if found else None


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class JwksCache:
    """The auth service's JWKS as last fetched; one fetch at a time, shared by whoever waits for it."""

    fetch: Callable[[], Awaitable[dict[str, Any]]]
    max_age: float
    monotonic: Callable[[], float] = time.monotonic
    keys: dict[str, Any] | None = None
    fetched_at: float = 0.0
    fetches: int = 0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def get(self) -> dict[str, Any]:
        if self.keys is None or self.monotonic() - self.fetched_at > self.max_age:
            await self._refetch(self.fetched_at, keep_on_failure=self.keys is not None)
        assert self.keys is not None
        return self.keys

    async def refetch(self, seen: float) -> dict[str, Any]:
        """Fetch again unless someone fetched since `seen` (the fetch time of the keys the caller tried)."""
        await self._refetch(seen, keep_on_failure=False)
        assert self.keys is not None
        return self.keys

    async def _refetch(self, seen: float, keep_on_failure: bool) -> None:
        async with self._lock:
            if self.keys is not None and self.fetched_at > seen:
                return  # fetched while this caller waited for the lock
            try:
                keys = await self.fetch()
            except Unavailable:
                if keep_on_failure:
                    self.fetched_at = self.monotonic()  # try again after max_age, not on every request
                    return
                raise
            self.keys, self.fetched_at, self.fetches = keys, self.monotonic(), self.fetches + 1


@dataclass
class CallerVerifier:
    """Credentials -> `Caller`, over the NATS connection of the process."""

    nc: NATS
    issuer: str = "strix"
    audience: str = "strix"
    jwks_max_age: float = 300.0
    request_timeout: float = 5.0
    clock: Callable[[], datetime] = _utcnow
    jwks: JwksCache = field(init=False)

    def __post_init__(self) -> None:
        self.jwks = JwksCache(self._fetch_jwks, self.jwks_max_age)

    async def caller(self, headers: Mapping[str, Any]) -> Caller | None:
        """The verified caller of a request's headers; None when it carries no credential."""
        credential = credential_from_headers(headers)
        if credential is None:
            return None
        return await self.verify(credential)

    async def verify(self, credential: Credential) -> Caller:
        if credential.kind == "token":
            return await self.verify_token(credential.value)
        if credential.kind == "api_key":
            return await self.verify_api_key(credential.value)
        return await self.resolve_link(credential.value)

    async def verify_token(self, token: str) -> Caller:
        keys = await self.jwks.get()
        seen = self.jwks.fetched_at
        try:
            claims = verify_access_token(token, keys, issuer=self.issuer, audience=self.audience, now=self.clock())
        except UnknownKeyId:
            keys = await self.jwks.refetch(seen)  # signed by a key made since our copy: once, then refuse
            claims = verify_access_token(token, keys, issuer=self.issuer, audience=self.audience, now=self.clock())
        return Caller(
            subject=claims.sub, kind="user", roles=claims.roles, scopes=claims.scopes, attributes=claims.attributes
        )

    async def verify_api_key(self, key: str) -> Caller:
        parse_api_key(key)  # the shape, before anything crosses NATS
        reply = await self._request(messages.AUTH_KEYS_VERIFY, messages.ApiKeyVerify(key=key), "auth")
        verified = messages.ApiKeyVerified.model_validate_json(reply)
        return Caller(
            subject=f"apikey:{verified.id}",
            kind="api_key",
            roles=tuple(verified.roles),
            scopes=tuple(verified.scopes),
            attributes={name: tuple(values) for name, values in verified.attributes.items()},
            name=verified.name[:200],
        )

    async def resolve_link(self, token: str) -> Caller:
        if not token or len(token) > 512:
            raise Unauthorized("not a dashboard link token", argument=LINK_HEADER)
        reply = await self._request(LINK_RESOLVE, LinkToken(token=token), "dashboards")
        try:
            caller = Caller.model_validate_json(reply)
        except ValidationError as exc:
            raise Unauthorized("the dashboard link did not resolve to a caller", argument=LINK_HEADER) from exc
        if caller.kind != "public_link" or caller.dashboard is None:
            raise Unauthorized("the dashboard link did not resolve to a public link", argument=LINK_HEADER)
        if any(scope == "write" or scope == "admin" for scope in caller.scopes):
            raise Unauthorized("a dashboard link may only read", argument=LINK_HEADER)
        return caller

    async def _fetch_jwks(self) -> dict[str, Any]:
        keys: dict[str, Any] = json.loads(await self._request(messages.AUTH_JWKS, _Empty(), "auth"))
        return keys

    async def _request(self, subject: str, body: BaseModel, service: str) -> bytes:
        try:
            reply = await call_service(
                self.nc, subject, body.model_dump_json().encode(), service=service, wait=self.request_timeout
            )
        except Unavailable as exc:
            raise Unavailable(f"{exc.message}, so no credential can be checked", hint=exc.hint) from exc
        except StrixError as error:
            if error.status == 400 or error.status == 404:  # a malformed or unknown credential: not ours
                raise Unauthorized(error.message, argument=error.argument, hint=error.hint) from None
            raise
        data: bytes = reply.data
        return data


class _Empty(BaseModel):
    pass


# --- HTTP: the caller of a request, and errors rendered once --------------------------------------------------


def caller_dependency(verifier: CallerVerifier) -> Callable[[Request], Awaitable[Caller | None]]:
    """A FastAPI dependency: the request's verified caller, None when signed out; bad credentials raise
    Unauthorized (rendered by `strix_error_response`, installed with `install_error_handler`)."""

    async def dependency(request: Request) -> Caller | None:
        return await verifier.caller(request.headers)

    return dependency


def requires(
    verifier: CallerVerifier, action: str, module: str | None = None
) -> Callable[[Request], Awaitable[Caller]]:
    """A FastAPI dependency: the verified caller, refused unless signed in (401) with a scope permitting `action`
    (403 naming it)."""

    async def dependency(request: Request) -> Caller:
        caller = signed_in(await verifier.caller(request.headers))
        caller.require(action, module)
        return caller

    return dependency


def signed_in(caller: Caller | None) -> Caller:
    if caller is None:
        raise Unauthorized(
            "sign in first: this request carries no credential",
            hint="send `Authorization: Bearer <access token or API key>`",
        )
    return caller


def strix_error_response(exc: StrixError) -> JSONResponse:
    """A StrixError over HTTP: `{"error": {code, message, argument, hint}}` with its status; a 401 says how to
    authenticate (RFC 6750), a 503 when to retry."""
    headers: dict[str, str] = {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="strix", error="invalid_token"'
    elif exc.status == 503:
        headers["Retry-After"] = "2"
    return JSONResponse({"error": exc.body().model_dump(exclude_none=True)}, exc.status, headers=headers or None)


def install_error_handler(app: FastAPI) -> None:
    """Render every StrixError a route or dependency raises with `strix_error_response`."""

    async def handle(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StrixError)
        return strix_error_response(exc)

    app.add_exception_handler(StrixError, handle)


# --- the doors of one process ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DoorOptions:
    """How the doors of one process are kept: plain values the composition root takes from settings."""

    issuer: str = "strix"  # the `iss` access tokens must carry
    audience: str = "strix"  # the `aud` they must include
    # Signed out: schema introspection, the GraphiQL page and the OpenAPI pages. Embedded mode only by default.
    open_schema: bool = False
    # Embedded mode: GraphiQL opens signed in as the local developer (a development sign-in token in the page).
    developer_graphiql: bool = False
    cors_origins: tuple[str, ...] = ()  # browser origins (the web UI's) allowed to call the API
    metrics: MetricsAccess = field(default_factory=MetricsAccess)

    @classmethod
    def from_settings(cls, settings: StrixSettings, embedded: bool) -> DoorOptions:
        """The doors as the settings say, with embedded mode's defaults (`strix up` with its own NATS server):
        the schema open signed out with GraphiQL signed in as the local developer, /metrics for loopback."""
        open_schema = embedded if settings.open_schema is None else settings.open_schema
        networks = settings.metrics_networks
        if networks is None:
            networks = ["127.0.0.1/32", "::1/128"] if embedded else []
        token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
        return cls(
            open_schema=open_schema,
            developer_graphiql=open_schema and embedded,
            cors_origins=tuple(settings.cors_origins),
            metrics=MetricsAccess.of(token, networks),
        )


DEVELOPER = "developer"


async def development_token(nc: NATS, wait: float = 5.0) -> str:
    """An access token of the local developer (roles and scopes admin) from the auth service's development
    sign-in, which answers in embedded mode only."""
    request = messages.DevSignIn(user=DEVELOPER, roles=["admin"], scopes=["read", "write", "admin"])
    reply = await call_service(
        nc, messages.AUTH_TOKEN_DEV, request.model_dump_json().encode(), service="auth", wait=wait
    )
    return messages.TokenPair.model_validate_json(reply.data).access_token
