"""The many-viewers and growth benches on a tiny store, so their code cannot rot (the benches stay out of CI).

Each runs in its own process, as `uv run invoke bench` runs it (a process opens one chDB store), and starts its
own `strix serve` gateway and auth processes. The figures of so small a run mean nothing; what is checked is that
every figure is printed and that the counts behind them add up.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent


def run_bench(module: str, *args: str, timeout: float = 180) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def test_viewers_bench_scales_gateways(tmp_path: Path) -> None:
    lines = run_bench(
        "tests.bench.viewers",
        *("--events", "20000", "--clients", "4", "--seconds", "2", "--data-dir", str(tmp_path / "store")),
    )
    measures = {line["measure"]: line for line in lines if "measure" in line}
    one, two = measures["viewers_1_gateway"], measures["viewers_2_gateways"]
    for run in (one, two):
        assert run["events"] == 20000 and run["clients"] == 4
        assert run["answers"] > 4 and run["answers_per_s"] > 0 and 0 < run["p50_ms"] <= run["p99_ms"]
        assert run["rows"] > 0  # every answer carried rows: the windows lie within the data
        assert {"query", "auth", "gateway1"} <= set(run["cpu_cores"]) and run["rss_mb"]["query"] > 0
    assert set(two["cpu_cores"]) >= {"gateway1", "gateway2"}
    assert two["cpu_cores"]["gateway2"] > 0  # the second gateway served answers
    scaling = measures["viewers_gateways_scaling"]
    assert scaling["ratio"] == pytest.approx(two["answers_per_s"] / one["answers_per_s"], abs=0.01)
    herd = measures["viewers_herd"]
    assert herd["clients"] == 4 and herd["value"] > 0 and herd["baseline_value"] > 0
    assert herd["ratio"] == pytest.approx(herd["value"] / herd["baseline_value"], abs=0.01)
    # Four viewers opening one window at once: a ranking read and a rows read each, unless their reads merged.
    assert 2 <= herd["statements"].get("ranking", 0) + herd["statements"].get("buckets", 0) < 2 * 4, herd
    merging = measures["herd_reads_merged"]  # the same in process, reads merged or each alone
    assert merging["baseline_statements"] == [2 * 4] * 3, merging  # alone: a ranking and a rows read each
    assert sum(merging["statements"]) < sum(merging["baseline_statements"]), merging


def test_growth_bench_grows_the_store(tmp_path: Path) -> None:
    lines = run_bench(
        "tests.bench.growth", "--sizes", "10000,20000", "--iterations", "3", "--data-dir", str(tmp_path / "store")
    )
    growth = [line for line in lines if line.get("measure") == "growth"]
    assert [line["events"] for line in growth] == [10000, 20000]
    assert 0 < growth[0]["rollup_rows_read"] <= growth[1]["rollup_rows_read"]
    for line in growth:
        assert line["cold_p50_ms"] > 0 and line["sliding_p99_ms"] >= line["sliding_p50_ms"] > 0
        assert all(mb > 0 for mb in line["rss_mb"].values())
    (table,) = [line for line in lines if line.get("measure") == "growth_table"]
    assert [row["events_ratio"] for row in table["rows"]] == [1.0, 2.0]
