"""Join filters are exact: every condition applies to both sides, or the request is refused naming the dimension.

The rule (README, "joins"): a condition on a match key applies to the joined module under its partner's name; one
on a dimension the joined module has under the same name applies there as it is; any other is refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from strix_config import Catalog, load_catalog
from strix_contracts.errors import QueryError
from strix_contracts.query import AllOf, AnyOf, Condition, QueryRequest
from strix_query.plan import joined_request

# A shop and an ad network sharing `device`, matched on market = country (shared with tests/test_hostile_queries.py).
JOIN_CONFIGS = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "join-configs"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(JOIN_CONFIGS)


def _joined(catalog: Catalog, filters: list[object]) -> QueryRequest:
    request = QueryRequest.model_validate(
        {
            "module": "shop",
            "window": {"last": 1, "unit": "day"},
            "metrics": ["events"],
            "group_by": ["market"],
            "filters": filters,
            "join": {"name": "ads", "metrics": ["spend"]},
        }
    )
    other, back = joined_request(catalog, request)
    assert back == {"country": "market"}
    return other


def test_a_match_key_filter_applies_to_the_joined_side_under_its_partner_name_at_any_depth(catalog: Catalog) -> None:
    other = _joined(
        catalog,
        [
            {"dimension": "market", "op": "in", "value": ["FI", "SE"]},
            {"any": [{"all": [{"dimension": "market", "op": "eq", "value": "FI"}]}, {"all": []}]},
        ],
    )
    first, second = other.filters
    assert first == Condition(dimension="country", op="in", value=["FI", "SE"])
    assert second == AnyOf(any=[AllOf(all=[Condition(dimension="country", op="eq", value="FI")]), AllOf(all=[])])
    assert other.group_by == ["country"]


def test_a_dimension_both_modules_have_filters_both_sides(catalog: Catalog) -> None:
    other = _joined(catalog, [{"dimension": "device", "op": "eq", "value": "mobile"}])
    assert other.filters == [Condition(dimension="device", op="eq", value="mobile")]


@pytest.mark.parametrize(
    "filters",
    [
        [{"dimension": "action", "op": "eq", "value": "purchase"}],
        [
            {
                "any": [
                    {"all": [{"dimension": "market", "op": "eq", "value": "FI"}]},
                    {"all": [{"dimension": "action", "op": "eq", "value": "view"}]},
                ]
            }
        ],
    ],
)
def test_a_filter_the_joined_side_cannot_apply_is_refused_naming_the_dimension(
    catalog: Catalog, filters: list[object]
) -> None:
    with pytest.raises(QueryError) as caught:
        _joined(catalog, filters)
    assert caught.value.argument == "where"
    assert caught.value.message == "ads has no dimension 'action', so the joined side cannot apply this filter"
    assert caught.value.hint == "a join filters both sides alike: filter on market or device, or ask shop on its own"


def test_the_example_join_refuses_a_device_filter(tmp_path: Path) -> None:
    """clickstream x campaigns: campaigns has no device, so `where: {device: ...}` cannot be exact."""
    catalog = load_catalog(Path(__file__).resolve().parents[3] / "configs")
    request = QueryRequest.model_validate(
        {
            "module": "clickstream",
            "window": {"last": 1, "unit": "day"},
            "metrics": ["events"],
            "filters": [{"dimension": "device", "op": "eq", "value": "mobile"}],
            "join": {"name": "campaigns", "metrics": ["spend"]},
        }
    )
    with pytest.raises(QueryError) as caught:
        joined_request(catalog, request)
    assert "campaigns has no dimension 'device'" in caught.value.message
