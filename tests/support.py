"""Helpers for end-to-end tests: send events over HTTP, ask GraphQL, and compute the expected answer
independently — plain Python over the very events that were sent, reading only the module config."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from nats.aio.client import Client as NATS

from strix_config import ModuleConfig
from strix_tokens import messages


async def api_key(
    nc: NATS,
    scopes: Sequence[str] = ("admin",),
    *,
    roles: Sequence[str] = (),
    attributes: dict[str, list[str]] | None = None,
    name: str = "test",
) -> str:
    """A new API key from the platform's auth service (over NATS, as an operator would make one)."""
    request = messages.ApiKeyCreate(name=name, scopes=list(scopes), roles=list(roles), attributes=attributes or {})
    reply = await nc.request(messages.AUTH_KEYS_CREATE, request.model_dump_json().encode(), timeout=10)
    assert not (reply.headers and reply.headers.get("Nats-Service-Error-Code")), reply.data
    return messages.ApiKeyCreated.model_validate_json(reply.data).key


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


async def signed_in_client(base_url: str, nc: NATS, scopes: Sequence[str] = ("admin",)) -> httpx.AsyncClient:
    """An HTTP client carrying a new API key of `scopes` (admin: every module, no row filter) on every request."""
    return httpx.AsyncClient(base_url=base_url, timeout=60, headers=bearer(await api_key(nc, scopes)))


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.capitalize() for p in rest)


async def post_events(client: httpx.AsyncClient, module: str, events: list[dict[str, Any]], batch: int = 500) -> None:
    """Half the batches as JSON arrays, half as NDJSON; every one must be fully accepted."""
    import json

    for n, i in enumerate(range(0, len(events), batch)):
        chunk = events[i : i + batch]
        if n % 2:
            body = "\n".join(json.dumps(e) for e in chunk).encode()
            response = await client.post(
                f"/v1/modules/{module}/events", content=body, headers={"content-type": "application/x-ndjson"}
            )
        else:
            response = await client.post(f"/v1/modules/{module}/events", json=chunk)
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == len(chunk), response.text


async def graphql(client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def wait_for_count(
    client: httpx.AsyncClient, module: str, count_metric: str, expected: int, within: float = 90
) -> None:
    """Poll until every event sent is queryable (ingestion acks before rollup inserts)."""
    query = f"""{{ {camel(module)}(window: {{last: 400, unit: DAY}}, granularity: TOTAL,
                 metrics: [{count_metric.upper()}]) {{ rows {{ {camel(count_metric)} }} }} }}"""
    deadline = time.monotonic() + within
    seen = None
    while time.monotonic() < deadline:
        body = await graphql(client, query)
        rows = body["data"][camel(module)]["rows"]
        seen = int(rows[0][camel(count_metric)]) if rows else 0
        if seen == expected:
            return
        assert seen < expected, f"{module}: {seen} events counted, only {expected} sent"
        await asyncio.sleep(0.25)
    raise AssertionError(f"{module}: only {seen} of {expected} events became queryable in {within}s")


# ---- the independent computation --------------------------------------------------------------


def normalised(config: ModuleConfig, event: dict[str, Any]) -> dict[str, Any]:
    """An event as the platform should see it: defaults applied, times parsed, decimals exact."""
    out: dict[str, Any] = {}
    for name, spec in config.event.fields.items():
        value = event.get(name, spec.default)
        if spec.type == "datetime":
            value = datetime.fromisoformat(value).astimezone(UTC)
        elif spec.type == "decimal":
            value = Decimal(str(value))
        out[name] = value
    return out


def bucket_of(moment: datetime, granularity: str, tz: str) -> datetime | None:
    if granularity == "total":
        return None
    zone = ZoneInfo(tz)
    local = moment.astimezone(zone)
    if granularity == "minute":
        local = local.replace(second=0, microsecond=0)
    elif granularity == "hour":
        local = local.replace(minute=0, second=0, microsecond=0)
    else:
        day = local.date()
        if granularity == "week":
            day -= timedelta(days=day.weekday())
        elif granularity == "month":
            day = day.replace(day=1)
        local = datetime(day.year, day.month, day.day, tzinfo=zone)
    return local.astimezone(UTC)


def _as_value_of(value: Any, expected: Any) -> Any:
    """A condition's literal in the type of the event's value (configs write decimals and times as YAML)."""
    if isinstance(value, Decimal):
        return Decimal(str(expected))
    if isinstance(value, datetime) and isinstance(expected, str):
        return datetime.fromisoformat(expected).astimezone(UTC)
    return expected


def _matches(value: Any, expected: Any) -> bool:
    """A metric condition on one field, read independently of the platform: a value, a list (any of), or an
    operator mapping with the query-filter names (every operator must hold)."""
    if isinstance(expected, list):
        return any(_matches(value, e) for e in expected)
    if hasattr(expected, "model_dump"):  # an operator mapping, as the config model holds it
        expected = expected.model_dump(by_alias=True, exclude_none=True)
    if not isinstance(expected, dict):
        return bool(value == _as_value_of(value, expected))
    tests = {
        "eq": lambda v, x: v == _as_value_of(v, x),
        "neq": lambda v, x: v != _as_value_of(v, x),
        "in": lambda v, x: any(v == _as_value_of(v, i) for i in x),
        "not_in": lambda v, x: all(v != _as_value_of(v, i) for i in x),
        "gt": lambda v, x: v > _as_value_of(v, x),
        "gte": lambda v, x: v >= _as_value_of(v, x),
        "lt": lambda v, x: v < _as_value_of(v, x),
        "lte": lambda v, x: v <= _as_value_of(v, x),
        "prefix": lambda v, x: str(v).startswith(x),
        "contains": lambda v, x: x in str(v),
    }
    return all(tests[op](value, operand) for op, operand in expected.items())


def metric_value(config: ModuleConfig, name: str, events: list[dict[str, Any]]) -> float | None:
    metric = config.metrics[name]
    if metric.kind == "ratio":
        numerator = metric_value(config, metric.numerator, events)  # type: ignore[union-attr]
        denominator = metric_value(config, metric.denominator, events)  # type: ignore[union-attr]
        if numerator is None or not denominator:
            return None
        return numerator / denominator
    where = metric.where or {}
    chosen = [e for e in events if all(_matches(e[f], v) for f, v in where.items())]
    if metric.kind == "count":
        return float(len(chosen))
    values = [e[metric.field] for e in chosen]  # type: ignore[union-attr]
    if metric.kind in ("uniq", "uniq_exact"):
        return float(len(set(values)))
    if metric.kind == "sum":
        return float(sum(values, Decimal(0)) if values and isinstance(values[0], Decimal) else sum(values))
    if not values:
        return None
    if metric.kind == "min":
        return float(min(values))
    if metric.kind == "max":
        return float(max(values))
    if metric.kind == "avg":
        return float(sum(Decimal(str(v)) for v in values) / len(values))
    if metric.kind == "quantile":
        # t-digest estimates: accept anything between the empirical quantiles 10 points either side.
        ordered = sorted(float(v) for v in values)
        level: float = metric.level  # type: ignore[union-attr]
        low = ordered[max(0, int((level - 0.1) * len(ordered)))]
        high = ordered[min(len(ordered) - 1, int((level + 0.1) * len(ordered)))]
        return (low, high)  # type: ignore[return-value]
    raise AssertionError(f"no expectation for metric kind {metric.kind}")


def expected_rows(
    config: ModuleConfig,
    events: list[dict[str, Any]],
    *,
    start: datetime,
    end: datetime,
    granularity: str,
    tz: str = "UTC",
    group_by: list[str] = (),  # type: ignore[assignment]
    keep: Any = lambda e: True,
    metrics: list[str],
) -> dict[tuple[Any, ...], dict[str, float | None]]:
    """(bucket, *dimension values) -> metric values, over normalised events in [start, end)."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    time_field = config.event.time_field
    for event in events:
        moment = event[time_field]
        if not (start <= moment < end) or not keep(event):
            continue
        key = (bucket_of(moment, granularity, tz), *(event[config.dimension_field(d)] for d in group_by))
        groups[key].append(event)
    return {key: {m: metric_value(config, m, evs) for m in metrics} for key, evs in groups.items()}


def actual_rows(
    config: ModuleConfig, result: dict[str, Any], group_by: list[str], metrics: list[str]
) -> dict[tuple[Any, ...], dict[str, float | None]]:
    rows: dict[tuple[Any, ...], dict[str, float | None]] = {}
    for row in result["rows"]:
        bucket = datetime.fromisoformat(row["bucket"]).astimezone(UTC) if row["bucket"] else None
        key = (bucket, *(row[camel(d)] for d in group_by))
        assert key not in rows, f"duplicate row {key}"
        rows[key] = {m: row[camel(m)] for m in metrics}
    return rows


def assert_same_numbers(
    config: ModuleConfig,
    actual: dict[tuple[Any, ...], dict[str, float | None]],
    expected: dict[tuple[Any, ...], dict[str, float | None]],
) -> None:
    """Every group and every number equal (decimals to the cent, floats to 1e-9 relative); quantiles,
    being t-digest estimates, between the empirical quantiles 10 points either side of their level."""
    assert set(actual) == set(expected), (
        f"groups differ: missing {sorted(set(expected) - set(actual), key=str)[:5]}, "
        f"unexpected {sorted(set(actual) - set(expected), key=str)[:5]}"
    )
    assert expected, "the comparison holds no rows: the test would prove nothing"
    for key, values in expected.items():
        for name, want in values.items():
            got = actual[key][name]
            if want is None or got is None:
                assert want == got, f"{key} {name}: got {got}, expected {want}"
            elif isinstance(want, tuple):
                slack = 1e-6 * max(abs(want[1]), 1.0)  # t-digest answers in Float32
                assert want[0] - slack <= got <= want[1] + slack, f"{key} {name}: got {got}, expected within {want}"
            else:
                assert abs(got - want) <= 1e-9 * max(abs(want), 1.0) + 1e-9, f"{key} {name}: got {got}, expected {want}"
