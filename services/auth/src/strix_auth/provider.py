"""The OpenID provider over HTTP: discovery, the JWKS (cached, refetched once on an unknown key so a provider's key
rotation is followed), and the code exchange. Decisions are `oidc.py`'s; this module only fetches.

Discovery reads `<issuer>/.well-known/openid-configuration` and requires the document's `issuer` to equal the
configured issuer exactly (OpenID Connect Discovery 4.3): `http://127.0.0.1:8080` is not `http://localhost:8080`,
and a trailing slash counts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_token_request

from strix_auth import oidc
from strix_contracts.errors import Unauthorized, Unavailable
from strix_runtime.logs import get_logger
from strix_tokens.access import UnknownKeyId

log = get_logger("auth.provider")

TIMEOUT = httpx.Timeout(10.0)


@dataclass
class OidcProvider:
    settings: oidc.OidcSettings
    http: httpx.AsyncClient
    _metadata: dict[str, Any] | None = None
    cached_jwks: dict[str, Any] | None = None  # the provider's JWKS as last fetched
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
            document = await self._get_json(url, "discovery document")
            if document.get("issuer") != self.settings.issuer:
                raise Unavailable(
                    f"the provider's discovery document names issuer {document.get('issuer')!r}, "
                    f"not the configured {self.settings.issuer!r}",
                    hint="set STRIX_OIDC_ISSUER to exactly the issuer the provider publishes",
                )
            for needed in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(document.get(needed), str):
                    raise Unavailable(f"the provider's discovery document lacks {needed}")
            self._metadata = document
        return self._metadata

    async def authorize_url(self, pending: oidc.Pending) -> str:
        metadata = await self.metadata()
        return oidc.authorize_url(metadata["authorization_endpoint"], self.settings, pending)

    async def jwks(self, refresh: bool = False) -> dict[str, Any]:
        async with self._lock:
            if self.cached_jwks is None or refresh:
                self.cached_jwks = await self._get_json((await self.metadata())["jwks_uri"], "JWKS")
                log.info("auth.oidc_jwks_fetched", kids=[k.get("kid") for k in self.cached_jwks.get("keys", ())])
            return self.cached_jwks

    async def exchange(self, code: str, pending: oidc.Pending) -> Mapping[str, Any]:
        """The token endpoint's answer for `code`, client authenticated as the provider allows."""
        metadata = await self.metadata()
        body = prepare_token_request(
            "authorization_code", code=code, redirect_uri=pending.redirect_uri, code_verifier=pending.code_verifier
        )
        method = "client_secret_basic" if self.settings.client_secret else "none"
        supported = metadata.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
        if self.settings.client_secret and "client_secret_basic" not in supported and "client_secret_post" in supported:
            method = "client_secret_post"
        url, headers, body = ClientAuth(self.settings.client_id, self.settings.client_secret, method).prepare(
            "POST", metadata["token_endpoint"], {"Content-Type": "application/x-www-form-urlencoded"}, body
        )
        try:
            response = await self.http.post(url, content=body, headers={**headers, "Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise Unavailable(f"the provider's token endpoint is unreachable: {type(exc).__name__}") from exc
        answer = _json(response)
        if response.status_code >= 400 or "error" in answer:
            error = str(answer.get("error", response.status_code))[:100]
            detail = str(answer.get("error_description", ""))[:300]
            if response.status_code >= 500:
                raise Unavailable(f"the provider's token endpoint failed ({error})")
            raise Unauthorized(
                f"the provider refused the code ({error}{': ' + detail if detail else ''})",
                argument="code",
                hint="start the sign-in again",
            )
        return answer

    async def verify_id_token(self, token: str, pending: oidc.Pending, now: datetime) -> dict[str, Any]:
        """Verified claims; a key the cached JWKS lacks makes one refetch (the provider rotated its keys)."""
        check = {"issuer": self.settings.issuer, "client_id": self.settings.client_id, "nonce": pending.nonce}
        try:
            return oidc.verify_id_token(token, await self.jwks(), now=now, **check)
        except UnknownKeyId:
            return oidc.verify_id_token(token, await self.jwks(refresh=True), now=now, **check)

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            response = await self.http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise Unavailable(f"the provider's {what} at {url} is unreachable: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise Unavailable(f"the provider's {what} at {url} answered HTTP {response.status_code}")
        return _json(response)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        raise Unavailable(f"the provider answered HTTP {response.status_code} with no JSON") from None
    if not isinstance(data, dict):
        raise Unavailable("the provider answered JSON that is not an object")
    return data


def open_http() -> httpx.AsyncClient:
    """No redirects followed: a provider endpoint that redirects is misconfigured, and following one would leak
    the client's credentials to wherever it points."""
    return httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False)
