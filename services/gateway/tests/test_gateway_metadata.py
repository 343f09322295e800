"""What the schema says about itself: a description on every element, and the `modules` metadata query.

Built through the real strawberry schema (with the records and live fields, so every field a deployment can
serve is walked) from the example configs and a client config Strix was not written for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import graphql
import msgspec
import pytest
import strawberry
from nats.aio.client import Client

from strix_config import Catalog, load_catalog
from strix_contracts.caller import Caller
from strix_contracts.query import Condition, QueryRequest, QueryResponse, RecordsRequest, RecordsResponse, Row
from strix_gateway.history import recorded, removed_names
from strix_gateway.live import LiveFeed
from strix_gateway.schema import build_schema
from strix_gateway.types import NO_LONGER_ALLOWED, Removed


def signed_in() -> dict[str, Any]:
    """The GraphQL context the door makes for an admin (every module, no row filter)."""
    return {"caller": Caller(subject="test-admin", kind="user", scopes=("admin",))}


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


# --- the modules query ----------------------------------------------------------------------------------------

MODULES = """{ modules {
  name graphqlName recordsField label description keepsRawEvents rawRetention granularities timeUnits
  dimensions { name graphqlName enumValue label description unit format field type graphqlType
               allowedValues { value graphqlName } filterType filterOperators }
  metrics { name graphqlName enumValue label description unit format kind graphqlType field numerator denominator
            level }
  rollups { name granularity dimensions metrics retention }
  joins { name graphqlName module label description match { dimension joinedDimension } joinedMetrics }
  queries { name graphqlName label description window { last unit preset } granularity timeZone metrics groupBy
            filters { dimension operator values } orderBy { field descending } limit top { n by others } compare
            fill }
} }"""


async def modules(catalog: Catalog) -> dict[str, dict[str, Any]]:
    result = await full_schema(catalog).execute(context_value=signed_in(), query=MODULES)
    assert result.errors is None, result.errors
    assert result.data is not None
    return {m["name"]: m for m in result.data["modules"]}


async def test_modules_describe_the_example_configs() -> None:
    catalog = load_catalog(CATALOGS["examples"])
    found = await modules(catalog)
    assert sorted(found) == ["campaigns", "clickstream", "gaming"]
    click = found["clickstream"]
    assert (click["graphqlName"], click["recordsField"], click["keepsRawEvents"], click["rawRetention"]) == (
        "clickstream",
        "clickstreamRecords",
        True,
        "30d",
    )
    assert click["label"] == "Web store clickstream"
    assert click["granularities"] == ["MINUTE", "HOUR", "DAY", "WEEK", "MONTH", "TOTAL"]
    assert click["timeUnits"] == ["MINUTE", "HOUR", "DAY", "WEEK", "MONTH"]
    dims = {d["name"]: d for d in click["dimensions"]}
    assert list(dims) == ["action", "product_group", "product", "country", "device"]
    action = dims["action"]
    assert action["graphqlType"] == "ClickstreamActionValue" and action["filterType"] == "ClickstreamActionFilter"
    assert action["allowedValues"] == [
        {"value": "view", "graphqlName": "view"},
        {"value": "add_to_cart", "graphqlName": "add_to_cart"},
        {"value": "purchase", "graphqlName": "purchase"},
    ]
    assert action["filterOperators"] == ["EQ", "NEQ", "IN", "NOT_IN"]
    assert (action["label"], action["type"], action["enumValue"]) == ("Action", "STRING", "ACTION")
    product = dims["product"]
    assert (product["field"], product["graphqlName"], product["graphqlType"], product["allowedValues"]) == (
        "product_id",
        "product",
        "String",
        None,
    )
    assert product["filterOperators"] == [
        "EQ", "NEQ", "IN", "NOT_IN", "PREFIX", "CONTAINS", "GT", "GTE", "LT", "LTE"
    ]  # fmt: skip
    metrics = {m["name"]: m for m in click["metrics"]}
    # Kind -> type, written out here rather than derived: counts and distinct counts are Long, money Float.
    assert {name: (m["kind"], m["graphqlType"]) for name, m in metrics.items()} == {
        "events": ("COUNT", "Long"),
        "customers": ("UNIQ", "Long"),
        "sessions": ("UNIQ", "Long"),
        "views": ("COUNT", "Long"),
        "carts": ("COUNT", "Long"),
        "purchases": ("COUNT", "Long"),
        "revenue": ("SUM", "Float"),  # over a decimal field
        "items_sold": ("SUM", "Long"),  # over an int field
        "avg_price": ("AVG", "Float"),
        "max_price": ("MAX", "Float"),
        "median_price": ("QUANTILE", "Float"),
        "conversion_rate": ("RATIO", "Float"),
    }
    assert metrics["revenue"] | {} == {
        "name": "revenue",
        "graphqlName": "revenue",
        "enumValue": "REVENUE",
        "label": "Revenue",
        "description": "Sum of prices of purchased items.",
        "unit": "EUR",
        "format": "currency",
        "kind": "SUM",
        "graphqlType": "Float",
        "field": "price",
        "numerator": None,
        "denominator": None,
        "level": None,
    }
    assert (metrics["conversion_rate"]["numerator"], metrics["conversion_rate"]["denominator"]) == (
        "purchases",
        "views",
    )
    assert metrics["median_price"]["level"] == 0.5
    rollups = {r["name"]: r for r in click["rollups"]}
    assert rollups["minute_overview"] == {
        "name": "minute_overview",
        "granularity": "MINUTE",
        "dimensions": ["action"],
        "metrics": [m for m in metrics if m != "conversion_rate"],  # every stored metric when none are listed
        "retention": "2d",
    }
    assert rollups["daily_groups"]["retention"] is None
    (join,) = click["joins"]
    assert join["graphqlName"] == "clickstreamWithCampaigns" and join["module"] == "campaigns"
    assert join["match"] == [
        {"dimension": "product_group", "joinedDimension": "product_group"},
        {"dimension": "country", "joinedDimension": "country"},
    ]
    assert join["joinedMetrics"] == ["impressions", "clicks", "spend", "ctr"]
    queries = {q["name"]: q for q in click["queries"]}
    top = queries["top_groups_today"]
    assert top["graphqlName"] == "clickstreamTopGroupsToday"
    assert top["window"] == {"last": None, "unit": None, "preset": "TODAY"}
    assert (top["granularity"], top["groupBy"], top["compare"], top["fill"]) == (
        "HOUR",
        ["product_group"],
        "PREVIOUS_PERIOD",
        True,
    )
    assert top["top"] == {"n": 5, "by": "revenue", "others": True}
    gaming = {d["name"]: d for d in found["gaming"]["dimensions"]}
    assert gaming["seed"]["graphqlType"] == "Long" and gaming["seed"]["filterType"] == "IntFilter"


async def test_modules_describe_a_client_config() -> None:
    """The fleet keeps no raw events: no records field, and no granularity finer than its hourly rollup."""
    found = await modules(load_catalog(CATALOGS["client"]))
    fleet = found["fleet"]
    assert (fleet["recordsField"], fleet["keepsRawEvents"]) == (None, False)
    assert fleet["granularities"] == ["HOUR", "DAY", "WEEK", "MONTH", "TOTAL"]
    assert fleet["timeUnits"] == ["HOUR", "DAY", "WEEK", "MONTH"]
    dims = {d["name"]: d for d in fleet["dimensions"]}
    assert (dims["zone"]["graphqlType"], dims["zone"]["filterOperators"]) == (
        "Long",
        ["EQ", "NEQ", "IN", "NOT_IN", "GT", "GTE", "LT", "LTE"],
    )
    assert (dims["on_time"]["graphqlType"], dims["on_time"]["filterOperators"]) == ("Boolean", ["EQ"])
    assert dims["depot"]["graphqlType"] == "FleetDepotValue"
    types = {m["name"]: m["graphqlType"] for m in fleet["metrics"]}
    assert types == {
        "trips": "Long",
        "late_trips": "Long",
        "distance": "Float",  # sum of a float field
        "vehicles": "Long",
        "heaviest": "Long",  # max of an int field
        "lightest": "Long",
        "avg_load": "Float",
        "tolls": "Float",  # sum of a decimal field
        "late_share": "Float",
        "km_per_trip": "Float",
    }


# --- allowed values as enums -----------------------------------------------------------------------------------

PARCELS = """
module: parcels
label: Parcels
description: Parcels handed over at lockers.
event:
  time_field: at
  fields:
    at: {type: datetime, description: When the parcel was handed over.}
    locale: {type: string, allowed: [fi, en-US, en_US, "true", 9lives], description: Language of the receipt.}
    size: {type: string, allowed: [S, M, L], description: Parcel size.}
    locker: {type: string, description: Locker id.}
    weight_g: {type: int, description: Weight., unit: g}
partition_by: locker
dimensions:
  locale: {label: Locale, description: Receipt language.}
  size: {label: Size, description: Parcel size.}
  locker: {description: Locker id.}
metrics:
  parcels: {kind: count, description: Parcels.}
  grams: {kind: sum, field: weight_g, description: Total weight., unit: g}
rollups:
  hourly: {granularity: hour, dimensions: [locale, size]}
"""


@pytest.fixture(scope="module")
def parcels(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """A module for a domain not in configs/, with allowed values that are not GraphQL names."""
    directory = tmp_path_factory.mktemp("parcels")
    (directory / "parcels.yaml").write_text(PARCELS, encoding="utf-8")
    return load_catalog(directory)


def test_allowed_values_become_enums_with_a_documented_mapping(parcels: Catalog) -> None:
    schema = full_schema(parcels)
    sdl = graphql.build_client_schema(schema.introspect())
    locale = sdl.get_type("ParcelsLocaleValue")
    assert isinstance(locale, graphql.GraphQLEnumType)
    # A value that is a GraphQL name stands for itself; the others: `_` for other characters, `v` before a
    # digit, `_` after true/false/null, `_2` when taken.
    assert list(locale.values) == ["fi", "en_US_2", "en_US", "true_", "v9lives"]
    assert "stands for 'en-US'" in (locale.values["en_US_2"].description or "")
    row = sdl.get_type("ParcelsRow")
    where = sdl.get_type("ParcelsWhere")
    assert isinstance(row, graphql.GraphQLObjectType) and isinstance(where, graphql.GraphQLInputObjectType)
    assert graphql.get_named_type(row.fields["locale"].type).name == "ParcelsLocaleValue"
    assert graphql.get_named_type(row.fields["locker"].type).name == "String"
    assert graphql.get_named_type(row.fields["grams"].type).name == "Long"
    size_filter = graphql.get_named_type(where.fields["size"].type)
    assert isinstance(size_filter, graphql.GraphQLInputObjectType)
    assert set(size_filter.fields) == {"eq", "neq", "in", "notIn"}
    for op in size_filter.fields.values():
        assert graphql.get_named_type(op.type).name == "ParcelsSizeValue"
    assert undescribed(sdl) == []


@dataclass
class Recorder:
    rows: list[Row]
    requests: list[QueryRequest] = field(default_factory=list)

    async def __call__(self, request: QueryRequest) -> QueryResponse:
        self.requests.append(request)
        start = datetime(2026, 3, 9, tzinfo=UTC)
        return QueryResponse(
            module=request.module,
            granularity=request.granularity,
            time_zone=request.time_zone,
            start=start,
            end=start + timedelta(days=1),
            source="rollup:hourly",
            source_reason="test",
            rows=self.rows,
        )


async def test_enum_filters_send_the_values_they_stand_for(parcels: Catalog) -> None:
    recorder = Recorder(rows=[])
    schema = build_schema(parcels, recorder)
    result = await schema.execute(
        context_value=signed_in(),
        query="query($s: [ParcelsSizeValue!]) { parcels(window: {last: 1, unit: DAY}, "
        "where: {locale: {in: [en_US_2, true_, fi]}, size: {notIn: $s}}) { rows { parcels } } }",
        variable_values={"s": ["S", "M"]},
    )
    assert result.errors is None, result.errors
    (request,) = recorder.requests
    assert sorted((c.dimension, c.op, c.value) for c in request.filters if isinstance(c, Condition)) == [
        ("locale", "in", ["en-US", "true", "fi"]),
        ("size", "not_in", ["S", "M"]),
    ]
    refused = await schema.execute(
        context_value=signed_in(),
        query='{ parcels(window: {last: 1, unit: DAY}, where: {size: {eq: "XL"}}) { source } }',
    )
    assert refused.errors is not None and "ParcelsSizeValue" in refused.errors[0].message


async def test_grouped_enum_values_come_back_the_same_from_both_executors(parcels: Catalog) -> None:
    """Rows carry stored values: an enum whose values are their own names is written by the fast path as it is;
    one with mapped values goes through the generic executor, which writes the names. Both give the same bytes."""
    rows = [
        Row(bucket=None, dimensions={"locale": "en-US", "size": "M"}, metrics={"parcels": 3, "grams": 4500}),
        Row(bucket=None, dimensions={"locale": "9lives", "size": "S"}, metrics={"parcels": 1, "grams": 12}),
    ]
    recorder = Recorder(rows=rows)
    schema = build_schema(parcels, recorder)
    query = "{ parcels(window: {last: 1, unit: DAY}, granularity: TOTAL, groupBy: [LOCALE, SIZE]) { rows { %s } } }"
    answers = {}
    for name, fields in {
        "size": "size parcels grams",
        "size, generic": "... on ParcelsRow { size parcels grams }",
        "locale": "locale size parcels",
        "locale, generic": "... on ParcelsRow { locale size parcels }",
    }.items():
        result = await schema.execute(context_value=signed_in(), query=query % fields)
        assert result.errors is None, (name, result.errors)
        answers[name] = msgspec.json.encode(result.data)
    layouts = [r.row_layout is not None for r in recorder.requests]
    assert layouts == [True, False, False, False]  # a mapped enum in the selection takes the generic executor
    assert (
        answers["size"]
        == answers["size, generic"]
        == (b'{"parcels":{"rows":[{"size":"M","parcels":3,"grams":4500},{"size":"S","parcels":1,"grams":12}]}}')
    )
    assert answers["locale"] == answers["locale, generic"]
    assert json.loads(answers["locale"])["parcels"]["rows"] == [
        {"locale": "en_US_2", "size": "M", "parcels": 3},
        {"locale": "v9lives", "size": "S", "parcels": 1},
    ]


def test_history_keeps_values_no_longer_allowed() -> None:
    seen = recorded({}, ["locale", "size"], ["parcels"], {"size": ["S", "M", "L", "XL"]})
    assert seen == {"dimensions": ["locale", "size"], "metrics": ["parcels"], "values": {"size": ["L", "M", "S", "XL"]}}
    removed = removed_names(seen, ["locale", "size"], ["parcels"], {"size": ["S", "M", "L"]})
    assert removed == Removed(values={"size": ("XL",)})
    assert removed_names(seen, ["locale"], ["parcels"], {}) == Removed(dimensions=("size",))  # the whole dimension
    assert recorded(seen, ["size"], ["parcels"], {"size": ["S"]})["values"] == {"size": ["L", "M", "S", "XL"]}


async def test_a_value_no_longer_allowed_stays_deprecated_and_rows_carrying_it_are_answered(parcels: Catalog) -> None:
    """Events stored while XL was allowed still say XL: both executors write it, the schema marks it deprecated."""
    rows = [Row(bucket=None, dimensions={"size": "XL"}, metrics={"parcels": 2})]
    recorder = Recorder(rows=rows)
    removed = {"parcels": Removed(values={"size": ("XL",)})}
    schema = build_schema(parcels, recorder, removed=removed)
    size = graphql.build_client_schema(schema.introspect()).get_type("ParcelsSizeValue")
    assert isinstance(size, graphql.GraphQLEnumType)
    assert list(size.values) == ["S", "M", "L", "XL"]
    assert size.values["XL"].deprecation_reason == NO_LONGER_ALLOWED
    assert not size.values["S"].deprecation_reason
    query = "{ parcels(window: {last: 1, unit: DAY}, granularity: TOTAL, groupBy: [SIZE]) { rows { %s } } }"
    laid_out = await schema.execute(context_value=signed_in(), query=query % "size parcels")
    generic = await schema.execute(context_value=signed_in(), query=query % "... on ParcelsRow { size parcels }")
    assert laid_out.errors is None and generic.errors is None, (laid_out.errors, generic.errors)
    assert msgspec.json.encode(laid_out.data) == msgspec.json.encode(generic.data)
    assert msgspec.json.encode(laid_out.data) == b'{"parcels":{"rows":[{"size":"XL","parcels":2}]}}'
    found = await schema.execute(
        context_value=signed_in(), query="{ modules { dimensions { name allowedValues { value } } } }"
    )
    assert found.data is not None
    (dims,) = [m["dimensions"] for m in found.data["modules"]]
    assert [v["value"] for v in next(d for d in dims if d["name"] == "size")["allowedValues"]] == ["S", "M", "L"]
