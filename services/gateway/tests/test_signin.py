"""Sign-in over HTTP against a real OpenID provider (oidc-provider on node), a real NATS server and the real auth
service: the browser's whole round trip, refresh, sign-out, both key rotations, and every tampered callback."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

import httpx
import nats
import pytest
import uvicorn
from fastapi import FastAPI

from strix_auth import oidc
from strix_auth.app import Auth, AuthOptions, run_auth
from strix_auth.provider import OidcProvider, open_http
from strix_gateway.signin import REFRESH_COOKIE, SignInOptions, signin_router
from strix_runtime.callers import CallerVerifier
from strix_runtime.natsserver import NatsServer
from strix_testkit.oidc import CLIENT_ID, CLIENT_SECRET, USERS, OidcTestProvider, oidc_provider
from strix_tokens.access import verify_access_token


@dataclass
class Site:
    base: str
    auth: Auth
    provider: OidcTestProvider
    verifier: CallerVerifier

    @property
    def callback(self) -> str:
        return f"{self.base}/auth/callback"


def settings_for(issuer: str) -> oidc.OidcSettings:
    return oidc.OidcSettings(
        issuer=issuer,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        name="Test provider",
        scopes=("openid", "profile", "email", "groups"),
        roles={"groups": {"strix-admins": ["admin"], "analysts": ["analyst"], "operators": ["operator"]}},
        attributes={"brand": "brand"},
    )


async def serve(app: FastAPI, stack: AsyncExitStack) -> str:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve())

    async def stop() -> None:
        server.should_exit = True
        await task

    stack.push_async_callback(stop)
    while not server.started:
        assert not task.done(), "the test HTTP server did not start"
        await asyncio.sleep(0.01)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    return f"http://{host}:{port}"


@pytest.fixture
async def site(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[Site]:
    async with AsyncExitStack() as stack:
        provider = stack.enter_context(oidc_provider(tmp_path / "provider"))
        nc = await nats.connect(nats_server.url)
        stack.push_async_callback(nc.close)
        auth = await stack.enter_async_context(
            run_auth(nc, AuthOptions(dev_sign_in=False, oidc=settings_for(provider.issuer)))
        )
        verifier = CallerVerifier(nc)
        app = FastAPI()
        app.include_router(signin_router(nc, verifier))
        base = await serve(app, stack)
        provider.register_redirect(f"{base}/auth/callback")
        yield Site(base, auth, provider, verifier)


@pytest.fixture
async def browser() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=15) as client:
        yield client


async def through_provider(browser: httpx.AsyncClient, authorize_url: str, site: Site, user: str = "ada") -> str:
    """The user signs in at the provider's form; returns the callback URL the provider redirects to (not opened)."""
    url = authorize_url
    response = await browser.get(url)
    while response.status_code in (302, 303):
        url = urljoin(url, response.headers["location"])
        if url.startswith(site.callback):
            return url
        response = await browser.get(url)
    assert response.status_code == 200, response.text
    action = re.search(r'action="([^"]+)"', response.text)
    assert action is not None, response.text
    url = urljoin(url, action.group(1))
    response = await browser.post(url, data={"login": user, "password": USERS[user]})
    while response.status_code in (302, 303):
        url = urljoin(url, response.headers["location"])
        if url.startswith(site.callback):
            return url
        response = await browser.get(url)
    raise AssertionError(f"the provider did not send the browser back: {response.status_code} {response.text[:300]}")


async def begin(browser: httpx.AsyncClient, site: Site, return_to: str = "/dashboards/7?tab=a") -> str:
    response = await browser.get(f"{site.base}/auth/login", params={"return_to": return_to})
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(site.provider.issuer + "/auth?")
    return location


async def sign_in(browser: httpx.AsyncClient, site: Site, user: str = "ada") -> httpx.Response:
    callback = await through_provider(browser, await begin(browser, site), site, user)
    return await browser.get(callback)


async def access_token(browser: httpx.AsyncClient, site: Site) -> httpx.Response:
    return await browser.post(f"{site.base}/auth/token", json={})


async def jwks(browser: httpx.AsyncClient, site: Site) -> dict[str, Any]:
    response = await browser.get(f"{site.base}/.well-known/jwks.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


async def replay_cookie(site: Site, refresh_cookie: str) -> httpx.Response:
    """POST /auth/token from another browser holding `refresh_cookie` (a thief, or the same user replaying)."""
    async with httpx.AsyncClient(cookies={REFRESH_COOKIE: refresh_cookie}) as other:
        return await other.post(f"{site.base}/auth/token", json={})


def with_param(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def error_of(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


async def test_sign_in_through_the_provider_gives_a_strix_session(site: Site, browser: httpx.AsyncClient) -> None:
    assert (await browser.get(f"{site.base}/auth/config")).json() == {"provider": "Test provider", "dev_sign_in": False}
    signed = await sign_in(browser, site)
    assert signed.status_code == 302 and signed.headers["location"] == "/dashboards/7?tab=a"
    cookie = signed.headers["set-cookie"]
    assert cookie.startswith(f"{REFRESH_COOKIE}=srt_")
    assert all(part in cookie for part in ("HttpOnly", "Path=/auth", "SameSite=strict")), cookie
    assert "Secure" not in cookie  # served over http here; over https it is Secure (the last test)

    answer = await access_token(browser, site)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"access_token", "token_type", "expires_in"} and body["expires_in"] == 900
    claims = verify_access_token(
        body["access_token"], await jwks(browser, site), issuer="strix", audience="strix", now=datetime.now(UTC)
    )
    # ada: groups analysts + strix-admins, brand [acme] at the provider
    assert claims.sub == "ada"
    assert claims.roles == ("admin", "analyst")
    assert claims.scopes == ("admin", "read")
    assert claims.attributes == {"brand": ("acme",)}


async def test_a_user_without_mapped_groups_gets_read_only(site: Site, browser: httpx.AsyncClient) -> None:
    await sign_in(browser, site, "bob")
    body = (await access_token(browser, site)).json()
    claims = verify_access_token(
        body["access_token"], await jwks(browser, site), issuer="strix", audience="strix", now=datetime.now(UTC)
    )
    assert (claims.sub, claims.roles, claims.scopes) == ("bob", ("operator",), ("read",))
    assert claims.attributes == {"brand": ("globex",)}  # a string claim becomes a one-value attribute


async def test_refresh_rotates_the_cookie_and_sign_out_revokes(site: Site, browser: httpx.AsyncClient) -> None:
    await sign_in(browser, site)
    first_cookie = browser.cookies[REFRESH_COOKIE]
    assert (await access_token(browser, site)).status_code == 200
    second_cookie = browser.cookies[REFRESH_COOKIE]
    assert second_cookie != first_cookie
    assert (await access_token(browser, site)).status_code == 200
    # sign-out revokes the whole sign-in: the current cookie, replayed, no longer refreshes
    current = browser.cookies[REFRESH_COOKIE]
    out = await browser.post(f"{site.base}/auth/signout", json={})
    assert out.json() == {"revoked": True}
    assert REFRESH_COOKIE not in browser.cookies
    replayed = await replay_cookie(site, current)
    assert replayed.status_code == 401 and "revoked" in error_of(replayed)["message"]
    no_cookie = await access_token(browser, site)
    assert no_cookie.status_code == 401 and "not signed in" in error_of(no_cookie)["message"]


async def test_a_stolen_refresh_cookie_used_twice_ends_the_sign_in(site: Site, browser: httpx.AsyncClient) -> None:
    await sign_in(browser, site)
    stolen = browser.cookies[REFRESH_COOKIE]
    assert (await access_token(browser, site)).status_code == 200  # the user refreshes: the stolen one is spent
    thief = await replay_cookie(site, stolen)
    assert thief.status_code == 401 and "already used" in error_of(thief)["message"]
    user = await browser.post(f"{site.base}/auth/token", json={})  # the family is revoked for the user too
    assert user.status_code == 401


async def test_token_and_signout_refuse_bodies_a_cross_site_form_can_send(
    site: Site, browser: httpx.AsyncClient
) -> None:
    await sign_in(browser, site)
    before = browser.cookies[REFRESH_COOKIE]
    for path in ("/auth/token", "/auth/signout"):
        for content_type, body in (
            ("application/x-www-form-urlencoded", "a=b"),
            ("text/plain", "{}"),
            ("multipart/form-data; boundary=x", "--x--"),
        ):
            refused = await browser.post(f"{site.base}{path}", content=body, headers={"content-type": content_type})
            assert refused.status_code == 400, (path, content_type)
            assert error_of(refused)["argument"] == "Content-Type"
    assert browser.cookies[REFRESH_COOKIE] == before  # nothing rotated, nothing revoked
    assert (await access_token(browser, site)).status_code == 200


async def test_open_redirects_are_refused(site: Site, browser: httpx.AsyncClient) -> None:
    for target in ("https://evil.test/", "//evil.test/x", "/\\evil.test", "javascript:alert(1)", "evil.test"):
        refused = await browser.get(f"{site.base}/auth/login", params={"return_to": target})
        assert refused.status_code == 400, target
        assert error_of(refused)["argument"] == "return_to"
    # the auth service refuses it too, whoever asks it directly
    with pytest.raises(Exception, match="not a path of this site"):
        from strix_tokens import messages

        await site.auth.oidc_begin(messages.OidcBegin(return_to="https://evil.test", redirect_uri=site.callback))


async def test_a_replayed_callback_is_refused(site: Site, browser: httpx.AsyncClient) -> None:
    callback = await through_provider(browser, await begin(browser, site), site)
    assert (await browser.get(callback)).status_code == 302
    replayed = await browser.get(callback)
    assert replayed.status_code == 401
    assert "already used" in error_of(replayed)["message"] and error_of(replayed)["argument"] == "state"
    assert "set-cookie" not in replayed.headers


async def test_tampered_callbacks_are_refused_each_with_its_reason(site: Site, browser: httpx.AsyncClient) -> None:
    cases = {
        "code": ({"code": "not-the-code"}, "provider refused the code"),
        "iss": ({"iss": "http://127.0.0.1:1"}, "names issuer"),
        "state": ({"state": "A" * 43}, "unknown, expired or already used"),
    }
    for name, (changes, message) in cases.items():
        callback = await through_provider(browser, await begin(browser, site), site)
        refused = await browser.get(with_param(callback, **changes))
        assert refused.status_code == 401, (name, refused.text)
        assert message in error_of(refused)["message"], (name, refused.text)
        assert "set-cookie" not in refused.headers
    # a callback whose state is not of our shape never reaches the store
    malformed = await browser.get(f"{site.callback}?state=a.b*c&code=x")
    assert malformed.status_code == 401 and error_of(malformed)["argument"] == "state"
    # the provider's own refusal is passed on
    callback = await through_provider(browser, await begin(browser, site), site)
    denied = await browser.get(with_param(callback, error="access_denied", error_description="user said no"))
    assert denied.status_code == 401 and "user said no" in error_of(denied)["message"]


async def test_a_browser_sees_a_page_it_can_act_on_when_sign_in_fails(site: Site, browser: httpx.AsyncClient) -> None:
    html = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    callback = await through_provider(browser, await begin(browser, site), site)
    replayed = with_param(callback, state="A" * 43)
    page = await browser.get(replayed, headers=html)
    assert page.status_code == 401 and page.headers["content-type"].startswith("text/html")
    assert "Sign-in failed" in page.text and "unknown, expired or already used" in page.text
    assert 'href="/auth/login?return_to=%2F"' in page.text and "set-cookie" not in page.headers
    # the provider's error_description is the visitor's input: shown, never run
    hostile = "<script>alert(1)</script>"
    denied = await browser.get(with_param(callback, error="access_denied", error_description=hostile), headers=html)
    assert denied.status_code == 401 and hostile not in denied.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in denied.text
    # a script asking for JSON still gets JSON
    assert error_of(await browser.get(replayed))["argument"] == "state"


async def test_an_id_token_with_another_nonce_is_refused(site: Site, browser: httpx.AsyncClient) -> None:
    authorize = await begin(browser, site)
    # an attacker's authorization request (its own nonce) completed under this browser's state
    callback = await through_provider(browser, with_param(authorize, nonce="attacker-nonce-" + "x" * 30), site)
    refused = await browser.get(callback)
    assert refused.status_code == 401 and "nonce does not match" in error_of(refused)["message"]


async def test_pkce_binds_the_code_to_this_sign_in(site: Site, browser: httpx.AsyncClient) -> None:
    authorize = await begin(browser, site)
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    # a code obtained with another verifier's challenge cannot be redeemed with this sign-in's verifier
    other = oidc.new_pending(site.callback, "/", datetime.now(UTC))
    from authlib.oauth2.rfc7636 import create_s256_code_challenge

    swapped = with_param(authorize, code_challenge=create_s256_code_challenge(other.code_verifier))
    refused = await browser.get(await through_provider(browser, swapped, site))
    assert refused.status_code == 401 and "provider refused the code" in error_of(refused)["message"]


async def test_provider_key_rotation_is_followed(site: Site, browser: httpx.AsyncClient, tmp_path: Path) -> None:
    await sign_in(browser, site)
    assert site.auth.provider is not None
    old_kids = [k["kid"] for k in (site.auth.provider.cached_jwks or {})["keys"]]
    # an ID token signed with the old key, obtained by a client of our own before the rotation
    async with open_http() as http:
        client = OidcProvider(site.auth.provider.settings, http)
        pending = oidc.new_pending(site.callback, "/", datetime.now(UTC))
        code = parse_qs(urlsplit(await through_provider(browser, await client.authorize_url(pending), site)).query)
        old_id_token = (await client.exchange(code["code"][0], pending))["id_token"]
        kids = site.provider.rotate_keys()
        assert kids[1:] == old_kids and kids[0] not in old_kids
        # sign-in after the rotation: the cached JWKS lacks the new key, so it is fetched once more
        signed = await sign_in(browser, site)
        assert signed.status_code == 302, signed.text
        assert [k["kid"] for k in (site.auth.provider.cached_jwks or {})["keys"]] == kids
        # the old key's ID token, within its life, still verifies against the rotated JWKS (fresh client)
        fresh = OidcProvider(site.auth.provider.settings, http)
        claims = await fresh.verify_id_token(old_id_token, pending, datetime.now(UTC))
        assert claims["sub"] == "ada" and oidc.id_token_header(old_id_token)["kid"] == old_kids[0]


async def test_strix_key_rotation_keeps_issued_tokens_valid(site: Site, browser: httpx.AsyncClient) -> None:
    await sign_in(browser, site)
    before = (await access_token(browser, site)).json()["access_token"]
    rotated = await site.auth.rotate()
    document = await jwks(browser, site)
    assert [k["kid"] for k in document["keys"]] == [rotated.kid, *rotated.kept]
    now = datetime.now(UTC)
    verify_access_token(before, document, issuer="strix", audience="strix", now=now)
    after = (await access_token(browser, site)).json()["access_token"]
    assert verify_access_token(after, document, issuer="strix", audience="strix", now=now).sub == "ada"
    assert oidc.id_token_header(after)["kid"] == rotated.kid != oidc.id_token_header(before)["kid"]


async def test_development_sign_in_is_off_here(site: Site, browser: httpx.AsyncClient) -> None:
    refused = await browser.post(f"{site.base}/auth/dev", json={"user": "mallory", "scopes": ["admin"]})
    assert refused.status_code == 403 and "development sign-in is off" in error_of(refused)["message"]


async def test_api_keys_need_an_admin_and_are_shown_once(site: Site, browser: httpx.AsyncClient) -> None:
    keys = f"{site.base}/auth/keys"
    assert (await browser.get(keys)).status_code == 401
    async with httpx.AsyncClient(timeout=15) as bobs_browser:  # another person, another browser
        await sign_in(bobs_browser, site, "bob")
        bob = (await access_token(bobs_browser, site)).json()["access_token"]
    forbidden = await browser.get(keys, headers={"authorization": f"Bearer {bob}"})
    assert forbidden.status_code == 403 and "admin" in error_of(forbidden)["message"]

    await sign_in(browser, site, "ada")
    admin = {"authorization": f"Bearer {(await access_token(browser, site)).json()['access_token']}"}
    spec = {
        "name": "acme feed",
        "scopes": ["write", "read:games"],
        "roles": ["operator"],
        "attributes": {"brand": ["acme"]},
    }
    created = await browser.post(keys, json=spec, headers=admin)
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    assert created.json()["roles"] == ["operator"] and created.json()["attributes"] == {"brand": ["acme"]}
    listed = (await browser.get(keys, headers=admin)).json()["keys"]
    assert [k["id"] for k in listed] == [created.json()["id"]] and key.split("_", 2)[2] not in str(listed)
    caller = await site.verifier.verify_api_key(key)
    assert (caller.subject, caller.roles, caller.scopes) == (
        f"apikey:{created.json()['id']}",
        ("operator",),
        ("read:games", "write"),
    )
    assert caller.attributes == {"brand": ("acme",)}
    bad_scope = await browser.post(keys, json={"name": "x", "scopes": ["root"]}, headers=admin)
    assert bad_scope.status_code == 400 and error_of(bad_scope)["argument"] == "scopes"
    form = await browser.post(
        keys, content="name=x", headers={**admin, "content-type": "application/x-www-form-urlencoded"}
    )
    assert form.status_code == 400
    revoked = await browser.delete(f"{keys}/{created.json()['id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    with pytest.raises(Exception, match="revoked"):
        await site.verifier.verify_api_key(key)
    assert (await browser.delete(f"{keys}/{'0' * 16}", headers=admin)).status_code == 404


async def test_development_sign_in_over_https_sets_a_secure_cookie(nats_server: NatsServer) -> None:
    async with AsyncExitStack() as stack:
        nc = await nats.connect(nats_server.url)
        stack.push_async_callback(nc.close)
        await stack.enter_async_context(run_auth(nc, AuthOptions(dev_sign_in=True)))
        app = FastAPI()
        app.include_router(
            signin_router(nc, CallerVerifier(nc), SignInOptions(public_url="https://strix.example.test"))
        )
        base = await serve(app, stack)
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{base}/auth/config")).json() == {"provider": None, "dev_sign_in": True}
            answer = await client.post(f"{base}/auth/dev", json={"user": "me", "roles": ["operator"]})
            assert answer.status_code == 200, answer.text
            cookie = answer.headers["set-cookie"]
            assert "Secure" in cookie and "HttpOnly" in cookie and "Path=/auth" in cookie
            jwks_document = (await client.get(f"{base}/.well-known/jwks.json")).json()
            claims = verify_access_token(
                answer.json()["access_token"], jwks_document, issuer="strix", audience="strix", now=datetime.now(UTC)
            )
            assert (claims.sub, claims.roles, claims.scopes) == ("me", ("operator",), ("read", "write"))
            refused = await client.get(f"{base}/auth/login")
            assert refused.status_code == 403 and "no OpenID Connect provider" in error_of(refused)["message"]
            form = await client.post(f"{base}/auth/dev", content="user=admin", headers={"content-type": "text/plain"})
            assert form.status_code == 400
