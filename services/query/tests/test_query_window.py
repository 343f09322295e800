"""Time windows on the caller's wall clock: every expected bound below is written out by hand as a UTC instant,
so a mistake in the zone arithmetic (24-hour days across DST, hour buckets assumed to start on UTC hours) shows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from strix_contracts.errors import QueryError
from strix_contracts.query import TimeWindow
from strix_query.window import (
    buckets,
    ceil,
    comparison_window,
    constant_lag,
    floor,
    resolve_window,
    shift,
    zone,
)

NOW = datetime(2026, 3, 10, 10, 17, tzinfo=UTC)  # a Tuesday; Paris is UTC+01:00, Kolkata UTC+05:30
PARIS = ZoneInfo("Europe/Paris")
KOLKATA = ZoneInfo("Asia/Kolkata")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# --- relative windows: the last N whole units, up to and including the current one --------------------------


@pytest.mark.parametrize(
    ("tz", "last", "unit", "granularity", "start", "end"),
    [
        # UTC: the current hour is 10:00-11:00, the current day is 10 March.
        ("UTC", 24, "hour", "hour", utc(2026, 3, 9, 11), utc(2026, 3, 10, 11)),
        ("UTC", 7, "day", "day", utc(2026, 3, 4), utc(2026, 3, 11)),
        # Paris (11:17 local): hours coincide with UTC hours, days start at 23:00 UTC the evening before.
        ("Europe/Paris", 24, "hour", "hour", utc(2026, 3, 9, 11), utc(2026, 3, 10, 11)),
        ("Europe/Paris", 7, "day", "day", utc(2026, 3, 3, 23), utc(2026, 3, 10, 23)),
        # Kolkata (15:47 local): local hours start at :30 UTC, days at 18:30 UTC the evening before.
        ("Asia/Kolkata", 24, "hour", "hour", utc(2026, 3, 9, 10, 30), utc(2026, 3, 10, 10, 30)),
        ("Asia/Kolkata", 7, "day", "day", utc(2026, 3, 3, 18, 30), utc(2026, 3, 10, 18, 30)),
        # A relative window in days asked at hour granularity keeps whole local days.
        ("Asia/Kolkata", 1, "day", "hour", utc(2026, 3, 9, 18, 30), utc(2026, 3, 10, 18, 30)),
    ],
)
def test_relative_window_covers_the_last_whole_units_in_the_callers_zone(
    tz: str, last: int, unit: str, granularity: str, start: datetime, end: datetime
) -> None:
    got = resolve_window(TimeWindow(last=last, unit=unit), granularity, zone(tz), NOW)  # type: ignore[arg-type]
    assert got == (start, end)
    assert all(moment.utcoffset() == timedelta(0) for moment in got)


def test_relative_window_includes_the_current_unit() -> None:
    start, end = resolve_window(TimeWindow(last=1, unit="hour"), "minute", zone("UTC"), NOW)
    assert start <= NOW < end
    assert (start, end) == (utc(2026, 3, 10, 10), utc(2026, 3, 10, 11))


def test_relative_week_starts_on_monday() -> None:
    start, end = resolve_window(TimeWindow(last=2, unit="week"), "day", zone("UTC"), NOW)
    assert (start, end) == (utc(2026, 3, 2), utc(2026, 3, 16))
    assert start.weekday() == 0


def test_relative_month_uses_calendar_months() -> None:
    start, end = resolve_window(TimeWindow(last=3, unit="month"), "day", PARIS, NOW)
    # January, February and March on the Paris wall clock (UTC+01:00 at both ends).
    assert (start, end) == (utc(2025, 12, 31, 23), utc(2026, 3, 31, 22))  # 1 April 00:00 CEST = 22:00 UTC


# --- DST: Europe/Paris moves from +01:00 to +02:00 at 02:00 on 2026-03-29 ---------------------------------


def test_days_across_the_dst_change_start_at_local_midnight() -> None:
    after = datetime(2026, 3, 30, 10, 17, tzinfo=UTC)
    start, end = resolve_window(TimeWindow(last=3, unit="day"), "day", PARIS, after)
    # 28 March 00:00 CET, 31 March 00:00 CEST: 71 hours, not 72.
    assert (start, end) == (utc(2026, 3, 27, 23), utc(2026, 3, 30, 22))
    days = buckets(start, end, "day", PARIS)
    assert days == [utc(2026, 3, 27, 23), utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)]
    for day in days:
        assert day is not None
        local = day.astimezone(PARIS)
        assert (local.hour, local.minute) == (0, 0)
    assert end - start == timedelta(hours=71)


def test_absolute_window_across_dst_is_widened_to_local_midnights() -> None:
    window = TimeWindow(
        start=datetime(2026, 3, 28, 12, tzinfo=timezone(timedelta(hours=1))),
        end=datetime(2026, 3, 30, 12, tzinfo=timezone(timedelta(hours=2))),
    )
    assert resolve_window(window, "day", PARIS, NOW) == (utc(2026, 3, 27, 23), utc(2026, 3, 30, 22))


def test_hours_across_the_dst_change_are_23_in_the_short_day() -> None:
    start, end = utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)
    hours = buckets(start, end, "hour", PARIS)
    assert len(hours) == 23
    assert len(set(hours)) == 23


def test_floor_and_shift_on_the_local_wall_clock() -> None:
    # 01:30 UTC on 29 March is 03:30 CEST: the day started at 00:00 CET = 23:00 UTC the day before.
    assert floor(utc(2026, 3, 29, 1, 30), "day", PARIS) == utc(2026, 3, 28, 23)
    assert shift(utc(2026, 3, 28, 23), "day", 1, PARIS) == utc(2026, 3, 29, 22)
    assert floor(utc(2026, 3, 10, 10, 17), "hour", KOLKATA) == utc(2026, 3, 10, 9, 30)
    assert ceil(utc(2026, 3, 10, 9, 30), "hour", KOLKATA) == utc(2026, 3, 10, 9, 30)
    assert ceil(utc(2026, 3, 10, 9, 31), "hour", KOLKATA) == utc(2026, 3, 10, 10, 30)
    assert floor(utc(2026, 3, 15, 12), "month", PARIS) == utc(2026, 2, 28, 23)


# --- absolute windows: widened to whole buckets of the query granularity ------------------------------------


@pytest.mark.parametrize(
    ("tz", "granularity", "start", "end"),
    [
        ("UTC", "hour", utc(2026, 3, 9, 10), utc(2026, 3, 9, 14)),
        ("UTC", "minute", utc(2026, 3, 9, 10, 17), utc(2026, 3, 9, 13, 5)),
        ("UTC", "day", utc(2026, 3, 9), utc(2026, 3, 10)),
        ("Asia/Kolkata", "hour", utc(2026, 3, 9, 9, 30), utc(2026, 3, 9, 13, 30)),
        # 10:17:30 UTC is 15:47 IST on the 9th; 13:05 UTC is 18:35 IST: the local 9th, 18:30 UTC on the 8th on.
        ("Asia/Kolkata", "day", utc(2026, 3, 8, 18, 30), utc(2026, 3, 9, 18, 30)),
        ("Europe/Paris", "day", utc(2026, 3, 8, 23), utc(2026, 3, 9, 23)),
        # TOTAL is one row: nothing to widen.
        ("UTC", "total", utc(2026, 3, 9, 10, 17, 30), utc(2026, 3, 9, 13, 5)),
    ],
)
def test_absolute_window_is_widened_to_whole_buckets(tz: str, granularity: str, start: datetime, end: datetime) -> None:
    window = TimeWindow(start=utc(2026, 3, 9, 10, 17, 30), end=utc(2026, 3, 9, 13, 5))
    assert resolve_window(window, granularity, zone(tz), NOW) == (start, end)


def test_aligned_absolute_window_is_kept_as_is() -> None:
    window = TimeWindow(start=utc(2026, 3, 9, 10), end=utc(2026, 3, 9, 14))
    assert resolve_window(window, "hour", zone("UTC"), NOW) == (utc(2026, 3, 9, 10), utc(2026, 3, 9, 14))


def test_absolute_window_given_in_another_offset_is_returned_in_utc() -> None:
    window = TimeWindow(
        start=datetime(2026, 3, 9, 12, tzinfo=timezone(timedelta(hours=2))),
        end=datetime(2026, 3, 9, 15, tzinfo=timezone(timedelta(hours=2))),
    )
    start, end = resolve_window(window, "hour", zone("UTC"), NOW)
    assert (start, end) == (utc(2026, 3, 9, 10), utc(2026, 3, 9, 13))
    assert start.tzinfo == UTC and end.tzinfo == UTC


# --- presets: calendar windows on the caller's wall clock ---------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "tz", "start", "end"),
    [
        ("today", "Asia/Kolkata", utc(2026, 3, 9, 18, 30), utc(2026, 3, 10, 18, 30)),
        ("yesterday", "Europe/Paris", utc(2026, 3, 8, 23), utc(2026, 3, 9, 23)),
        ("this_week", "UTC", utc(2026, 3, 9), utc(2026, 3, 16)),
        ("last_week", "UTC", utc(2026, 3, 2), utc(2026, 3, 9)),
        ("month_to_date", "UTC", utc(2026, 3, 1), utc(2026, 3, 11)),
        ("last_month", "Europe/Paris", utc(2026, 1, 31, 23), utc(2026, 2, 28, 23)),
    ],
)
def test_presets(preset: str, tz: str, start: datetime, end: datetime) -> None:
    assert resolve_window(TimeWindow(preset=preset), "hour", zone(tz), NOW) == (start, end)  # type: ignore[arg-type]


# --- comparison windows: the same local buckets, earlier ------------------------------------------------------


def test_week_earlier_across_dst_keeps_local_midnights() -> None:
    start, end = utc(2026, 3, 29, 22), utc(2026, 3, 30, 22)  # 30 March, CEST
    assert comparison_window(start, end, "week_earlier", PARIS) == (utc(2026, 3, 22, 23), utc(2026, 3, 23, 23))


def test_year_earlier_is_the_same_calendar_days() -> None:
    start, end = utc(2026, 3, 1), utc(2026, 4, 1)
    assert comparison_window(start, end, "year_earlier", zone("UTC")) == (utc(2025, 3, 1), utc(2025, 4, 1))


def test_previous_period_of_hours_is_the_hours_just_before() -> None:
    start, end = resolve_window(TimeWindow(last=24, unit="hour"), "hour", zone("UTC"), NOW)
    assert comparison_window(start, end, "previous_period", zone("UTC")) == (utc(2026, 3, 8, 11), utc(2026, 3, 9, 11))


def test_previous_period_of_local_days_across_dst_is_whole_local_days() -> None:
    """28-30 March in Paris (71 hours, the clocks go forward on the 29th) compares with 25-27 March: three whole
    local days from 00:00 CET, so each comparison bucket matches a local day of the current window."""
    after = datetime(2026, 3, 30, 10, 17, tzinfo=UTC)
    start, end = resolve_window(TimeWindow(last=3, unit="day"), "day", PARIS, after)
    earlier = comparison_window(start, end, "previous_period", PARIS)
    assert earlier == (utc(2026, 3, 24, 23), utc(2026, 3, 27, 23))


def test_previous_period_of_a_month_is_the_previous_month() -> None:
    """March compares with February, not with the 31 days before March (29 January to 1 March): the earlier
    window must be whole months so its month buckets can be listed and matched with the current ones."""
    utc_zone = zone("UTC")
    start, end = resolve_window(TimeWindow(last=1, unit="month"), "month", utc_zone, NOW)
    earlier = comparison_window(start, end, "previous_period", utc_zone)
    assert earlier == (utc(2026, 2, 1), utc(2026, 3, 1))
    assert buckets(*earlier, "month", utc_zone) == [utc(2026, 2, 1)]


# --- errors name the argument ----------------------------------------------------------------------------------


def _error(window: TimeWindow, tz: str = "UTC", granularity: str = "hour") -> QueryError:
    with pytest.raises(QueryError) as caught:
        resolve_window(window, granularity, zone(tz), NOW)
    return caught.value


def test_end_before_start_is_refused() -> None:
    error = _error(TimeWindow(start=utc(2026, 3, 9, 12), end=utc(2026, 3, 9, 10)))
    assert error.argument == "window.end"


def test_empty_window_is_refused_even_when_widening_would_fill_it() -> None:
    error = _error(TimeWindow(start=utc(2026, 3, 9, 12, 30), end=utc(2026, 3, 9, 12, 30)))
    assert error.argument == "window.end"


def test_mixed_absolute_and_relative_window_is_refused() -> None:
    error = _error(TimeWindow(start=utc(2026, 3, 9), end=utc(2026, 3, 10), last=3, unit="day"))
    assert error.argument == "window"


def test_relative_and_preset_window_is_refused() -> None:
    assert _error(TimeWindow(last=3, unit="day", preset="today")).argument == "window"


@pytest.mark.parametrize(
    "window",
    [TimeWindow(last=3), TimeWindow(unit="day"), TimeWindow(start=utc(2026, 3, 9)), TimeWindow(end=utc(2026, 3, 9))],
)
def test_half_a_window_is_refused(window: TimeWindow) -> None:
    error = _error(window)
    assert error.argument == "window"


def test_no_window_at_all_is_refused_with_a_hint() -> None:
    error = _error(TimeWindow())
    assert error.argument == "window"
    assert error.hint


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "Europe/Pariss", "", "../../etc/passwd"])
def test_unknown_time_zone_names_the_argument(name: str) -> None:
    with pytest.raises(QueryError) as caught:
        zone(name)
    assert caught.value.argument == "timeZone"
    assert caught.value.hint is not None and "Europe/Paris" in caught.value.hint


def test_the_hours_of_a_month_lie_a_constant_lag_after_those_of_the_previous_month() -> None:
    """November against October: 720 hours against 744, paired by position, each 31 days apart; so the
    bucket cache can keep November's rows with their comparison attached."""
    tz = zone("UTC")
    start, end = utc(2026, 11, 1), utc(2026, 12, 1)
    earlier = comparison_window(start, end, "previous_period", tz)
    assert earlier == (utc(2026, 10, 1), utc(2026, 11, 1))
    current, before = buckets(start, end, "hour", tz), buckets(*earlier, "hour", tz)
    assert (len(current), len(before)) == (720, 744)
    assert constant_lag(current, before) == timedelta(days=31)
    assert constant_lag(buckets(start, end, "day", tz), buckets(*earlier, "day", tz)) == timedelta(days=31)


def test_month_buckets_and_local_days_across_dst_have_no_constant_lag() -> None:
    tz = zone("UTC")
    start, end = utc(2026, 7, 1), utc(2026, 10, 1)
    assert constant_lag(buckets(start, end, "month", tz), buckets(utc(2026, 4, 1), start, "month", tz)) is None
    paris = ZoneInfo("Europe/Paris")
    days = buckets(datetime(2026, 3, 30, tzinfo=paris), datetime(2026, 4, 2, tzinfo=paris), "day", paris)
    before = buckets(datetime(2026, 3, 27, tzinfo=paris), datetime(2026, 3, 30, tzinfo=paris), "day", paris)
    assert constant_lag(days, before) is None  # 29 March has 23 hours
    assert constant_lag([], []) is None
