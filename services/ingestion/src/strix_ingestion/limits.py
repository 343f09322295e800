"""What the ClickHouse columns of a module can store, and how long its tables keep an event.

Ingestion refuses what no table could keep, naming the field, so that no event can stop a partition later
(ClickHouse refusing an insert) or vanish silently (a TTL that wraps around). The facts behind each bound:

- `int` columns are Int64, `decimal` columns Decimal(18, scale): at most 18 - scale digits before the point.
- `float` columns are Float64: any finite number (JSON cannot spell NaN or infinity; msgspec refuses overflow).
- `datetime` is DateTime64(3, 'UTC') in the raw table, but rollup buckets are DateTime('UTC') — unsigned 32-bit
  seconds, [1970-01-01T00:00:00Z, 2106-02-07T06:28:15Z] — and the raw TTL is `toDateTime(time) + retention`, a
  bucket's `bucket + retention`: past 2106-02-07T06:28:15Z these wrap to 1970 and the row is dropped at once. So
  an event time must lie in [1970-01-01T00:00:00Z, 2106-02-07T06:28:15Z - longest retention).
- A table drops a row once its TTL expression is <= now (`toDateTime(t) + R` for raw, `bucket + R` for a rollup),
  so an event older than every table's horizon would be stored nowhere; one without retention keeps forever.

Plain functions over plain data: `now` is an argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from strix_config import ModuleConfig
from strix_config.fieldtypes import DECIMAL_PRECISION as DECIMAL_PRECISION
from strix_config.fieldtypes import INT64_MAX as INT64_MAX
from strix_config.fieldtypes import INT64_MIN as INT64_MIN
from strix_config.fieldtypes import decimal_bound as column_bound
from strix_config.granularities import GRANULARITY_SECONDS
from strix_config.model import parse_duration

# The column bounds (Int64, Decimal(18, scale)) are the field type table's (strix_config.fieldtypes).
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
# 2**32 - 1 seconds after the epoch, the largest DateTime: the first event time refused (half-open range).
TIME_END = datetime(2106, 2, 7, 6, 28, 15, tzinfo=UTC)


def decimal_bound(scale: int) -> Decimal:
    """Decimal(18, scale) holds absolute values below 10 ** (18 - scale)."""
    return Decimal(column_bound(scale))


@dataclass(frozen=True)
class Keeper:
    """A table that keeps events: the raw table (bucket of one second: `toDateTime`) or a rollup."""

    table: str
    retention: timedelta | None
    bucket_seconds: int

    def oldest_kept(self, now: datetime) -> datetime | None:
        """The earliest event time this table still keeps at `now`; None when it keeps events forever.
        A bucket b is kept while b + retention > now, i.e. from the first bucket after now - retention."""
        if self.retention is None:
            return None
        cut = (now - self.retention - EARLIEST_TIME).total_seconds()
        first = (int(cut // self.bucket_seconds) + 1) * self.bucket_seconds
        return EARLIEST_TIME + timedelta(seconds=first)


@dataclass(frozen=True)
class TimeBounds:
    """The event times a module can store: [earliest, end), and the keepers that set its retention horizon."""

    earliest: datetime
    end: datetime
    keepers: tuple[Keeper, ...]
    longest_retention: str | None  # as written in the config, for messages

    def horizon(self, now: datetime) -> datetime | None:
        """The oldest event time some table still keeps; None when a table keeps events forever (or none
        keeps any: a module without raw table and rollups stores nothing, whatever the time)."""
        if not self.keepers:
            return None
        oldest = [k.oldest_kept(now) for k in self.keepers]
        if any(o is None for o in oldest):
            return None
        return min(o for o in oldest if o is not None)


def time_bounds(config: ModuleConfig) -> TimeBounds:
    keepers: list[Keeper] = []
    written: dict[timedelta, str] = {}
    if config.raw.keep:
        keepers.append(Keeper("raw", _retention(config.raw.retention, written), 1))
    for name, rollup in config.rollups.items():
        keepers.append(Keeper(name, _retention(rollup.retention, written), GRANULARITY_SECONDS[rollup.granularity]))
    finite = [k.retention for k in keepers if k.retention is not None]
    longest = max(finite, default=None)
    end = TIME_END - longest if longest is not None else TIME_END
    return TimeBounds(EARLIEST_TIME, end, tuple(keepers), written[longest] if longest is not None else None)


def _retention(text: str | None, written: dict[timedelta, str]) -> timedelta | None:
    if text is None:
        return None
    delta = parse_duration(text)
    written.setdefault(delta, text)
    return delta


def utc_text(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z (milliseconds when there are some); as sent when UTC is out of Python's range."""
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 has no UTC datetime
        return moment.isoformat()
    return moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds").replace("+00:00", "Z")
