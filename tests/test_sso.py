"""SSO end to end through the platform's one HTTP app: a user signs in at a real OpenID provider (oidc-provider on
node), the provider's admin group makes them a Strix admin, they create a producer API key that ingestion accepts,
and revoking it or signing out takes effect at once."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from strix.platform import Platform, PlatformOptions, run_platform
from strix_auth.app import AuthOptions
from strix_auth.oidc import OidcSettings
from strix_config import load_catalog
from strix_runtime.natsserver import NatsServer
from strix_testkit.oidc import CLIENT_ID, CLIENT_SECRET, USERS, OidcTestProvider, oidc_provider

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


@dataclass
class Running:
    platform: Platform
    provider: OidcTestProvider

    @property
    def url(self) -> str:
        return self.platform.http_url


@pytest.fixture
async def running(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[Running]:
    with oidc_provider(tmp_path / "provider") as provider:
        settings = OidcSettings(
            issuer=provider.issuer,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            name="Test provider",
            scopes=("openid", "profile", "groups"),
            roles={"groups": {"strix-admins": ["admin"]}},
        )
        options = PlatformOptions(
            catalog=load_catalog(CONFIGS),
            data_dir=tmp_path / "data",
            services=("ingestion", "gateway", "auth"),
            nats_url=nats_server.url,
            port=0,
            auth=AuthOptions(oidc=settings),
        )
        async with run_platform(options) as platform:
            provider.register_redirect(f"{platform.http_url}/auth/callback")
            yield Running(platform, provider)


async def sign_in(browser: httpx.AsyncClient, site: Running, user: str) -> str:
    """Through the provider's login form, back to Strix; returns the access token."""
    response = await browser.get(f"{site.url}/auth/login", params={"return_to": "/"})
    url = response.headers["location"]
    response = await browser.get(url)
    while response.status_code in (302, 303):
        url = urljoin(url, response.headers["location"])
        response = await browser.get(url)
    action = re.search(r'action="([^"]+)"', response.text)
    assert action is not None, response.text
    url = urljoin(url, action.group(1))
    response = await browser.post(url, data={"login": user, "password": USERS[user]})
    while response.status_code in (302, 303) and not url.startswith(f"{site.url}/auth/callback"):
        url = urljoin(url, response.headers["location"])
        response = await browser.get(url)
    assert url.startswith(f"{site.url}/auth/callback") and response.status_code == 302, response.text
    assert response.headers["location"] == "/"
    token = await browser.post(f"{site.url}/auth/token", json={})
    assert token.status_code == 200, token.text
    access: str = token.json()["access_token"]
    return access


EVENT = {
    "event_id": "e-1",
    "ts": "2026-11-22T10:15:00+02:00",
    "customer_id": "c1",
    "session_id": "s1",
    "action": "purchase",
    "product_group": "books",
    "product_id": "boo-0001",
    "country": "FI",
    "price": "12.50",
    "quantity": 2,
}


async def test_an_sso_admin_issues_a_producer_key_ingestion_accepts(running: Running) -> None:
    async with httpx.AsyncClient(timeout=15) as browser:
        config = await browser.get(f"{running.url}/auth/config")
        assert config.json() == {"provider": "Test provider", "dev_sign_in": False}
        token = await sign_in(browser, running, "ada")
        admin = {"authorization": f"Bearer {token}"}
        created = await browser.post(
            f"{running.url}/auth/keys", json={"name": "feed", "scopes": ["write"]}, headers=admin
        )
        assert created.status_code == 201, created.text
        key = created.json()["key"]
        events = f"{running.url}/v1/modules/clickstream/events"
        stored = await browser.post(events, json=[EVENT], headers={"x-api-key": key})
        assert stored.status_code == 200, stored.text
        assert stored.json()["accepted"] == 1
        revoked = await browser.delete(f"{running.url}/auth/keys/{created.json()['id']}", headers=admin)
        assert revoked.status_code == 200
        refused = await browser.post(events, json=[{**EVENT, "event_id": "e-2"}], headers={"x-api-key": key})
        assert refused.status_code == 401 and "revoked" in refused.text

        # sign-out: the refresh cookie no longer gives access tokens
        assert (await browser.post(f"{running.url}/auth/signout", json={})).json() == {"revoked": True}
        assert (await browser.post(f"{running.url}/auth/token", json={})).status_code == 401


async def test_a_user_outside_the_admin_group_cannot_manage_keys(running: Running) -> None:
    async with httpx.AsyncClient(timeout=15) as browser:
        token = await sign_in(browser, running, "bob")
        refused = await browser.get(f"{running.url}/auth/keys", headers={"authorization": f"Bearer {token}"})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"
        assert (
            await browser.post(f"{running.url}/auth/dev", json={"user": "bob", "scopes": ["admin"]})
        ).status_code == 403
