"""Every door closed (issue 11): each refusal is a clear error, carries no data, stores nothing, and the server
stays up. The whole platform runs on a real NATS server with the real auth service; tokens that must fail are
signed with the platform's own signing key (read from its KV bucket, as an attacker who stole nothing cannot),
so each fails for the one reason it is built to."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from nats.aio.client import Client as NATS

from strix.demo import DemoGenerator, demo_router, mount_demo
from strix.platform import Platform, run_platform
from strix_auth.app import AuthOptions
from strix_contracts.subjects import event_stream
from strix_runtime.callers import CallerVerifier, DoorOptions
from strix_runtime.health import MetricsAccess
from strix_tokens import messages
from strix_tokens.access import issue_access_token
from strix_tokens.keys import KeySet, new_signing_key
from tests.conftest import PlatformFactory
from tests.support import api_key, bearer

pytestmark = pytest.mark.e2e

CONFIGS = Path(__file__).resolve().parent / "fixtures" / "doors-configs"
ORDERS = "{ orders(window: {last: 2, unit: DAY}, granularity: TOTAL, metrics: [ORDERS]) { rows { orders } } }"
LEDGER = "{ ledger(window: {last: 2, unit: DAY}, granularity: TOTAL, metrics: [ENTRIES]) { rows { entries } } }"
INTROSPECTION = "{ __schema { queryType { name } } }"
ORDERS_URL = "/v1/modules/orders/events"
UI = "http://ui.example"


def order(n: int) -> dict[str, Any]:
    return {"ts": datetime.now(UTC).isoformat(), "shop": f"s{n % 3}", "amount": n}


async def signing_keys(nc: NATS) -> KeySet:
    """The auth service's key set, private keys included, as its KV bucket holds it."""
    entry = await (await nc.jetstream().key_value("strix_auth_signing")).get("keyset")
    return KeySet.from_dict(json.loads(entry.value or b"{}"))


def token(keys: KeySet, **changes: Any) -> str:
    """An access token signed with `keys`; `changes` alter its issuer, audience, time or scopes."""
    claims: dict[str, Any] = {
        "issuer": "strix",
        "audience": "strix",
        "subject": "mallory",
        "roles": ["analyst"],
        "scopes": ["read"],
        "now": datetime.now(UTC),
        "lifetime": timedelta(minutes=5),
    }
    claims.update(changes)
    issued, _ = issue_access_token(keys, **claims)
    return issued


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def bad_tokens(keys: KeySet) -> dict[str, tuple[str, str]]:
    """Each broken token and the word its refusal names."""
    good = token(keys, scopes=["admin"])
    header, payload, signature = good.split(".")
    kid = keys.current.kid
    forger = KeySet(new_signing_key(datetime.now(UTC), kid=kid))  # another key claiming the real key's id
    return {
        "expired": (token(keys, now=datetime.now(UTC) - timedelta(hours=2)), "expired"),
        "wrong audience": (token(keys, audience="another-app"), "audience"),
        "wrong issuer": (token(keys, issuer="https://evil.example"), "issuer"),
        "forged signature": (token(forger, scopes=["admin"]), "signature"),
        "altered claims": (f"{header}.{_b64({'sub': 'mallory', 'scopes': ['admin']})}.{signature}", "signature"),
        "alg none": (f"{_b64({'alg': 'none', 'kid': kid, 'typ': 'JWT'})}.{payload}.", "algorithm"),
        "not a token": ("hello", "not a signed JWT"),
    }


async def stored(platform: Platform, module: str = "orders") -> int:
    """Messages ever appended to the module's event stream."""
    info = await platform.nc.jetstream().stream_info(event_stream(module))
    return int(info.state.last_seq)


async def ask(client: httpx.AsyncClient, query: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return await client.post("/graphql", json={"query": query}, headers=headers or {})


async def still_up(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    answer = (await ask(client, ORDERS)).json()  # the admin client's own key
    assert "errors" not in answer and answer["data"]["orders"]["rows"] is not None, answer


def anonymous(platform: Platform, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=platform.http_url, timeout=30, headers=headers)


async def test_graphql_refuses_every_bad_token_with_its_reason_and_no_data(start_platform: PlatformFactory) -> None:
    async with start_platform(CONFIGS) as (platform, client), anonymous(platform) as outsider:
        signed_out = (await ask(outsider, ORDERS)).json()
        assert signed_out["data"] is None
        (error,) = signed_out["errors"]
        assert error["extensions"]["code"] == "UNAUTHORIZED" and "sign in first" in error["message"]

        keys = await signing_keys(platform.nc)
        for case, (bad, reason) in bad_tokens(keys).items():
            response = await ask(outsider, ORDERS, bearer(bad))
            assert response.status_code == 401, (case, response.text)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            body = response.json()
            assert body["data"] is None, case
            (error,) = body["errors"]
            assert error["extensions"]["code"] == "UNAUTHORIZED", case
            assert reason in error["message"], (case, error)
        # The same key signing a sound token: accepted (the refusals above were for their reasons only).
        good = (await ask(outsider, ORDERS, bearer(token(keys)))).json()
        assert "errors" not in good, good
        await still_up(client)


async def test_ingestion_refuses_bad_credentials_and_wrong_scopes_and_stores_nothing(
    start_platform: PlatformFactory,
) -> None:
    async with start_platform(CONFIGS) as (platform, client), anonymous(platform) as outsider:
        keys = await signing_keys(platform.nc)
        before = await stored(platform)
        reader = await api_key(platform.nc, ["read"], roles=["analyst", "producer"])
        stranger = await api_key(platform.nc, ["write"], roles=["analyst"])  # write scope, not a producer
        producer = await api_key(platform.nc, ["write"], roles=["producer"])
        attempts: list[tuple[dict[str, str], int, str]] = [
            ({}, 401, "sign in first"),
            (bearer(token(keys, now=datetime.now(UTC) - timedelta(hours=2), scopes=["write"])), 401, "expired"),
            (bearer(token(keys, audience="another-app", scopes=["admin"])), 401, "audience"),
            ({"X-API-Key": "strix_0123456789abcdef_" + "A" * 43}, 401, "unknown API key"),
            (bearer(reader), 403, "lacks the write scope"),
            (bearer(stranger), 403, "no role of its access.write"),
        ]
        for headers, status, words in attempts:
            response = await outsider.post(ORDERS_URL, json=[order(1)], headers=headers)
            assert response.status_code == status, (headers, response.text)
            assert words in response.json()["error"]["message"], response.json()
        assert await stored(platform) == before
        accepted = await outsider.post(ORDERS_URL, json=[order(1), order(2)], headers=bearer(producer))
        assert accepted.status_code == 200 and accepted.json()["stored"] == 2, accepted.text
        assert await stored(platform) > before  # the accepted batch is in the stream (refusals above left none)
        await still_up(client)


async def test_a_write_key_cannot_query_and_a_role_reads_only_its_modules(start_platform: PlatformFactory) -> None:
    async with start_platform(CONFIGS) as (platform, client), anonymous(platform) as outsider:
        producer = bearer(await api_key(platform.nc, ["write"], roles=["producer"]))
        analyst = bearer(await api_key(platform.nc, ["read"], roles=["analyst"]))

        refused = (await ask(outsider, ORDERS, producer)).json()
        assert refused["data"] is None
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN", refused

        assert "errors" not in (await ask(outsider, ORDERS, analyst)).json()
        ledger = (await ask(outsider, LEDGER, analyst)).json()
        assert ledger["data"] is None
        (error,) = ledger["errors"]
        assert error["extensions"]["code"] == "FORBIDDEN" and "'ledger'" in error["message"], error
        modules = (await ask(outsider, "{ modules { name } }", analyst)).json()
        assert modules["data"]["modules"] == [{"name": "orders"}]
        everything = (await ask(client, "{ modules { name } }")).json()  # admin
        assert [m["name"] for m in everything["data"]["modules"]] == ["ledger", "orders"]
        await still_up(client)


async def test_a_revoked_key_is_refused_at_once_by_two_gateway_replicas(start_platform: PlatformFactory) -> None:
    async with start_platform(CONFIGS) as (platform, client):
        async with run_platform(replace(platform.options, services=("gateway",), port=0)) as replica:
            created = json.loads(
                (
                    await platform.nc.request(
                        messages.AUTH_KEYS_CREATE,
                        messages.ApiKeyCreate(name="soon revoked", scopes=["read"], roles=["analyst"])
                        .model_dump_json()
                        .encode(),
                        timeout=10,
                    )
                ).data
            )
            headers = bearer(created["key"])
            urls = (platform.http_url, replica.http_url)
            async with httpx.AsyncClient(timeout=30, headers=headers) as holder:
                for url in urls:
                    answer = (await holder.post(f"{url}/graphql", json={"query": ORDERS})).json()
                    assert "errors" not in answer, (url, answer)
                await platform.nc.request(
                    messages.AUTH_KEYS_REVOKE, messages.ApiKeyRef(id=created["id"]).model_dump_json().encode()
                )
                for url in urls:  # at once: no wait, no retry
                    response = await holder.post(f"{url}/graphql", json={"query": ORDERS})
                    assert response.status_code == 401, (url, response.text)
                    assert response.json()["data"] is None
                    assert "revoked" in response.json()["errors"][0]["message"]
                posted = await holder.post(f"{platform.http_url}{ORDERS_URL}", json=[order(1)])
                assert posted.status_code == 401 and "revoked" in posted.json()["error"]["message"]
        await still_up(client)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"ts=2026-01-01T00:00:00Z&shop=s1&amount=1"),
        ("text/plain", json.dumps([order(1)]).encode()),
        ("multipart/form-data; boundary=x", b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n'),
        (None, json.dumps([order(1)]).encode()),
    ],
)
async def test_a_cross_origin_form_post_is_refused_and_nothing_stored(
    start_platform: PlatformFactory, content_type: str | None, body: bytes
) -> None:
    async with start_platform(CONFIGS) as (platform, client):
        before = await stored(platform)
        producer = await api_key(platform.nc, ["write"], roles=["producer"])
        headers = {"Origin": "https://evil.example", **bearer(producer)}
        if content_type is not None:
            headers["content-type"] = content_type
        async with anonymous(platform) as outsider:
            response = await outsider.post(ORDERS_URL, content=body, headers=headers)
        assert response.status_code == 415, response.text
        assert response.json()["error"]["code"] == "unsupported_media_type"
        assert "access-control-allow-origin" not in response.headers
        assert await stored(platform) == before
        await still_up(client)


async def test_cors_preflight_is_answered_for_the_web_ui_only(start_platform: PlatformFactory) -> None:
    async with start_platform(CONFIGS, doors=DoorOptions(cors_origins=(UI,))) as (platform, client):
        preflight = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        }
        async with anonymous(platform) as outsider:
            allowed = await outsider.options("/graphql", headers={"Origin": UI, **preflight})
            assert allowed.status_code == 200, allowed.text
            assert allowed.headers["access-control-allow-origin"] == UI
            assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
            other = await outsider.options("/graphql", headers={"Origin": "https://evil.example", **preflight})
            assert other.status_code == 400
            assert "access-control-allow-origin" not in other.headers
        answered = await client.post("/graphql", json={"query": ORDERS}, headers={"Origin": UI})
        assert answered.headers["access-control-allow-origin"] == UI
        foreign = await client.post("/graphql", json={"query": ORDERS}, headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in foreign.headers  # the browser keeps the answer from the page
        await still_up(client)


async def test_demo_control_needs_admin(start_platform: PlatformFactory) -> None:
    async with start_platform(CONFIGS) as (platform, client):
        assert platform.app is not None
        generator = DemoGenerator(f"{platform.http_url}{ORDERS_URL}", rate=5, backfill_hours=0)
        mount_demo(platform.app, demo_router(generator, CallerVerifier(platform.nc)))
        reader = bearer(await api_key(platform.nc, ["read", "write"], roles=["analyst", "producer"]))
        async with anonymous(platform) as outsider:
            for path in ("/demo/start", "/demo/stop"):
                signed_out = await outsider.post(path)
                assert signed_out.status_code == 401, signed_out.text
                refused = await outsider.post(path, params={"rate": "5000"}, headers=reader)
                assert refused.status_code == 403, refused.text
                assert refused.json()["error"]["code"] == "forbidden"
            assert (await outsider.get("/demo/status")).status_code == 401
            status = await outsider.get("/demo/status", headers=reader)
            assert status.status_code == 200 and status.json() == {
                "running": False,
                "rate": 5,
                "sent": 0,
                "failed_batches": 0,
                "history": {"done": False, "hours": 0, "sent": 0},  # a refused start posted no history either
            }
        assert not generator.running
        await still_up(client)


async def test_metrics_need_their_own_token(start_platform: PlatformFactory) -> None:
    doors = DoorOptions(metrics=MetricsAccess.of("scrape-secret", []))
    async with start_platform(CONFIGS, doors=doors) as (platform, client):
        async with anonymous(platform) as outsider:
            for headers in ({}, bearer("wrong"), {"Authorization": "Basic c2NyYXBlLXNlY3JldA=="}):
                response = await outsider.get("/metrics", headers=headers)
                assert response.status_code == 401, headers
                assert "strix_" not in response.text
            # An admin's API key is not the scrape token: /metrics has its own rule.
            assert (await client.get("/metrics")).status_code == 401
            scraped = await outsider.get("/metrics", headers=bearer("scrape-secret"))
            assert scraped.status_code == 200 and "strix_" in scraped.text
        await still_up(client)


def test_metrics_networks_admit_only_their_addresses() -> None:
    access = MetricsAccess.of(None, ["10.0.0.0/8", "::1/128"])
    assert access.allows(None, "10.2.3.4") and access.allows(None, "::1")
    assert not access.allows(None, "192.168.1.1") and not access.allows(None, "testclient")
    assert not access.allows("Bearer anything", "192.168.1.1")
    assert not MetricsAccess().allows(None, "127.0.0.1")  # neither set: nobody


async def test_the_schema_is_closed_signed_out_outside_embedded_mode(start_platform: PlatformFactory) -> None:
    async with start_platform(CONFIGS) as (platform, client), anonymous(platform) as outsider:
        refused = (await ask(outsider, INTROSPECTION)).json()
        assert refused["data"] is None
        assert "introspection needs a signed-in caller" in refused["errors"][0]["message"]
        spread = (await ask(outsider, 'query { ...F } fragment F on Query { __type(name: "Query") { name } }')).json()
        assert spread["data"] is None
        assert (await ask(client, INTROSPECTION)).json()["data"]["__schema"]["queryType"]["name"] == "Query"
        page = await outsider.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 404 and "createFetcher" not in page.text and "embedded mode" in page.text
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert (await outsider.get(path)).status_code == 404, path
        await still_up(client)


async def test_embedded_mode_opens_graphiql_signed_in_as_the_local_developer(start_platform: PlatformFactory) -> None:
    doors = DoorOptions(open_schema=True, developer_graphiql=True)
    async with start_platform(CONFIGS, doors=doors, auth=AuthOptions(dev_sign_in=True)) as (platform, client):
        async with anonymous(platform) as outsider:
            assert "errors" not in (await ask(outsider, INTROSPECTION)).json()
            assert (await ask(outsider, ORDERS)).json()["data"] is None  # open schema, closed data
            page = await outsider.get("/graphql", headers={"Accept": "text/html"})
            assert page.status_code == 200 and "signed in as the local developer" in page.text
            marker = 'const defaultHeaders = {"Authorization": "Bearer '
            developer = page.text.split(marker, 1)[1].split('"', 1)[0]
            answer = (await ask(outsider, ORDERS, bearer(developer))).json()
            assert "errors" not in answer, answer
            assert (await outsider.get("/openapi.json")).status_code == 200
        await still_up(client)


async def test_websockets_authenticate_in_connection_init(start_platform: PlatformFactory) -> None:
    subscription = json.dumps({"id": "1", "type": "subscribe", "payload": {"query": "subscription " + ORDERS}})
    async with start_platform(CONFIGS) as (platform, client):
        url = platform.http_url.replace("http://", "ws://") + "/graphql"
        keys = await signing_keys(platform.nc)
        expired = token(keys, now=datetime.now(UTC) - timedelta(hours=2))
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {expired}"}}))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403  # graphql-transport-ws: refused
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init"}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(subscription)
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert message["type"] in ("error", "next"), message
            errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
            assert "sign in first" in errors[0]["message"]
            assert not (message["type"] == "next" and message["payload"].get("data"))
        created = await call_auth(
            platform.nc,
            messages.AUTH_KEYS_CREATE,
            messages.ApiKeyCreate(name="live", scopes=["read"], roles=["analyst"]),
        )
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {created['key']}"}}
            await ws.send(json.dumps(init))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(subscription)
            message = json.loads(await asyncio.wait_for(ws.recv(), 30))
            assert message["type"] == "next" and "errors" not in message["payload"], message
            # The key is revoked while the subscription runs: the next change ends it instead of answering.
            await call_auth(platform.nc, messages.AUTH_KEYS_REVOKE, messages.ApiKeyRef(id=created["id"]))
            posted = await client.post(ORDERS_URL, json=[order(7)])
            assert posted.status_code == 200, posted.text
            message = json.loads(await asyncio.wait_for(ws.recv(), 60))
            errors = message["payload"] if message["type"] == "error" else message["payload"].get("errors")
            assert errors and "revoked" in errors[0]["message"], message
            assert not (message["type"] == "next" and message["payload"].get("data"))
        await still_up(client)


async def call_auth(nc: NATS, subject: str, body: Any) -> dict[str, Any]:
    reply = await nc.request(subject, body.model_dump_json().encode(), timeout=10)
    assert not (reply.headers and reply.headers.get("Nats-Service-Error-Code")), reply.data
    answer: dict[str, Any] = json.loads(reply.data)
    return answer


async def test_a_public_link_reads_its_dashboards_modules_only(start_platform: PlatformFactory) -> None:
    from strix_contracts import dashboards as contract
    from strix_contracts.caller import Caller

    async with start_platform(CONFIGS) as (platform, client), anonymous(platform) as outsider:
        owner = Caller(subject="ada", kind="user", roles=("analyst",), scopes=("read",))
        panel = contract.Panel(
            id="p1",
            query=contract.PanelQuery(module="orders", metrics=["orders"]),
            visualization="kpi",
            layout=contract.Layout(x=0, y=0, w=4, h=2),
        )
        content = contract.DashboardContent(title="Orders", panels=[panel])

        async def call(subject: str, body: contract.Model) -> dict[str, Any]:
            reply = await platform.nc.request(subject, body.model_dump_json().encode(), timeout=10)
            assert not (reply.headers and reply.headers.get("Nats-Service-Error-Code")), reply.data
            answer: dict[str, Any] = json.loads(reply.data)
            return answer

        created = await call(contract.DASHBOARDS_CREATE, contract.CreateDashboard(caller=owner, content=content))
        ref = contract.DashboardRef(caller=owner, id=created["id"])
        link = {"X-Strix-Link": (await call(contract.DASHBOARDS_LINK_CREATE, ref))["token"]}

        assert "errors" not in (await ask(outsider, ORDERS, link)).json()
        ledger = (await ask(outsider, LEDGER, link)).json()
        assert ledger["data"] is None and ledger["errors"][0]["extensions"]["code"] == "FORBIDDEN", ledger
        posted = await outsider.post(ORDERS_URL, json=[order(1)], headers=link)
        assert posted.status_code == 403, posted.text
        await call(contract.DASHBOARDS_LINK_REVOKE, ref)
        revoked = await ask(outsider, ORDERS, link)
        assert revoked.status_code == 401 and revoked.json()["data"] is None
        await still_up(client)
