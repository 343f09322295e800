"""How a topic pump sizes its polls and batches: plain rules, no broker."""

from __future__ import annotations

from strix_ingestion.topics import next_poll, plan_offsets


def test_polls_start_small_and_grow_to_the_largest_batch() -> None:
    sizes = [next_poll(0, 500)]
    while sizes[-1] < 500:
        sizes.append(next_poll(sizes[-1], 500))
    assert sizes == [16, 64, 256, 500]
    assert next_poll(500, 500) == 500
    assert next_poll(0, 5) == 5  # a pump whose batches are smaller than the first poll


def test_a_batch_is_what_was_polled_up_to_the_largest() -> None:
    assert plan_offsets([7, 8, 9], None, 500) == 3
    assert plan_offsets(list(range(600)), None, 500) == 500
    assert plan_offsets([], None, 500) == 0


def test_a_recorded_batch_is_formed_again_exactly_whatever_the_poll_brought() -> None:
    """After a crash the recorded boundaries decide, not the (smaller) first poll: the same offsets form the
    same batch and the same message ids."""
    assert plan_offsets(list(range(100, 116)), (100, 399), 500) == 0  # wait for the rest
    assert plan_offsets(list(range(100, 500)), (100, 399), 500) == 300
