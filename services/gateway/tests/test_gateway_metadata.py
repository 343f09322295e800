"""What the schema says about itself: a description on every element, and the `modules` metadata query.

Built through the real strawberry schema (with the records and live fields, so every field a deployment can
serve is walked) from the example configs and a client config Strix was not written for.
"""

from __future__ import annotations

from pathlib import Path

import graphql
import pytest
import strawberry
from nats.aio.client import Client

from strix_config import Catalog, load_catalog
from strix_contracts.query import QueryRequest, QueryResponse, RecordsRequest, RecordsResponse
from strix_gateway.live import LiveFeed
from strix_gateway.schema import build_schema

REPO = Path(__file__).resolve().parents[3]
CATALOGS = {"examples": REPO / "configs", "client": REPO / "tests" / "fixtures" / "client-configs"}


async def no_query(request: QueryRequest) -> QueryResponse:
    raise AssertionError("metadata needs no query")


async def no_records(request: RecordsRequest) -> RecordsResponse:
    raise AssertionError("metadata needs no records")


def full_schema(catalog: Catalog) -> strawberry.Schema:
    return build_schema(catalog, no_query, no_records, LiveFeed(Client()))


@pytest.fixture(scope="module", params=sorted(CATALOGS))
def catalog(request: pytest.FixtureRequest) -> Catalog:
    return load_catalog(CATALOGS[request.param])


def undescribed(schema: graphql.GraphQLSchema) -> list[str]:
    """Every type, field, argument, input field and enum value without a description, by schema coordinate."""
    missing = []
    for name, named in schema.type_map.items():
        if name.startswith("__"):
            continue
        if not named.description:
            missing.append(name)
        if isinstance(named, graphql.GraphQLEnumType):
            missing += [f"{name}.{value}" for value, spec in named.values.items() if not spec.description]
        if isinstance(named, graphql.GraphQLObjectType | graphql.GraphQLInterfaceType):
            for field_name, field in named.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                missing += [f"{name}.{field_name}({a}:)" for a, arg in field.args.items() if not arg.description]
        if isinstance(named, graphql.GraphQLInputObjectType):
            missing += [f"{name}.{f}" for f, spec in named.fields.items() if not spec.description]
    return missing


def test_every_schema_element_is_described(catalog: Catalog) -> None:
    introspected = full_schema(catalog).introspect()
    schema = graphql.build_client_schema(introspected)  # what a client sees, not the Python objects
    assert schema.subscription_type is not None
    assert undescribed(schema) == []


def test_the_walk_finds_an_undescribed_element() -> None:
    """The check above can fail: an enum value without a description is named."""
    schema = graphql.build_schema('"A query." type Query { "An x." x: E } "An enum." enum E { A "B." B }')
    assert undescribed(schema) == ["E.A"]
