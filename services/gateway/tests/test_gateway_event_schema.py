"""The `modules` query serves the JSON Schema of each module's events, as strix_config derives it from the field
type table: an integrator validates what it sends with it before ingestion does."""

from __future__ import annotations

from pathlib import Path

import pytest
from nats.aio.client import Client

from strix_config import load_catalog
from strix_config.schema import event_json_schema
from strix_contracts.caller import Caller
from strix_contracts.query import QueryRequest, QueryResponse, RecordsRequest, RecordsResponse
from strix_gateway.live import LiveFeed
from strix_gateway.schema import build_schema

REPO = Path(__file__).resolve().parents[3]
CATALOGS = {"examples": REPO / "configs", "client": REPO / "tests" / "fixtures" / "client-configs"}
ADMIN = Caller(subject="test-admin", kind="user", scopes=("admin",))


async def no_query(request: QueryRequest) -> QueryResponse:
    raise AssertionError("metadata needs no query")


async def no_records(request: RecordsRequest) -> RecordsResponse:
    raise AssertionError("metadata needs no records")


@pytest.mark.parametrize("name", sorted(CATALOGS))
async def test_modules_give_the_json_schema_of_an_event(name: str) -> None:
    catalog = load_catalog(CATALOGS[name])
    schema = build_schema(catalog, no_query, no_records, LiveFeed(Client()))
    result = await schema.execute("{ modules { name eventSchema } }", context_value={"caller": ADMIN})
    assert result.errors is None, result.errors
    assert result.data is not None
    served = {m["name"]: m["eventSchema"] for m in result.data["modules"]}
    assert served == {module: event_json_schema(config) for module, config in catalog.modules.items()}
    assert all(s["additionalProperties"] is False and s["type"] == "object" for s in served.values())
