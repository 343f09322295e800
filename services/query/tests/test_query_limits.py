"""What protects the service from answers too large to compute or to send: refused with what to change."""

from __future__ import annotations

import pytest

from strix_contracts.errors import QueryError
from strix_query.compiler import MAX_ROWS, CompiledQuery
from strix_query.execution import _rows
from strix_query.validation import check_answer_size, check_row_count
from strix_query.window import zone


def test_statement_results_over_the_cap_are_refused_naming_the_grouping() -> None:
    compiled = CompiledQuery("SELECT ...", {}, ["product_id"], ["events"], bucketed=True)
    at_cap = [(1_700_000_000 + i, f"p-{i}", 1) for i in range(MAX_ROWS)]
    assert len(_rows(compiled, at_cap, zone("UTC"))) == MAX_ROWS
    with pytest.raises(QueryError) as caught:
        _rows(compiled, [*at_cap, (1_700_000_000, "one-more", 1)], zone("UTC"))
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
