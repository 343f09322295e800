"""A join's derived metrics are computed after the join, from the merged values of both sides of each row: a
return on ad spend is revenue / spend of the same bucket and keys, never an average of ratios."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from strix_config import load_catalog
from strix_config.model import JoinSpec
from strix_contracts.caller import Caller
from strix_contracts.errors import QueryError
from strix_contracts.query import QueryRequest, Row
from strix_query.plan import plan_query
from strix_query.shaping import derive_joined, join_rows

T0 = datetime(2026, 3, 9, 10, tzinfo=UTC)
JOIN = JoinSpec.model_validate(
    {
        "module": "campaigns",
        "match": {"country": "country"},
        "metrics": {
            "return_on_spend": {"kind": "ratio", "numerator": "revenue", "denominator": "campaigns.spend"},
            "clicks_per_view": {"kind": "ratio", "numerator": "campaigns.clicks", "denominator": "views"},
        },
    }
)


def row(hour: int, country: str, **metrics: float | int | None) -> Row:
    return Row(bucket=T0 + timedelta(hours=hour), dimensions={"country": country}, metrics=dict(metrics))


def test_derived_join_metrics_come_from_both_sides_of_each_row() -> None:
    store = [
        row(0, "FI", revenue=120.0, views=40),
        row(0, "SE", revenue=30.0, views=0),
        row(1, "FI", revenue=0.0, views=8),
    ]
    ads = [row(0, "FI", spend=60.0, clicks=10), row(0, "SE", spend=0.0, clicks=3), row(2, "DE", spend=5.0, clicks=1)]
    joined = join_rows(store, ads, "full", ["country"], ["spend", "clicks"], ["revenue", "views"])
    rows = derive_joined(joined, JOIN, ["return_on_spend", "clicks_per_view"])
    by_key = {(r.bucket, r.dimensions["country"]): r.metrics for r in rows}
    assert by_key == {
        (T0, "FI"): {"revenue": 120.0, "views": 40, "return_on_spend": 2.0, "clicks_per_view": 0.25},
        # Zero spend and zero views: no value, not infinity.
        (T0, "SE"): {"revenue": 30.0, "views": 0, "return_on_spend": None, "clicks_per_view": None},
        # A side with no row gives no value.
        (T0 + timedelta(hours=1), "FI"): {"revenue": 0.0, "views": 8, "return_on_spend": None, "clicks_per_view": None},
        (T0 + timedelta(hours=2), "DE"): {
            "revenue": None,
            "views": None,
            "return_on_spend": None,
            "clicks_per_view": None,
        },
    }
    assert all(r.wire is None for r in rows)
    assert [r.joined for r in rows] == [r.joined for r in joined]  # the joined values stay as they were


def test_no_derived_metrics_asked_leaves_the_rows_alone() -> None:
    rows = [row(0, "FI", revenue=1.0)]
    assert derive_joined(rows, JOIN, []) is rows


# The shop joined with its ad network, the join deriving cost_per_event = ads.spend / events and
# events_per_euro = events / ads.spend (shared with tests/test_join_derived_metrics.py).
JOIN_CONFIGS = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "join-configs"
ADMIN = Caller(subject="test-admin", kind="user", scopes=("admin",))


def _join_request(join: dict[str, object], metrics: list[str]) -> QueryRequest:
    return QueryRequest.model_validate(
        {
            "caller": ADMIN,
            "module": "shop",
            "window": {"last": 2, "unit": "day"},
            "granularity": "day",
            "group_by": ["market"],
            "metrics": metrics,
            "join": join,
        }
    )


def test_a_derived_join_metric_asks_each_side_for_the_metrics_it_reads() -> None:
    catalog = load_catalog(JOIN_CONFIGS)
    request = _join_request(
        {"name": "ads", "metrics": ["reports"], "derived": ["cost_per_event", "events_per_euro"]}, []
    )
    plan = plan_query(catalog, request, T0, "db")
    assert plan.main.request.metrics == ["events"]  # asked for nothing of its own: the inputs alone
    assert plan.join is not None and plan.join.part.request.metrics == ["reports", "spend"]
    asked = _join_request({"name": "ads", "metrics": ["spend"], "derived": ["cost_per_event"]}, ["events"])
    plan = plan_query(catalog, asked, T0, "db")
    assert plan.main.request.metrics == ["events"] and plan.join is not None
    assert plan.join.part.request.metrics == ["spend"]  # nothing twice


def test_a_derived_metric_the_join_does_not_declare_is_refused_naming_it() -> None:
    catalog = load_catalog(JOIN_CONFIGS)
    request = _join_request({"name": "ads", "metrics": ["spend"], "derived": ["cost_per_evnt"]}, ["events"])
    with pytest.raises(QueryError) as caught:
        plan_query(catalog, request, T0, "db")
    assert caught.value.argument == "join.derived" and "cost_per_evnt" in caught.value.message
    assert "did you mean 'cost_per_event'" in (caught.value.hint or "")
