"""The GraphQL schema generated from the example configs: its SDL, and what a query becomes on the wire.

`run` is the gateway's seam to NATS (one QueryRequest out, one QueryResponse back); here it records the request
it receives, so each test checks the translation of GraphQL input into the query contract.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import graphql
import msgspec
import pytest
import strawberry

from strix_config import Catalog, ModuleConfig, load_catalog
from strix_contracts.caller import Caller
from strix_contracts.errors import NotFound, QueryError, StrixError
from strix_contracts.query import AllOf, AnyOf, Condition, QueryRequest, QueryResponse, Row
from strix_gateway.schema import MAX_ALIASES, build_schema


def signed_in() -> dict[str, Any]:
    """The GraphQL context the door makes for an admin (every module, no row filter)."""
    return {"caller": Caller(subject="test-admin", kind="user", scopes=("admin",))}


REPO = Path(__file__).resolve().parents[3]
CONFIGS = REPO / "configs"
FLEET = REPO / "tests" / "fixtures" / "client-configs" / "fleet.yaml"
START = datetime(2026, 3, 9, tzinfo=UTC)
END = datetime(2026, 3, 10, tzinfo=UTC)


def pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def camel(name: str) -> str:
    text = pascal(name)
    return text[:1].lower() + text[1:]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(CONFIGS)


@pytest.fixture(scope="module")
def sdl(catalog: Catalog) -> graphql.GraphQLSchema:
    """The printed SDL, parsed back: what a client (and the web UI) sees."""

    async def unused(request: QueryRequest) -> QueryResponse:
        raise AssertionError("no query runs while printing the schema")

    return graphql.build_schema(str(build_schema(catalog, unused)))


@dataclass
class Recorder:
    """Records each request and answers with `rows` (or raises `error`)."""

    rows: list[Row] = field(default_factory=list)
    error: StrixError | None = None
    requests: list[QueryRequest] = field(default_factory=list)

    async def __call__(self, request: QueryRequest) -> QueryResponse:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        return QueryResponse(
            module=request.module,
            granularity=request.granularity,
            time_zone=request.time_zone,
            start=START,
            end=END,
            source="rollup:hourly_groups",
            source_reason="test",
            rows=self.rows,
        )


async def execute(catalog: Catalog, recorder: Recorder, query: str) -> Any:
    schema: strawberry.Schema = build_schema(catalog, recorder)
    return await schema.execute(context_value=signed_in(), query=query)


async def ask(catalog: Catalog, query: str) -> QueryRequest:
    """Run `query`, which must succeed and make exactly one request; return that request."""
    recorder = Recorder()
    result = await execute(catalog, recorder, query)
    assert result.errors is None, result.errors
    assert len(recorder.requests) == 1
    return recorder.requests[0]


# --- the SDL --------------------------------------------------------------------------------------------------


def test_one_query_field_per_module(catalog: Catalog, sdl: graphql.GraphQLSchema) -> None:
    assert sdl.query_type is not None
    fields = sdl.query_type.fields
    for name, config in catalog.modules.items():
        query_field = fields[camel(name)]
        assert graphql.get_named_type(query_field.type).name == f"{pascal(name)}Result"
        assert query_field.description == config.description
        assert {"window", "metrics", "granularity", "timeZone", "where", "groupBy", "orderBy", "limit"} <= set(
            query_field.args
        )
        assert graphql.is_non_null_type(query_field.args["window"].type)
        assert not graphql.is_non_null_type(query_field.args["metrics"].type)  # rows may select them instead


def _enum(sdl: graphql.GraphQLSchema, name: str) -> graphql.GraphQLEnumType:
    found = sdl.get_type(name)
    assert isinstance(found, graphql.GraphQLEnumType), name
    return found


def test_dimension_and_metric_enums_hold_every_config_name(catalog: Catalog, sdl: graphql.GraphQLSchema) -> None:
    for name, config in catalog.modules.items():
        dims = _enum(sdl, f"{pascal(name)}Dimension")
        assert set(dims.values) == {d.upper() for d in config.dimensions}
        metrics = _enum(sdl, f"{pascal(name)}Metric")
        assert set(metrics.values) == {m.upper() for m in config.metrics}


def test_enum_values_carry_the_config_descriptions(catalog: Catalog, sdl: graphql.GraphQLSchema) -> None:
    for name, config in catalog.modules.items():
        dims = _enum(sdl, f"{pascal(name)}Dimension")
        for dim, spec in config.dimensions.items():
            description = dims.values[dim.upper()].description
            assert spec.description and description and spec.description in description
        metrics = _enum(sdl, f"{pascal(name)}Metric")
        for metric, metric_spec in config.metrics.items():
            description = metrics.values[metric.upper()].description
            assert metric_spec.description and description and metric_spec.description in description


def test_descriptions_add_allowed_values_and_units(sdl: graphql.GraphQLSchema) -> None:
    action = _enum(sdl, "ClickstreamDimension").values["ACTION"].description or ""
    assert "view, add_to_cart, purchase" in action
    revenue = _enum(sdl, "ClickstreamMetric").values["REVENUE"].description or ""
    assert "EUR" in revenue and "currency" in revenue


def test_predefined_query_docs_do_not_mistake_the_window_unit_for_a_value_unit(sdl: graphql.GraphQLSchema) -> None:
    """`unit: day` of a predefined query is the unit of its default window (`last: 7`), not a unit of values:
    the docs of the field must not say "Unit: day."."""
    assert sdl.query_type is not None
    description = sdl.query_type.fields["clickstreamConversionByCountry"].description or ""
    assert description.startswith("Daily views, purchases and conversion rate per country over the last week.")
    assert "Unit: day" not in description


def test_where_input_has_a_typed_filter_per_dimension(catalog: Catalog, sdl: graphql.GraphQLSchema) -> None:
    for name, config in catalog.modules.items():
        where = sdl.get_type(f"{pascal(name)}Where")
        assert isinstance(where, graphql.GraphQLInputObjectType)
        assert set(where.fields) == {camel(d) for d in config.dimensions} | {"and", "or"}
        for dim, spec in config.dimensions.items():
            kind = config.field_type(config.dimension_field(dim))
            wanted = {"int": "IntFilter", "bool": "BoolFilter"}.get(kind, "StringFilter")
            if config.event.fields[config.dimension_field(dim)].allowed:
                wanted = f"{pascal(name)}{pascal(dim)}Filter"
            assert graphql.get_named_type(where.fields[camel(dim)].type).name == wanted
            assert where.fields[camel(dim)].description and spec.description in where.fields[camel(dim)].description
        for combinator in ("and", "or"):
            combined = where.fields[combinator].type
            assert graphql.is_list_type(combined)
            assert graphql.get_named_type(combined).name == f"{pascal(name)}Where"


def test_int_dimensions_use_the_long_scalar(catalog: Catalog, sdl: graphql.GraphQLSchema) -> None:
    gaming: ModuleConfig = catalog.modules["gaming"]
    assert gaming.field_type(gaming.dimension_field("seed")) == "int"
    assert isinstance(sdl.get_type("Long"), graphql.GraphQLScalarType)
    int_filter = sdl.get_type("IntFilter")
    assert isinstance(int_filter, graphql.GraphQLInputObjectType)
    for op in ("eq", "neq", "gt", "gte", "lt", "lte", "in", "notIn"):
        assert graphql.get_named_type(int_filter.fields[op].type).name == "Long"
    row = sdl.get_type("GamingRow")
    assert isinstance(row, graphql.GraphQLObjectType)
    assert graphql.get_named_type(row.fields["seed"].type).name == "Long"
    assert graphql.get_named_type(row.fields["game"].type).name == "String"


def test_row_and_result_types(catalog: Catalog, sdl: graphql.GraphQLSchema) -> None:
    for name, config in catalog.modules.items():
        row = sdl.get_type(f"{pascal(name)}Row")
        assert isinstance(row, graphql.GraphQLObjectType)
        expected = {camel(d) for d in config.dimensions} | {camel(m) for m in config.metrics} | {"bucket"}
        assert expected <= set(row.fields)
        values = sdl.get_type(f"{pascal(name)}Values")
        ratios = sdl.get_type(f"{pascal(name)}Ratios")
        assert isinstance(values, graphql.GraphQLObjectType) and isinstance(ratios, graphql.GraphQLObjectType)
        for metric, spec in config.metrics.items():
            over = config.field_type(spec.field) if hasattr(spec, "field") else None
            integer = spec.kind in ("count", "uniq", "uniq_exact") or (
                spec.kind in ("sum", "min", "max") and over == "int"
            )
            wanted = "Long" if integer else "Float"
            assert graphql.get_named_type(row.fields[camel(metric)].type).name == wanted, metric
            assert graphql.get_named_type(values.fields[camel(metric)].type).name == wanted, metric
            assert graphql.get_named_type(ratios.fields[camel(metric)].type).name == "Float", metric
        assert graphql.get_named_type(row.fields["changeRatio"].type).name == f"{pascal(name)}Ratios"
        result = sdl.get_type(f"{pascal(name)}Result")
        assert isinstance(result, graphql.GraphQLObjectType)
        assert {"rows", "source", "start", "end", "granularity", "timeZone"} <= set(result.fields)


# --- translation of GraphQL input into a QueryRequest --------------------------------------------------------


async def test_relative_query_translates_every_argument(catalog: Catalog) -> None:
    request = await ask(
        catalog,
        """{ clickstream(
              window: {last: 24, unit: HOUR}, granularity: DAY, timeZone: "Europe/Paris",
              where: {action: {eq: purchase}, country: {in: ["FR", "DE"]}},
              groupBy: [PRODUCT_GROUP, COUNTRY], metrics: [REVENUE, CONVERSION_RATE],
              orderBy: [{field: REVENUE}, {field: COUNTRY, descending: false}], limit: 10
            ) { source } }""",
    )
    assert request.module == "clickstream"
    assert (request.window.last, request.window.unit) == (24, "hour")
    assert request.window.start is None and request.window.preset is None
    assert request.granularity == "day"
    assert request.time_zone == "Europe/Paris"
    assert sorted(request.filters, key=repr) == sorted(
        [
            Condition(dimension="action", op="eq", value="purchase"),
            Condition(dimension="country", op="in", value=["FR", "DE"]),
        ],
        key=repr,
    )
    assert request.group_by == ["product_group", "country"]
    assert request.metrics == ["revenue", "conversion_rate"]
    assert [(o.field, o.descending) for o in request.order_by] == [("revenue", True), ("country", False)]
    assert request.limit == 10


async def test_defaults(catalog: Catalog) -> None:
    request = await ask(catalog, "{ clickstream(window: {preset: TODAY}, metrics: [EVENTS]) { source } }")
    assert request.window.preset == "today"
    assert request.granularity == "hour"
    assert request.time_zone == "UTC"
    assert request.filters == []
    assert request.group_by == []
    assert request.order_by == []
    assert request.limit is None
    assert request.top is None and request.compare is None and request.join is None


async def test_absolute_window_keeps_its_instants(catalog: Catalog) -> None:
    request = await ask(
        catalog,
        """{ clickstream(window: {start: "2026-03-09T10:00:00+01:00", end: "2026-03-10T10:00:00Z"},
                         metrics: [EVENTS]) { source } }""",
    )
    assert request.window.start == datetime(2026, 3, 9, 10, tzinfo=timezone(timedelta(hours=1)))
    assert request.window.end == datetime(2026, 3, 10, 10, tzinfo=UTC)
    assert request.window.last is None


async def test_where_and_or_become_a_filter_tree(catalog: Catalog) -> None:
    request = await ask(
        catalog,
        """{ clickstream(window: {last: 1, unit: DAY}, metrics: [EVENTS], where: {
              device: {neq: tablet},
              or: [{country: {eq: "FR"}}, {productGroup: {prefix: "sh", neq: "shirts"}}],
              and: [{action: {notIn: [view]}}, {or: [{country: {contains: "E"}}, {device: {eq: mobile}}]}]
            }) { source } }""",
    )
    conditions = [f for f in request.filters if isinstance(f, Condition)]
    assert conditions == [Condition(dimension="device", op="neq", value="tablet")]
    any_of = [f for f in request.filters if isinstance(f, AnyOf)]
    all_of = [f for f in request.filters if isinstance(f, AllOf)]
    assert len(request.filters) == 3 and len(any_of) == 1 and len(all_of) == 1
    # or: at least one of the two alternatives, each alternative all of its tests.
    first, second = any_of[0].any
    assert flatten(first) == [("country", "eq", "FR")]
    assert sorted(flatten(second)) == [("product_group", "neq", "shirts"), ("product_group", "prefix", "sh")]
    assert isinstance(second, AllOf)
    # and: all of the alternatives; the nested or stays an or.
    one, two = all_of[0].all
    assert flatten(one) == [("action", "not_in", ["view"])]
    nested = [f for f in walk(two) if isinstance(f, AnyOf)]
    assert len(nested) == 1
    assert [flatten(alternative) for alternative in nested[0].any] == [
        [("country", "contains", "E")],
        [("device", "eq", "mobile")],
    ]


def walk(item: Any) -> list[Any]:
    found = [item]
    for child in getattr(item, "all", None) or getattr(item, "any", None) or []:
        found += walk(child)
    return found


def flatten(item: Any) -> list[tuple[str, str, Any]]:
    """The conditions under an all-of (refusing any or-group on the way)."""
    if isinstance(item, Condition):
        return [(item.dimension, item.op, item.value)]
    assert isinstance(item, AllOf), item
    return [found for child in item.all for found in flatten(child)]


async def test_int_filters_take_64_bit_values(catalog: Catalog) -> None:
    request = await ask(
        catalog,
        """{ gaming(window: {last: 1, unit: DAY}, metrics: [ROUNDS, RTP], groupBy: [SEED],
                    where: {seed: {gte: 10, lt: 5000000000, in: [7, 4294967296]}}) { source } }""",
    )
    assert sorted(flatten(AllOf(all=request.filters)), key=repr) == sorted(
        [("seed", "gte", 10), ("seed", "lt", 5_000_000_000), ("seed", "in", [7, 4_294_967_296])], key=repr
    )
    assert request.group_by == ["seed"]


async def test_top_and_compare(catalog: Catalog) -> None:
    request = await ask(
        catalog,
        """{ clickstream(window: {preset: TODAY}, metrics: [REVENUE], groupBy: [PRODUCT_GROUP],
                         top: {n: 5, by: REVENUE, others: false}, compare: WEEK_EARLIER, fill: true) { source } }""",
    )
    assert request.top is not None
    assert (request.top.n, request.top.by, request.top.others) == (5, "revenue", False)
    assert request.compare == "week_earlier"
    assert request.fill is True


async def test_predefined_query_sends_its_config_with_overrides(catalog: Catalog) -> None:
    query = catalog.modules["clickstream"].queries["top_groups_today"]
    request = await ask(catalog, '{ clickstreamTopGroupsToday(timeZone: "Asia/Kolkata") { source } }')
    assert request.window.preset == "today"
    assert request.time_zone == "Asia/Kolkata"
    assert request.group_by == query.group_by
    assert request.metrics == query.metrics
    assert request.top is not None and (request.top.n, request.top.by) == (5, "revenue")
    overridden = await ask(catalog, "{ clickstreamTopGroupsToday(window: {last: 2, unit: DAY}) { source } }")
    assert (overridden.window.last, overridden.window.unit, overridden.window.preset) == (2, "day", None)
    assert overridden.time_zone == "UTC"


async def test_join_field_sends_the_join(catalog: Catalog) -> None:
    request = await ask(
        catalog,
        """{ clickstreamWithCampaigns(window: {last: 1, unit: DAY}, metrics: [REVENUE], joinedMetrics: [SPEND, CTR],
                                     kind: LEFT, groupBy: [PRODUCT_GROUP]) { source } }""",
    )
    assert request.join is not None
    assert (request.join.name, request.join.kind, request.join.metrics) == ("campaigns", "left", ["spend", "ctr"])
    assert request.group_by == ["product_group"]


async def test_answer_rows_come_back_typed(catalog: Catalog) -> None:
    recorder = Recorder(
        rows=[
            Row(
                bucket=START,
                dimensions={"seed": 5_000_000_000},
                metrics={"rounds": 3, "rtp": 0.5},
                previous={"rounds": 2, "rtp": None},
            ),
            Row(
                bucket=START,
                dimensions={"seed": 8},
                metrics={"rounds": 1, "rtp": None},
                previous={"rounds": 0, "rtp": 1},
            ),
        ]
    )
    fields = "bucket seed rounds rtp game __typename twice: rounds previous { rtp rounds } change { rounds }"
    query = "{ gaming(window: {last: 1, unit: DAY}, metrics: [ROUNDS, RTP], groupBy: [SEED]) { source rows { %s } } }"
    result = await execute(catalog, recorder, query % fields)
    assert result.errors is None, result.errors
    data = json.loads(msgspec.json.encode(result.data))["gaming"]  # what a client reads
    assert data["source"] == "rollup:hourly_groups"
    assert data["rows"] == [
        {
            "bucket": "2026-03-09T00:00:00+00:00",
            "seed": 5_000_000_000,
            "rounds": 3,
            "rtp": 0.5,
            "game": None,
            "__typename": "GamingRow",
            "twice": 3,
            "previous": {"rtp": None, "rounds": 2},
            "change": None,
        },
        {
            "bucket": "2026-03-09T00:00:00+00:00",
            "seed": 8,
            "rounds": 1,
            "rtp": None,
            "game": None,
            "__typename": "GamingRow",
            "twice": 1,
            "previous": {"rtp": 1.0, "rounds": 0},
            "change": None,
        },
    ]
    # Plain fields: the query service was asked for rows laid out as the selection (and wrote them above).
    layout = recorder.requests[0].row_layout
    assert layout is not None
    assert [f.key for f in layout] == [
        "bucket",
        "seed",
        "rounds",
        "rtp",
        "game",
        "__typename",
        "twice",
        "previous",
        "change",
    ]
    # An inline fragment takes graphql-core's generic executor: the same bytes, keys in the same order.
    generic = await execute(catalog, recorder, query % f"... on GamingRow {{ {fields} }}")
    assert recorder.requests[1].row_layout is None
    assert msgspec.json.encode(generic.data) == msgspec.json.encode(result.data)


# --- a client config with bool, int and decimal dimensions -------------------------------------------------


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """The fleet fixture (bool and int dimensions, no raw events), plus its decimal `toll` field as a dimension:
    the config model accepts decimal dimensions (only float and datetime ones are refused)."""
    directory = tmp_path_factory.mktemp("fleet-configs")
    text = FLEET.read_text(encoding="utf-8")
    assert "\ndimensions:\n" in text
    text = text.replace("\ndimensions:\n", "\ndimensions:\n  toll: {description: Toll paid.}\n", 1)
    (directory / "fleet.yaml").write_text(text, encoding="utf-8")
    return load_catalog(directory)


async def test_bool_and_int_dimensions_filter_with_their_own_types(fleet: Catalog) -> None:
    request = await ask(
        fleet,
        "{ fleet(window: {last: 1, unit: DAY}, metrics: [TRIPS], where: {onTime: {eq: false}, zone: {in: [1, 2]}}) { source } }",
    )
    assert sorted(flatten(AllOf(all=request.filters)), key=repr) == sorted(
        [("on_time", "eq", False), ("zone", "in", [1, 2])], key=repr
    )
    assert isinstance(request.filters[0], Condition)


def test_decimal_dimensions_get_a_numeric_filter(fleet: Catalog) -> None:
    async def unused(request: QueryRequest) -> QueryResponse:
        raise AssertionError

    schema = graphql.build_schema(str(build_schema(fleet, unused)))
    where = schema.get_type("FleetWhere")
    assert isinstance(where, graphql.GraphQLInputObjectType)
    assert graphql.get_named_type(where.fields["onTime"].type).name == "BoolFilter"
    assert graphql.get_named_type(where.fields["zone"].type).name == "IntFilter"
    # The query service compares a decimal dimension with numbers (it refuses strings): a string filter here
    # would make every filter on it fail one way or the other.
    assert graphql.get_named_type(where.fields["toll"].type).name != "StringFilter"


async def test_decimal_dimension_filter_sends_a_number(fleet: Catalog) -> None:
    recorder = Recorder()
    result = await execute(
        fleet,
        recorder,
        "{ fleet(window: {last: 1, unit: DAY}, metrics: [TRIPS], where: {toll: {gte: 2.5}}) { source } }",
    )
    assert result.errors is None, result.errors
    (condition,) = recorder.requests[0].filters
    assert isinstance(condition, Condition)
    assert (condition.dimension, condition.op) == ("toll", "gte")
    assert isinstance(condition.value, int | float) and not isinstance(condition.value, bool)
    assert condition.value == 2.5


async def test_grouped_decimal_and_int_dimensions_come_back_as_numbers(fleet: Catalog) -> None:
    """ClickHouse gives decimals as Decimal: both executors must write the Float the schema promises."""
    rows = [Row(bucket=START, dimensions={"toll": Decimal("12.50"), "zone": 7, "on_time": True}, metrics={"trips": 4})]
    recorder = Recorder(rows=rows)
    fields = "toll zone onTime trips"
    query = "{ fleet(window: {last: 1, unit: DAY}, metrics: [TRIPS], groupBy: [TOLL, ZONE, ON_TIME]) { rows { %s } } }"
    laid_out = await execute(fleet, recorder, query % fields)
    generic = await execute(fleet, recorder, query % f"... on FleetRow {{ {fields} }}")
    assert laid_out.errors is None and generic.errors is None, (laid_out.errors, generic.errors)
    assert recorder.requests[0].row_layout is not None and recorder.requests[1].row_layout is None
    expected = {"fleet": {"rows": [{"toll": 12.5, "zone": 7, "onTime": True, "trips": 4}]}}
    assert json.loads(msgspec.json.encode(laid_out.data)) == expected
    assert msgspec.json.encode(laid_out.data) == msgspec.json.encode(generic.data)


# --- errors ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (QueryError("unknown metric 'revenu'", argument="metrics", hint="did you mean 'revenue'?"), "INVALID_QUERY"),
        (NotFound("unknown module", argument="module", hint="known: clickstream"), "NOT_FOUND"),
    ],
)
async def test_strix_errors_become_graphql_errors_with_extensions(
    catalog: Catalog, error: StrixError, code: str
) -> None:
    recorder = Recorder(error=error)
    result = await execute(
        catalog, recorder, "{ clickstream(window: {last: 1, unit: DAY}, metrics: [EVENTS]) { source } }"
    )
    assert result.data is None
    assert result.errors is not None and len(result.errors) == 1
    rendered = result.errors[0]
    assert rendered.extensions == {"code": code, "argument": error.argument, "hint": error.hint}
    assert error.message in rendered.message
    assert rendered.path == ["clickstream"]


async def test_invalid_input_is_refused_before_any_request(catalog: Catalog) -> None:
    recorder = Recorder()
    result = await execute(
        catalog, recorder, "{ clickstream(window: {last: 1, unit: DAY}, metrics: [EVENTS], limit: 0) { source } }"
    )
    assert recorder.requests == []
    assert result.errors is not None
    assert result.errors[0].extensions == {"code": "INVALID_QUERY", "argument": "limit"}


async def test_naive_datetime_is_refused(catalog: Catalog) -> None:
    recorder = Recorder()
    result = await execute(
        catalog,
        recorder,
        '{ clickstream(window: {start: "2026-03-09T10:00:00", end: "2026-03-10T10:00:00"}, metrics: [EVENTS]) '
        "{ source } }",
    )
    assert recorder.requests == []
    assert result.errors is not None
    assert result.errors[0].extensions is not None
    assert result.errors[0].extensions["argument"] == "window.start"


async def test_unknown_enum_value_is_refused_by_the_schema(catalog: Catalog) -> None:
    recorder = Recorder()
    result = await execute(
        catalog, recorder, "{ clickstream(window: {last: 1, unit: DAY}, metrics: [REVENU]) { source } }"
    )
    assert recorder.requests == []
    assert result.errors is not None and "REVENU" in result.errors[0].message


# --- limits ---------------------------------------------------------------------------------------------------


def _aliased(count: int) -> str:
    field = "clickstream(window: {last: 1, unit: DAY}, metrics: [EVENTS]) { source }"
    return "{ " + " ".join(f"a{i}: {field}" for i in range(count)) + " }"


async def test_thirty_aliases_are_refused_before_any_request(catalog: Catalog) -> None:
    recorder = Recorder()
    result = await execute(catalog, recorder, _aliased(30))
    assert recorder.requests == []
    assert result.data is None
    assert result.errors is not None
    assert "alias" in result.errors[0].message.lower()


async def test_aliases_up_to_the_limit_are_served(catalog: Catalog) -> None:
    recorder = Recorder()
    result = await execute(catalog, recorder, _aliased(MAX_ALIASES))
    assert result.errors is None, result.errors
    assert len(recorder.requests) == MAX_ALIASES


async def test_a_huge_query_is_refused_by_the_token_limit(catalog: Catalog) -> None:
    recorder = Recorder()
    result = await execute(catalog, recorder, "{ modules { " + "name " * 5000 + "} }")
    assert result.data is None
    assert result.errors is not None
    assert "token" in result.errors[0].message.lower()


async def test_counts_are_written_without_a_fraction_by_both_executors(catalog: Catalog) -> None:
    """A count is a Long: `37444`, never `37444.0`, even where the query service computed it as a float (a change
    is now - then in floats); a relative change stays a Float."""
    rows = [
        Row(
            bucket=START,
            dimensions={},
            metrics={"rounds": 37444, "rtp": 0.5},
            previous={"rounds": 37000, "rtp": 0.25},
            change={"rounds": 444.0, "rtp": 0.25},
            change_ratio={"rounds": 0.012, "rtp": 1.0},
        )
    ]
    recorder = Recorder(rows=rows)
    fields = "rounds rtp previous { rounds } change { rounds rtp } changeRatio { rounds }"
    query = "{ gaming(window: {last: 1, unit: DAY}, metrics: [ROUNDS, RTP], compare: PREVIOUS_PERIOD) { rows { %s } } }"
    laid_out = await execute(catalog, recorder, query % fields)
    generic = await execute(catalog, recorder, query % f"... on GamingRow {{ {fields} }}")
    assert laid_out.errors is None and generic.errors is None, (laid_out.errors, generic.errors)
    text = msgspec.json.encode(laid_out.data)
    assert text == (
        b'{"gaming":{"rows":[{"rounds":37444,"rtp":0.5,"previous":{"rounds":37000},'
        b'"change":{"rounds":444,"rtp":0.25},"changeRatio":{"rounds":0.012}}]}}'
    )
    assert msgspec.json.encode(generic.data) == text


async def test_metrics_selected_in_rows_are_computed_without_being_listed(catalog: Catalog) -> None:
    """`metrics` may be left out or miss some: a metric selected in rows (directly, in a comparison group or in
    a fragment) is asked for, after the listed ones, never answered as a silent null."""
    request = await ask(
        catalog,
        "{ gaming(window: {last: 1, unit: DAY}) { rows { bucket rounds ... on GamingRow { rtp } } } }",
    )
    assert request.metrics == ["rounds", "rtp"]
    request = await ask(
        catalog,
        "query { gaming(window: {last: 1, unit: DAY}, metrics: [RTP], compare: PREVIOUS_PERIOD) "
        "{ rows { ...R previous { rounds } } } } fragment R on GamingRow { rtp changeRatio { winningRounds } }",
    )
    assert request.metrics == ["rtp", "winning_rounds", "rounds"]
    request = await ask(
        catalog,
        "{ clickstreamWithCampaigns(window: {last: 1, unit: DAY}) { rows { events joined { spend clicks } } } }",
    )
    assert request.metrics == ["events"]
    assert request.join is not None and request.join.metrics == ["spend", "clicks"]


async def test_a_predefined_query_computes_a_metric_selected_beyond_its_own(catalog: Catalog) -> None:
    request = await ask(catalog, "{ clickstreamTopGroupsToday { rows { revenue events } } }")
    assert request.metrics == ["revenue", "purchases", "customers", "events"]
