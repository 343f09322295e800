"""Sign-in over HTTP: the browser's side of the auth service (OpenID Connect, refresh, sign-out, development
sign-in), its JWKS, and API key management for admins. Each route is one NATS request to strix-auth.

The refresh token lives only in a cookie the page's scripts cannot read: `HttpOnly`, `SameSite=Strict` (no other
site's page makes the browser send it), `Path=/auth` (sent to these routes only, never with GraphQL requests),
`Secure` when the site is served over https. The access token is handed to the page as JSON by `POST /auth/token`
and kept in memory; it is short-lived. The routes that use the cookie are POSTs that require
`Content-Type: application/json`: an HTML form on another site can only send form or text bodies, so it cannot
call them even where SameSite is not enforced (old browsers), and a JSON POST from another origin needs a CORS
preflight that the allow-list refuses.

After sign-in the browser returns only to a path of this site (`return_to`, see strix_tokens.redirects): an
absolute URL is refused, never followed (open redirect).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from nats.aio.client import Client as NATS
from pydantic import BaseModel, ValidationError

from strix_contracts.errors import QueryError, StrixError, Unauthorized, invalid_request
from strix_gateway.signin_page import signin_failed_page, wants_html
from strix_runtime.callers import CallerVerifier, signed_in, strix_error_response
from strix_runtime.micro import call_service
from strix_tokens import messages
from strix_tokens.redirects import safe_return_to

REFRESH_COOKIE = "strix_refresh"
COOKIE_PATH = "/auth"
CALLBACK_PATH = "/auth/callback"

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class SignInOptions:
    # The site's external base URL (https://strix.example.com); None: each request's own base URL.
    public_url: str | None = None
    timeout: float = 15.0  # the OpenID completion waits on the provider's token endpoint


class _Empty(BaseModel):
    pass


def _rendered(route: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
    """Every StrixError of a route rendered once, by the shared HTTP renderer."""

    @wraps(route)
    async def render(*args: Any, **kwargs: Any) -> Response:
        try:
            return await route(*args, **kwargs)
        except StrixError as exc:
            return strix_error_response(exc)

    return render


def _rendered_for_browsers(route: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
    """As `_rendered`, but a browser navigating (login, the provider's redirect back) gets a page it can act
    on instead of JSON."""

    @wraps(route)
    async def render(request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            return await route(request, *args, **kwargs)
        except StrixError as exc:
            return signin_failed_page(exc) if wants_html(request) else strix_error_response(exc)

    return render


def signin_router(nc: NATS, verifier: CallerVerifier, options: SignInOptions | None = None) -> APIRouter:
    options = options or SignInOptions()
    router = APIRouter(tags=["sign-in"])

    async def call(subject: str, body: BaseModel, answer: type[M]) -> M:
        reply = await call_service(nc, subject, body.model_dump_json().encode(), service="auth", wait=options.timeout)
        return answer.model_validate_json(reply.data)

    def base_url(request: Request) -> str:
        return (options.public_url or str(request.base_url)).rstrip("/")

    def secure(request: Request) -> bool:
        return base_url(request).startswith("https://")

    def set_refresh(response: Response, request: Request, pair: messages.TokenPair) -> None:
        response.set_cookie(
            REFRESH_COOKIE,
            pair.refresh_token,
            max_age=pair.refresh_expires_in,
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=secure(request),
        )

    def clear_refresh(response: Response, request: Request) -> None:
        response.delete_cookie(
            REFRESH_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=secure(request)
        )

    def access_json(pair: messages.TokenPair) -> dict[str, Any]:
        return {"access_token": pair.access_token, "token_type": pair.token_type, "expires_in": pair.expires_in}

    async def json_body(request: Request, model: type[M]) -> M:
        """A JSON body, refused unless sent as application/json (a cross-site form cannot send that)."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise QueryError(
                f"this route takes Content-Type application/json, not {content_type or 'none'!r}",
                argument="Content-Type",
                hint="send a JSON body (an empty one is {})",
            )
        raw = await request.body()
        try:
            return model.model_validate_json(raw or b"{}")
        except ValidationError as exc:
            raise invalid_request(exc) from exc

    def refresh_cookie(request: Request) -> str:
        token = request.cookies.get(REFRESH_COOKIE)
        if not token:
            raise Unauthorized("not signed in: no refresh cookie", argument=REFRESH_COOKIE, hint="sign in first")
        return token

    async def admin(request: Request) -> None:
        signed_in(await verifier.caller(request.headers)).require("admin")

    @router.get("/auth/config", summary="What sign-in this installation offers")
    @_rendered
    async def config() -> Response:
        return JSONResponse((await call(messages.AUTH_CONFIG, _Empty(), messages.SignInConfig)).model_dump())

    @router.get("/auth/login", summary="Start signing in at the OpenID Connect provider")
    @_rendered_for_browsers
    async def login(request: Request, return_to: str = "/") -> Response:
        begin = messages.OidcBegin(return_to=safe_return_to(return_to), redirect_uri=base_url(request) + CALLBACK_PATH)
        redirect = await call(messages.AUTH_OIDC_BEGIN, begin, messages.OidcRedirect)
        return RedirectResponse(redirect.authorize_url, status_code=302, headers={"Cache-Control": "no-store"})

    @router.get("/auth/callback", summary="Where the provider sends the browser back")
    @_rendered_for_browsers
    async def callback(request: Request) -> Response:
        query = request.query_params
        callback = messages.OidcCallback(
            state=query.get("state"),
            code=query.get("code"),
            iss=query.get("iss"),
            error=query.get("error"),
            error_description=query.get("error_description"),
        )
        signed = await call(messages.AUTH_OIDC_COMPLETE, callback, messages.SignedIn)
        response = RedirectResponse(safe_return_to(signed.return_to), status_code=302)
        response.headers["Cache-Control"] = "no-store"
        set_refresh(response, request, signed.tokens)
        return response

    @router.post("/auth/token", summary="A fresh access token from the refresh cookie (the cookie rotates)")
    @_rendered
    async def token(request: Request) -> Response:
        await json_body(request, _Empty)
        try:
            pair = await call(
                messages.AUTH_TOKEN_REFRESH,
                messages.RefreshRequest(refresh_token=refresh_cookie(request)),
                messages.TokenPair,
            )
        except Unauthorized as exc:
            response = strix_error_response(exc)
            clear_refresh(response, request)
            return response
        response = JSONResponse(access_json(pair), headers={"Cache-Control": "no-store"})
        set_refresh(response, request, pair)
        return response

    @router.post("/auth/signout", summary="Revoke this sign-in (every refresh token of it) and clear the cookie")
    @_rendered
    async def signout(request: Request) -> Response:
        await json_body(request, _Empty)
        token = request.cookies.get(REFRESH_COOKIE)
        revoked = False
        if token:
            try:
                await call(messages.AUTH_SIGNOUT, messages.RefreshRequest(refresh_token=token), messages.SignedOut)
                revoked = True
            except Unauthorized:
                pass  # already revoked or unknown: signed out all the same
        response = JSONResponse({"revoked": revoked})
        clear_refresh(response, request)
        return response

    @router.post("/auth/dev", summary="Development sign-in (embedded mode only): tokens for any user")
    @_rendered
    async def dev(request: Request) -> Response:
        body = await json_body(request, _DevSignIn)
        pair = await call(messages.AUTH_TOKEN_DEV, messages.DevSignIn(**body.model_dump()), messages.TokenPair)
        response = JSONResponse(pair.model_dump(), headers={"Cache-Control": "no-store"})
        set_refresh(response, request, pair)
        return response

    @router.get("/.well-known/jwks.json", summary="Public keys Strix access tokens are signed with")
    @_rendered
    async def jwks() -> Response:
        keys = await call(messages.AUTH_JWKS, _Empty(), _Jwks)
        return JSONResponse(keys.model_dump(), headers={"Cache-Control": "public, max-age=60"})

    @router.get("/auth/keys", summary="API keys (admin)")
    @_rendered
    async def list_keys(request: Request) -> Response:
        await admin(request)
        return JSONResponse(
            (await call(messages.AUTH_KEYS_LIST, _Empty(), messages.ApiKeyList)).model_dump(mode="json")
        )

    @router.post("/auth/keys", summary="Create an API key (admin); the key is in this answer only")
    @_rendered
    async def create_key(request: Request) -> Response:
        await admin(request)
        body = await json_body(request, messages.ApiKeyCreate)
        created = await call(messages.AUTH_KEYS_CREATE, body, messages.ApiKeyCreated)
        return JSONResponse(created.model_dump(mode="json"), status_code=201, headers={"Cache-Control": "no-store"})

    @router.delete("/auth/keys/{key_id}", summary="Revoke an API key (admin)")
    @_rendered
    async def revoke_key(request: Request, key_id: str) -> Response:
        await admin(request)
        revoked = await call(messages.AUTH_KEYS_REVOKE, messages.ApiKeyRef(id=key_id), messages.ApiKeyInfo)
        return JSONResponse(revoked.model_dump(mode="json"))

    return router


class _DevSignIn(messages.DevSignIn):
    user: str = "developer"


class _Jwks(BaseModel):
    keys: list[dict[str, Any]]
