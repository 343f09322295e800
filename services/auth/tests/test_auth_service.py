"""The strix-auth service against a real NATS server: tokens, refresh rotation, sign-out, API keys, replicas."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS

from strix_auth.app import Auth, AuthOptions, run_auth
from strix_contracts.errors import Forbidden, NotFound, QueryError, StrixError, Unauthorized, error_from_json
from strix_runtime.natsserver import NatsServer
from strix_tokens import messages
from strix_tokens.access import InvalidToken, UnknownKeyId, verify_access_token


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def _call(nc: NATS, subject: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    reply = await nc.request(subject, json.dumps(body or {}).encode(), timeout=5)
    if reply.headers and reply.headers.get("Nats-Service-Error-Code"):
        raise error_from_json(reply.data)
    result: dict[str, Any] = json.loads(reply.data)
    return result


async def _start(stack: AsyncExitStack, server: NatsServer, options: AuthOptions) -> tuple[NATS, Auth]:
    nc = await nats.connect(server.url)
    stack.push_async_callback(nc.close)
    auth = await stack.enter_async_context(run_auth(nc, options))
    return nc, auth


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as s:
        yield s


async def test_dev_sign_in_issues_a_token_the_jwks_verifies(nats_server: NatsServer, stack: AsyncExitStack) -> None:
    clock = Clock()
    nc, _ = await _start(stack, nats_server, AuthOptions(dev_sign_in=True, clock=clock))
    pair = await _call(nc, messages.AUTH_TOKEN_DEV, {"user": "ada", "roles": ["admin", "reader"]})
    document = await _call(nc, messages.AUTH_JWKS)
    assert all("d" not in key for key in document["keys"])
    claims = verify_access_token(pair["access_token"], document, issuer="strix", audience="strix", now=clock.now)
    assert (claims.sub, claims.roles, claims.scopes) == ("ada", ("admin", "reader"), ("read", "write"))
    assert pair["expires_in"] == 900 and pair["token_type"] == "Bearer"


async def test_dev_sign_in_is_refused_unless_enabled(nats_server: NatsServer, stack: AsyncExitStack) -> None:
    nc, _ = await _start(stack, nats_server, AuthOptions())
    with pytest.raises(Forbidden, match="development sign-in is off"):
        await _call(nc, messages.AUTH_TOKEN_DEV, {"user": "ada"})


async def test_signing_keys_persist_across_restarts(nats_server: NatsServer, stack: AsyncExitStack) -> None:
    nc, _ = await _start(stack, nats_server, AuthOptions())
    first = await _call(nc, messages.AUTH_JWKS)
    await stack.aclose()
    async with AsyncExitStack() as again:
        nc2, _ = await _start(again, nats_server, AuthOptions())
        assert await _call(nc2, messages.AUTH_JWKS) == first


async def test_rotation_keeps_tokens_in_flight_valid(nats_server: NatsServer, stack: AsyncExitStack) -> None:
    clock = Clock()
    nc, _ = await _start(stack, nats_server, AuthOptions(dev_sign_in=True, clock=clock))
    old = (await _call(nc, messages.AUTH_TOKEN_DEV, {"user": "ada"}))["access_token"]
    clock.now += timedelta(minutes=5)
    rotated = await _call(nc, messages.AUTH_SIGNING_ROTATE)
    assert len(rotated["kept"]) == 1
    document = await _call(nc, messages.AUTH_JWKS)
    assert [k["kid"] for k in document["keys"]] == [rotated["kid"], rotated["kept"][0]]
    verify_access_token(old, document, issuer="strix", audience="strix", now=clock.now)
    new = (await _call(nc, messages.AUTH_TOKEN_DEV, {"user": "ada"}))["access_token"]
    verify_access_token(new, document, issuer="strix", audience="strix", now=clock.now)
    # past the longest token lifetime the retired key is gone from the JWKS, and so is its token
    clock.now += timedelta(minutes=16)
    later = await _call(nc, messages.AUTH_JWKS)
    assert [k["kid"] for k in later["keys"]] == [rotated["kid"]]
    with pytest.raises(UnknownKeyId):
        verify_access_token(old, later, issuer="strix", audience="strix", now=clock.now)


async def test_refresh_rotates_and_a_reused_token_revokes_its_family(
    nats_server: NatsServer, stack: AsyncExitStack
) -> None:
    nc, _ = await _start(stack, nats_server, AuthOptions(dev_sign_in=True))
    first = await _call(nc, messages.AUTH_TOKEN_DEV, {"user": "ada", "roles": ["reader"]})
    second = await _call(nc, messages.AUTH_TOKEN_REFRESH, {"refresh_token": first["refresh_token"]})
    assert second["refresh_token"] != first["refresh_token"]
    document = await _call(nc, messages.AUTH_JWKS)
    claims = verify_access_token(
        second["access_token"], document, issuer="strix", audience="strix", now=datetime.now(UTC)
    )
    assert claims.roles == ("reader",)
    with pytest.raises(Unauthorized, match="already used"):
        await _call(nc, messages.AUTH_TOKEN_REFRESH, {"refresh_token": first["refresh_token"]})
    # the thief's replay revoked the family: the legitimate, unspent token fails too
    with pytest.raises(Unauthorized, match="revoked"):
        await _call(nc, messages.AUTH_TOKEN_REFRESH, {"refresh_token": second["refresh_token"]})


async def test_sign_out_revokes_the_refresh_token(nats_server: NatsServer, stack: AsyncExitStack) -> None:
    nc, _ = await _start(stack, nats_server, AuthOptions(dev_sign_in=True))
    pair = await _call(nc, messages.AUTH_TOKEN_DEV, {"user": "ada"})
    assert await _call(nc, messages.AUTH_SIGNOUT, {"refresh_token": pair["refresh_token"]}) == {"revoked": True}
    with pytest.raises(Unauthorized, match="signed out"):
        await _call(nc, messages.AUTH_TOKEN_REFRESH, {"refresh_token": pair["refresh_token"]})


async def test_an_expired_or_forged_refresh_token_is_refused(nats_server: NatsServer, stack: AsyncExitStack) -> None:
    clock = Clock()
    nc, _ = await _start(stack, nats_server, AuthOptions(dev_sign_in=True, clock=clock))
    pair = await _call(nc, messages.AUTH_TOKEN_DEV, {"user": "ada"})
    token_id = pair["refresh_token"].split("_")[1]
    with pytest.raises(Unauthorized, match="does not match"):
        await _call(nc, messages.AUTH_TOKEN_REFRESH, {"refresh_token": f"srt_{token_id}_{'A' * 43}"})
    for junk in ("", "srt_x_y", "Bearer abc"):
        with pytest.raises(Unauthorized):
            await _call(nc, messages.AUTH_TOKEN_REFRESH, {"refresh_token": junk})
    clock.now += timedelta(days=14, seconds=1)
    with pytest.raises(Unauthorized, match="expired"):
        await _call(nc, messages.AUTH_TOKEN_REFRESH, {"refresh_token": pair["refresh_token"]})


async def test_api_keys_create_list_verify_revoke(nats_server: NatsServer, stack: AsyncExitStack) -> None:
    nc, _ = await _start(stack, nats_server, AuthOptions())
    created = await _call(nc, messages.AUTH_KEYS_CREATE, {"name": "producer", "scopes": ["write", "read:games"]})
    key = created["key"]
    assert key.startswith(f"strix_{created['id']}_") and created["scopes"] == ["read:games", "write"]
    listed = (await _call(nc, messages.AUTH_KEYS_LIST))["keys"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0] and key.split("_", 2)[2] not in json.dumps(listed)
    verified = await _call(nc, messages.AUTH_KEYS_VERIFY, {"key": key})
    assert verified == {
        "id": created["id"],
        "name": "producer",
        "scopes": ["read:games", "write"],
        "roles": [],
        "attributes": {},
    }
    revoked = await _call(nc, messages.AUTH_KEYS_REVOKE, {"id": created["id"]})
    assert revoked["revoked_at"] is not None
    with pytest.raises(Unauthorized, match="revoked"):
        await _call(nc, messages.AUTH_KEYS_VERIFY, {"key": key})


async def test_api_key_refusals_are_clear(nats_server: NatsServer, stack: AsyncExitStack) -> None:
    nc, _ = await _start(stack, nats_server, AuthOptions())
    created = await _call(nc, messages.AUTH_KEYS_CREATE, {"name": "a", "scopes": ["read"]})
    other = await _call(nc, messages.AUTH_KEYS_CREATE, {"name": "b", "scopes": ["read"]})
    wrong_secret = f"strix_{created['id']}_{other['key'].split('_', 2)[2]}"
    with pytest.raises(Unauthorized, match="does not match"):
        await _call(nc, messages.AUTH_KEYS_VERIFY, {"key": wrong_secret})
    with pytest.raises(Unauthorized, match="unknown API key"):
        await _call(nc, messages.AUTH_KEYS_VERIFY, {"key": f"strix_{'0' * 16}_{'A' * 43}"})
    with pytest.raises(Unauthorized, match="not a Strix API key"):
        await _call(nc, messages.AUTH_KEYS_VERIFY, {"key": "hunter2"})
    with pytest.raises(QueryError) as caught:
        await _call(nc, messages.AUTH_KEYS_CREATE, {"name": "c", "scopes": ["root"]})
    assert caught.value.argument == "scopes"
    with pytest.raises(NotFound):
        await _call(nc, messages.AUTH_KEYS_REVOKE, {"id": "0" * 16})
    with pytest.raises(QueryError):
        await _call(nc, messages.AUTH_KEYS_CREATE, {"name": "d"})


async def test_a_revoked_key_fails_at_once_on_another_replica(nats_server: NatsServer, stack: AsyncExitStack) -> None:
    _, first = await _start(stack, nats_server, AuthOptions())
    _, second = await _start(stack, nats_server, AuthOptions())
    created = await first.create_key(messages.ApiKeyCreate(name="producer", scopes=["write"]))
    verify = messages.ApiKeyVerify(key=created.key)
    assert (await second.verify_key(verify)).scopes == ["write"]  # cached there through the watch, or read
    await first.revoke_key(messages.ApiKeyRef(id=created.id))
    started = time.monotonic()
    while True:
        try:
            await second.verify_key(verify)
        except Unauthorized as exc:
            assert "revoked" in exc.message
            break
        assert time.monotonic() - started < 1.0, "the second replica still accepts a revoked key after 1 s"
        await asyncio.sleep(0.01)
    assert second.store.api_keys[created.id].revoked_at is not None


async def test_both_replicas_sign_with_the_same_keys(nats_server: NatsServer, stack: AsyncExitStack) -> None:
    nc1, _ = await _start(stack, nats_server, AuthOptions())
    _, second = await _start(stack, nats_server, AuthOptions())
    assert await second.jwks() == await _call(nc1, messages.AUTH_JWKS)


async def test_a_token_from_another_issuer_fails_here(nats_server: NatsServer, stack: AsyncExitStack) -> None:
    nc, _ = await _start(stack, nats_server, AuthOptions(dev_sign_in=True, issuer="https://other.test"))
    pair = await _call(nc, messages.AUTH_TOKEN_DEV, {"user": "ada"})
    document = await _call(nc, messages.AUTH_JWKS)
    with pytest.raises(InvalidToken) as caught:
        verify_access_token(pair["access_token"], document, issuer="strix", audience="strix", now=datetime.now(UTC))
    assert caught.value.reason == "issuer"
    assert isinstance(caught.value, StrixError) and caught.value.status == 401


async def test_attributes_travel_with_the_sign_in_through_refreshes(
    nats_server: NatsServer, stack: AsyncExitStack
) -> None:
    nc, _ = await _start(stack, nats_server, AuthOptions(dev_sign_in=True))
    body = {"user": "op", "roles": ["operator"], "attributes": {"brand": ["globex", "acme", "acme"]}}
    first = await _call(nc, messages.AUTH_TOKEN_DEV, body)
    second = await _call(nc, messages.AUTH_TOKEN_REFRESH, {"refresh_token": first["refresh_token"]})
    document = await _call(nc, messages.AUTH_JWKS)
    for pair in (first, second):
        claims = verify_access_token(
            pair["access_token"], document, issuer="strix", audience="strix", now=datetime.now(UTC)
        )
        assert claims.attributes == {"brand": ("acme", "globex")} and claims.roles == ("operator",)
