"""The plan of a query as data, without a server: windows, comparison pairing, sources, cache keys and SQL are
decided from (catalog, request, now) alone, and every refusal happens here, before any statement runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from strix_config import Catalog, load_catalog
from strix_contracts.caller import Caller
from strix_contracts.errors import QueryError
from strix_contracts.query import QueryRequest
from strix_query.plan import answer_scope, compared_span, plan_query

# The query service answers only a verified caller; these tests are about planning and reading, so an admin asks.
ADMIN = Caller(subject="test-admin", kind="user", scopes=("admin",))
REPO = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 3, 10, 10, 17, tzinfo=UTC)
DB = "strix_test"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(REPO / "configs")


@pytest.fixture(scope="module")
def shop() -> Catalog:
    return load_catalog(REPO / "tests" / "fixtures" / "join-configs")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def ask(**fields: Any) -> QueryRequest:
    defaults: dict[str, Any] = {
        "module": "clickstream",
        "window": {"last": 30, "unit": "day"},
        "granularity": "hour",
        "group_by": ["product_group"],
        "metrics": ["revenue", "events"],
    }
    return QueryRequest.model_validate({**defaults, "caller": ADMIN, **fields})


def test_the_same_inputs_give_the_same_plan(catalog: Catalog) -> None:
    request = ask(compare="previous_period", top={"n": 10, "by": "revenue"})
    assert plan_query(catalog, request, NOW, DB) == plan_query(catalog, request, NOW, DB)


def test_the_window_is_resolved_once_the_plan_extends_the_answer_caches_scope(catalog: Catalog) -> None:
    request = ask()
    scope = answer_scope(catalog, request, NOW)
    # A day later the window would resolve otherwise: the plan keeps the scope's.
    plan = plan_query(catalog, request, NOW + timedelta(days=1), DB, scope=scope)
    assert (plan.main.start, plan.main.end) == (scope.start, scope.end) == (utc(2026, 2, 9), utc(2026, 3, 11))
    assert plan.scope is scope


def test_answer_cache_key_ignores_fresh_and_lists_every_window_read(catalog: Catalog) -> None:
    scope = answer_scope(catalog, ask(compare="previous_period"), NOW)
    assert scope.key == answer_scope(catalog, ask(compare="previous_period", fresh=True), NOW).key
    later = ask(compare="previous_period")
    assert scope.key == answer_scope(catalog, later, NOW + timedelta(hours=1)).key  # the same whole days
    assert scope.key != answer_scope(catalog, later, NOW + timedelta(days=1)).key
    start, end = utc(2026, 2, 9), utc(2026, 3, 11)  # the last 30 whole days
    assert scope.windows == [("clickstream", start, end), ("clickstream", start - timedelta(days=30), start)]


def test_comparison_pairs_buckets_a_constant_lag_apart(catalog: Catalog) -> None:
    plan = plan_query(catalog, ask(compare="previous_period"), NOW, DB)
    comparison = plan.comparison
    assert comparison is not None
    assert (comparison.earlier.start, comparison.earlier.end) == (utc(2026, 1, 10), utc(2026, 2, 9))
    assert comparison.lag == timedelta(days=30)
    assert len(comparison.current) == len(comparison.before) == 720
    assert comparison.bucket_map[utc(2026, 1, 10, 5)] == utc(2026, 2, 9, 5)
    assert plan.compared_by_bucket
    assert not plan_query(catalog, ask(compare="previous_period", fill=True), NOW, DB).compared_by_bucket
    assert not plan_query(catalog, ask(compare="previous_period", limit=5), NOW, DB).compared_by_bucket
    monthly = plan_query(catalog, ask(compare="previous_period", granularity="month"), NOW, DB)
    assert monthly.comparison is not None and monthly.comparison.lag is None  # months differ in length
    assert not monthly.compared_by_bucket


def test_each_part_reads_the_smallest_table_that_answers_it(catalog: Catalog) -> None:
    plan = plan_query(catalog, ask(compare="previous_period"), NOW, DB)
    assert plan.main.source.rollup == "hourly_product_groups"
    assert plan.comparison is not None and plan.comparison.earlier.source.rollup == "hourly_product_groups"
    assert plan.top is None and plan.join is None


def test_top_n_statement_is_planned_over_the_whole_window(catalog: Catalog) -> None:
    plan = plan_query(catalog, ask(top={"n": 10, "by": "revenue"}), NOW, DB)
    assert plan.top is not None
    assert plan.top.metrics == ["revenue"] and plan.top.dimensions == ["product_group"] and not plan.top.bucketed
    bounds = [v for v in plan.top.parameters.values() if isinstance(v, datetime)]
    assert bounds == [plan.main.start, plan.main.end]
    assert 10 in plan.top.parameters.values()  # LIMIT n
    assert f"`{DB}`.`clickstream__hourly_product_groups`" in plan.top.sql


def test_a_part_compiles_the_span_it_reads_with_the_top_groups(catalog: Catalog) -> None:
    plan = plan_query(catalog, ask(top={"n": 2, "by": "revenue", "others": False}), NOW, DB)
    hour = plan.main.over(utc(2026, 3, 10, 10), utc(2026, 3, 10, 11))
    compiled = hour.statement(DB, [("group-01",), ("group-02",)])
    assert [v for v in compiled.parameters.values() if isinstance(v, datetime)] == [hour.start, hour.end]
    assert ["group-01", "group-02"] in compiled.parameters.values()


def test_bucket_shape_is_the_request_without_its_window_and_the_top_groups_as_a_set(catalog: Catalog) -> None:
    main = plan_query(catalog, ask(), NOW, DB).main
    later = plan_query(catalog, ask(), NOW + timedelta(hours=1), DB).main
    assert main.shape(DB, None) == later.shape(DB, None)
    assert main.shape(DB, [("a",), ("b",)]) == main.shape(DB, [("b",), ("a",)])
    assert main.shape(DB, [("a",)]) != main.shape(DB, None)
    assert main.shape(DB, None) != main.shape("other_db", None)


def test_compared_spans_read_both_periods_at_once_when_they_touch(catalog: Catalog) -> None:
    plan = plan_query(catalog, ask(compare="previous_period"), NOW, DB)
    assert plan.comparison is not None
    starts = [b for b in plan.comparison.current if b is not None]
    span = compared_span(plan, starts, plan.main.start, plan.main.end)  # a first view: the whole window
    assert span.both is not None and span.current is None and span.previous is None
    assert (span.both.start, span.both.end) == (plan.comparison.earlier.start, plan.main.end)
    assert span.previous_end == plan.main.start


def test_compared_spans_read_the_periods_apart_when_they_do_not_touch(catalog: Catalog) -> None:
    plan = plan_query(catalog, ask(compare="week_earlier", window={"last": 24, "unit": "hour"}), NOW, DB)
    assert plan.comparison is not None
    starts = [b for b in plan.comparison.current if b is not None]
    last = starts[-1]
    span = compared_span(plan, starts, last, last + timedelta(hours=1))  # one new bucket of a sliding window
    assert span.both is None and span.current is not None and span.previous is not None
    assert (span.previous.start, span.previous.end) == (last - timedelta(days=7), last - timedelta(days=7, hours=-1))
    assert span.bucket_map == {last - timedelta(days=7): last}


def test_buckets_past_the_shorter_earlier_period_are_compared_with_nothing(catalog: Catalog) -> None:
    march = {"start": "2026-03-01T00:00:00Z", "end": "2026-04-01T00:00:00Z"}
    plan = plan_query(catalog, ask(compare="previous_period", window=march, granularity="day"), NOW, DB)
    assert plan.comparison is not None and plan.comparison.lag == timedelta(days=28)  # February
    assert plan.comparison.until == utc(2026, 3, 29)
    starts = [b for b in plan.comparison.current if b is not None]
    span = compared_span(plan, starts, utc(2026, 3, 30), utc(2026, 4, 1))
    assert span.previous is None and span.both is None and span.bucket_map == {}


def test_the_joined_part_is_planned_with_its_names(shop: Catalog) -> None:
    request = QueryRequest.model_validate(
        {
            "module": "shop",
            "window": {"last": 7, "unit": "day"},
            "granularity": "day",
            "group_by": ["market"],
            "metrics": ["events"],
            "join": {"name": "ads", "metrics": ["spend"]},
            "caller": ADMIN,
        }
    )
    plan = plan_query(shop, request, NOW, DB)
    assert plan.join is not None
    assert plan.join.part.request.group_by == ["country"] and plan.join.back == {"country": "market"}
    assert plan.join.part.source.rollup == "daily"
    assert (plan.join.part.start, plan.join.part.end) == (plan.main.start, plan.main.end)
    assert answer_scope(shop, request, NOW).windows[-1] == ("ads", plan.main.start, plan.main.end)


def test_every_refusal_happens_while_planning(shop: Catalog, catalog: Catalog) -> None:
    bad_join = QueryRequest.model_validate(
        {
            "module": "shop",
            "window": {"last": 7, "unit": "day"},
            "metrics": ["events"],
            "join": {"name": "ads", "metrics": ["spnd"]},
            "caller": ADMIN,
        }
    )
    with pytest.raises(QueryError) as caught:
        plan_query(shop, bad_join, NOW, DB)
    assert caught.value.argument == "joinedMetrics"
    with pytest.raises(QueryError) as caught:
        plan_query(catalog, ask(order_by=[{"field": "device"}]), NOW, DB)
    assert caught.value.argument == "orderBy"
    with pytest.raises(QueryError) as caught:
        plan_query(catalog, ask(filters=[{"dimension": "country", "op": "eq", "value": 12}]), NOW, DB)
    assert caught.value.argument == "filters[0]"
