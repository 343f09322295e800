"""Every benchmark, run on a tiny data set, so the bench code cannot rot (the benches themselves stay out of CI).

Each runs in its own process, as `uv run invoke bench` runs it: a process opens one chDB store, and the tests'
store is already open in this one. The figures of so small a run mean nothing; what is checked is that every
figure is printed, with its baseline and ratio, and that the counts behind them add up.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from strix_testkit.kafka import KafkaBroker

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent


def run_bench(module: str, *args: str, timeout: float = 120) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def by_measure(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {line["measure"]: line for line in lines if "measure" in line}


def test_pipeline_bench_prints_every_figure_with_its_baseline() -> None:
    lines = by_measure(run_bench("tests.bench.pipeline", "--events", "4000", "--freshness-seconds", "1", "--no-kafka"))
    rates = ["raw_bulk_insert", "raw_bulk_insert_lists", "http_end_to_end_without_ids", "http_end_to_end"]
    for name in [*rates, "freshness_p50_s", "freshness_p99_s"]:
        line = lines[name]
        assert line["value"] > 0 and line["baseline_value"] > 0, line
        assert line["ratio"] == pytest.approx(line["value"] / line["baseline_value"], abs=0.01), line
        assert len(line["load"]) == 3
    assert lines["http_end_to_end"]["baseline"] == "raw_bulk_insert"
    stages = lines["stages_http"]["stages"]
    assert set(stages) == {"validate", "pack", "publish", "read", "probe", "insert", "settle"}
    assert all(seconds > 0 for seconds in stages.values()), stages
    assert lines["freshness_p50_s"]["batches"] > 0 and lines["freshness_p50_s"]["sent_events_per_s"] > 0


def test_pipeline_bench_kafka_figures(kafka_broker: KafkaBroker) -> None:
    lines = by_measure(
        run_bench(
            "tests.bench.pipeline",
            "--events",
            "2000",
            "--freshness-seconds",
            "0.5",
            "--kafka-bootstrap",
            kafka_broker.bootstrap_servers,
        )
    )
    for name in ("kafka_end_to_end", "kafka_steady", "kafka_start_to_first_commit"):
        assert lines[name]["value"] > 0, lines[name]
    assert set(lines["stages_kafka_pump"]["stages"]) == {"poll", "validate", "publish", "commit"}


def test_ingest_cost_bench_covers_every_rollup_and_metric_kind() -> None:
    measures = by_measure(run_bench("tests.bench.ingest_costs", "--events", "3000", "--repeats", "1"))
    names = {"raw_table", "all_rollups"} | {f"rollup_{name}" for name in ("minute_overview", "daily_groups")}
    names |= {f"{shape}_{kind}" for shape in ("minute_fine", "hour_coarse") for kind in ("count", "uniq", "quantile")}
    for name in names:
        line = measures[f"ingest_cost_{name}"]
        assert line["cpu_s_per_million"] > 0 and line["wall_s_per_million"] > 0, line
    assert (
        measures["ingest_cost_all_rollups"]["rollup_rows"]
        > measures["ingest_cost_minute_fine_count"]["rollup_rows"]
        > 0
    )


def test_query_bench_answers_through_graphql(tmp_path: Path) -> None:
    lines = run_bench(
        "tests.bench.queries", "--events", "20000", "--iterations", "3", "--data-dir", str(tmp_path / "store")
    )
    measures = by_measure(lines)
    for name in ("graphql_sliding", "graphql_repeated", "graphql_cold", "raw_table_direct", "first_view_cold_approx"):
        assert measures[name]["p50_ms"] > 0, measures.get(name)
    approx = measures["first_view_cold_approx"]
    assert approx["baseline_p50_ms"] == measures["raw_table_direct"]["p50_ms"] and approx["error_vs_exact"]["rows"]
    (summary,) = [line for line in lines if "summary" in line]
    assert summary["events"] == 20000
