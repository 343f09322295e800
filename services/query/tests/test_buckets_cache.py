"""The bucket cache forgets exactly what a commit changed, refuses rows computed across a commit, and stays
within its row budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from strix_query.buckets_cache import BucketCache

T0 = datetime(2026, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def hours(first: int, count: int, rows: int = 2) -> list[tuple[datetime, datetime, list[str]]]:
    return [
        (T0 + i * HOUR, T0 + (i + 1) * HOUR, [f"h{i}r{r}" for r in range(rows)]) for i in range(first, first + count)
    ]


def starts(first: int, count: int) -> list[datetime]:
    return [T0 + i * HOUR for i in range(first, first + count)]


def test_a_sliding_window_finds_every_bucket_it_read_before() -> None:
    cache: BucketCache[str] = BucketCache()
    assert cache.store("shape", "clicks", hours(0, 24), cache.generation("clicks"))
    found = cache.lookup("shape", starts(1, 24))
    assert sorted(found) == starts(1, 23)
    assert found[T0 + 5 * HOUR] == ["h5r0", "h5r1"]
    assert cache.lookup("other shape", starts(1, 24)) == {}


def test_a_commit_drops_the_buckets_it_touched_and_no_others() -> None:
    cache: BucketCache[str] = BucketCache()
    cache.store("shape", "clicks", hours(0, 24), cache.generation("clicks"))
    cache.store("other module", "ads", hours(0, 24), cache.generation("ads"))
    # Events from 05:10 to 07:00 exactly: buckets 05, 06 and 07 (07:00 is inside bucket 07).
    assert cache.invalidate("clicks", T0 + 5 * HOUR + timedelta(minutes=10), T0 + 7 * HOUR) == 3
    assert sorted(set(starts(0, 24)) - set(cache.lookup("shape", starts(0, 24)))) == starts(5, 3)
    assert len(cache.lookup("other module", starts(0, 24))) == 24
    assert cache.size == 2 * (24 + 21)


def test_rows_computed_while_a_commit_arrived_are_not_kept() -> None:
    cache: BucketCache[str] = BucketCache()
    generation = cache.generation("clicks")
    cache.invalidate("clicks", T0, T0)
    assert not cache.store("shape", "clicks", hours(0, 3), generation)
    assert cache.lookup("shape", starts(0, 3)) == {}


def test_buckets_expire_because_notices_can_be_lost() -> None:
    now = [100.0]
    cache: BucketCache[str] = BucketCache(max_age=60, clock=lambda: now[0])
    cache.store("shape", "clicks", hours(0, 2), 0)
    now[0] += 61
    assert cache.lookup("shape", starts(0, 2)) == {}
    cache.store("shape", "clicks", hours(0, 2), 0)  # refilled in place, counted once
    assert len(cache.lookup("shape", starts(0, 2))) == 2 and cache.size == 4


def test_least_recently_used_shapes_go_first_beyond_the_row_budget() -> None:
    cache: BucketCache[str] = BucketCache(capacity_rows=100)
    cache.store("old", "clicks", hours(0, 20), 0)
    cache.store("used", "clicks", hours(0, 20), 0)
    cache.lookup("old", starts(0, 1))  # "old" is now the most recently used
    cache.store("new", "clicks", hours(0, 20), 0)
    assert set(cache.shapes) == {"old", "new"} and cache.size == 80


def test_compared_rows_also_go_when_their_earlier_bucket_changes() -> None:
    cache: BucketCache[str] = BucketCache()
    cache.store("compared", "clicks", hours(24, 24), 0, lag=timedelta(hours=24))
    # A late event at 03:30 on day 0 changes the comparison values of 03:00 on day 1.
    assert cache.invalidate("clicks", T0 + timedelta(hours=3, minutes=30), T0 + timedelta(hours=3, minutes=30)) == 1
    assert sorted(set(starts(24, 24)) - set(cache.lookup("compared", starts(24, 24)))) == [T0 + 27 * HOUR]
