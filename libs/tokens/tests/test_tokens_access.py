"""Access tokens: issue, verify, and every forgery refused with the reason named."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from strix_tokens.access import InvalidToken, UnknownKeyId, issue_access_token, verify_access_token
from strix_tokens.keys import KeySet, jwks, new_signing_key, prune, rotate

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LIFETIME = timedelta(minutes=15)
ISS, AUD = "https://strix.test", "strix"


def _keys(kid: str = "k1") -> KeySet:
    return KeySet(new_signing_key(NOW, kid))


def _issue(keys: KeySet, now: datetime = NOW, **kwargs: object) -> str:
    args: dict[str, object] = {"issuer": ISS, "audience": AUD, "subject": "ada", "roles": ["reader"]}
    args.update(kwargs)
    token, _ = issue_access_token(
        keys,
        issuer=str(args["issuer"]),
        audience=str(args["audience"]),
        subject=str(args["subject"]),
        roles=list(args["roles"]),  # type: ignore[call-overload]
        scopes=["read"],
        now=now,
        lifetime=LIFETIME,
    )
    return token


def _verify(token: str, keys: KeySet, now: datetime = NOW) -> object:
    return verify_access_token(token, jwks(keys), issuer=ISS, audience=AUD, now=now)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _parts(token: str) -> tuple[dict[str, object], dict[str, object], str]:
    h, p, s = token.split(".")
    pad = lambda x: x + "=" * (-len(x) % 4)  # noqa: E731
    return json.loads(base64.urlsafe_b64decode(pad(h))), json.loads(base64.urlsafe_b64decode(pad(p))), s


def _reason(token: str, keys: KeySet, now: datetime = NOW) -> str:
    with pytest.raises(InvalidToken) as caught:
        _verify(token, keys, now)
    assert caught.value.status == 401
    return caught.value.reason


def test_a_token_verifies_with_its_claims() -> None:
    keys = _keys()
    claims = verify_access_token(_issue(keys), jwks(keys), issuer=ISS, audience=AUD, now=NOW + timedelta(minutes=5))
    assert (claims.sub, claims.roles, claims.scopes, claims.iss, claims.aud) == (
        "ada",
        ("reader",),
        ("read",),
        ISS,
        AUD,
    )
    assert claims.exp - claims.iat == 900 and claims.nbf == int(NOW.timestamp()) and claims.jti


def test_the_jwks_holds_public_keys_only() -> None:
    document = jwks(rotate(_keys(), new_signing_key(NOW, "k2"), NOW, LIFETIME))
    assert [k["kid"] for k in document["keys"]] == ["k2", "k1"]
    for key in document["keys"]:
        assert "d" not in key and key["kty"] == "EC" and key["alg"] == "ES256"


def test_forged_signature_is_refused() -> None:
    keys, other = _keys(), _keys()  # a stranger's key under the same kid
    assert _reason(_issue(other), keys) == "signature"


def test_tampered_payload_is_refused() -> None:
    keys = _keys()
    header, payload, signature = _parts(_issue(keys))
    payload["roles"] = ["admin"]
    forged = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}.{signature}"
    assert _reason(forged, keys) == "signature"


def test_alg_none_is_refused() -> None:
    keys = _keys()
    _, payload, _ = _parts(_issue(keys))
    unsigned = f"{_b64(json.dumps({'alg': 'none', 'kid': 'k1'}).encode())}.{_b64(json.dumps(payload).encode())}."
    assert _reason(unsigned, keys) == "algorithm"


def test_hs256_signed_with_the_public_key_is_refused() -> None:
    keys = _keys()
    _, payload, _ = _parts(_issue(keys))
    secret = json.dumps(jwks(keys)["keys"][0]).encode()
    signing_input = f"{_b64(json.dumps({'alg': 'HS256', 'kid': 'k1'}).encode())}.{_b64(json.dumps(payload).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    assert _reason(f"{signing_input}.{_b64(mac)}", keys) == "algorithm"


def test_wrong_issuer_and_wrong_audience_are_refused() -> None:
    keys = _keys()
    assert _reason(_issue(keys, issuer="https://evil.test"), keys) == "issuer"
    assert _reason(_issue(keys, audience="another-app"), keys) == "audience"


def test_expiry_and_not_before_hold_with_a_small_leeway() -> None:
    keys = _keys()
    token = _issue(keys)
    _verify(token, keys, NOW + LIFETIME + timedelta(seconds=29))  # within the 30 s leeway
    assert _reason(token, keys, NOW + LIFETIME + timedelta(seconds=31)) == "expired"
    _verify(token, keys, NOW - timedelta(seconds=29))
    assert _reason(token, keys, NOW - timedelta(seconds=31)) == "not_before"


def test_an_unknown_kid_is_its_own_error_for_a_refetch() -> None:
    keys = _keys()
    with pytest.raises(UnknownKeyId) as caught:
        _verify(_issue(_keys("elsewhere")), keys)
    assert caught.value.kid == "elsewhere" and "refetch" in (caught.value.hint or "")


def test_rotation_keeps_a_token_in_flight_valid_until_it_expires() -> None:
    keys = _keys("k1")
    in_flight = _issue(keys)
    later = NOW + timedelta(minutes=10)
    rotated = rotate(keys, new_signing_key(later, "k2"), later, LIFETIME)
    assert rotated.current.kid == "k2"
    _verify(in_flight, rotated, later)  # signed by k1, still published
    assert _verify(_issue(rotated, later), rotated, later)  # new tokens are signed by k2
    assert _parts(_issue(rotated, later))[0]["kid"] == "k2"


def test_a_retired_key_is_dropped_past_the_longest_lifetime_and_its_tokens_fail() -> None:
    keys = _keys("k1")
    token = _issue(keys)
    rotated = rotate(keys, new_signing_key(NOW, "k2"), NOW, LIFETIME)
    assert [k.kid for k in prune(rotated, NOW + LIFETIME, LIFETIME).all()] == ["k2", "k1"]
    dropped = prune(rotated, NOW + LIFETIME + timedelta(seconds=1), LIFETIME)
    assert [k.kid for k in dropped.all()] == ["k2"]
    with pytest.raises(UnknownKeyId):
        _verify(token, dropped, NOW + timedelta(minutes=1))


def test_malformed_tokens_are_refused() -> None:
    keys = _keys()
    for token in ("", "abc", "a.b", "!!.b.c", "x" * 9000):
        assert _reason(token, keys) == "malformed"


def test_a_key_set_survives_its_stored_form() -> None:
    keys = rotate(_keys("k1"), new_signing_key(NOW, "k2"), NOW, LIFETIME)
    again = KeySet.from_dict(json.loads(json.dumps(keys.to_dict())))
    assert again == keys
    _verify(_issue(keys), again)
