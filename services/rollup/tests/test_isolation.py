"""The split of a refused batch: which failures are retried, which events are set aside, and under which tokens
the rest is inserted. Plain data: ClickHouse is played by a rule over the rows of each slice."""

from __future__ import annotations

import random

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, DataError, OperationalError

from strix_rollup.isolation import Isolation, Slice, classify, cut, error_code, halves, reason_text, refused_field


def run(rows: int, poison: set[int], token: str = "m:0:1-9") -> tuple[Isolation, list[Slice]]:
    """Drive an isolation as the worker does, with ClickHouse refusing every slice that holds a poison row."""
    isolation = Isolation(rows, token)
    tried: list[Slice] = []
    while (piece := isolation.next()) is not None:
        tried.append(piece)
        if any(piece.start <= row < piece.stop for row in poison):
            isolation.refused(piece)
        else:
            isolation.landed(piece)
    return isolation, tried


def covered(isolation: Isolation) -> list[int]:
    return sorted([r for s in isolation.inserted for r in range(s.start, s.stop)] + isolation.dead)


@pytest.mark.parametrize("rows", [1, 2, 3, 7, 64, 100, 501])
def test_every_row_lands_once_or_is_set_aside_alone(rows: int) -> None:
    rng = random.Random(rows)
    for poison_count in range(1, min(rows, 6) + 1):  # the batch was refused: it holds at least one
        poison = set(rng.sample(range(rows), poison_count))
        isolation, _ = run(rows, poison)
        assert sorted(isolation.dead) == sorted(poison)
        assert covered(isolation) == list(range(rows))
        assert not any(p in range(s.start, s.stop) for s in isolation.inserted for p in poison)


def test_a_batch_of_one_refused_event_is_that_event() -> None:
    isolation, tried = run(1, {0})
    assert isolation.dead == [0] and tried == [] and isolation.inserted == []


def test_the_split_is_deterministic_and_tokens_name_the_position() -> None:
    isolation, tried = run(8, {5}, token="t")
    assert [(s.start, s.stop, s.token) for s in tried] == [
        (0, 4, "t/0"),
        (4, 8, "t/1"),
        (4, 6, "t/1/0"),
        (4, 5, "t/1/0/0"),
        (5, 6, "t/1/0/1"),
        (6, 8, "t/1/1"),
    ]
    assert isolation.dead == [5]
    again, tried_again = run(8, {5}, token="t")
    assert tried_again == tried and again.inserted == isolation.inserted  # a re-formed batch repeats them


def test_one_poison_event_costs_about_two_inserts_per_halving() -> None:
    _, tried = run(50_000, {31_337})
    assert len(tried) <= 2 * 16 + 1  # log2(50 000) < 16


def test_halves_and_cut() -> None:
    left, right = halves(Slice(3, 8, "x"))
    assert (left, right) == (Slice(3, 5, "x/0"), Slice(5, 8, "x/1"))
    assert cut({"a": [0, 1, 2, 3, 4, 5, 6, 7], "b": list("abcdefgh")}, right) == {"a": [5, 6, 7], "b": ["f", "g", "h"]}


def test_only_refusals_of_the_data_are_isolated() -> None:
    refused = [
        DataError("Unable to create native array for column `quantity`: error"),
        DatabaseError("Code: 53. DB::Exception: Type mismatch in IN or VALUES section", code=53),
        DatabaseError("HTTPDriver received ClickHouse error code 70\n Code: 70. DB::Exception: Cannot convert"),
        ValueError("Error serializing column `price` into data type `Decimal(18, 2)`"),
    ]
    transient = [
        OperationalError("Error HTTPConnectionPool(host='ch', port=8123): Max retries exceeded"),
        DatabaseError("Code: 159. DB::Exception: Timeout exceeded", code=159),
        DatabaseError("Code: 241. DB::Exception: Memory limit (total) exceeded", code=241),
        DatabaseError("Code: 252. DB::Exception: Too many parts (300)", code=252),
        DatabaseError("Code: 60. DB::Exception: Table x.y does not exist", code=60),
        DatabaseError("The ClickHouse server returned an error"),
        ConnectionResetError("reset by peer"),
    ]
    assert [classify(e) for e in refused] == ["refused"] * len(refused)
    assert [classify(e) for e in transient] == ["transient"] * len(transient)
    assert error_code(DatabaseError("x", code=252)) == 252
    assert error_code(DatabaseError("... Code: 70. DB::Exception")) == 70


def test_the_reason_is_one_header_line_naming_the_column() -> None:
    exc = DatabaseError("Code: 70. DB::Exception: Value out of range\nfor column `quantity`. Stack trace:\n0. x")
    reason = reason_text(exc)
    assert "\n" not in reason and "Stack trace" not in reason
    assert reason.startswith("Code: 70.") and refused_field(reason) == "quantity"
    assert refused_field("Code: 1. no column named") is None
