"""Signing keys: one current key signs, the keys retired before it stay published until no token they signed can
still be valid, then they are dropped.

Invariants:
- exactly one current key; every other key has `retired_at` set;
- a retired key is kept while `retired_at + max_token_lifetime + leeway >= now` (a token it signed just before
  retirement is still in flight), dropped after;
- the JWKS carries public parts only (`d` never leaves the key set; a test holds this).

Keys are ES256 (P-256): small signatures, and verifiers everywhere support it. Generation uses the OS randomness
(not I/O in the sense of the style guide: nothing outside the process is touched).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from joserfc.jwk import ECKey

ALGORITHM = "ES256"
CURVE = "P-256"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_jwk: dict[str, Any]  # the private JWK (`d` included): stored only in the auth service's KV bucket
    created_at: datetime
    retired_at: datetime | None = None

    def public_jwk(self) -> dict[str, Any]:
        public = {k: v for k, v in self.private_jwk.items() if k in {"kty", "crv", "x", "y"}}
        return {**public, "kid": self.kid, "alg": ALGORITHM, "use": "sig"}

    def key(self) -> ECKey:
        return ECKey.import_key(self.private_jwk, {"kid": self.kid})


@dataclass(frozen=True)
class KeySet:
    current: SigningKey
    previous: tuple[SigningKey, ...] = ()

    def all(self) -> tuple[SigningKey, ...]:
        return (self.current, *self.previous)

    def to_dict(self) -> dict[str, Any]:
        """The stored form (private keys included): for the auth service's KV bucket only."""
        return {"keys": [_key_to_dict(k) for k in self.all()]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeySet:
        keys = [_key_from_dict(k) for k in data["keys"]]
        current = [k for k in keys if k.retired_at is None]
        if len(current) != 1:
            raise ValueError(f"a key set holds exactly one current key, this one {len(current)}")
        return cls(current[0], tuple(k for k in keys if k.retired_at is not None))


def new_signing_key(now: datetime, kid: str | None = None) -> SigningKey:
    kid = kid or f"{now:%Y%m%d}-{secrets.token_hex(4)}"
    key = ECKey.generate_key(CURVE, parameters={"kid": kid}, private=True)
    return SigningKey(kid=kid, private_jwk=dict(key.as_dict(private=True)), created_at=now)


def rotate(keys: KeySet, new: SigningKey, now: datetime, max_token_lifetime: timedelta) -> KeySet:
    """`new` signs from now on; the old current key is retired and kept for verification; keys retired longer ago
    than a token lives are dropped."""
    retired = replace(keys.current, retired_at=now)
    return prune(KeySet(new, (retired, *keys.previous)), now, max_token_lifetime)


def prune(keys: KeySet, now: datetime, max_token_lifetime: timedelta, leeway: timedelta = timedelta(0)) -> KeySet:
    kept = tuple(
        k for k in keys.previous if k.retired_at is not None and k.retired_at + max_token_lifetime + leeway >= now
    )
    return KeySet(keys.current, kept)


def jwks(keys: KeySet) -> dict[str, Any]:
    """The published JWKS: public parts of the current and still-kept keys."""
    return {"keys": [k.public_jwk() for k in keys.all()]}


def _key_to_dict(key: SigningKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "jwk": key.private_jwk,
        "created_at": key.created_at.isoformat(),
        "retired_at": key.retired_at.isoformat() if key.retired_at else None,
    }


def _key_from_dict(data: dict[str, Any]) -> SigningKey:
    retired = data.get("retired_at")
    return SigningKey(
        kid=data["kid"],
        private_jwk=data["jwk"],
        created_at=datetime.fromisoformat(data["created_at"]),
        retired_at=datetime.fromisoformat(retired) if retired else None,
    )
