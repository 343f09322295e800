"""API keys for integrators and producers: `strix_<id>_<secret>`, stored only as a keyed hash.

The id (16 hex characters) is public: it names the key in lists and logs. The secret is 32 random bytes,
base64url. The store keeps `HMAC-SHA256(salt, secret)` with a per-key random salt, never the secret.

Why a keyed hash and not a slow KDF (scrypt, argon2): a slow KDF makes guessing a *low-entropy* secret (a
password) expensive. These secrets carry 256 random bits: no guessing is feasible at any hash speed, so the
slowness would buy nothing, while a key is checked on every request (a KDF costs tens of milliseconds and
memory; HMAC-SHA256 costs about a microsecond). The per-key salt keeps equal secrets from hashing equal and
defeats precomputed tables across stores. Digests are compared in constant time (`hmac.compare_digest`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from strix_contracts.caller import allows as allows
from strix_contracts.errors import QueryError, Unauthorized

PREFIX = "strix"
SCOPES = ("read", "write", "admin")
_MODULE_SCOPE = re.compile(r"^read:[a-z][a-z0-9_]{0,62}$")  # the module name pattern of strix_config
_ID = re.compile(r"^[0-9a-f]{16}$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{43}$")  # 32 bytes, base64url without padding


@dataclass(frozen=True)
class ApiKeyRecord:
    """What the store keeps of a key: no secret."""

    id: str
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    salt: str  # hex
    digest: str  # hex HMAC-SHA256(salt, secret)
    revoked_at: datetime | None = None
    # Which module `access` rules admit the key and which row filters bind it, as for a signed-in user.
    roles: tuple[str, ...] = ()
    attributes: dict[str, tuple[str, ...]] = field(default_factory=dict)


def validate_scopes(scopes: Sequence[str]) -> tuple[str, ...]:
    """The scopes, deduplicated and sorted; an unknown one is refused by name."""
    if not scopes:
        raise QueryError("an API key needs at least one scope", argument="scopes", hint=_SCOPES_HINT)
    for scope in scopes:
        if scope not in SCOPES and not _MODULE_SCOPE.match(scope):
            raise QueryError(f"unknown scope {scope!r}", argument="scopes", hint=_SCOPES_HINT)
    return tuple(sorted(set(scopes)))


_SCOPES_HINT = "use read, write, admin or read:<module>"


def create_api_key(
    name: str,
    scopes: Sequence[str],
    now: datetime,
    roles: Sequence[str] = (),
    attributes: Mapping[str, Sequence[str]] | None = None,
) -> tuple[str, ApiKeyRecord]:
    """A new key: the full key (shown once to its creator) and the record to store."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    record = ApiKeyRecord(
        id=key_id,
        name=name,
        scopes=validate_scopes(scopes),
        created_at=now,
        salt=salt.hex(),
        digest=_digest(salt, secret),
        roles=tuple(sorted(set(roles))),
        attributes={k: tuple(sorted(set(v))) for k, v in sorted((attributes or {}).items())},
    )
    return f"{PREFIX}_{key_id}_{secret}", record


def parse_api_key(key: str) -> tuple[str, str]:
    """(id, secret) of a key; a key of the wrong shape is refused without saying which part is wrong."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not _ID.match(parts[1]) or not _SECRET.match(parts[2]):
        raise Unauthorized("not a Strix API key", argument="key", hint="keys read strix_<id>_<secret>")
    return parts[1], parts[2]


def verify_secret(record: ApiKeyRecord, secret: str, now: datetime) -> tuple[str, ...]:
    """The key's scopes when `secret` is its secret and it is not revoked; else Unauthorized."""
    expected = bytes.fromhex(record.digest)
    actual = bytes.fromhex(_digest(bytes.fromhex(record.salt), secret))
    if not hmac.compare_digest(expected, actual):
        raise Unauthorized("API key does not match", argument="key")
    if record.revoked_at is not None and record.revoked_at <= now:
        raise Unauthorized(f"API key {record.id} was revoked", argument="key", hint="create a new key")
    return record.scopes


def _digest(salt: bytes, secret: str) -> str:
    return hmac.new(salt, secret.encode(), hashlib.sha256).hexdigest()
