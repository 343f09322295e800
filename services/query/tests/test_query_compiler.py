"""SQL as text, without a server: rollups merge states, raw events aggregate directly, every caller value is a
typed parameter, and a bad query is refused with the argument that is wrong."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from strix_config import Catalog, ModuleConfig, load_catalog
from strix_contracts.caller import Caller
from strix_contracts.errors import NotFound, QueryError
from strix_contracts.query import AllOf, AnyOf, Condition, Filter, Order, QueryRequest, TimeWindow, TopN
from strix_query.compiler import MAX_ROWS, CompiledQuery, compile_query, compile_top_keys
from strix_query.plan import plan_query
from strix_query.planner import Source

# The query service answers only a verified caller; these tests are about planning and reading, so an admin asks.
ADMIN = Caller(subject="test-admin", kind="user", scopes=("admin",))
REPO = Path(__file__).resolve().parents[3]
CONFIGS = REPO / "configs"
CLIENT_CONFIGS = REPO / "tests" / "fixtures" / "client-configs"
NOW = datetime(2026, 3, 10, 10, 17, tzinfo=UTC)
START = datetime(2026, 3, 9, 11, tzinfo=UTC)
END = datetime(2026, 3, 10, 11, tzinfo=UTC)
DB = "strix_test"
EVIL = "x' OR 1=1 --"
PLACEHOLDER = re.compile(r"\{(\w+):([^{}]+)\}")

ROLLUP = Source("hourly_groups", "test")
RAW = Source(None, "test")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(CONFIGS)


@pytest.fixture(scope="module")
def clicks(catalog: Catalog) -> ModuleConfig:
    return catalog.modules["clickstream"]


@pytest.fixture(scope="module")
def gaming(catalog: Catalog) -> ModuleConfig:
    return catalog.modules["gaming"]


def request(module: str = "clickstream", **fields: Any) -> QueryRequest:
    first_metric = {"clickstream": "events", "gaming": "rounds", "campaigns": "clicks"}.get(module, "events")
    defaults: dict[str, Any] = {
        "window": TimeWindow(start=START, end=END),
        "granularity": "hour",
        "metrics": [first_metric],
    }
    return QueryRequest(module=module, caller=ADMIN, **{**defaults, **fields})


def compile_(config: ModuleConfig, source: Source, **fields: Any) -> CompiledQuery:
    compiled = compile_query(request(config.module, **fields), config, source, START, END, DB)
    check_parameters(compiled)
    return compiled


def check_parameters(compiled: CompiledQuery) -> None:
    """Every placeholder has a value and every value a placeholder."""
    used = {name for name, _ in PLACEHOLDER.findall(compiled.sql)}
    assert used == set(compiled.parameters), (compiled.sql, compiled.parameters)


def placeholder(compiled: CompiledQuery, value: Any) -> tuple[str, str]:
    """(name, type) of the one placeholder bound to `value`."""
    names = [name for name, bound in compiled.parameters.items() if bound == value]
    assert len(names) == 1, (value, compiled.parameters)
    types = {name: type_ for name, type_ in PLACEHOLDER.findall(compiled.sql)}
    return names[0], types[names[0]]


def shape(sql: str) -> str:
    """The SQL with every placeholder as `?`: what is left is what the compiler wrote itself."""
    return PLACEHOLDER.sub("?", sql)


def select_list(sql: str) -> list[str]:
    """The SELECT items, split on commas outside parentheses and quotes."""
    text = sql.split("\nFROM ")[0].removeprefix("SELECT ")
    items, depth, quote, current = [], 0, "", ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'`":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(current.strip())
            current = ""
            continue
        current += char
    return [*items, current.strip()]


def select_of(sql: str, alias: str) -> str:
    """The expression selected AS `alias`."""
    for item in select_list(sql):
        expression, _, name = item.rpartition(" AS ")
        if name == f"`{alias}`":
            return expression
    raise AssertionError(f"{alias} not selected in {sql}")


# --- rollup merges, raw aggregates ------------------------------------------------------------------------------


def test_rollup_merges_every_stored_metric(clicks: ModuleConfig) -> None:
    stored = clicks.stored_metrics()
    compiled = compile_(clicks, ROLLUP, metrics=stored, group_by=["country"])
    assert "FROM `strix_test`.`clickstream__hourly_groups`" in compiled.sql
    assert "WHERE `bucket` >= ? AND `bucket` < ?" in shape(compiled.sql)
    for name in stored:
        expression = select_of(compiled.sql, f"__m_{name}")
        assert re.fullmatch(rf"\w+Merge(\([0-9.]+\))?\(`{name}`\)", expression), expression
    assert select_of(compiled.sql, "__m_events") == "countMerge(`events`)"
    assert select_of(compiled.sql, "__m_purchases") == "countIfMerge(`purchases`)"
    assert select_of(compiled.sql, "__m_revenue") == "sumIfMerge(`revenue`)"
    assert select_of(compiled.sql, "__m_customers") == "uniqMerge(`customers`)"
    assert select_of(compiled.sql, "__m_median_price") == "quantileTDigestMerge(0.5)(`median_price`)"
    # rollup columns are named after the dimension
    assert select_of(compiled.sql, "__d_country") == "`country`"


def test_raw_aggregates_events_directly(clicks: ModuleConfig) -> None:
    stored = clicks.stored_metrics()
    compiled = compile_(clicks, RAW, metrics=stored, group_by=["product"])
    assert "FROM `strix_test`.`clickstream_events`" in compiled.sql
    assert "WHERE `ts` >= ? AND `ts` < ?" in shape(compiled.sql)
    assert "Merge" not in compiled.sql
    assert "State" not in compiled.sql
    assert select_of(compiled.sql, "__m_events") == "count()"
    assert select_of(compiled.sql, "__m_purchases") == "countIf(`action` = 'purchase')"
    assert select_of(compiled.sql, "__m_revenue") == "sumIf(`price`, `action` = 'purchase')"
    assert select_of(compiled.sql, "__m_customers") == "uniq(`customer_id`)"
    assert select_of(compiled.sql, "__m_max_price") == "max(`price`)"
    # raw columns are the event fields behind the dimension
    assert select_of(compiled.sql, "__d_product") == "`product_id`"


def test_window_bounds_are_typed_parameters(clicks: ModuleConfig) -> None:
    rollup = compile_(clicks, ROLLUP)
    assert placeholder(rollup, START)[1] == "DateTime('UTC')"
    assert placeholder(rollup, END)[1] == "DateTime('UTC')"
    raw = compile_(clicks, RAW)
    assert placeholder(raw, START)[1] == "DateTime64(3, 'UTC')"
    assert "2026" not in rollup.sql and "2026" not in raw.sql


@pytest.mark.parametrize("granularity", ["hour", "day", "week", "month"])
def test_time_zone_is_a_parameter(clicks: ModuleConfig, granularity: str) -> None:
    compiled = compile_(clicks, RAW, granularity=granularity, time_zone="Asia/Kolkata")
    assert "Kolkata" not in compiled.sql
    assert placeholder(compiled, "Asia/Kolkata")[1] == "String"
    assert compiled.bucketed


def test_total_has_no_bucket(clicks: ModuleConfig) -> None:
    compiled = compile_(clicks, RAW, granularity="total", group_by=["action"])
    assert "__bucket" not in compiled.sql
    assert not compiled.bucketed
    assert "GROUP BY `__d_action`" in compiled.sql


def test_total_without_groups_has_no_group_by(clicks: ModuleConfig) -> None:
    compiled = compile_(clicks, ROLLUP, granularity="total")
    assert "GROUP BY" not in compiled.sql
    assert "ORDER BY" not in compiled.sql


# --- ratios ----------------------------------------------------------------------------------------------------

RATIO = re.compile(r"\(toFloat64\((?P<num>.+)\) / nullIf\(toFloat64\((?P<den>.+)\), 0\)\)")


@pytest.mark.parametrize(
    ("module", "metric", "source", "numerator", "denominator"),
    [
        ("clickstream", "conversion_rate", ROLLUP, "countIfMerge(`purchases`)", "countIfMerge(`views`)"),
        ("clickstream", "conversion_rate", RAW, "countIf(`action` = 'purchase')", "countIf(`action` = 'view')"),
        ("gaming", "rtp", Source("hourly_games", "test"), "sumMerge(`rewards`)", "sumMerge(`bets`)"),
        (
            "gaming",
            "win_rate",
            Source("hourly_games", "test"),
            "countIfMerge(`winning_rounds`)",
            "countMerge(`rounds`)",
        ),
    ],
)
def test_ratio_divides_merged_values_guarding_zero(
    catalog: Catalog, module: str, metric: str, source: Source, numerator: str, denominator: str
) -> None:
    compiled = compile_(catalog.modules[module], source, metrics=[metric])
    match = RATIO.fullmatch(select_of(compiled.sql, f"__m_{metric}"))
    assert match is not None, compiled.sql
    assert (match["num"], match["den"]) == (numerator, denominator)


# --- filters: every op, values always parameters -----------------------------------------------------------------

STRING_OPS = [
    ("eq", EVIL, "`product_group` = ?", "String"),
    ("neq", EVIL, "`product_group` != ?", "String"),
    ("in", [EVIL, "shoes"], "`product_group` IN ?", "Array(String)"),
    ("not_in", [EVIL], "`product_group` NOT IN ?", "Array(String)"),
    ("gt", EVIL, "`product_group` > ?", "String"),
    ("gte", EVIL, "`product_group` >= ?", "String"),
    ("lt", EVIL, "`product_group` < ?", "String"),
    ("lte", EVIL, "`product_group` <= ?", "String"),
    ("prefix", EVIL, "startsWith(`product_group`, ?)", "String"),
    ("contains", EVIL, "position(`product_group`, ?) > 0", "String"),
]


@pytest.mark.parametrize(("op", "value", "condition", "type_"), STRING_OPS)
@pytest.mark.parametrize("source", [ROLLUP, RAW], ids=["rollup", "raw"])
def test_string_filter_ops_bind_values(
    clicks: ModuleConfig, source: Source, op: str, value: Any, condition: str, type_: str
) -> None:
    compiled = compile_(clicks, source, filters=[Condition(dimension="product_group", op=op, value=value)])  # type: ignore[arg-type]
    assert f"AND ({condition})" in shape(compiled.sql)
    assert placeholder(compiled, value)[1] == type_
    assert "OR 1=1" not in compiled.sql
    assert "x'" not in compiled.sql
    assert "shoes" not in compiled.sql


INT_OPS = [
    ("eq", 7, "`seed_id` = ?", "Int64"),
    ("neq", 7, "`seed_id` != ?", "Int64"),
    ("in", [7, 5_000_000_000], "`seed_id` IN ?", "Array(Int64)"),
    ("not_in", [7], "`seed_id` NOT IN ?", "Array(Int64)"),
    ("gt", 7, "`seed_id` > ?", "Int64"),
    ("gte", 7, "`seed_id` >= ?", "Int64"),
    ("lt", 7, "`seed_id` < ?", "Int64"),
    ("lte", 7, "`seed_id` <= ?", "Int64"),
]


@pytest.mark.parametrize(("op", "value", "condition", "type_"), INT_OPS)
def test_int_filter_ops_bind_typed_values(
    gaming: ModuleConfig, op: str, value: Any, condition: str, type_: str
) -> None:
    compiled = compile_(gaming, RAW, filters=[Condition(dimension="seed", op=op, value=value)])  # type: ignore[arg-type]
    assert f"AND ({condition})" in shape(compiled.sql)
    assert placeholder(compiled, value)[1] == type_


def test_bool_filter_binds_a_bool(catalog: Catalog) -> None:
    fleet = load_catalog(CLIENT_CONFIGS).modules["fleet"]
    compiled = compile_(
        fleet,
        Source("hourly_depots", "test"),
        metrics=["trips"],
        filters=[Condition(dimension="on_time", op="eq", value=False)],
    )
    assert "(`on_time` = ?)" in shape(compiled.sql)
    assert placeholder(compiled, False)[1] == "Bool"


def test_rollup_filters_read_the_dimension_column(gaming: ModuleConfig) -> None:
    compiled = compile_(gaming, Source("daily_seeds", "test"), filters=[Condition(dimension="seed", op="eq", value=7)])
    assert "(`seed` = ?)" in shape(compiled.sql)


def test_nested_all_and_any_keep_their_logic(clicks: ModuleConfig) -> None:
    tree: list[Filter] = [
        Condition(dimension="action", op="eq", value="purchase"),
        AnyOf(
            any=[
                Condition(dimension="country", op="in", value=["FR", "DE"]),
                AllOf(
                    all=[
                        Condition(dimension="device", op="eq", value="mobile"),
                        Condition(dimension="product_group", op="prefix", value=EVIL),
                    ]
                ),
            ]
        ),
    ]
    compiled = compile_(clicks, ROLLUP, filters=tree)
    assert "AND (`action` = ? AND (`country` IN ? OR (`device` = ? AND startsWith(`product_group`, ?))))" in shape(
        compiled.sql
    )
    assert sorted(map(str, compiled.parameters.values())) == sorted(
        map(str, ["UTC", START, END, "purchase", ["FR", "DE"], "mobile", EVIL, MAX_ROWS + 1])
    )
    assert EVIL not in compiled.sql


def test_empty_groups_are_neutral(clicks: ModuleConfig) -> None:
    assert "AND ((1))" in compile_(clicks, RAW, filters=[AllOf(all=[])]).sql
    assert "AND ((0))" in compile_(clicks, RAW, filters=[AnyOf(any=[])]).sql


def test_top_keys_from_data_are_parameters_too(clicks: ModuleConfig) -> None:
    keys = [(EVIL, "FR"), ("shoes", "DE")]
    req = request(group_by=["product_group", "country"], top=TopN(n=2, by="revenue"))
    compiled = compile_query(req, clicks, ROLLUP, START, END, DB, top_keys=keys)
    check_parameters(compiled)
    assert EVIL not in compiled.sql
    assert placeholder(compiled, keys)[1] == "Array(Tuple(String, String))"
    # others: groups outside the top fold into NULL keys
    assert "if(tuple(`product_group`, `country`) IN ?, `product_group`, NULL)" in shape(compiled.sql)


def test_top_keys_query_ranks_groups_over_the_window(clicks: ModuleConfig) -> None:
    req = request(group_by=["country"], metrics=["events", "revenue"], top=TopN(n=3, by="revenue"))
    compiled = compile_top_keys(req, clicks, ROLLUP, START, END, DB)
    check_parameters(compiled)
    assert not compiled.bucketed
    assert compiled.metrics == ["revenue"]
    assert "ORDER BY `__m_revenue` DESC, `__d_country` ASC" in compiled.sql
    assert placeholder(compiled, 3)[1] == "UInt64"


# --- order and limit ------------------------------------------------------------------------------------------------


def test_order_and_limit(clicks: ModuleConfig) -> None:
    compiled = compile_(
        clicks,
        ROLLUP,
        group_by=["country"],
        metrics=["events", "revenue"],
        order_by=[Order(field="revenue"), Order(field="country", descending=False), Order(field="bucket")],
        limit=25,
    )
    assert "\nORDER BY `__m_revenue` DESC, `__d_country` ASC, `__bucket` DESC\nLIMIT ?" in shape(compiled.sql)
    assert placeholder(compiled, 25)[1] == "UInt64"
    assert compiled.sql.rstrip().endswith("}")  # LIMIT is last; the number is not in the text
    assert "25" not in compiled.sql


def test_default_order_is_bucket_then_groups(clicks: ModuleConfig) -> None:
    compiled = compile_(clicks, ROLLUP, group_by=["country", "action"])
    assert "ORDER BY `__bucket` ASC, `__d_country` ASC, `__d_action` ASC" in compiled.sql


def test_every_statement_stops_one_row_past_the_answer_cap(clicks: ModuleConfig) -> None:
    """Without a limit, the cap + 1: an answer over the cap is refused (not silently cut) without reading it all."""
    compiled = compile_(clicks, ROLLUP, group_by=["country"])
    assert shape(compiled.sql).endswith("\nLIMIT ?")
    assert placeholder(compiled, MAX_ROWS + 1)[1] == "UInt64"
    assert placeholder(compile_(clicks, ROLLUP, limit=10 * MAX_ROWS), MAX_ROWS + 1)[1] == "UInt64"


def test_order_by_something_not_selected_is_refused(clicks: ModuleConfig) -> None:
    with pytest.raises(QueryError) as caught:
        compile_(clicks, ROLLUP, group_by=["country"], order_by=[Order(field="revenue")])
    assert caught.value.argument == "orderBy"
    with pytest.raises(QueryError) as caught:
        compile_(clicks, ROLLUP, order_by=[Order(field="device")])
    assert caught.value.argument == "orderBy"


# --- validation: the argument that is wrong, and a hint ---------------------------------------------------------


def refused(catalog: Catalog, **fields: Any) -> QueryError:
    """Plan a request the way the service does; return the error it raises (planning refuses all a statement
    could: no SQL is compiled for a request that cannot run)."""
    module = fields.pop("module", "clickstream")
    with pytest.raises(QueryError) as caught:
        plan_query(catalog, request(module, **fields), NOW, DB)
    return caught.value


def test_unknown_metric_suggests_the_closest(catalog: Catalog) -> None:
    error = refused(catalog, metrics=["events", "revenu"])
    assert error.argument == "metrics"
    assert "revenu" in error.message
    assert error.hint is not None and "did you mean 'revenue'" in error.hint


def test_no_metric_is_refused(catalog: Catalog) -> None:
    assert refused(catalog, metrics=[]).argument == "metrics"


def test_unknown_group_by_dimension(catalog: Catalog) -> None:
    error = refused(catalog, group_by=["contry"])
    assert error.argument == "groupBy"
    assert error.hint is not None and "did you mean 'country'" in error.hint


def test_group_by_a_metric_is_refused(catalog: Catalog) -> None:
    assert refused(catalog, group_by=["revenue"]).argument == "groupBy"


def test_unknown_filter_dimension_inside_a_group(catalog: Catalog) -> None:
    error = refused(catalog, filters=[AnyOf(any=[Condition(dimension="devise", op="eq", value="mobile")])])
    assert error.argument == "filters"
    assert error.hint is not None and "did you mean 'device'" in error.hint


def test_unknown_module_is_not_found(catalog: Catalog) -> None:
    with pytest.raises(NotFound) as caught:
        plan_query(catalog, request("clikstream"), NOW, DB)
    assert caught.value.argument == "module"
    assert caught.value.hint is not None and "clickstream" in caught.value.hint


def test_in_with_a_scalar_is_refused(catalog: Catalog) -> None:
    error = refused(catalog, filters=[Condition(dimension="country", op="in", value="FR")])
    assert error.argument == "filters[0]"
    assert "list" in error.message


def test_eq_with_a_list_is_refused(catalog: Catalog) -> None:
    error = refused(catalog, filters=[Condition(dimension="country", op="eq", value=["FR", "DE"])])
    assert error.argument == "filters[0]"


def test_string_op_on_an_int_dimension_is_refused(catalog: Catalog) -> None:
    error = refused(catalog, module="gaming", filters=[Condition(dimension="seed", op="prefix", value=12)])
    assert error.argument == "filters[0]"
    assert "seed" in error.message


@pytest.mark.parametrize("value", ["12", True, 1.5])
def test_wrong_value_type_on_an_int_dimension_is_refused(catalog: Catalog, value: Any) -> None:
    error = refused(catalog, module="gaming", filters=[Condition(dimension="seed", op="eq", value=value)])
    assert error.argument == "filters[0]"


def test_nested_filter_errors_say_where(catalog: Catalog) -> None:
    tree: list[Filter] = [
        Condition(dimension="action", op="eq", value="view"),
        AllOf(
            all=[
                AnyOf(
                    any=[
                        Condition(dimension="country", op="eq", value="FR"),
                        Condition(dimension="device", op="in", value="mobile"),
                    ]
                )
            ]
        ),
    ]
    assert refused(catalog, filters=tree).argument == "filters[1].all[0].any[1]"


def test_too_many_buckets_is_refused(catalog: Catalog) -> None:
    error = refused(catalog, granularity="minute", window=TimeWindow(last=100, unit="day"))
    assert error.argument == "granularity"
    assert error.hint


def test_bucket_limit_is_fifty_thousand(catalog: Catalog) -> None:
    ok = plan_query(catalog, request(granularity="minute", window=TimeWindow(last=50_000, unit="minute")), NOW, DB).main
    assert ok.end - ok.start == timedelta(minutes=50_000)
    error = refused(catalog, granularity="minute", window=TimeWindow(last=50_001, unit="minute"))
    assert error.argument == "granularity"


def test_bad_time_zone_through_plan_names_the_argument(catalog: Catalog) -> None:
    assert refused(catalog, time_zone="Europe/Pariss").argument == "timeZone"
