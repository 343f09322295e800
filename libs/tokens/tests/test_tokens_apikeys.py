"""API keys: shape, hashed storage, scopes, refusal of wrong and revoked keys; role mapping."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from strix_contracts.errors import QueryError, Unauthorized
from strix_tokens.apikeys import allows, create_api_key, parse_api_key, validate_scopes, verify_secret
from strix_tokens.roles import map_roles

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_a_key_reads_strix_id_secret_and_its_record_keeps_no_secret() -> None:
    key, record = create_api_key("producer", ["write"], NOW)
    key_id, secret = parse_api_key(key)
    assert key == f"strix_{record.id}_{secret}" and key_id == record.id and len(key_id) == 16
    assert secret not in repr(record)
    # the digest is HMAC-SHA256(salt, secret), computed here independently
    expected = hmac.new(bytes.fromhex(record.salt), secret.encode(), hashlib.sha256).hexdigest()
    assert record.digest == expected
    assert verify_secret(record, secret, NOW) == ("write",)


def test_two_keys_never_share_salt_secret_or_digest() -> None:
    (k1, r1), (k2, r2) = create_api_key("a", ["read"], NOW), create_api_key("a", ["read"], NOW)
    assert k1 != k2 and r1.salt != r2.salt and r1.digest != r2.digest and r1.id != r2.id


def test_a_wrong_secret_is_refused() -> None:
    _, record = create_api_key("a", ["read"], NOW)
    other, _ = create_api_key("b", ["read"], NOW)
    with pytest.raises(Unauthorized, match="does not match"):
        verify_secret(record, parse_api_key(other)[1], NOW)


def test_a_revoked_key_is_refused() -> None:
    key, record = create_api_key("a", ["read"], NOW)
    revoked = replace(record, revoked_at=NOW)
    with pytest.raises(Unauthorized, match="revoked"):
        verify_secret(revoked, parse_api_key(key)[1], NOW + timedelta(seconds=1))


@pytest.mark.parametrize(
    "text", ["", "strix_", "strix_abc_def", "other_0123456789abcdef_" + "a" * 43, "strix_0123456789abcdef_short"]
)
def test_malformed_keys_are_refused(text: str) -> None:
    with pytest.raises(Unauthorized):
        parse_api_key(text)


def test_scopes_come_from_a_fixed_set() -> None:
    assert validate_scopes(["write", "read:games", "read", "read"]) == ("read", "read:games", "write")
    for bad in (["superuser"], ["read:Games"], ["write:games"], []):
        with pytest.raises(QueryError) as caught:
            validate_scopes(bad)
        assert caught.value.argument == "scopes"


def test_what_scopes_allow() -> None:
    assert allows(["read:games"], "read", "games") and not allows(["read:games"], "read", "clicks")
    assert allows(["read"], "read", "clicks") and not allows(["read"], "write", "clicks")
    assert allows(["write"], "write", "clicks") and not allows(["write"], "admin")
    assert allows(["admin"], "write", "x") and allows(["admin"], "read", "y") and allows(["admin"], "admin")


MAPPING = {
    "groups": {"analysts": ["reader"], "ops": ["reader", "operator"]},
    "realm_access.roles": {"strix-admin": ["admin"]},
    "email_verified": {"true": ["verified"]},
}


def test_provider_claims_map_to_roles() -> None:
    assert map_roles({"groups": ["analysts", "ops", "other"]}, MAPPING) == ("operator", "reader")
    assert map_roles({"groups": "analysts"}, MAPPING) == ("reader",)
    assert map_roles({"realm_access": {"roles": ["strix-admin"]}}, MAPPING) == ("admin",)
    assert map_roles({"groups": [1, None], "email_verified": True}, MAPPING) == ()  # not strings: no match
    assert map_roles({}, MAPPING, default=["viewer"]) == ("viewer",)
    assert map_roles({"groups": ["nobody"]}, MAPPING) == ()
