"""OpenID Connect sign-in, pure: the authorization request, the callback's checks, the ID token's checks, and
provider claims -> a Strix identity. The provider adapter (`provider.py`) does the HTTP; the service wires both.

The flow is the authorization code flow with PKCE (S256), state and nonce (OpenID Connect Core 3.1; OAuth 2.0
Security BCP):
1. begin: a random `state` (names the pending sign-in, defeats CSRF on the callback), a random `nonce` (bound into
   the ID token, defeats a replayed ID token) and a PKCE `code_verifier` (whose S256 challenge goes to the
   provider, so a stolen code is useless without it) are stored server-side with the return path, for ten
   minutes; the browser goes to the provider's authorization endpoint.
2. complete: the pending sign-in is looked up by `state` and deleted at once (a replayed callback finds nothing);
   the callback's `iss` (RFC 9207), when present, must be the provider's issuer exactly (authlib does not check
   it: a mix-up attack sends a code from another provider); the code is exchanged with the verifier; the ID token
   is verified here: signature by a key of the provider's JWKS, `iss` exactly, `aud` holding our client id (and
   `azp` ours when there are several audiences), `exp`, `iat`, and the `nonce` we stored.

Invariants: no I/O and no clock (`now` is an argument); every refusal is a StrixError saying what failed.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from strix_contracts.errors import QueryError, Unauthorized, Unavailable
from strix_tokens.access import UnknownKeyId
from strix_tokens.apikeys import validate_scopes
from strix_tokens.roles import RoleMapping, claim_values, map_attributes, map_roles

PENDING_LIFETIME = timedelta(minutes=10)
ID_TOKEN_LEEWAY = timedelta(seconds=60)
# Asymmetric algorithms only: `none` and HS* (the client secret as an HMAC key) are refused before any key is used.
ID_TOKEN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
_STATE = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
_RESTART = "start the sign-in again"


@dataclass(frozen=True)
class OidcSettings:
    """One OpenID Connect provider, as configured (see StrixSettings' oidc_* fields)."""

    issuer: str  # exactly as the provider's discovery document says it (no trailing-slash guessing)
    client_id: str
    client_secret: str | None = None  # None: a public client (PKCE alone)
    name: str = "OpenID Connect"  # shown on the sign-in page
    scopes: tuple[str, ...] = ("openid", "profile", "email")
    roles: RoleMapping = field(default_factory=dict)  # {claim: {value: [roles]}}
    default_roles: tuple[str, ...] = ()  # roles every signed-in user holds
    attributes: Mapping[str, str] = field(default_factory=dict)  # {claim: attribute}
    default_scopes: tuple[str, ...] = ("read",)  # scopes every signed-in user holds
    role_scopes: Mapping[str, Sequence[str]] = field(default_factory=lambda: {"admin": ["admin"]})
    subject_claim: str = "sub"


@dataclass(frozen=True)
class Pending:
    """A sign-in between begin and complete: stored under its state, for PENDING_LIFETIME."""

    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str
    return_to: str
    created_at: datetime


@dataclass(frozen=True)
class Identity:
    subject: str
    roles: tuple[str, ...]
    scopes: tuple[str, ...]
    attributes: dict[str, tuple[str, ...]]


def new_pending(redirect_uri: str, return_to: str, now: datetime) -> Pending:
    return Pending(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        code_verifier=secrets.token_urlsafe(64),  # 86 characters, within RFC 7636's 43..128
        redirect_uri=redirect_uri,
        return_to=return_to,
        created_at=now,
    )


def authorize_url(authorization_endpoint: str, settings: OidcSettings, pending: Pending) -> str:
    return str(
        add_params_to_uri(
            authorization_endpoint,
            [
                ("response_type", "code"),
                ("client_id", settings.client_id),
                ("redirect_uri", pending.redirect_uri),
                ("scope", " ".join(settings.scopes)),
                ("state", pending.state),
                ("nonce", pending.nonce),
                ("code_challenge", create_s256_code_challenge(pending.code_verifier)),
                ("code_challenge_method", "S256"),
            ],
        )
    )


def check_state(state: str | None) -> str:
    """A state of our shape (so it is safe as a KV key), or a refusal; whether it is known is the store's part."""
    if not state or not _STATE.match(state):
        raise Unauthorized("the sign-in callback carries no valid state", argument="state", hint=_RESTART)
    return state


def check_pending(pending: Pending | None, now: datetime) -> Pending:
    if pending is None or now - pending.created_at > PENDING_LIFETIME:
        raise Unauthorized(
            "sign-in state unknown, expired or already used",
            argument="state",
            hint=f"{_RESTART} (a callback is good once)",
        )
    return pending


def check_callback(
    error: str | None, error_description: str | None, iss: str | None, code: str | None, issuer: str
) -> str:
    """The code of a callback that came from our provider; the provider's own refusal passed on."""
    if iss is not None and iss != issuer:
        raise Unauthorized(
            f"the callback names issuer {iss[:200]!r}, not {issuer!r}",
            argument="iss",
            hint="possible mix-up; " + _RESTART,
        )
    if error:
        detail = f": {error_description[:300]}" if error_description else ""
        raise Unauthorized(f"the provider refused the sign-in ({error[:100]}){detail}", argument="error", hint=_RESTART)
    if not code:
        raise QueryError("the sign-in callback carries no code", argument="code", hint=_RESTART)
    return code


def token_response_id_token(response: Mapping[str, Any]) -> str:
    id_token = response.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise Unavailable("the provider's token response holds no ID token", hint="is the `openid` scope requested?")
    return id_token


def id_token_header(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        raise Unauthorized("the ID token is not a signed JWT", argument="id_token")
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise Unauthorized("the ID token header is not base64url JSON", argument="id_token") from exc
    if not isinstance(header, dict):
        raise Unauthorized("the ID token header is not a JSON object", argument="id_token")
    return header


def verify_id_token(
    token: str, jwks: Mapping[str, Any], *, issuer: str, client_id: str, nonce: str, now: datetime
) -> dict[str, Any]:
    """The ID token's claims once everything holds; `UnknownKeyId` when its key is not in `jwks` (refetch once)."""
    header = id_token_header(token)
    alg = header.get("alg")
    if alg not in ID_TOKEN_ALGORITHMS:
        raise Unauthorized(f"ID token algorithm {alg!r} is not accepted", argument="id_token")
    kid = header.get("kid")
    candidates = [k for k in jwks.get("keys", ()) if isinstance(k, dict) and "d" not in k]
    if kid is not None:
        candidates = [k for k in candidates if k.get("kid") == kid]
        if not candidates:
            raise UnknownKeyId(str(kid))
    try:
        keys = KeySet.import_key_set({"keys": candidates})
        decoded = jwt.decode(token, keys, algorithms=[str(alg)])
    except JoseError as exc:
        raise Unauthorized("the ID token signature does not verify", argument="id_token") from exc
    claims = dict(decoded.claims)
    _check_id_claims(claims, issuer=issuer, client_id=client_id, nonce=nonce, now=now)
    return claims


def _check_id_claims(claims: Mapping[str, Any], *, issuer: str, client_id: str, nonce: str, now: datetime) -> None:
    def refuse(message: str) -> Unauthorized:
        return Unauthorized(message, argument="id_token", hint=_RESTART)

    if claims.get("iss") != issuer:
        raise refuse(f"ID token issuer {claims.get('iss')!r} is not {issuer!r}")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if client_id not in audiences:
        raise refuse(f"ID token audience {aud!r} does not include this client")
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise refuse("ID token has several audiences and its azp is not this client")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (exp, iat)):
        raise refuse("ID token lacks exp or iat")
    at, slack = now.timestamp(), ID_TOKEN_LEEWAY.total_seconds()
    if at > float(exp) + slack:  # type: ignore[arg-type]
        raise refuse("ID token expired")
    if float(iat) > at + slack:  # type: ignore[arg-type]
        raise refuse("ID token issued in the future (clock skew?)")
    got = claims.get("nonce")
    if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
        raise refuse("ID token nonce does not match this sign-in (replayed or injected token)")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise refuse("ID token lacks sub")


def identity(claims: Mapping[str, Any], settings: OidcSettings) -> Identity:
    """Who the provider says signed in, as Strix sees it: roles by the role mapping, attributes by the attribute
    mapping, scopes from the defaults and the roles."""
    subjects = claim_values(claims, settings.subject_claim)
    if not subjects:
        raise Unauthorized(f"the provider sent no {settings.subject_claim!r} claim", argument="id_token")
    roles = map_roles(claims, settings.roles, settings.default_roles)
    scopes = set(settings.default_scopes)
    for role in roles:
        scopes.update(settings.role_scopes.get(role, ()))
    return Identity(
        subject=subjects[0][:256],
        roles=roles,
        scopes=validate_scopes(sorted(scopes)) if scopes else (),
        attributes=map_attributes(claims, settings.attributes),
    )
