"""Hostile and careless clients against the HTTP ingestion API of the whole platform: what no column can store is
refused naming the field, malformed bodies are 4xx never 500, bodies are limited while read, over-large events
are refused before anything is stored, a request is stored all or nothing, and an Idempotency-Key is honoured
(409 for another body, the first answer replayed for the same one). What the stream holds is read from
JetStream itself: `last_seq` counts every message ever appended, whatever rollup has consumed since."""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from strix.platform import Platform
from strix_contracts.subjects import event_stream
from strix_ingestion.app import MAX_BODY_BYTES, create_app
from tests.conftest import PlatformFactory
from tests.support import api_key, bearer, wait_for_count

pytestmark = pytest.mark.e2e

URL = "/v1/modules/orders/events"
JSON = {"content-type": "application/json"}
# Raw events for 30 days, hourly buckets for 90: nothing older than 90 days is kept anywhere.
CONFIG = {
    "module": "orders",
    "event": {
        "time_field": "ts",
        "id_field": "id",
        "fields": {
            "id": {"type": "string"},
            "ts": {"type": "datetime"},
            "customer": {"type": "string"},
            "quantity": {"type": "int", "required": False, "default": 1},
            "amount": {"type": "decimal", "scale": 4, "required": False, "default": 0},
            "note": {"type": "string", "required": False, "default": ""},
        },
    },
    "partition_by": "customer",
    "partitions": 2,
    "dimensions": {"customer": {}},
    "metrics": {"events": {"kind": "count"}, "items": {"kind": "sum", "field": "quantity"}},
    "rollups": {"hourly": {"granularity": "hour", "retention": "90d"}},
    "raw": {"keep": True, "retention": "30d"},
}


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "configs"
    directory.mkdir()
    (directory / "orders.yaml").write_text(json.dumps(CONFIG, indent=2))  # JSON is YAML
    return directory


def order(n: int, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": f"o{n}",
        "ts": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "customer": f"c{n % 5}",
        "quantity": n % 3 + 1,
    }
    event.update(changes)
    return event


async def appended(platform: Platform) -> int:
    """Messages ever appended to the module's stream."""
    info = await platform.nc.jetstream().stream_info(event_stream("orders"))
    return int(info.state.last_seq)


async def test_values_no_column_can_store_are_refused_naming_the_field(
    start_platform: PlatformFactory, config_dir: Path
) -> None:
    now = datetime.now(UTC)
    async with start_platform(config_dir) as (platform, client):
        cases: list[tuple[bytes, str, list[str]]] = [
            (
                b'{"id":"a","ts":"2026-01-01T00:00:00Z","customer":"c","quantity":9223372036854775808}',
                "quantity",
                ["9223372036854775807"],
            ),
            (b'{"id":"a","ts":"2026-01-01T00:00:00Z","customer":"c","quantity":1e30}', "quantity", ["int"]),
            (json.dumps(order(1, amount="100000000000000")).encode(), "amount", ["1e14", "Decimal(18, 4)"]),
            (
                json.dumps(order(1, ts="2150-06-15T12:00:00Z")).encode(),
                "ts",
                ["[1970-01-01T00:00:00Z, 2105-11-09T06:28:15Z)", "90d"],
            ),
            (json.dumps(order(1, ts="1969-12-31T23:59:59Z")).encode(), "ts", ["1970-01-01T00:00:00Z"]),
            (
                json.dumps(order(1, ts=(now - timedelta(days=91)).isoformat())).encode(),
                "ts",
                ["longest retention", "90d"],
            ),
        ]
        before = await appended(platform)
        for body, field, words in cases:
            good = json.dumps(order(2)).encode()
            response = await client.post(URL, content=b"[" + good + b"," + body + b"]", headers=JSON)
            assert response.status_code == 422, (body, response.text)
            answer = response.json()
            assert (answer["accepted"], answer["stored"]) == (0, 0)
            [rejection] = answer["rejected"]
            assert (rejection["index"], rejection["field"]) == (1, field), rejection
            for word in words:
                assert word in rejection["reason"], rejection["reason"]
        assert await appended(platform) == before  # not even the good neighbour: the request is all or nothing

        # 89 days back is inside the hourly rollup's 90 days: stored.
        response = await client.post(URL, json=[order(3, ts=(now - timedelta(days=89)).isoformat())])
        assert response.status_code == 200, response.text
        assert response.json()["stored"] == 1
        assert await appended(platform) == before + 1


async def test_malformed_bodies_are_4xx_naming_the_problem(start_platform: PlatformFactory, config_dir: Path) -> None:
    valid = json.dumps(order(1)).encode()
    bodies: list[tuple[bytes, dict[str, str], str]] = [
        (b"", JSON, "empty"),
        (b'"just a string"', JSON, "a string"),
        (b"12", JSON, "a number"),
        (b"[" * 10_000 + b"]" * 10_000, JSON, "nests"),
        (b"[" + valid + b"," + b'{"a":' * 10_000 + b"1" + b"}" * 10_000 + b"]", JSON, "nests"),
        (valid.replace(b'"o1"', b'"o\xff1"'), JSON, "UTF-8"),
        (b"[" + valid + b"," + valid.replace(b'"o1"', b'"o\xc3\x281"') + b"]", JSON, "UTF-8"),
        (
            valid + b"\n" + valid.replace(b'"o1"', b'"o\xff1"') + b"\n",
            {"content-type": "application/x-ndjson"},
            "UTF-8",
        ),
        (valid[:-5], JSON, "JSON"),
    ]
    async with start_platform(config_dir) as (platform, client):
        before = await appended(platform)
        for body, headers, word in bodies:
            response = await client.post(URL, content=body, headers=headers)
            assert 400 <= response.status_code < 500, (body[:80], response.status_code, response.text[:300])
            reasons = " | ".join(r["reason"] for r in response.json()["rejected"])
            assert word in reasons, (body[:80], reasons)
        assert await appended(platform) == before


async def test_bodies_are_limited_while_read(start_platform: PlatformFactory, config_dir: Path) -> None:
    """A body past MAX_BODY_BYTES is refused after reading just past the limit, not buffered whole."""
    chunk = b" " * (1024 * 1024)
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(400):  # a 400 MB body, made as it is read
            sent += len(chunk)
            yield chunk

    async with start_platform(config_dir) as (platform, _):
        app = create_app(platform.services["ingestion"])
        headers = {**JSON, **bearer(await api_key(platform.nc, ["write"]))}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://strix", headers=headers) as client:
            response = await client.post(URL, content=endless())
            assert response.status_code == 413
            assert response.json()["error"]["code"] == "too_large"
            assert MAX_BODY_BYTES < sent <= MAX_BODY_BYTES + 2 * len(chunk)

            sent = 0
            declared = await client.post(URL, content=endless(), headers={"content-length": str(400 * len(chunk))})
            assert declared.status_code == 413
            assert sent <= len(chunk)  # refused on its declared length


async def test_over_large_events_are_refused_before_anything_is_stored(
    start_platform: PlatformFactory, config_dir: Path
) -> None:
    async with start_platform(config_dir) as (platform, client):
        max_payload = platform.nc.max_payload
        before = await appended(platform)
        # Two small events, then one too large for any message (the first small events were stored).
        events = [order(1), order(2), order(3, customer="big", note="x" * max_payload)]
        response = await client.post(URL, json=events)
        assert response.status_code == 413, response.text[:300]
        error = response.json()["error"]
        assert error["index"] == 2 and "event 2" in error["message"] and "nothing was stored" in error["message"]
        assert await appended(platform) == before

        # Two small events and ten of a sixth of a message each: cut by bytes, all stored in one request.
        big = [order(10 + i, customer="big", note="y" * (max_payload // 6)) for i in range(10)]
        response = await client.post(URL, json=[order(1), order(2), *big])
        assert response.status_code == 200, response.text[:300]
        assert response.json()["stored"] == 12
        # Five big events fill a message (six would pass the max payload): the big customer's partition takes two
        # messages, the small events one more unless they share that partition (CRC-32 of the customer, 2 parts).
        partitions = {zlib.crc32(c.encode()) % 2 for c in ("c1", "c2")}
        alone = partitions != {zlib.crc32(b"big") % 2}
        assert await appended(platform) - before == 2 + alone
        await wait_for_count(client, "orders", "events", 12)


async def test_a_request_is_stored_all_or_nothing(
    start_platform: PlatformFactory, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stream has room for part of a request: nothing of it is stored; with room, all of it."""
    monkeypatch.setenv("STRIX_INGESTION_STREAM_MAX_BYTES", "30000")
    async with start_platform(config_dir) as (platform, client):
        before = await appended(platform)
        events = [order(i, note="z" * 100) for i in range(400)]  # ~80 kB over both partitions
        response = await client.post(URL, json=events)
        assert response.status_code == 503, response.text[:300]
        assert response.headers["retry-after"]
        assert await appended(platform) == before
        response = await client.post(URL, json=events[:50])
        assert response.status_code == 200
        assert response.json()["stored"] == 50
        await wait_for_count(client, "orders", "events", 50)


async def test_idempotency_keys_and_re_sent_requests_store_once(
    start_platform: PlatformFactory, config_dir: Path
) -> None:
    first = [order(i) for i in range(20)]
    other = [order(i) for i in range(20, 35)]
    async with start_platform(config_dir) as (platform, client):
        start = await appended(platform)
        response = await client.post(URL, json=first, headers={"Idempotency-Key": "order-42"})
        assert response.status_code == 200
        answer = response.json()
        assert answer == {"module": "orders", "accepted": 20, "stored": 20, "already_stored": 0, "rejected": []}
        assert "idempotent-replayed" not in response.headers
        after_first = await appended(platform)
        assert after_first > start

        # The same key with the same body: the first answer again, nothing stored.
        again = await client.post(URL, json=first, headers={"Idempotency-Key": "order-42"})
        assert again.status_code == 200
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == answer
        # The same key with another body: 409, nothing stored.
        conflict = await client.post(URL, json=other, headers={"Idempotency-Key": "order-42"})
        assert conflict.status_code == 409, conflict.text
        error = conflict.json()["error"]
        assert error["code"] == "conflict" and error["argument"] == "Idempotency-Key"
        assert await appended(platform) == after_first

        # Without a key: a fully duplicate request says so, and stores nothing.
        response = await client.post(URL, json=other)
        assert response.json()["stored"] == 15
        after_other = await appended(platform)
        duplicate = await client.post(URL, json=other)
        assert duplicate.status_code == 200
        assert duplicate.json() == {
            "module": "orders",
            "accepted": 15,
            "stored": 0,
            "already_stored": 15,
            "rejected": [],
        }
        assert await appended(platform) == after_other

        # partial=true: the refused event is named, the others stored; the reply counts only those.
        mixed = [order(50), order(51, quantity="many"), order(52)]
        response = await client.post(f"{URL}?partial=true", json=mixed)
        assert response.status_code == 200
        body = response.json()
        assert (body["accepted"], body["stored"], body["already_stored"]) == (2, 2, 0)
        assert [(r["index"], r["field"]) for r in body["rejected"]] == [(1, "quantity")]

        await wait_for_count(client, "orders", "events", 20 + 15 + 2)
