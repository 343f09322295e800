"""The root fields the gateway defines itself are the ones the config checks refuse as module names
(strix_config.apinames.GATEWAY_FIELDS): a dashboard query added here without that list would let a module named
like it replace it silently. And every root field a module makes is where apinames says it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nats.aio.client import Client
from pydantic import BaseModel

from strix_config import Catalog, load_catalog
from strix_config.apinames import GATEWAY_FIELDS, root_fields
from strix_contracts.query import QueryRequest, QueryResponse, RecordsRequest, RecordsResponse
from strix_gateway.live import LiveFeed
from strix_gateway.schema import build_schema

REPO = Path(__file__).resolve().parents[3]


async def no_query(request: QueryRequest) -> QueryResponse:
    raise AssertionError("naming needs no query")


async def no_records(request: RecordsRequest) -> RecordsResponse:
    raise AssertionError("naming needs no records")


class NoDashboards:
    async def call(self, subject: str, request: BaseModel, reply_type: type[Any]) -> Any:
        raise AssertionError("naming needs no dashboards")


def _query_fields(catalog: Catalog) -> set[str]:
    feed = LiveFeed(Client()) if catalog.modules else None  # a Subscription type needs a field
    schema = build_schema(catalog, no_query, no_records, feed, dashboards=NoDashboards())
    query = schema._schema.query_type
    assert query is not None
    return set(query.fields)


def test_the_gateways_own_fields_are_the_ones_modules_may_not_take() -> None:
    assert _query_fields(Catalog(modules={})) == GATEWAY_FIELDS


def test_every_root_field_of_a_module_is_where_the_config_checks_look() -> None:
    catalog = load_catalog(REPO / "configs")
    made = {field for config in catalog.modules.values() for field, _ in root_fields(config)}
    assert _query_fields(catalog) == GATEWAY_FIELDS | made
