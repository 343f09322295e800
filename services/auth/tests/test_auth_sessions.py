"""Refresh token rules as pure functions: match, spend once, expiry, revocation."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from strix_auth.sessions import (
    RefreshReused,
    check_refresh,
    new_family,
    new_refresh_token,
    parse_refresh_token,
    revoke,
    spend,
)
from strix_contracts.errors import Unauthorized

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def test_a_token_is_stored_as_a_keyed_hash_and_checks_once() -> None:
    family = new_family("ada", ("reader",), ("read",), NOW)
    token, record = new_refresh_token(family, NOW, DAY)
    token_id, secret = parse_refresh_token(token)
    assert token_id == record.id and record.family == family.id and secret not in repr(record)
    assert record.digest == hmac.new(bytes.fromhex(record.salt), secret.encode(), hashlib.sha256).hexdigest()
    check_refresh(record, family, secret, NOW + DAY - timedelta(seconds=1))
    with pytest.raises(RefreshReused):
        check_refresh(spend(record, NOW), family, secret, NOW)


def test_expired_revoked_and_wrong_tokens_are_refused() -> None:
    family = new_family("ada", (), ("read",), NOW)
    token, record = new_refresh_token(family, NOW, DAY)
    _, secret = parse_refresh_token(token)
    with pytest.raises(Unauthorized, match="expired"):
        check_refresh(record, family, secret, NOW + DAY)
    with pytest.raises(Unauthorized, match="revoked"):
        check_refresh(record, revoke(family, NOW), secret, NOW)
    other, _ = new_refresh_token(family, NOW, DAY)
    with pytest.raises(Unauthorized, match="does not match"):
        check_refresh(record, family, parse_refresh_token(other)[1], NOW)
    assert revoke(revoke(family, NOW), NOW + DAY).revoked_at == NOW  # the first revocation stands


@pytest.mark.parametrize("text", ["", "srt_", "srt_abc_def", "rt_" + "0" * 24 + "_" + "A" * 43])
def test_malformed_refresh_tokens_are_refused(text: str) -> None:
    with pytest.raises(Unauthorized):
        parse_refresh_token(text)
