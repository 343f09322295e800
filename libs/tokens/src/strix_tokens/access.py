"""Strix access tokens: short-lived JWTs signed with the current key, verified against a JWKS.

Verification checks, in this order, and refuses with `InvalidToken` naming what failed:
1. shape and size (three base64url parts, at most `MAX_TOKEN_BYTES`);
2. the header's `alg` is exactly ES256 — `none`, HS* (a public key used as an HMAC secret) and every other
   algorithm are refused before any key is touched;
3. `kid` names a key of the JWKS — else `UnknownKeyId`, a subclass the caller can catch to refetch the JWKS once;
4. the signature, with that key only;
5. issuer, audience, expiry and not-before (with `leeway` for clock skew), and the presence of every claim.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from strix_contracts.errors import Unauthorized
from strix_tokens.keys import ALGORITHM, CURVE, KeySet

MAX_TOKEN_BYTES = 8192
DEFAULT_LEEWAY = timedelta(seconds=30)


class InvalidToken(Unauthorized):
    """An access token that does not hold; `reason` is a short machine-readable word."""

    def __init__(self, message: str, reason: str, hint: str | None = None) -> None:
        super().__init__(message, argument="token", hint=hint)
        self.reason = reason


class UnknownKeyId(InvalidToken):
    """The token names a key the JWKS lacks: the verifier may refetch the JWKS once, then refuse."""

    def __init__(self, kid: str) -> None:
        super().__init__(
            f"token signed with unknown key {kid!r}",
            "unknown_kid",
            hint="refetch the JWKS once; a key missing after that was never ours or was dropped",
        )
        self.kid = kid


@dataclass(frozen=True)
class AccessClaims:
    iss: str
    aud: str
    sub: str
    exp: int
    iat: int
    nbf: int
    jti: str
    roles: tuple[str, ...]
    scopes: tuple[str, ...]
    # Claims row filters bind to (say brand: ["acme"]), mapped from the provider's claims at sign-in.
    attributes: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "iss": self.iss,
            "aud": self.aud,
            "sub": self.sub,
            "exp": self.exp,
            "iat": self.iat,
            "nbf": self.nbf,
            "jti": self.jti,
            "roles": list(self.roles),
            "scopes": list(self.scopes),
            "attributes": {name: list(values) for name, values in sorted(self.attributes.items())},
        }


def issue_access_token(
    keys: KeySet,
    *,
    issuer: str,
    audience: str,
    subject: str,
    roles: Sequence[str],
    scopes: Sequence[str],
    now: datetime,
    lifetime: timedelta,
    jti: str | None = None,
    attributes: Mapping[str, Sequence[str]] | None = None,
) -> tuple[str, AccessClaims]:
    issued = int(now.timestamp())
    claims = AccessClaims(
        iss=issuer,
        aud=audience,
        sub=subject,
        exp=issued + int(lifetime.total_seconds()),
        iat=issued,
        nbf=issued,
        jti=jti or secrets.token_urlsafe(16),
        roles=tuple(roles),
        scopes=tuple(scopes),
        attributes={name: tuple(values) for name, values in (attributes or {}).items()},
    )
    header = {"alg": ALGORITHM, "kid": keys.current.kid, "typ": "JWT"}
    token = jwt.encode(header, claims.to_dict(), keys.current.key(), algorithms=[ALGORITHM])
    return token, claims


def verify_access_token(
    token: str,
    jwks: Mapping[str, Any],
    *,
    issuer: str,
    audience: str,
    now: datetime,
    leeway: timedelta = DEFAULT_LEEWAY,
) -> AccessClaims:
    header = _header(token)
    alg = header.get("alg")
    if alg != ALGORITHM:
        raise InvalidToken(f"token algorithm {alg!r} is not accepted", "algorithm", hint=f"Strix signs {ALGORITHM}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("token header names no key (kid)", "kid")
    key = _key(jwks, kid)
    try:
        decoded = jwt.decode(token, key, algorithms=[ALGORITHM])
    except JoseError as exc:
        raise InvalidToken("token signature does not verify", "signature") from exc
    return _checked_claims(decoded.claims, issuer=issuer, audience=audience, now=now, leeway=leeway)


def _header(token: str) -> dict[str, Any]:
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidToken(f"token longer than {MAX_TOKEN_BYTES} bytes", "malformed")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts[:2]):
        raise InvalidToken("token is not a signed JWT (three dot-separated parts)", "malformed")
    try:
        raw = base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4))
        header = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken("token header is not base64url JSON", "malformed") from exc
    if not isinstance(header, dict):
        raise InvalidToken("token header is not a JSON object", "malformed")
    return header


def _key(jwks: Mapping[str, Any], kid: str) -> ECKey:
    for entry in jwks.get("keys", ()):
        if isinstance(entry, dict) and entry.get("kid") == kid:
            if entry.get("kty") != "EC" or entry.get("crv") != CURVE or "d" in entry:
                raise InvalidToken(f"JWKS key {kid!r} is not a public {CURVE} key", "key")
            return ECKey.import_key(entry)
    raise UnknownKeyId(kid)


def _checked_claims(
    claims: Mapping[str, Any], *, issuer: str, audience: str, now: datetime, leeway: timedelta
) -> AccessClaims:
    missing = [c for c in ("iss", "aud", "sub", "exp", "iat", "nbf", "jti") if c not in claims]
    if missing:
        raise InvalidToken(f"token lacks claims {', '.join(missing)}", "claims")
    if claims["iss"] != issuer:
        raise InvalidToken(f"token issuer {claims['iss']!r} is not {issuer!r}", "issuer")
    aud = claims["aud"]
    audiences = aud if isinstance(aud, list) else [aud]
    if audience not in audiences:
        raise InvalidToken(f"token audience {aud!r} does not include {audience!r}", "audience")
    at = now.timestamp()
    slack = leeway.total_seconds()
    exp, nbf, iat = claims["exp"], claims["nbf"], claims["iat"]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (exp, nbf, iat)):
        raise InvalidToken("token times (exp, nbf, iat) are not integers", "claims")
    if at > exp + slack:
        raise InvalidToken("token expired", "expired", hint="refresh it, or sign in again")
    if at < nbf - slack:
        raise InvalidToken("token not valid yet", "not_before")
    roles, scopes = claims.get("roles", []), claims.get("scopes", [])
    if not _strings(roles) or not _strings(scopes):
        raise InvalidToken("token roles and scopes must be lists of strings", "claims")
    attributes = claims.get("attributes", {})
    if not isinstance(attributes, dict) or not all(_strings(v) for v in attributes.values()):
        raise InvalidToken("token attributes must map names to lists of strings", "claims")
    return AccessClaims(
        iss=str(claims["iss"]),
        aud=audience,
        sub=str(claims["sub"]),
        exp=exp,
        iat=iat,
        nbf=nbf,
        jti=str(claims["jti"]),
        roles=tuple(roles),
        scopes=tuple(scopes),
        attributes={str(name): tuple(values) for name, values in attributes.items()},
    )


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)
