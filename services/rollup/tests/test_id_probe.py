"""The id probe (probe.py) finds where each id of a batch was first counted, through the Arrow file (one statement,
embedded) and through the probe table (a server's two statements, run here on chDB too): the same answer."""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from strix_clickhouse import ClickHouse
from strix_config import Catalog, ModuleConfig, load_catalog
from strix_rollup.app import apply_schema
from strix_rollup.batches import BatchReader, Microbatch, as_lists, build_microbatch
from strix_rollup.consumer import insert_rows
from strix_rollup.probe import IdProbe

REPO = Path(__file__).resolve().parents[3]


def message(ids: list[str]) -> bytes:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    return json.dumps(
        [
            {
                "event_id": event_id,
                "ts": (start + timedelta(seconds=i)).isoformat(),
                "customer_id": "c1",
                "session_id": "s1",
                "action": "view",
                "product_group": "shoes",
                "product_id": "p1",
                "country": "FI",
                "device": "mobile",
                "price": "10.00",
                "quantity": 1,
            }
            for i, event_id in enumerate(ids)
        ]
    ).encode()


def batch(config: ModuleConfig, messages: dict[int, list[str]]) -> Microbatch:
    return build_microbatch(BatchReader.of(config), 0, [(seq, message(ids)) for seq, ids in messages.items()])


@pytest.mark.parametrize("through_table", [False, True], ids=["arrow-file", "probe-table"])
async def test_the_probe_finds_the_first_place_of_each_id_counted_before(
    clickhouse: ClickHouse, through_table: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_catalog(REPO / "configs").modules["clickstream"]
    await apply_schema(clickhouse, Catalog({"clickstream": config}))
    counted = {1: ["a", "b", "c"], 2: ["b", "d"]}  # "b" twice: its first place is (1, 1)
    for seq, ids in counted.items():
        earlier = batch(config, {seq: ids})
        await insert_rows(clickhouse, "clickstream", earlier.columns, earlier.token)
    expected: dict[str, tuple[int, int]] = {}
    for seq, ids in counted.items():
        for pos, event_id in enumerate(ids):
            expected.setdefault(event_id, (seq, pos))

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the Arrow files go, to see them removed
    probe = IdProbe(clickhouse, config, 0, through_table=through_table)
    arrow = batch(config, {7: ["x", "b", "a"], 8: ["a", "d", "y"]})
    lists = replace(arrow, columns=as_lists(arrow.columns))  # the msgspec form
    for form in (arrow, lists):
        found = await probe.earlier(form)
        assert found == {k: v for k, v in expected.items() if k in {"x", "b", "a", "d", "y"}}
        assert found == {"a": (1, 0), "b": (1, 1), "d": (2, 1)}
    assert [p.name for p in tmp_path.iterdir()] == []  # noqa: ASYNC240 (the test's own directory)
