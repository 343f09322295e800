"""Which table answers a query exactly, for the example clickstream and gaming configs.

Clickstream keeps: minute_overview (minute, action, 2d), hourly_product_groups (hour, product_group, 90d),
hourly_groups (hour, action/product_group/country/device, 90d), daily_products (day, action/product_group/
product, 2w) and daily_groups (day, action/product_group/country/device, forever); raw for 30d.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from strix_config import Catalog, ModuleConfig, Rollup, load_catalog
from strix_config.model import Raw
from strix_contracts.caller import Caller
from strix_contracts.errors import QueryError
from strix_contracts.query import QueryRequest, TimeWindow
from strix_query.plan import plan_query
from strix_query.planner import Source, choose_source, rollup_fits
from strix_query.window import resolve_window, zone

# The query service answers only a verified caller; these tests are about planning and reading, so an admin asks.
ADMIN = Caller(subject="test-admin", kind="user", scopes=("admin",))
REPO = Path(__file__).resolve().parents[3]
CONFIGS = REPO / "configs"
CLIENT_CONFIGS = REPO / "tests" / "fixtures" / "client-configs"  # fleet: keeps no raw events
NOW = datetime(2026, 3, 10, 10, 17, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(CONFIGS)


@pytest.fixture(scope="module")
def clicks(catalog: Catalog) -> ModuleConfig:
    return catalog.modules["clickstream"]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def source(
    config: ModuleConfig,
    dims: set[str],
    metrics: set[str],
    granularity: str,
    window: TimeWindow,
    tz: str = "UTC",
    now: datetime = NOW,
) -> Source:
    zone_info = zone(tz)
    start, end = resolve_window(window, granularity, zone_info, now)
    return choose_source(config, dims, metrics, granularity, zone_info, start, end, now)


LAST_24H = TimeWindow(last=24, unit="hour")
LAST_DAY = TimeWindow(last=1, unit="day")
UTC_DAYS = TimeWindow(start=utc(2026, 3, 3), end=utc(2026, 3, 10))


# --- the rules' examples ---------------------------------------------------------------------------------------


def test_hourly_by_product_group_reads_the_smallest_hourly_rollup(clicks: ModuleConfig) -> None:
    got = source(clicks, {"product_group"}, {"revenue", "purchases"}, "hour", LAST_24H)
    # hourly_groups also answers; the one-dimension rollup is smaller. Daily rollups are too coarse.
    assert got.rollup == "hourly_product_groups"
    assert got.label == "rollup:hourly_product_groups"


def test_kolkata_days_by_action_read_the_minute_rollup(clicks: ModuleConfig) -> None:
    got = source(clicks, {"action"}, {"events"}, "day", LAST_DAY, tz="Asia/Kolkata")
    # Kolkata days start at 18:30 UTC: neither hourly nor daily UTC buckets tile them; minutes do.
    assert got.rollup == "minute_overview"


def test_kolkata_hours_do_not_tile_utc_hours(clicks: ModuleConfig) -> None:
    tz = ZoneInfo("Asia/Kolkata")
    start, end = resolve_window(LAST_DAY, "day", tz, NOW)
    why = rollup_fits(clicks, "hourly_groups", {"action"}, {"events"}, "day", tz, start, end, NOW)
    assert why is not None
    assert rollup_fits(clicks, "daily_groups", {"action"}, {"events"}, "day", tz, start, end, NOW) is not None
    assert rollup_fits(clicks, "minute_overview", {"action"}, {"events"}, "day", tz, start, end, NOW) is None


def test_hourly_by_product_falls_back_to_raw(clicks: ModuleConfig) -> None:
    got = source(clicks, {"product"}, {"events"}, "hour", LAST_24H)
    assert got.rollup is None
    assert got.label == "raw"
    # The caller is told why each rollup was passed over.
    assert "daily_products" in got.reason
    assert "hourly_groups" in got.reason


def test_total_by_product_over_whole_utc_days_reads_daily_products(clicks: ModuleConfig) -> None:
    got = source(clicks, {"product"}, {"revenue", "items_sold"}, "total", UTC_DAYS)
    assert got.rollup == "daily_products"


def test_minute_rollup_retention_keeps_two_days(clicks: ModuleConfig) -> None:
    two_days = source(clicks, {"action"}, {"events"}, "day", TimeWindow(last=2, unit="day"), tz="Asia/Kolkata")
    assert two_days.rollup == "minute_overview"  # starts 8 March 18:30 UTC, within 2 days of NOW
    three_days = source(clicks, {"action"}, {"events"}, "day", TimeWindow(last=3, unit="day"), tz="Asia/Kolkata")
    assert three_days.rollup is None
    assert "minute_overview" in three_days.reason and "2d" in three_days.reason


def test_retention_boundary_is_inclusive(clicks: ModuleConfig) -> None:
    tz = ZoneInfo("UTC")
    oldest = NOW - timedelta(days=2)
    assert rollup_fits(clicks, "minute_overview", {"action"}, {"events"}, "minute", tz, oldest, NOW, NOW) is None
    too_old = oldest - timedelta(minutes=1)
    assert rollup_fits(clicks, "minute_overview", {"action"}, {"events"}, "minute", tz, too_old, NOW, NOW) is not None


def test_retention_of_daily_products_sends_older_windows_to_raw(clicks: ModuleConfig) -> None:
    window = TimeWindow(start=utc(2026, 2, 17), end=utc(2026, 3, 10))  # three weeks; daily_products keeps 2w
    assert source(clicks, {"product"}, {"events"}, "total", window).rollup is None


def test_unaligned_total_window_goes_to_raw(clicks: ModuleConfig) -> None:
    window = TimeWindow(start=utc(2026, 3, 9, 10, 17, 30), end=utc(2026, 3, 10, 10, 17, 30))
    got = source(clicks, {"action"}, {"events"}, "total", window)
    assert got.rollup is None


@pytest.mark.parametrize(
    ("start", "end", "dims", "rollup"),
    [
        (utc(2026, 3, 9, 10, 17), utc(2026, 3, 10, 10, 17), {"action"}, "minute_overview"),
        (utc(2026, 3, 9, 10), utc(2026, 3, 10, 10), {"action"}, "hourly_groups"),
        (utc(2026, 3, 9), utc(2026, 3, 10), {"action", "country"}, "daily_groups"),
    ],
)
def test_total_reads_the_coarsest_rollup_the_window_is_aligned_to(
    clicks: ModuleConfig, start: datetime, end: datetime, dims: set[str], rollup: str
) -> None:
    assert source(clicks, dims, {"events"}, "total", TimeWindow(start=start, end=end)).rollup == rollup


def test_coarsest_granularity_wins_over_fewer_dimensions(clicks: ModuleConfig) -> None:
    # For UTC days a daily rollup (3 dimensions) beats hourly_product_groups (1 dimension); among the daily
    # ones, daily_products (3 dimensions) beats daily_groups (4).
    assert source(clicks, {"product_group"}, {"events"}, "day", UTC_DAYS).rollup == "daily_products"
    assert source(clicks, {"country"}, {"events"}, "day", UTC_DAYS).rollup == "daily_groups"


def test_paris_days_read_hourly_buckets_even_across_dst(clicks: ModuleConfig) -> None:
    after = datetime(2026, 3, 31, 10, 17, tzinfo=UTC)
    got = source(clicks, {"country"}, {"events"}, "day", TimeWindow(last=7, unit="day"), "Europe/Paris", after)
    # +01:00 and +02:00 both fall on UTC hours; neither on UTC days.
    assert got.rollup == "hourly_groups"


def test_utc_weeks_and_months_read_daily_buckets(clicks: ModuleConfig) -> None:
    assert source(clicks, {"country"}, {"events"}, "week", TimeWindow(last=4, unit="week")).rollup == "daily_groups"
    assert source(clicks, {"country"}, {"events"}, "month", TimeWindow(last=2, unit="month")).rollup == "daily_groups"


def test_minute_granularity_is_not_served_by_hourly_buckets(clicks: ModuleConfig) -> None:
    got = source(clicks, {"country"}, {"events"}, "minute", TimeWindow(last=30, unit="minute"))
    assert got.rollup is None


def test_filter_dimensions_count_like_group_by(catalog: Catalog) -> None:
    request = QueryRequest(
        module="clickstream",
        window=LAST_24H,
        granularity="hour",
        group_by=["product_group"],
        filters=[{"dimension": "country", "op": "eq", "value": "FR"}],  # type: ignore[list-item]
        metrics=["events"],
        caller=ADMIN,
    )
    assert plan_query(catalog, request, NOW, "db").main.source.rollup == "hourly_groups"


def test_ratio_needs_both_stored_metrics(clicks: ModuleConfig) -> None:
    events_only = Rollup(granularity="hour", dimensions=["product_group"], metrics=["events", "purchases"])
    config = clicks.model_copy(update={"rollups": {"slim": events_only}})
    tz = ZoneInfo("UTC")
    start, end = resolve_window(LAST_24H, "hour", tz, NOW)
    why = rollup_fits(config, "slim", {"product_group"}, {"purchases", "views"}, "hour", tz, start, end, NOW)
    assert why is not None and "views" in why


def test_plan_expands_ratio_metrics_to_their_inputs(catalog: Catalog, clicks: ModuleConfig) -> None:
    slim = Rollup(granularity="hour", dimensions=["product_group"], metrics=["purchases"])
    config = clicks.model_copy(update={"rollups": {"slim": slim}})
    narrowed = Catalog(modules={**catalog.modules, "clickstream": config})
    request = QueryRequest(
        module="clickstream", window=LAST_24H, group_by=["product_group"], metrics=["conversion_rate"], caller=ADMIN
    )
    assert plan_query(narrowed, request, NOW, "db").main.source.rollup is None  # conversion_rate also needs views


def test_known_sizes_rank_candidates(clicks: ModuleConfig) -> None:
    tz = ZoneInfo("UTC")
    start, end = resolve_window(LAST_24H, "hour", tz, NOW)
    sizes = {"hourly_groups": 10, "hourly_product_groups": 1_000}
    got = choose_source(clicks, {"product_group"}, {"events"}, "hour", tz, start, end, NOW, sizes)
    assert got.rollup == "hourly_groups"


# --- no raw events and no rollup ------------------------------------------------------------------------------


def test_without_raw_and_without_a_fitting_rollup_the_query_is_refused(catalog: Catalog) -> None:
    gaming = catalog.modules["gaming"].model_copy(update={"raw": Raw(keep=False)})
    with pytest.raises(QueryError) as caught:
        source(gaming, {"seed"}, {"rounds"}, "hour", LAST_24H)  # seed is only kept daily
    assert caught.value.argument == "groupBy"
    assert caught.value.hint is not None and "daily_seeds" in caught.value.hint


def test_without_raw_a_fitting_rollup_still_answers(catalog: Catalog) -> None:
    gaming = catalog.modules["gaming"].model_copy(update={"raw": Raw(keep=False)})
    assert source(gaming, {"game"}, {"rounds"}, "hour", LAST_24H).rollup == "hourly_games"


def test_fleet_keeps_no_raw_events_so_hourly_zones_are_refused() -> None:
    fleet = load_catalog(CLIENT_CONFIGS).modules["fleet"]
    assert fleet.raw.keep is False
    with pytest.raises(QueryError) as caught:
        source(fleet, {"zone"}, {"trips"}, "hour", LAST_24H)  # zone is only kept daily
    assert caught.value.argument == "groupBy"
    assert source(fleet, {"zone"}, {"trips", "distance"}, "day", UTC_DAYS).rollup == "daily_zones"
    with pytest.raises(QueryError):
        source(fleet, {"depot"}, {"trips"}, "day", LAST_DAY, tz="Asia/Kolkata")  # no minute rollup to tile them


def test_when_no_table_keeps_the_window_the_one_keeping_the_most_answers(clicks: ModuleConfig) -> None:
    """Raw keeps 30 days, hourly_groups 90: a 60-day hourly question by country reads hourly_groups, which still
    holds every event of the window, rather than raw events of which half are gone."""
    window = TimeWindow(start=utc(2025, 12, 1), end=utc(2026, 3, 10))  # 99 days: more than any hourly table keeps
    got = source(clicks, {"country"}, {"events"}, "hour", window)
    assert got.rollup == "hourly_groups"
    assert "no table keeps the whole window" in got.reason and "90d" in got.reason
    # A dimension only raw events have: raw answers, as before.
    assert source(clicks, {"product"}, {"events"}, "hour", window).rollup is None
    # Raw events keep the window: they answer (minute_overview fits but for its 2 days, and does not win).
    assert source(clicks, {"action"}, {"events"}, "minute", TimeWindow(last=10, unit="day")).rollup is None


def test_with_raw_kept_forever_no_rollup_wins_on_retention(clicks: ModuleConfig) -> None:
    forever = clicks.model_copy(update={"raw": Raw(keep=True, retention=None)})
    window = TimeWindow(start=utc(2025, 12, 1), end=utc(2026, 3, 10))
    assert source(forever, {"country"}, {"events"}, "hour", window).rollup is None
