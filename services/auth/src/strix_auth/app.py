"""Auth wiring: the strix-auth NATS micro service over its KV buckets, and its health routes.

Endpoints (queue group `strix-auth`, so replicas share the load): `auth.config`, `auth.jwks`, `auth.oidc.begin`
and `auth.oidc.complete` (OpenID Connect sign-in, see oidc.py), `auth.token.dev` (development sign-in, refused
unless started with `dev_sign_in=True`), `auth.token.refresh`, `auth.signout`, `auth.signing.rotate`,
`auth.keys.create|list|revoke|verify`. Each handler parses, calls one function, replies; errors are rendered once,
in `strix_runtime.micro`. Who may call them is the gateway's check (admin scope for keys) and NATS credentials'.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from nats.aio.client import Client as NATS
from pydantic import BaseModel

from strix_auth import oidc, sessions
from strix_auth.oidc import OidcSettings
from strix_auth.provider import OidcProvider, open_http
from strix_auth.store import AuthStore, open_store
from strix_contracts.errors import Forbidden, StrixError, Unauthorized
from strix_runtime.health import health_router
from strix_runtime.logs import get_logger
from strix_runtime.micro import Endpoint, json_endpoint, start_service, stop_service
from strix_tokens import apikeys, messages
from strix_tokens.access import issue_access_token
from strix_tokens.keys import jwks
from strix_tokens.redirects import safe_return_to

log = get_logger("auth")

SERVICE_NAME = messages.AUTH_SERVICE


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class AuthOptions:
    """How this auth service issues tokens."""

    issuer: str = "strix"  # the `iss` of every Strix access token
    audience: str = "strix"  # the `aud` verifiers expect
    access_lifetime: timedelta = timedelta(minutes=15)  # also how long a retired signing key stays published
    refresh_lifetime: timedelta = timedelta(days=14)
    dev_sign_in: bool = False  # the built-in development sign-in; the platform sets it in embedded mode only
    clock: Callable[[], datetime] = field(default=_utcnow)  # tests pass a fixed clock
    oidc: OidcSettings | None = None  # the OpenID Connect provider users sign in with; None: no SSO


@dataclass
class Auth:
    nc: NATS
    store: AuthStore
    options: AuthOptions
    provider: OidcProvider | None = None

    async def healthy(self) -> bool:
        return self.nc.is_connected

    async def config(self) -> messages.SignInConfig:
        settings = self.options.oidc
        return messages.SignInConfig(provider=settings.name if settings else None, dev_sign_in=self.options.dev_sign_in)

    # --- OpenID Connect -------------------------------------------------------------------------------------

    def _provider(self) -> OidcProvider:
        if self.provider is None:
            raise Forbidden(
                "no OpenID Connect provider is configured",
                hint="set STRIX_OIDC_ISSUER, STRIX_OIDC_CLIENT_ID (and STRIX_OIDC_CLIENT_SECRET) for the auth service",
            )
        return self.provider

    async def oidc_begin(self, request: messages.OidcBegin) -> messages.OidcRedirect:
        provider = self._provider()
        pending = oidc.new_pending(request.redirect_uri, safe_return_to(request.return_to), self.options.clock())
        url = await provider.authorize_url(pending)
        await self.store.put_pending(pending)
        return messages.OidcRedirect(authorize_url=url)

    async def oidc_complete(self, request: messages.OidcCallback) -> messages.SignedIn:
        provider = self._provider()
        now = self.options.clock()
        state = oidc.check_state(request.state)
        # Taken (deleted) before anything else is checked: a callback is good once, even a refused one.
        pending = oidc.check_pending(await self.store.take_pending(state), now)
        code = oidc.check_callback(
            request.error, request.error_description, request.iss, request.code, provider.settings.issuer
        )
        answer = await provider.exchange(code, pending)
        claims = await provider.verify_id_token(oidc.token_response_id_token(answer), pending, now)
        who = oidc.identity(claims, provider.settings)
        family = sessions.new_family(who.subject, who.roles, who.scopes, now, who.attributes)
        await self.store.put_family(family)
        log.info("auth.oidc_signed_in", subject=who.subject, roles=who.roles, scopes=who.scopes)
        return messages.SignedIn(tokens=await self._pair(family, now), subject=who.subject, return_to=pending.return_to)

    # --- tokens -------------------------------------------------------------------------------------------

    async def jwks(self) -> dict[str, Any]:
        return jwks(await self.store.key_set(self.options.clock(), self.options.access_lifetime))

    async def dev_sign_in(self, request: messages.DevSignIn) -> messages.TokenPair:
        if not self.options.dev_sign_in:
            raise Forbidden(
                "the development sign-in is off",
                hint="it is on in embedded mode (`strix up`) only; sign in through the configured provider",
            )
        now = self.options.clock()
        scopes = apikeys.validate_scopes(request.scopes)
        attributes = {k: tuple(sorted(set(v))) for k, v in sorted(request.attributes.items())}
        family = sessions.new_family(request.user, tuple(sorted(set(request.roles))), scopes, now, attributes)
        await self.store.put_family(family)
        log.info("auth.dev_sign_in", user=request.user, roles=family.roles)
        return await self._pair(family, now)

    async def refresh(self, request: messages.RefreshRequest) -> messages.TokenPair:
        now = self.options.clock()
        token_id, secret = sessions.parse_refresh_token(request.refresh_token)
        found = await self.store.refresh(token_id)
        family = await self.store.family(found[0].family) if found else None
        if found is None or family is None:
            raise Unauthorized("unknown refresh token", argument="refresh_token", hint="sign in again")
        record, revision = found
        try:
            sessions.check_refresh(record, family, secret, now)
        except sessions.RefreshReused:
            await self._revoke(family, now, "reused")
            raise
        if not await self.store.spend_refresh(sessions.spend(record, now), revision):
            await self._revoke(family, now, "raced")
            raise sessions.RefreshReused("refresh token used twice at once: its sign-in is revoked")
        return await self._pair(family, now)

    async def sign_out(self, request: messages.RefreshRequest) -> messages.SignedOut:
        now = self.options.clock()
        token_id, secret = sessions.parse_refresh_token(request.refresh_token)
        found = await self.store.refresh(token_id)
        family = await self.store.family(found[0].family) if found else None
        if found is None or family is None:
            raise Unauthorized("unknown refresh token", argument="refresh_token")
        try:
            sessions.check_refresh(found[0], family, secret, now)
        except sessions.RefreshReused:
            pass  # a spent token of the family still signs it out
        await self._revoke(family, now, "signed_out")
        return messages.SignedOut()

    async def rotate(self) -> messages.Rotated:
        keys = await self.store.rotate_signing(self.options.clock(), self.options.access_lifetime)
        return messages.Rotated(kid=keys.current.kid, kept=[k.kid for k in keys.previous])

    async def _pair(self, family: sessions.Family, now: datetime) -> messages.TokenPair:
        keys = await self.store.key_set(now, self.options.access_lifetime)
        access, _ = issue_access_token(
            keys,
            issuer=self.options.issuer,
            audience=self.options.audience,
            subject=family.subject,
            roles=family.roles,
            scopes=family.scopes,
            now=now,
            lifetime=self.options.access_lifetime,
            attributes=family.attributes,
        )
        refresh, record = sessions.new_refresh_token(family, now, self.options.refresh_lifetime)
        await self.store.put_refresh(record)
        return messages.TokenPair(
            access_token=access,
            expires_in=int(self.options.access_lifetime.total_seconds()),
            refresh_token=refresh,
            refresh_expires_in=int(self.options.refresh_lifetime.total_seconds()),
        )

    async def _revoke(self, family: sessions.Family, now: datetime, why: str) -> None:
        await self.store.put_family(sessions.revoke(family, now))
        log.info("auth.family_revoked", family=family.id, subject=family.subject, reason=why)

    # --- API keys -----------------------------------------------------------------------------------------

    async def create_key(self, request: messages.ApiKeyCreate) -> messages.ApiKeyCreated:
        key, record = apikeys.create_api_key(
            request.name, request.scopes, self.options.clock(), request.roles, request.attributes
        )
        await self.store.add_api_key(record)
        log.info("auth.api_key_created", id=record.id, scopes=record.scopes)
        return messages.ApiKeyCreated(key=key, **_info(record).model_dump())

    async def list_keys(self, _: messages.ApiKeyList | None = None) -> messages.ApiKeyList:
        return messages.ApiKeyList(keys=[_info(r) for r in await self.store.list_api_keys()])

    async def revoke_key(self, request: messages.ApiKeyRef) -> messages.ApiKeyInfo:
        record = await self.store.api_key(request.id)
        if record.revoked_at is None:
            record = replace(record, revoked_at=self.options.clock())
            await self.store.save_api_key(record)
            log.info("auth.api_key_revoked", id=record.id)
        return _info(record)

    async def verify_key(self, request: messages.ApiKeyVerify) -> messages.ApiKeyVerified:
        key_id, secret = apikeys.parse_api_key(request.key)
        try:
            record = await self.store.api_key(key_id)
        except StrixError:
            raise Unauthorized("unknown API key", argument="key") from None
        scopes = apikeys.verify_secret(record, secret, self.options.clock())
        return messages.ApiKeyVerified(
            id=record.id,
            name=record.name,
            scopes=list(scopes),
            roles=list(record.roles),
            attributes={k: list(v) for k, v in record.attributes.items()},
        )


def _info(record: apikeys.ApiKeyRecord) -> messages.ApiKeyInfo:
    return messages.ApiKeyInfo(
        id=record.id,
        name=record.name,
        scopes=list(record.scopes),
        created_at=record.created_at,
        revoked_at=record.revoked_at,
        roles=list(record.roles),
        attributes={k: list(v) for k, v in record.attributes.items()},
    )


class _Empty(BaseModel):
    pass


@asynccontextmanager
async def run_auth(nc: NATS, options: AuthOptions | None = None) -> AsyncIterator[Auth]:
    options = options or AuthOptions()
    stack = AsyncExitStack()
    store = await open_store(nc.jetstream(), options.refresh_lifetime + timedelta(days=1))
    provider = None
    if options.oidc is not None:
        provider = OidcProvider(options.oidc, await stack.enter_async_context(open_http()))
    auth = Auth(nc, store, options, provider)
    await store.key_set(options.clock(), options.access_lifetime)  # the first key, made before serving
    endpoints: list[Endpoint] = [
        ("config", messages.AUTH_CONFIG, json_endpoint(_Empty, lambda _: auth.config())),
        ("jwks", messages.AUTH_JWKS, json_endpoint(_Empty, lambda _: auth.jwks())),
        ("oidc-begin", messages.AUTH_OIDC_BEGIN, json_endpoint(messages.OidcBegin, auth.oidc_begin)),
        (
            "oidc-complete",
            messages.AUTH_OIDC_COMPLETE,
            json_endpoint(messages.OidcCallback, auth.oidc_complete),
        ),
        ("token-dev", messages.AUTH_TOKEN_DEV, json_endpoint(messages.DevSignIn, auth.dev_sign_in)),
        (
            "token-refresh",
            messages.AUTH_TOKEN_REFRESH,
            json_endpoint(messages.RefreshRequest, auth.refresh),
        ),
        ("signout", messages.AUTH_SIGNOUT, json_endpoint(messages.RefreshRequest, auth.sign_out)),
        ("signing-rotate", messages.AUTH_SIGNING_ROTATE, json_endpoint(_Empty, lambda _: auth.rotate())),
        ("keys-create", messages.AUTH_KEYS_CREATE, json_endpoint(messages.ApiKeyCreate, auth.create_key)),
        ("keys-list", messages.AUTH_KEYS_LIST, json_endpoint(_Empty, lambda _: auth.list_keys())),
        ("keys-revoke", messages.AUTH_KEYS_REVOKE, json_endpoint(messages.ApiKeyRef, auth.revoke_key)),
        ("keys-verify", messages.AUTH_KEYS_VERIFY, json_endpoint(messages.ApiKeyVerify, auth.verify_key)),
    ]
    micro = await start_service(
        nc,
        name=SERVICE_NAME,
        version="0.2.0",
        description="Strix auth: tokens and API keys",
        queue_group="strix-auth",
        endpoints=endpoints,
    )
    log.info("auth.started", dev_sign_in=options.dev_sign_in, oidc=options.oidc.issuer if options.oidc else None)
    try:
        yield auth
    finally:
        await stop_service(micro)
        await store.stop()
        await stack.aclose()
        log.info("auth.stopped")


def create_app(service: Auth) -> FastAPI:
    app = FastAPI(title="Strix auth")
    app.include_router(health_router({"nats": service.healthy}))
    return app
