"""A join's derived metrics through GraphQL (issue 10): cost_per_event = ads.spend / events and events_per_euro =
events / ads.spend of the shop joined with its ad network (tests/fixtures/join-configs), each row's value checked
against plain Python over the events sent: from the merged values of both sides of the same bucket and market, null
where a side has no row or the denominator is 0. Selecting the field is enough to compute it, on the fast row path
and through the generic executor alike; the `modules` query lists them under the join."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from strix_config import load_catalog
from tests.conftest import PlatformFactory
from tests.support import expected_rows, graphql, normalised, post_events, wait_for_count

pytestmark = pytest.mark.e2e

JOIN_CONFIGS = Path(__file__).resolve().parent / "fixtures" / "join-configs"
CATALOG = load_catalog(JOIN_CONFIGS)
SHOP, ADS = CATALOG.modules["shop"], CATALOG.modules["ads"]


def _events(rng: random.Random, start: datetime, count: int, fields: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Events spread over the two days from `start`."""
    return [
        {
            "ts": (start + timedelta(seconds=rng.randrange(0, 2 * 86400))).isoformat(),
            **{name: rng.choice(values) for name, values in fields.items()},
        }
        for _ in range(count)
    ]


def _ratio(numerator: Any, denominator: Any) -> float | None:
    """The independent computation: no value without both sides or over a zero."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return float(Decimal(str(numerator)) / Decimal(str(denominator)))


def _close(got: float | None, want: float | None) -> bool:
    if got is None or want is None:
        return got is None and want is None
    return abs(got - want) <= 1e-9 * max(1.0, abs(want))


async def test_derived_join_metrics_from_both_sides_null_without_a_side_or_over_zero(
    start_platform: PlatformFactory,
) -> None:
    rng = random.Random(23)
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
    devices = ["mobile", "desktop"]
    # DE only in the shop, NO only at the ad network (a missing side each); SE's ads cost nothing (a zero).
    shop = _events(rng, start, 300, {"market": ["FI", "SE", "DE"], "device": devices, "action": ["view", "buy"]})
    ads = _events(rng, start, 200, {"country": ["FI", "NO"], "device": devices, "spend": ["1.25", "0.40", "3.10"]})
    ads += _events(rng, start, 40, {"country": ["SE"], "device": devices, "spend": ["0.00"]})
    async with start_platform(JOIN_CONFIGS) as (_, client):
        await post_events(client, "shop", shop)
        await post_events(client, "ads", ads)
        await wait_for_count(client, "shop", "events", len(shop))
        await wait_for_count(client, "ads", "reports", len(ads))
        window = f'window: {{start: "{start.isoformat()}", end: "{(start + timedelta(days=2)).isoformat()}"}}'
        fields = "bucket market events costPerEvent eventsPerEuro joined { spend }"
        fast = await graphql(
            client,
            f"{{ shopWithAds({window}, granularity: DAY, kind: FULL, groupBy: [MARKET]) {{ rows {{ {fields} }} }} }}",
        )
        # Only the derived fields selected: the metrics they read are asked for all the same.
        alone = await graphql(
            client,
            f"{{ shopWithAds({window}, granularity: DAY, kind: FULL, groupBy: [MARKET]) "
            "{ rows { bucket market costPerEvent eventsPerEuro } } }",
        )
        # A fragment: the generic executor, and the derived names read through it.
        generic = await graphql(
            client,
            f"{{ shopWithAds({window}, granularity: DAY, kind: FULL, groupBy: [MARKET]) {{ rows {{ ...r }} }} }} "
            f"fragment r on ShopAdsRow {{ {fields} }}",
        )
        modules = await graphql(
            client,
            "{ modules { name joins { name metrics { name graphqlName kind graphqlType numerator denominator unit "
            "format label description } } } }",
        )
    for body in (fast, alone, generic, modules):
        assert "errors" not in body, body

    left = expected_rows(
        SHOP,
        [normalised(SHOP, e) for e in shop],
        start=start,
        end=start + timedelta(days=2),
        granularity="day",
        group_by=["market"],
        metrics=["events"],
    )
    right = expected_rows(
        ADS,
        [normalised(ADS, e) for e in ads],
        start=start,
        end=start + timedelta(days=2),
        granularity="day",
        group_by=["country"],
        metrics=["spend"],
    )
    keys = left.keys() | right.keys()
    assert left.keys() - right.keys() and right.keys() - left.keys(), "each side must leave rows unmatched"
    assert any(right[k]["spend"] == 0 for k in right if k in left), "a matched row must have zero spend"
    want = {
        key: {
            "cost_per_event": _ratio(right.get(key, {}).get("spend"), left.get(key, {}).get("events")),
            "events_per_euro": _ratio(left.get(key, {}).get("events"), right.get(key, {}).get("spend")),
        }
        for key in keys
    }
    assert any(w["cost_per_event"] is not None for w in want.values())
    assert any(w["events_per_euro"] is not None for w in want.values())
    assert any(w["events_per_euro"] is None and k in left and k in right for k, w in want.items())
    for body in (fast, alone, generic):
        rows = body["data"]["shopWithAds"]["rows"]
        got = {(datetime.fromisoformat(r["bucket"]), r["market"]): r for r in rows}
        assert set(got) == keys
        for key, row in got.items():
            assert _close(row["costPerEvent"], want[key]["cost_per_event"]), (key, row, want[key])
            assert _close(row["eventsPerEuro"], want[key]["events_per_euro"]), (key, row, want[key])
            if "events" in row:
                assert row["events"] == left.get(key, {}).get("events"), (key, row)
                assert _close(row["joined"]["spend"], right.get(key, {}).get("spend")), (key, row)

    (shop_info,) = [m for m in modules["data"]["modules"] if m["name"] == "shop"]
    (join_info,) = shop_info["joins"]
    assert join_info["metrics"] == [
        {
            "name": "cost_per_event",
            "graphqlName": "costPerEvent",
            "kind": "RATIO",
            "graphqlType": "Float",
            "numerator": "ads.spend",
            "denominator": "events",
            "unit": "EUR",
            "format": "currency",
            "label": "Cost per event",
            "description": "Ad spend per shop event.",
        },
        {
            "name": "events_per_euro",
            "graphqlName": "eventsPerEuro",
            "kind": "RATIO",
            "graphqlType": "Float",
            "numerator": "events",
            "denominator": "ads.spend",
            "unit": None,
            "format": None,
            "label": None,
            "description": "Shop events per euro of ad spend.",
        },
    ]
