"""Refresh tokens: opaque, stored hashed, rotated on use; a reused token revokes its whole family.

A sign-in starts a *family*; each refresh spends the presented token and issues the next one of the same
family. A token presented a second time means two holders (a thief and the user), and nobody can tell which
is which: the whole family is revoked, so both must sign in again (OAuth 2.0 Security BCP, refresh token
rotation). Sign-out revokes the family too.

A token reads `srt_<id>_<secret>`; the store keeps HMAC-SHA256(salt, secret) under the id (see
strix_tokens.apikeys for why a keyed hash and not a slow KDF). Pure: the service does the storing, with a
compare-and-set on the token's revision so that two concurrent uses count as a reuse.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from strix_contracts.errors import Unauthorized

_TOKEN = re.compile(r"^srt_([0-9a-f]{24})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class Family:
    id: str
    subject: str
    roles: tuple[str, ...]
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None = None
    # The claims row filters bind to, kept for the family's whole life: every refreshed token carries them.
    attributes: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class RefreshRecord:
    id: str
    family: str
    salt: str
    digest: str
    expires_at: datetime
    used_at: datetime | None = None


class RefreshReused(Unauthorized):
    """A spent refresh token presented again: the caller revokes its family."""


def new_family(
    subject: str,
    roles: tuple[str, ...],
    scopes: tuple[str, ...],
    now: datetime,
    attributes: dict[str, tuple[str, ...]] | None = None,
) -> Family:
    return Family(
        id=secrets.token_hex(12),
        subject=subject,
        roles=roles,
        scopes=scopes,
        created_at=now,
        attributes=dict(attributes or {}),
    )


def new_refresh_token(family: Family, now: datetime, lifetime: timedelta) -> tuple[str, RefreshRecord]:
    token_id, secret, salt = secrets.token_hex(12), secrets.token_urlsafe(32), secrets.token_bytes(16)
    record = RefreshRecord(
        id=token_id, family=family.id, salt=salt.hex(), digest=_digest(salt, secret), expires_at=now + lifetime
    )
    return f"srt_{token_id}_{secret}", record


def parse_refresh_token(token: str) -> tuple[str, str]:
    match = _TOKEN.match(token)
    if not match:
        raise Unauthorized("not a Strix refresh token", argument="refresh_token", hint="sign in again")
    return match.group(1), match.group(2)


def check_refresh(record: RefreshRecord, family: Family, secret: str, now: datetime) -> None:
    """Refuses a token that does not match, belongs to a revoked family, was spent, or expired; a spent one
    raises RefreshReused so the caller revokes the family."""
    if not hmac.compare_digest(
        bytes.fromhex(record.digest), bytes.fromhex(_digest(bytes.fromhex(record.salt), secret))
    ):
        raise Unauthorized("refresh token does not match", argument="refresh_token", hint="sign in again")
    if family.revoked_at is not None:
        raise Unauthorized("refresh token revoked (signed out)", argument="refresh_token", hint="sign in again")
    if record.used_at is not None:
        raise RefreshReused(
            "refresh token already used: its sign-in is revoked",
            argument="refresh_token",
            hint="a refresh token is good once; sign in again",
        )
    if now >= record.expires_at:
        raise Unauthorized("refresh token expired", argument="refresh_token", hint="sign in again")


def spend(record: RefreshRecord, now: datetime) -> RefreshRecord:
    return replace(record, used_at=now)


def revoke(family: Family, now: datetime) -> Family:
    return family if family.revoked_at is not None else replace(family, revoked_at=now)


def _digest(salt: bytes, secret: str) -> str:
    return hmac.new(salt, secret.encode(), hashlib.sha256).hexdigest()
