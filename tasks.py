"""The one task list (invoke). `.ci/run` and the README call these rather than spelling commands again."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

SOURCES = "src libs services tests tasks.py"


@task
def up(c: Context, demo: bool = True, config_dir: str = "configs", port: int = 8000) -> None:
    """Run the whole platform in one process (embedded NATS and chDB), with the demo clickstream."""
    c.run(f"strix up --config-dir {config_dir} --port {port}{' --demo' if demo else ''}", pty=True)


@task
def lint(c: Context) -> None:
    """ruff: lint rules and formatting."""
    c.run(f"ruff check {SOURCES}")
    c.run(f"ruff format --check {SOURCES}")


@task
def typecheck(c: Context) -> None:
    """mypy --strict over every package."""
    c.run("mypy")


@task
def schema(c: Context) -> None:
    """Regenerate configs/schema.json from the config model."""
    c.run("strix config schema --output configs/schema.json")


@task
def test(c: Context, k: str = "", x: bool = False) -> None:
    """Every test: unit tests of each package and the end-to-end tests, against real NATS and chDB."""
    c.run(f"pytest{' -x' if x else ''}{f' -k {k!r}' if k else ''}", pty=False)


@task
def e2e(c: Context) -> None:
    """Only the end-to-end tests."""
    c.run("pytest -m e2e tests")


@task
def bench(
    c: Context,
    events: int = 20_000_000,
    pipeline_events: int = 300_000,
    iterations: int = 200,
    viewers: int = 50,
    viewer_seconds: int = 60,
    growth_sizes: str = "2000000,20000000,60000000",
) -> None:
    """Benchmarks (not run by CI; tests/test_bench_smoke.py and test_bench_viewers_smoke.py run each on a tiny
    data set): pipeline rates, stages and freshness, what each rollup and metric kind costs at ingest, then
    dashboard query latency over `events`, many viewers through one and two gateway processes (the same store,
    kept) and the store's growth (`growth_sizes`, comma-separated; empty: skipped). Every figure is a JSON line
    with its baseline, the ratio and the load average."""
    c.run(f"python -m tests.bench.pipeline --events {pipeline_events}")
    c.run("python -m tests.bench.ingest_costs")
    c.run(f"python -m tests.bench.queries --events {events} --iterations {iterations} --data-dir .strix-bench")
    c.run(
        f"python -m tests.bench.viewers --events {events} --clients {viewers} --seconds {viewer_seconds} "
        "--data-dir .strix-bench --keep"
    )
    if growth_sizes:
        c.run(f"python -m tests.bench.growth --sizes {growth_sizes} --iterations {iterations}")


@task
def ci(c: Context) -> None:
    """What .ci/run runs after installing: lint, types, tests."""
    lint(c)
    typecheck(c)
    test(c)
