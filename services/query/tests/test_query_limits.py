"""What protects the service from answers too large to compute or to send: refused with what to change."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
from pydantic import ValidationError

from strix_clickhouse import ClickHouse
from strix_config import load_catalog
from strix_contracts.errors import QueryError, invalid_request
from strix_contracts.query import (
    MAX_FILTER_BRANCHES,
    MAX_FILTER_CONDITIONS,
    MAX_FILTER_DEPTH,
    MAX_FILTER_VALUES,
    QueryRequest,
    RecordsRequest,
    Row,
)
from strix_query.app import QueryService, statement_timed_out
from strix_query.compiler import MAX_ROWS, STATEMENT_SECONDS, CompiledQuery, compile_query, with_time_limit
from strix_query.planner import Source
from strix_query.results import result_rows
from strix_query.shaping import join_rows
from strix_query.validation import check_answer_size, check_row_count
from strix_query.window import zone
from strix_runtime.natsserver import NatsServer

CONFIGS = Path(__file__).resolve().parents[3] / "configs"


def test_statement_results_over_the_cap_are_refused_naming_the_grouping() -> None:
    compiled = CompiledQuery("SELECT ...", {}, ["product_id"], ["events"], bucketed=True)
    at_cap = [(1_700_000_000 + i, f"p-{i}", 1) for i in range(MAX_ROWS)]
    assert len(result_rows(compiled, at_cap, zone("UTC"))) == MAX_ROWS
    with pytest.raises(QueryError) as caught:
        result_rows(compiled, [*at_cap, (1_700_000_000, "one-more", 1)], zone("UTC"))
    assert caught.value.argument == "groupBy"
    assert caught.value.hint is not None and "top N" in caught.value.hint


def test_row_count_at_the_cap_passes() -> None:
    check_row_count(MAX_ROWS)
    with pytest.raises(QueryError):
        check_row_count(MAX_ROWS + 1)


def test_an_answer_larger_than_a_reply_may_carry_is_refused_with_its_size() -> None:
    check_answer_size(8 * 2**20, 8 * 2**20)
    with pytest.raises(QueryError) as caught:
        check_answer_size(12 * 2**20, 8 * 2**20)
    assert "12.0 MiB" in str(caught.value) and "8 MiB" in str(caught.value)
    assert caught.value.argument == "groupBy"


# --- what one request may hold and cost -----------------------------------------------------------------------


def _request(filters: Any, **extra: Any) -> QueryRequest:
    payload = {"module": "clickstream", "window": {"last": 1, "unit": "day"}, "metrics": ["events"], **extra}
    return QueryRequest.model_validate({**payload, "filters": filters})


def _refusal(filters: Any) -> QueryError:
    with pytest.raises(ValidationError) as caught:
        _request(filters)
    return invalid_request(caught.value)


def _nested(levels: int) -> list[Any]:
    """A `where` nested `levels` deep, as the gateway sends it: each level of or is an any of all-ofs."""
    item: Any = {"dimension": "device", "op": "eq", "value": "mobile"}
    for _ in range(levels):
        item = {"any": [{"all": [item]}]}
    return [item]


def test_filters_nested_up_to_the_limit_pass_and_deeper_ones_are_refused_with_the_limit() -> None:
    _request(_nested(MAX_FILTER_DEPTH // 2))
    for levels in (MAX_FILTER_DEPTH // 2 + 1, 500):
        error = _refusal(_nested(levels))
        assert error.argument == "filters"
        assert f"more than {MAX_FILTER_DEPTH} all/any groups deep" in error.message
        assert error.hint is not None and f"at most {MAX_FILTER_DEPTH // 2} levels of and/or" in error.hint


def test_a_group_of_too_many_branches_is_refused_naming_the_count() -> None:
    branches = [{"dimension": "country", "op": "eq", "value": f"C{i}"} for i in range(50_000)]
    error = _refusal([{"any": branches}])
    assert "50000 branches in one group, at most 100" in error.message
    assert error.hint is not None and "`in`" in error.hint
    _request([{"any": branches[:MAX_FILTER_BRANCHES]}])


def test_in_lists_and_conditions_are_bounded_in_total() -> None:
    _request([{"dimension": "country", "op": "in", "value": [f"C{i}" for i in range(MAX_FILTER_VALUES)]}])
    error = _refusal([{"dimension": "country", "op": "in", "value": [f"C{i}" for i in range(500_000)]}])
    assert f"more than {MAX_FILTER_VALUES} values" in error.message
    error = _refusal(
        [
            {"dimension": "country", "op": "in", "value": [f"C{i}" for i in range(6_000)]},
            {"dimension": "device", "op": "not_in", "value": [f"D{i}" for i in range(6_000)]},
        ]
    )
    assert error.message.startswith("filters[1]:")
    groups = [
        {"any": [{"dimension": "country", "op": "eq", "value": f"C{i}-{j}"} for j in range(100)]} for i in range(6)
    ]
    error = _refusal(groups)
    assert f"more than {MAX_FILTER_CONDITIONS} conditions" in error.message


def test_records_requests_have_the_same_filter_limits() -> None:
    with pytest.raises(ValidationError) as caught:
        RecordsRequest.model_validate(
            {"module": "clickstream", "window": {"last": 1, "unit": "day"}, "filters": _nested(40)}
        )
    assert "all/any groups deep" in invalid_request(caught.value).message


@pytest.mark.parametrize("name", ["a" * 300, "Europe/" + "x" * 200, "../../../../etc/passwd", "Europe/Helsink"])
def test_time_zones_are_checked_against_the_known_names_and_never_read_as_paths(name: str) -> None:
    with pytest.raises(QueryError) as caught:
        zone(name)
    assert caught.value.argument == "timeZone"
    text = caught.value.describe()
    assert "/usr" not in text and "zoneinfo" not in text and "Errno" not in text
    assert len(text) < 200  # a long name is not echoed back
    if name == "Europe/Helsink":
        assert "did you mean 'Europe/Helsinki'?" in text


def test_known_time_zones_load() -> None:
    for name in ("UTC", "Europe/Helsinki", "Asia/Kolkata", "America/St_Johns"):
        assert zone(name).key == name


async def test_clickhouse_stops_a_statement_at_its_time_limit(clickhouse: ClickHouse) -> None:
    """The limit every query statement carries, on a statement that would run for minutes."""
    heavy = "SELECT count() FROM numbers(100000000000) WHERE sipHash64(number) = 0"
    started = time.perf_counter()
    with pytest.raises(Exception) as caught:
        await clickhouse.query(with_time_limit(heavy, 0.5), {})
    elapsed = time.perf_counter() - started
    print(f"statement stopped after {elapsed:.2f} s")
    assert statement_timed_out(caught.value)
    assert with_time_limit("SELECT 1").endswith(
        f"SETTINGS max_execution_time = {STATEMENT_SECONDS:g}, timeout_overflow_mode = 'throw'"
    )


async def test_a_request_past_its_deadline_is_answered_with_what_to_narrow(
    nats_server: NatsServer, clickhouse: ClickHouse
) -> None:
    catalog = load_catalog(CONFIGS)
    nc = await nats.connect(nats_server.url)
    try:
        service = QueryService(catalog, nc, clickhouse, deadline=0.2)
        with pytest.raises(QueryError) as caught:
            await service.within_deadline(asyncio.sleep(5))
        assert caught.value.message == "the query took longer than 0.2 s"
        assert caught.value.argument == "window" and "narrow the window" in (caught.value.hint or "")
        heavy = "SELECT count() FROM numbers(100000000000) WHERE sipHash64(number) = 0"
        service.deadline = 30
        with pytest.raises(QueryError) as caught:
            await service.within_deadline(clickhouse.query(with_time_limit(heavy, 0.3), {}))
        assert caught.value.message == f"the query took longer than {STATEMENT_SECONDS:g} s"
    finally:
        await nc.close()


# --- joins ----------------------------------------------------------------------------------------------------


def test_a_missing_side_of_an_outer_join_is_null_not_zero() -> None:
    bucket = datetime(2026, 3, 9, tzinfo=UTC)
    left = [Row(bucket=bucket, dimensions={"country": "FI"}, metrics={"events": 3})]
    right = [Row(bucket=bucket, dimensions={"country": "SE"}, metrics={"spend": 2.5, "clicks": 0})]
    rows = join_rows(left, right, "full", ["country"], ["spend", "clicks"], ["events"])
    by_country = {r.dimensions["country"]: r for r in rows}
    assert by_country["FI"].metrics == {"events": 3} and by_country["FI"].joined == {"spend": None, "clicks": None}
    assert by_country["SE"].metrics == {"events": None} and by_country["SE"].joined == {"spend": 2.5, "clicks": 0}


@pytest.mark.parametrize(
    ("dimension", "value", "message"),
    [
        ("zone", [3, 2**70], f"{2**70} is outside the 64-bit range of zone"),
        ("toll", 1e30, "1e+30 is outside the range of toll (Decimal(18, 2))"),
    ],
)
def test_numbers_a_column_cannot_hold_are_refused_before_clickhouse_sees_them(
    tmp_path: Path, dimension: str, value: Any, message: str
) -> None:
    """An int beyond Int64, a decimal beyond Decimal(18, scale): ClickHouse's own error would read as internal."""
    text = (CONFIGS.parent / "tests" / "fixtures" / "client-configs" / "fleet.yaml").read_text()
    (tmp_path / "fleet.yaml").write_text(
        text.replace("\ndimensions:\n", "\ndimensions:\n  toll: {description: Toll.}\n", 1)
    )
    fleet = load_catalog(tmp_path).modules["fleet"]
    op = "in" if isinstance(value, list) else "gt"
    request = QueryRequest.model_validate(
        {
            "module": "fleet",
            "window": {"last": 1, "unit": "day"},
            "metrics": ["trips"],
            "filters": [{"dimension": dimension, "op": op, "value": value}],
        }
    )
    start = datetime(2026, 3, 9, tzinfo=UTC)
    with pytest.raises(QueryError) as caught:
        compile_query(request, fleet, Source(None, "raw"), start, start + timedelta(days=1), "db")
    assert caught.value.argument == "filters[0]"
    assert caught.value.message == message
