"""Time windows and buckets in the caller's time zone.

Invariants: every datetime returned is timezone-aware UTC; a bucket boundary is computed on the local wall
clock of the zone (a day in UTC+08:00 starts at 16:00 UTC), then converted back.
Relative windows cover the last N whole units up to and including the current one; absolute windows are
widened to whole buckets of the query granularity, so every bucket returned is complete.
"""

from __future__ import annotations

import difflib
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from strix_config.granularities import UNIT_SECONDS
from strix_contracts.errors import QueryError
from strix_contracts.query import TimeWindow

# The longest IANA name is 32 characters; anything much longer is not a zone.
MAX_ZONE_NAME = 64


@cache
def known_zones() -> frozenset[str]:
    """The IANA names this installation knows (read once: it lists the zone files)."""
    return frozenset(available_timezones())


def zone(name: str) -> ZoneInfo:
    """The zone of an IANA name, checked against the known names first: a name is never used as a file path
    (a long or odd one made ZoneInfo fail with a path of the installation in its message)."""
    if len(name) > MAX_ZONE_NAME:
        raise QueryError(
            f"a time zone name of {len(name)} characters; IANA names are at most {MAX_ZONE_NAME}",
            argument="timeZone",
            hint="use an IANA name such as UTC or Europe/Paris",
        )
    if name not in known_zones():
        close = difflib.get_close_matches(name, sorted(known_zones()), n=1)
        raise QueryError(
            f"unknown time zone {name!r}",
            argument="timeZone",
            hint=f"did you mean {close[0]!r}?" if close else "use an IANA name such as UTC or Europe/Paris",
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise QueryError(f"time zone {name!r} cannot be loaded", argument="timeZone") from exc


def floor(moment: datetime, unit: str, tz: ZoneInfo) -> datetime:
    """Start of the bucket of `unit` containing `moment`, on the wall clock of `tz`."""
    local = moment.astimezone(tz)
    if unit == "minute":
        local = local.replace(second=0, microsecond=0)
    elif unit == "hour":
        local = local.replace(minute=0, second=0, microsecond=0)
    else:
        local = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if unit == "week":
            local -= timedelta(days=local.weekday())
        elif unit == "month":
            local = local.replace(day=1)
        local = local.replace(tzinfo=tz)  # re-localise: the offset at midnight may differ (DST)
    return local.astimezone(UTC)


def shift(moment: datetime, unit: str, count: int, tz: ZoneInfo) -> datetime:
    """Move a bucket start by `count` units (calendar units on the local wall clock)."""
    if unit in ("minute", "hour"):
        return (moment + timedelta(seconds=UNIT_SECONDS[unit] * count)).astimezone(UTC)
    local = moment.astimezone(tz).replace(tzinfo=None)
    if unit == "day":
        local += timedelta(days=count)
    elif unit == "week":
        local += timedelta(weeks=count)
    else:
        months = local.year * 12 + local.month - 1 + count
        local = local.replace(year=months // 12, month=months % 12 + 1)
    return local.replace(tzinfo=tz).astimezone(UTC)


def ceil(moment: datetime, unit: str, tz: ZoneInfo) -> datetime:
    start = floor(moment, unit, tz)
    return start if start == moment else shift(start, unit, 1, tz)


def preset_window(preset: str, tz: ZoneInfo, now: datetime) -> tuple[datetime, datetime]:
    """Calendar windows on the caller's wall clock. Weeks start on Monday; "to date" ends with today."""
    today = floor(now, "day", tz)
    tomorrow = shift(today, "day", 1, tz)
    week = floor(now, "week", tz)
    month = floor(now, "month", tz)
    windows = {
        "today": (today, tomorrow),
        "yesterday": (shift(today, "day", -1, tz), today),
        "this_week": (week, shift(week, "week", 1, tz)),
        "last_week": (shift(week, "week", -1, tz), week),
        "this_month": (month, shift(month, "month", 1, tz)),
        "month_to_date": (month, tomorrow),
        "last_month": (shift(month, "month", -1, tz), month),
    }
    return windows[preset]


def resolve_window(window: TimeWindow, granularity: str, tz: ZoneInfo, now: datetime) -> tuple[datetime, datetime]:
    """The effective [start, end) of a query, in UTC."""
    relative = window.last is not None or window.unit is not None
    absolute = window.start is not None or window.end is not None
    if sum((relative, absolute, window.preset is not None)) > 1:
        raise QueryError("give one of start/end, last/unit or preset", argument="window")
    if window.preset is not None:
        start, end = preset_window(window.preset, tz, now)
    elif relative:
        if window.last is None or window.unit is None:
            raise QueryError("a relative window needs both `last` and `unit`", argument="window")
        end = shift(floor(now, window.unit, tz), window.unit, 1, tz)
        start = shift(end, window.unit, -window.last, tz)
    elif absolute:
        if window.start is None or window.end is None:
            raise QueryError("an absolute window needs both `start` and `end`", argument="window")
        start, end = window.start.astimezone(UTC), window.end.astimezone(UTC)
    else:
        raise QueryError("the window is empty", argument="window", hint="give start/end, last/unit or a preset")
    if end <= start:
        raise QueryError("the window ends before it starts", argument="window.end")
    if granularity != "total":
        start, end = floor(start, granularity, tz), ceil(end, granularity, tz)
    return start, end


def buckets(start: datetime, end: datetime, granularity: str, tz: ZoneInfo) -> list[datetime | None]:
    """Every bucket start of an aligned window ([None] for a total): the rows of a continuous series."""
    if granularity == "total":
        return [None]
    found: list[datetime | None] = []
    if granularity in ("minute", "hour"):  # fixed widths in UTC: additions, not a zone conversion per bucket
        step = timedelta(seconds=UNIT_SECONDS[granularity])
        moment = start.astimezone(UTC)
        while moment < end:
            found.append(moment)
            moment += step
        return found
    moment = start
    while moment < end:
        found.append(moment)
        moment = shift(moment, granularity, 1, tz)
    return found


def comparison_window(start: datetime, end: datetime, kind: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The window a result is compared with: the one just before, or the same a week or a year earlier.

    "Just before" counts calendar units when the window is made of them: whole months give the previous
    months (February before March), whole local days the previous local days (23 or 25 hours across DST)."""
    if kind == "previous_period":
        local_start, local_end = start.astimezone(tz), end.astimezone(tz)
        if floor(start, "month", tz) == start and floor(end, "month", tz) == end:
            months = (local_end.year - local_start.year) * 12 + local_end.month - local_start.month
            return shift(start, "month", -months, tz), start
        if floor(start, "day", tz) == start and floor(end, "day", tz) == end:
            days = (local_end.date() - local_start.date()).days
            return shift(start, "day", -days, tz), start
        return start - (end - start), start
    if kind == "week_earlier":
        return shift(start, "day", -7, tz), shift(end, "day", -7, tz)
    return shift(start, "month", -12, tz), shift(end, "month", -12, tz)


def constant_lag(current: list[datetime | None], before: list[datetime | None]) -> timedelta | None:
    """How far each bucket's comparison bucket lies behind it, when that is the same for every bucket: buckets
    are compared by position, so November's hours against October's are 31 days apart each (October's last
    day compares with nothing). None for month buckets (months differ in length) and across a DST change of local
    days."""
    lags = {c - b for c, b in zip(current, before, strict=False) if c is not None and b is not None}
    return lags.pop() if len(lags) == 1 else None
