"""The planner ranks rollups by the rows they hold within the window, estimated from each part's rows and span.

Pure: parts as the query service reads them from system.parts (rows, first and last bucket), a plan out.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from strix_config import load_catalog
from strix_contracts.caller import Caller
from strix_contracts.query import QueryRequest
from strix_query.plan import plan_query
from strix_query.planner import Held, rows_within, window_sizes

REPO = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 12, 4, 18, tzinfo=UTC)
ADMIN = Caller(subject="test-admin", kind="user", scopes=("admin",))
HOUR = timedelta(hours=1)


def test_rows_within_spread_each_part_over_its_span() -> None:
    day = datetime(2026, 12, 1, tzinfo=UTC)
    parts = [Held(240, day, day + 23 * HOUR), Held(48, day + 24 * HOUR, day + 47 * HOUR)]  # 10/h, then 2/h
    assert rows_within(parts, day, day + 48 * HOUR, HOUR) == 288  # everything
    assert rows_within(parts, day + 6 * HOUR, day + 12 * HOUR, HOUR) == 60  # 6 hours of the first part
    assert rows_within(parts, day + 22 * HOUR, day + 26 * HOUR, HOUR) == 20 + 4  # 2 hours of each
    assert rows_within(parts, day - 48 * HOUR, day, HOUR) == 0  # before any
    epochless = [Held(500, datetime(1970, 1, 1, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC))]
    assert rows_within(epochless, day, day + HOUR, HOUR) == 500  # no span known: every row may be read


def test_the_rollup_with_fewest_rows_in_the_window_answers() -> None:
    """KPI tiles (24 hours, totals): the minute rollup holds fewer rows overall (it keeps 2 days) but more in
    the last 24 hours than the hourly one over product groups (62 days): the hourly one answers."""
    catalog = load_catalog(REPO / "configs")
    config = catalog.modules["clickstream"]
    request = QueryRequest.model_validate(
        {
            "module": "clickstream",
            "window": {"last": 24, "unit": "hour"},
            "granularity": "total",
            "metrics": ["events", "revenue", "customers"],
            "caller": ADMIN,
        }
    )
    minute = [Held(2 * 24 * 60 * 3, NOW - 48 * HOUR, NOW - timedelta(minutes=1))]  # 3 actions a minute, 2 days
    hourly = [Held(62 * 24 * 40, NOW - 62 * 24 * HOUR, NOW - HOUR)]  # 40 groups an hour, 62 days
    parts = {"minute_overview": minute, "hourly_product_groups": hourly}
    counts = {name: sum(p.rows for p in held) for name, held in parts.items()}
    assert counts["minute_overview"] < counts["hourly_product_groups"]

    by_count = plan_query(catalog, request, NOW, "db", {"clickstream": counts})
    assert by_count.main.source.rollup == "minute_overview"
    by_window = plan_query(catalog, request, NOW, "db", {"clickstream": parts})
    assert by_window.main.source.rollup == "hourly_product_groups"
    start, end = by_window.main.start, by_window.main.end
    hours = (NOW - start) / HOUR  # the window reaches past the data's last bucket: the hours it shares with it
    assert window_sizes(config, parts, start, end) == {
        "minute_overview": round(hours * 60 * 3),
        "hourly_product_groups": round(hours * 40),
    }
