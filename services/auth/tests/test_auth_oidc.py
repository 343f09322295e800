"""The OpenID Connect rules, pure: ID token checks, claims -> identity, return paths, the dev sign-in guard."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from strix_auth import oidc
from strix_auth.options import AuthSettingsError, auth_options, dev_sign_in_enabled
from strix_contracts.errors import QueryError, Unauthorized
from strix_runtime.settings import StrixSettings
from strix_tokens.access import UnknownKeyId
from strix_tokens.redirects import safe_return_to

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ISSUER = "https://id.example.test/realms/strix"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
JWKS = {"keys": [KEY.as_dict(private=False)]}


def claims(**changes: Any) -> dict[str, Any]:
    base = {
        "iss": ISSUER,
        "aud": "strix",
        "sub": "u-1",
        "iat": int(NOW.timestamp()),
        "exp": int((NOW + timedelta(minutes=5)).timestamp()),
        "nonce": "n-1",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def signed(body: dict[str, Any], header: dict[str, Any] | None = None, key: Any = KEY) -> str:
    return jwt.encode(header or {"alg": "RS256", "kid": "k1"}, body, key)


def verify(token: str, jwks: dict[str, Any] = JWKS, nonce: str = "n-1", now: datetime = NOW) -> dict[str, Any]:
    return oidc.verify_id_token(token, jwks, issuer=ISSUER, client_id="strix", nonce=nonce, now=now)


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_good_id_token_verifies() -> None:
    assert verify(signed(claims()))["sub"] == "u-1"
    assert verify(signed(claims(aud=["strix", "other"], azp="strix")))["sub"] == "u-1"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"iss": ISSUER + "/"}, "issuer"),  # exact match: a trailing slash is another issuer
        ({"aud": "someone-else"}, "audience"),
        ({"aud": ["strix", "other"]}, "azp"),
        ({"aud": ["strix", "other"], "azp": "other"}, "azp"),
        ({"exp": int((NOW - timedelta(minutes=2)).timestamp())}, "expired"),
        ({"iat": int((NOW + timedelta(minutes=5)).timestamp())}, "future"),
        ({"nonce": "n-2"}, "nonce"),
        ({"nonce": None}, "nonce"),
        ({"sub": None}, "sub"),
        ({"exp": None}, "exp"),
    ],
)
def test_id_token_claims_that_do_not_hold_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(Unauthorized, match=message):
        verify(signed(claims(**changes)))


def test_unsigned_symmetric_and_forged_id_tokens_are_refused() -> None:
    body = claims()
    with pytest.raises(Unauthorized, match="algorithm 'none'"):
        verify(f"{b64({'alg': 'none', 'kid': 'k1'})}.{b64(body)}.")
    # HS256 with the public key's modulus (or the client secret) as the HMAC secret: refused before any key is used
    hmac_key = OctKey.import_key(b"strix-test-secret" * 2)
    with pytest.raises(Unauthorized, match="algorithm 'HS256'"):
        verify(signed(body, {"alg": "HS256", "kid": "k1"}, hmac_key))
    other = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
    with pytest.raises(Unauthorized, match="signature"):
        verify(signed(body, key=other))
    header, _payload, signature = signed(body).split(".")
    with pytest.raises(Unauthorized, match="signature"):
        verify(f"{header}.{b64({**body, 'sub': 'admin'})}.{signature}")
    with pytest.raises(Unauthorized, match="not a signed JWT"):
        verify("abc")


def test_an_unknown_key_asks_for_a_refetch() -> None:
    with pytest.raises(UnknownKeyId):
        verify(signed(claims(), {"alg": "RS256", "kid": "k9"}))
    private_only = {"keys": [KEY.as_dict(private=True)]}  # a JWKS entry with a private part is never used
    with pytest.raises(UnknownKeyId):
        verify(signed(claims()), private_only)


def test_claims_map_to_an_identity_by_settings() -> None:
    settings = oidc.OidcSettings(
        issuer=ISSUER,
        client_id="strix",
        roles={"realm_access.roles": {"strix-admin": ["admin"]}, "groups": {"ops": ["operator"]}},
        default_roles=("member",),
        attributes={"brand": "brand", "tenant.id": "tenant"},
        role_scopes={"admin": ["admin"], "operator": ["write"]},
    )
    who = oidc.identity(
        {
            "sub": "u-1",
            "realm_access": {"roles": ["strix-admin"]},
            "groups": "ops",
            "brand": ["b", "a"],
            "tenant": {"id": "t"},
        },
        settings,
    )
    assert who == oidc.Identity(
        subject="u-1",
        roles=("admin", "member", "operator"),
        scopes=("admin", "read", "write"),
        attributes={"brand": ("a", "b"), "tenant": ("t",)},
    )
    nobody = oidc.identity({"sub": "u-2"}, settings)
    assert (nobody.roles, nobody.scopes, nobody.attributes) == (("member",), ("read",), {})


def test_the_authorization_request_carries_pkce_state_and_nonce() -> None:
    settings = oidc.OidcSettings(issuer=ISSUER, client_id="strix")
    pending = oidc.new_pending("https://strix.test/auth/callback", "/x", NOW)
    query = parse_qs(urlsplit(oidc.authorize_url(ISSUER + "/auth?prompt=login", settings, pending)).query)
    assert query["state"] == [pending.state] and query["nonce"] == [pending.nonce]
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0] != pending.code_verifier
    assert query["prompt"] == ["login"] and query["scope"] == ["openid profile email"]
    assert 43 <= len(pending.code_verifier) <= 128
    assert oidc.new_pending("r", "/", NOW).state != pending.state


def test_callback_checks() -> None:
    assert oidc.check_callback(None, None, ISSUER, "c", ISSUER) == "c"
    assert oidc.check_callback(None, None, None, "c", ISSUER) == "c"  # iss is optional (RFC 9207)
    with pytest.raises(Unauthorized, match=r"names issuer 'https://evil\.test'") as caught:
        oidc.check_callback(None, None, "https://evil.test", "c", ISSUER)
    assert "mix-up" in (caught.value.hint or "")
    with pytest.raises(QueryError):
        oidc.check_callback(None, None, None, None, ISSUER)
    with pytest.raises(Unauthorized):
        oidc.check_state("short")
    pending = oidc.new_pending("r", "/", NOW)
    with pytest.raises(Unauthorized, match="expired"):
        oidc.check_pending(pending, NOW + oidc.PENDING_LIFETIME + timedelta(seconds=1))
    assert oidc.check_pending(pending, NOW + timedelta(minutes=9)) == pending


@pytest.mark.parametrize("target", ["/", "/dashboards/7?tab=a#top", "/a/b%2Fc"])
def test_paths_of_this_site_are_returned_to(target: str) -> None:
    assert safe_return_to(target) == target


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.test",
        "//evil.test",
        "/\\evil.test",
        "\\\\evil.test",
        "http:/evil.test",
        "evil",
        "/a\nb",
        "/" * 3000,
    ],
)
def test_other_origins_are_refused(target: str) -> None:
    with pytest.raises(QueryError):
        safe_return_to(target)


def test_dev_sign_in_defaults_to_embedded_only() -> None:
    assert dev_sign_in_enabled(None, embedded=True, default_on=True) is True
    assert dev_sign_in_enabled(None, embedded=False, default_on=False) is False  # strix serve auth
    assert dev_sign_in_enabled(True, embedded=False, default_on=False) is True  # asked for by name
    assert dev_sign_in_enabled(False, embedded=True, default_on=True) is False
    with pytest.raises(AuthSettingsError, match="STRIX_DEV_SIGN_IN=true"):
        dev_sign_in_enabled(None, embedded=False, default_on=True)  # strix up against a shared NATS server


def test_auth_options_from_settings() -> None:
    settings = StrixSettings(
        oidc_issuer=ISSUER,
        oidc_client_id="strix",
        oidc_client_secret="s3cret",
        oidc_roles={"groups": {"admins": ["admin"]}},
        oidc_attributes={"brand": "brand"},
    )
    options = auth_options(settings, embedded=False, default_dev_sign_in=False)
    assert options.dev_sign_in is False and options.oidc is not None
    assert (options.oidc.issuer, options.oidc.client_secret, options.oidc.attributes) == (
        ISSUER,
        "s3cret",
        {"brand": "brand"},
    )
    with pytest.raises(AuthSettingsError, match="CLIENT_ID"):
        auth_options(StrixSettings(oidc_issuer=ISSUER), embedded=True, default_dev_sign_in=True)
    with pytest.raises(AuthSettingsError, match="openid"):
        auth_options(
            StrixSettings(oidc_issuer=ISSUER, oidc_client_id="x", oidc_scopes=["profile"]),
            embedded=True,
            default_dev_sign_in=True,
        )
