"""The caller verifier against a real NATS server and a real auth service: tokens, API keys, the JWKS cache."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS
from pydantic import BaseModel

from strix_auth.app import AuthOptions, run_auth
from strix_config import load_catalog
from strix_contracts.errors import Unauthorized, Unavailable
from strix_runtime.callers import CallerVerifier, Credential, credential_from_headers
from strix_runtime.natsserver import NatsServer
from strix_tokens import messages
from strix_tokens.access import issue_access_token
from strix_tokens.keys import KeySet, new_signing_key
from tests.conftest import EXAMPLE_CONFIGS


async def call(nc: NATS, subject: str, body: dict[str, Any] | BaseModel | None = None) -> dict[str, Any]:
    data = body.model_dump_json().encode() if isinstance(body, BaseModel) else json.dumps(body or {}).encode()
    reply = await nc.request(subject, data, timeout=5)
    assert not (reply.headers and reply.headers.get("Nats-Service-Error-Code")), reply.data
    answer: dict[str, Any] = json.loads(reply.data)
    return answer


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[NATS]:
    connection = await nats.connect(nats_server.url)
    yield connection
    await connection.close()


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as s:
        yield s


async def dev_token(nc: NATS, **body: Any) -> str:
    pair = await call(nc, messages.AUTH_TOKEN_DEV, {"user": "ada", **body})
    token: str = pair["access_token"]
    return token


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_one_credential_per_request_is_read_from_any_of_its_headers() -> None:
    assert credential_from_headers({}) is None
    assert credential_from_headers({"Authorization": "Bearer abc.def.ghi"}) == Credential("token", "abc.def.ghi")
    assert credential_from_headers({"authorization": "bearer strix_x"}) == Credential("api_key", "strix_x")
    assert credential_from_headers({"X-API-Key": "strix_y"}) == Credential("api_key", "strix_y")
    assert credential_from_headers({"x-strix-link": "l1"}) == Credential("link", "l1")
    with pytest.raises(Unauthorized, match="more than one credential"):
        credential_from_headers({"Authorization": "Bearer a.b.c", "X-API-Key": "strix_y"})
    with pytest.raises(Unauthorized, match="not a Bearer credential"):
        credential_from_headers({"Authorization": "Basic dXNlcjpwYXNz"})


async def test_tokens_verify_and_every_defect_is_refused_by_name(nc: NATS, stack: AsyncExitStack) -> None:
    await stack.enter_async_context(run_auth(nc, AuthOptions(dev_sign_in=True)))
    verifier = CallerVerifier(nc)
    token = await dev_token(nc, roles=["analyst"], scopes=["read"])
    caller = await verifier.caller({"Authorization": f"Bearer {token}"})
    assert caller is not None
    assert (caller.subject, caller.kind, caller.roles, caller.scopes) == ("ada", "user", ("analyst",), ("read",))

    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    kid = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
    widened = b64({**claims, "scopes": ["admin"]})
    forged_key = KeySet(new_signing_key(datetime.now(UTC), kid=kid))
    now = datetime.now(UTC)
    forged, _ = issue_access_token(
        forged_key,
        issuer="strix",
        audience="strix",
        subject="eve",
        roles=[],
        scopes=["admin"],
        now=now,
        lifetime=timedelta(minutes=5),
    )
    cases = {
        "signature": f"{header}.{widened}.{signature}",  # claims changed under the real signature
        "forged": forged,  # signed by another key that claims the real key's id
        "algorithm": f"{b64({'alg': 'none', 'kid': kid})}.{widened}.",
        "hs256": f"{b64({'alg': 'HS256', 'kid': kid})}.{widened}.{signature}",
        "malformed": "not-a-token",
    }
    expected = {
        "signature": "signature",
        "forged": "signature",
        "algorithm": "algorithm",
        "hs256": "algorithm",
        "malformed": "not a signed JWT",
    }
    for name, bad in cases.items():
        with pytest.raises(Unauthorized, match=expected[name]):
            await verifier.caller({"Authorization": f"Bearer {bad}"})
    assert verifier.jwks.fetches == 1  # one JWKS fetch served all of them


async def test_expired_wrong_audience_and_wrong_issuer(nats_server: NatsServer, stack: AsyncExitStack) -> None:
    past = datetime.now(UTC) - timedelta(hours=1)
    cases = [
        (AuthOptions(dev_sign_in=True, clock=lambda: past), "expired"),
        (AuthOptions(dev_sign_in=True, audience="elsewhere"), "audience"),
        (AuthOptions(dev_sign_in=True, issuer="someone-else"), "issuer"),
    ]
    for options, reason in cases:
        async with AsyncExitStack() as inner:
            nc = await nats.connect(nats_server.url)
            inner.push_async_callback(nc.close)
            await inner.enter_async_context(run_auth(nc, options))
            token = await dev_token(nc)
            with pytest.raises(Unauthorized, match=reason):
                await CallerVerifier(nc).caller({"authorization": f"Bearer {token}"})


async def test_a_rotated_key_is_fetched_once_and_the_cache_serves_the_rest(nc: NATS, stack: AsyncExitStack) -> None:
    await stack.enter_async_context(run_auth(nc, AuthOptions(dev_sign_in=True)))
    verifier = CallerVerifier(nc)
    before = await dev_token(nc)
    assert await verifier.caller({"Authorization": f"Bearer {before}"}) is not None
    await call(nc, messages.AUTH_SIGNING_ROTATE)
    after = await dev_token(nc)
    for _ in range(3):
        assert await verifier.caller({"Authorization": f"Bearer {after}"}) is not None
        assert await verifier.caller({"Authorization": f"Bearer {before}"}) is not None
    assert verifier.jwks.fetches == 2


async def test_api_keys_verify_and_a_revoked_key_fails_at_once(nc: NATS, stack: AsyncExitStack) -> None:
    await stack.enter_async_context(run_auth(nc, AuthOptions()))
    verifier = CallerVerifier(nc)
    created = await call(nc, messages.AUTH_KEYS_CREATE, {"name": "producer", "scopes": ["write"]})
    caller = await verifier.caller({"X-API-Key": created["key"]})
    assert caller is not None and (caller.kind, caller.scopes) == ("api_key", ("write",))
    assert caller.subject == f"apikey:{created['id']}"
    await call(nc, messages.AUTH_KEYS_REVOKE, {"id": created["id"]})
    with pytest.raises(Unauthorized, match="revoked"):
        await verifier.caller({"Authorization": f"Bearer {created['key']}"})
    wrong_secret = created["key"][:-4] + ("AAAA" if not created["key"].endswith("AAAA") else "BBBB")
    with pytest.raises(Unauthorized, match="does not match"):
        await verifier.caller({"X-API-Key": wrong_secret})
    with pytest.raises(Unauthorized, match="unknown API key"):
        await verifier.caller({"X-API-Key": "strix_0123456789abcdef_" + "A" * 43})
    with pytest.raises(Unauthorized, match="not a Strix API key"):
        await verifier.caller({"X-API-Key": "strix_nonsense"})


async def test_without_an_auth_service_credentials_are_unavailable_not_accepted(nc: NATS) -> None:
    verifier = CallerVerifier(nc, request_timeout=1)
    with pytest.raises(Unavailable, match="no auth service is running"):
        await verifier.caller({"X-API-Key": "strix_0123456789abcdef_" + "A" * 43})
    with pytest.raises(Unavailable, match="no auth service is running"):
        await verifier.caller({"Authorization": "Bearer a.b.c"})
    assert await verifier.caller({}) is None


async def test_a_public_link_resolves_to_a_read_only_caller_of_its_dashboard(nc: NATS, stack: AsyncExitStack) -> None:
    from strix_contracts import dashboards as contract
    from strix_contracts.caller import Caller
    from strix_dashboards.app import run_dashboards

    await stack.enter_async_context(run_dashboards(nc, load_catalog(EXAMPLE_CONFIGS)))
    owner = Caller(subject="ada", kind="user", scopes=("read",))
    panel = contract.Panel(
        id="p1",
        query=contract.PanelQuery(module="clickstream", metrics=["events"]),
        visualization="kpi",
        layout=contract.Layout(x=0, y=0, w=4, h=2),
    )
    content = contract.DashboardContent(title="Traffic", panels=[panel])
    created = await call(nc, contract.DASHBOARDS_CREATE, contract.CreateDashboard(caller=owner, content=content))
    ref = contract.DashboardRef(caller=owner, id=created["id"])
    link = await call(nc, contract.DASHBOARDS_LINK_CREATE, ref)
    verifier = CallerVerifier(nc)
    caller = await verifier.caller({"X-Strix-Link": link["token"]})
    assert caller is not None
    assert (caller.kind, caller.dashboard, caller.scopes) == ("public_link", created["id"], ("read:clickstream",))
    assert not caller.may("write") and not caller.is_admin
    await call(nc, contract.DASHBOARDS_LINK_REVOKE, ref)
    with pytest.raises(Unauthorized, match="unknown or revoked"):
        await verifier.caller({"X-Strix-Link": link["token"]})
    with pytest.raises(Unauthorized, match="unknown or revoked"):
        await verifier.caller({"X-Strix-Link": "never-issued"})
