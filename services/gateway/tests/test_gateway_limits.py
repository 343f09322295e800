"""What a GraphQL request may cost: refused in linear time before graphql-core works on it, with what to reduce;
and what a caller hears of a failure that is not theirs: a request id, never the failure's text."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
import strawberry
from fastapi import FastAPI
from nats.aio.client import Client
from nats.micro import add_service
from nats.micro.request import Request

from strix_config import Catalog, load_catalog
from strix_contracts.caller import Caller
from strix_contracts.errors import StrixError
from strix_contracts.query import MAX_FILTER_VALUES, QueryRequest, QueryResponse
from strix_contracts.subjects import QUERY_RUN
from strix_gateway.app import graphql_router, run_gateway
from strix_gateway.limits import MAX_SELECTIONS, MAX_WHERE_DEPTH, expanded_size
from strix_gateway.schema import MAX_ALIASES, build_schema
from strix_runtime.callers import CallerVerifier
from strix_runtime.natsserver import NatsServer
from strix_tokens.access import issue_access_token
from strix_tokens.keys import KeySet, jwks, new_signing_key


def signed_in() -> dict[str, Any]:
    """The GraphQL context the door makes for an admin (every module, no row filter)."""
    return {"caller": Caller(subject="test-admin", kind="user", scopes=("admin",))}


CONFIGS = Path(__file__).resolve().parents[3] / "configs"
FIELD = "clickstream(window: {last: 1, unit: DAY}, metrics: [EVENTS]) { source }"
WHERE_QUERY = (
    "query($w: ClickstreamWhere) { clickstream(window: {last: 1, unit: DAY}, metrics: [EVENTS], where: $w) { source } }"
)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(CONFIGS)


@dataclass
class Recorder:
    """The gateway's seam to NATS: records each request, answers with no rows (or raises `error`)."""

    error: Exception | None = None
    requests: list[QueryRequest] = field(default_factory=list)

    async def __call__(self, request: QueryRequest) -> QueryResponse:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        now = datetime(2026, 3, 9, tzinfo=UTC)
        return QueryResponse(
            module=request.module,
            granularity=request.granularity,
            time_zone=request.time_zone,
            start=now,
            end=now,
            source="raw",
            source_reason="test",
            rows=[],
        )


def doubling(n: int) -> str:
    """`...F0` where each fragment spreads the next twice: 2^n fields in a few hundred bytes."""
    parts = ["query { ...F0 }"]
    parts += [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(n)]
    parts.append(f"fragment F{n} on Query {{ __typename }}")
    return " ".join(parts)


# A signing key of the test's own; the verifier holds its JWKS as though fetched from the auth service.
KEYS = KeySet(new_signing_key(datetime.now(UTC)))


def http_client(schema: strawberry.Schema) -> httpx.AsyncClient:
    """The GraphQL route over `schema`, asked by an admin with a real access token, really verified."""
    app = FastAPI()
    gateway: Any = type("G", (), {"schema": schema, "nc": Client()})()
    verifier = CallerVerifier(Client())
    verifier.jwks.keys, verifier.jwks.fetched_at = jwks(KEYS), time.monotonic()
    app.include_router(graphql_router(gateway, verifier))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    token, _ = issue_access_token(
        KEYS,
        issuer="strix",
        audience="strix",
        subject="test-admin",
        roles=[],
        scopes=["admin"],
        now=datetime.now(UTC),
        lifetime=timedelta(minutes=5),
    )
    return httpx.AsyncClient(
        transport=transport, base_url="http://gateway", headers={"Authorization": f"Bearer {token}"}
    )


# --- documents ------------------------------------------------------------------------------------------------


async def test_a_document_that_doubles_per_fragment_is_refused_at_once(catalog: Catalog) -> None:
    recorder = Recorder()
    schema = build_schema(catalog, recorder)
    started = time.perf_counter()
    result = await schema.execute(context_value=signed_in(), query=doubling(30))
    print(f"n=30 refused in {1000 * (time.perf_counter() - started):.1f} ms")
    assert result.data is None and result.errors is not None
    assert result.errors[0].message.startswith(
        f"query: the document asks for over {MAX_SELECTIONS} fields once its fragments are spread"
    )
    assert result.errors[0].extensions == {
        "code": "INVALID_QUERY",
        "argument": "query",
        "hint": "use each fragment once, ask for fewer fields, or split the document into several requests",
    }


def test_the_expanded_size_counts_every_spread_once_per_use() -> None:
    from graphql import parse

    assert expanded_size(parse(doubling(3))) == 1 + 2 + 4 + 8 + 8  # spreads at each level, then the fields
    assert expanded_size(parse(doubling(1000))) == MAX_SELECTIONS + 1
    assert expanded_size(parse("{ a { b c } ... on Query { d } }")) == 5


async def test_a_document_with_a_few_fragments_is_served(catalog: Catalog) -> None:
    recorder = Recorder()
    result = await build_schema(catalog, recorder).execute(
        context_value=signed_in(),
        query="query { ...Today ...Names } fragment Today on Query { clickstream(window: {last: 1, unit: DAY}, "
        "metrics: [EVENTS]) { ...Rows } } fragment Rows on ClickstreamResult { source rows { events } } "
        "fragment Names on Query { modules { name } }",
    )
    assert result.errors is None, result.errors
    assert len(recorder.requests) == 1


async def test_a_fragment_cycle_is_refused_naming_it(catalog: Catalog) -> None:
    result = await build_schema(catalog, Recorder()).execute(
        context_value=signed_in(), query="query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }"
    )
    assert result.errors is not None
    assert result.errors[0].message.startswith("query: fragment A spreads itself (A -> B -> A)")


async def test_aliases_and_depth_count_inside_fragments(catalog: Catalog) -> None:
    recorder = Recorder()
    schema = build_schema(catalog, recorder)
    aliased = " ".join(f"a{i}: {FIELD}" for i in range(MAX_ALIASES + 1))
    result = await schema.execute(
        context_value=signed_in(), query=f"query {{ ...Many }} fragment Many on Query {{ {aliased} }}"
    )
    assert result.errors is not None and "aliases" in result.errors[0].message
    nested = "name"
    for level in range(10):
        nested = f"f{level} {{ {nested} }}"
    result = await schema.execute(
        context_value=signed_in(), query=f"query {{ ...Deep }} fragment Deep on Query {{ {nested} }}"
    )
    assert result.errors is not None
    assert any("depth" in e.message for e in result.errors), result.errors
    assert recorder.requests == []


# --- variables ------------------------------------------------------------------------------------------------


async def test_a_where_nested_past_the_limit_is_refused_naming_where_and_the_limit(catalog: Catalog) -> None:
    recorder = Recorder()
    schema = build_schema(catalog, recorder)

    def nested(levels: int) -> dict[str, Any]:
        where: dict[str, Any] = {"device": {"eq": "mobile"}}
        for _ in range(levels):
            where = {"or": [where]}
        return where

    result = await schema.execute(
        context_value=signed_in(), query=WHERE_QUERY, variable_values={"w": nested(MAX_WHERE_DEPTH)}
    )
    assert result.errors is None, result.errors
    for levels in (MAX_WHERE_DEPTH + 1, 300):
        result = await schema.execute(
            context_value=signed_in(), query=WHERE_QUERY, variable_values={"w": nested(levels)}
        )
        assert result.errors is not None
        assert result.errors[0].message.startswith(f"w: where nests more than {MAX_WHERE_DEPTH} levels of and/or")
    # Written in the document rather than sent as a variable: the same limit, named by the argument.
    literal = "{device: {eq: mobile}}"
    for _ in range(MAX_WHERE_DEPTH + 1):
        literal = f"{{or: [{literal}]}}"
    result = await schema.execute(
        context_value=signed_in(),
        query=f"{{ clickstream(window: {{last: 1, unit: DAY}}, metrics: [EVENTS], where: {literal}) {{ source }} }}",
    )
    assert result.errors is not None
    assert result.errors[0].message.startswith(f"where: where nests more than {MAX_WHERE_DEPTH} levels of and/or")
    assert len(recorder.requests) == 1


async def test_a_where_nested_500_deep_is_a_400_naming_where_not_a_500(catalog: Catalog) -> None:
    """500 levels of or are 1 000 levels of JSON: deeper than any JSON decoder recurses."""
    where = '{"or": [' * 500 + '{"device": {"eq": "mobile"}}' + "]}" * 500
    body = f'{{"query": {json.dumps(WHERE_QUERY)}, "variables": {{"w": {where}}}}}'
    async with http_client(build_schema(catalog, Recorder())) as client:
        response = await client.post("/graphql", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400
        assert f"a `where` at most {MAX_WHERE_DEPTH} levels of and/or" in response.text
        assert "Traceback" not in response.text
        response = await client.post(
            "/graphql", content="[" * 10_000 + "]" * 10_000, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400


async def test_huge_in_lists_and_or_branches_are_refused_before_graphql_core_coerces_them(catalog: Catalog) -> None:
    recorder = Recorder()
    schema = build_schema(catalog, recorder)
    started = time.perf_counter()
    result = await schema.execute(
        context_value=signed_in(),
        query=WHERE_QUERY,
        variable_values={"w": {"country": {"in": [f"C{i}" for i in range(500_000)]}}},
    )
    print(f"500 000 values refused in {1000 * (time.perf_counter() - started):.0f} ms")
    assert result.errors is not None
    assert result.errors[0].message.startswith(
        f"w.country.in: where has an `in` list of 500000 values, at most {MAX_FILTER_VALUES}"
    )
    started = time.perf_counter()
    branches = [{"country": {"eq": f"C{i}"}} for i in range(50_000)]
    result = await schema.execute(context_value=signed_in(), query=WHERE_QUERY, variable_values={"w": {"or": branches}})
    print(f"50 000 branches refused in {1000 * (time.perf_counter() - started):.0f} ms")
    assert result.errors is not None
    assert result.errors[0].message.startswith("w.or: where has 50000 branches in one and/or, at most 100")
    assert recorder.requests == []
    result = await schema.execute(
        context_value=signed_in(), query=WHERE_QUERY, variable_values={"w": {"or": branches[:100]}}
    )
    assert result.errors is None, result.errors
    assert len(recorder.requests[0].filters[0].any) == 100  # type: ignore[union-attr]


# --- failures that are not the caller's -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("Code: 60. DB::Exception: Table strix.clickstream_events does not exist"),
        OSError(36, "File name too long", "/usr/share/zoneinfo/aaaaaaaa"),
        RecursionError("maximum recursion depth exceeded"),
        StrixError("the query service failed: boom at /srv/strix/app.py", request_id="upstream-id"),
    ],
)
async def test_an_unexpected_failure_is_answered_with_a_request_id_only(catalog: Catalog, error: Exception) -> None:
    async with http_client(build_schema(catalog, Recorder(error=error))) as client:
        response = await client.post(
            "/graphql", json={"query": "{ " + FIELD + " }"}, headers={"X-Request-ID": "client-chosen-id"}
        )
    assert response.status_code == 200
    (rendered,) = response.json()["errors"]
    assert rendered["message"] == "internal error (request id client-chosen-id)"
    assert rendered["extensions"]["requestId"] == "client-chosen-id"
    assert rendered["extensions"]["code"] == "INTERNAL"
    assert rendered["path"] == ["clickstream"]
    for leak in ("DB::Exception", "/usr/share", "/srv", "recursion", "boom"):
        assert leak not in response.text


async def test_without_a_request_id_one_is_made(catalog: Catalog) -> None:
    result = await build_schema(catalog, Recorder(error=RuntimeError("secret"))).execute(
        context_value=signed_in(), query="{ " + FIELD + " }"
    )
    assert result.errors is not None
    request_id = (result.errors[0].extensions or {})["requestId"]
    assert len(request_id) == 32 and result.errors[0].message == f"internal error (request id {request_id})"


async def test_a_query_service_slower_than_the_deadline_is_answered_with_what_to_narrow(
    nats_server: NatsServer, catalog: Catalog
) -> None:
    async def slow(request: Request) -> None:
        await asyncio.sleep(3)

    nc = await nats.connect(nats_server.url)
    try:
        service = await add_service(nc, name="slow-query", version="0.0.1")
        await service.add_endpoint(name="run", subject=QUERY_RUN, handler=slow)
        async with run_gateway(nc, catalog, deadline=0.3) as gateway:
            started = time.perf_counter()
            result = await gateway.schema.execute(context_value=signed_in(), query="{ " + FIELD + " }")
            assert time.perf_counter() - started < 2
        assert result.errors is not None
        assert result.errors[0].message.startswith("window: the query took longer than 0.3 s")
        assert (result.errors[0].extensions or {})["code"] == "INVALID_QUERY"
        await service.stop()
    finally:
        await nc.close()


async def test_a_long_outside_64_bits_is_refused_by_the_scalar() -> None:
    fleet = load_catalog(CONFIGS.parent / "tests" / "fixtures" / "client-configs")
    recorder = Recorder()
    result = await build_schema(fleet, recorder).execute(
        context_value=signed_in(),
        query="query($n: Long) { fleet(window: {last: 1, unit: DAY}, metrics: [TRIPS], where: {zone: {eq: $n}}) { source } }",
        variable_values={"n": 2**70},
    )
    assert result.errors is not None
    assert f"{2**70} is outside the 64-bit range" in result.errors[0].message
    assert recorder.requests == []
