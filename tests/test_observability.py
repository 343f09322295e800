"""Logs, request ids and traces through the real platform (issue 9, reproduction 8).

One invalid GraphQL query used to write 46 plain-text traceback lines, and nothing tied the lines of one
request together across services. Here every stderr line of a serving process parses as JSON, and a request
keeps its id and its W3C trace from the HTTP edge through the NATS hop to the query service.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.micro import add_service
from nats.micro.request import Request
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from strix.platform import Platform, PlatformOptions, run_platform
from strix_config import load_catalog
from strix_contracts.errors import QueryError
from strix_contracts.query import QueryRequest, TimeWindow
from strix_contracts.subjects import QUERY_RUN
from strix_gateway.client import run_query
from strix_runtime.natsserver import NatsServer
from strix_runtime.requestid import bound_request_id, current_request_id
from strix_runtime.testing import capture_spans, parent_id_of, span_id_of, trace_id_of
from strix_runtime.tracing import traced_handler
from tests.conftest import EXAMPLE_CONFIGS
from tests.support import api_key, bearer, signed_in_client

pytestmark = pytest.mark.e2e

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
REQUEST = QueryRequest(module="clickstream", window=TimeWindow(last=1, unit="day"), metrics=["events"])
COUNT_QUERY = "{ clickstream(window: {last: 1, unit: DAY}, granularity: TOTAL, metrics: [EVENTS]) { rows { events } } }"


def _ancestors(span: ReadableSpan, by_id: dict[str, ReadableSpan]) -> list[str]:
    """Names of the recorded spans above `span`, nearest first."""
    names = []
    parent = parent_id_of(span)
    while parent in by_id:
        names.append(by_id[parent].name)
        parent = parent_id_of(by_id[parent])
    return names


@asynccontextmanager
async def _gateway_and_query(
    tmp_path: Path, nats_url: str, clickhouse_url: str, database: str
) -> AsyncIterator[tuple[Platform, httpx.AsyncClient]]:
    """The services a GraphQL question crosses (rollup makes the tables the query service reads)."""
    options = PlatformOptions(
        catalog=load_catalog(EXAMPLE_CONFIGS),
        data_dir=tmp_path / "data",
        services=("rollup", "query", "gateway", "auth"),
        nats_url=nats_url,
        clickhouse_url=clickhouse_url,
        clickhouse_database=database,
        port=0,
    )
    async with run_platform(options) as platform:
        try:
            async with await signed_in_client(platform.http_url, platform.nc) as client:
                yield platform, client
        finally:
            assert platform.clickhouse is not None
            await platform.clickhouse.command(f"DROP DATABASE IF EXISTS `{database}` SYNC")


async def test_a_graphql_request_is_one_trace_from_http_through_nats(
    tmp_path: Path, nats_server: NatsServer, clickhouse_url: str, clickhouse_database: str
) -> None:
    """The caller's traceparent and X-Request-ID, sent to the real gateway, reach the query service: the HTTP
    server span, the gateway's client span and the query service's server span are one trace, each the child of
    the one before. (Here both services share a process, so the request is handed over in-process with the
    headers it would carry over NATS; the wire itself: tests/test_runtime_tracing.py.)"""
    async with _gateway_and_query(tmp_path, nats_server.url, clickhouse_url, clickhouse_database) as (_, client):
        with capture_spans() as spans:
            response = await client.post(
                "/graphql",
                json={"query": COUNT_QUERY},
                headers={"traceparent": TRACEPARENT, "X-Request-ID": "obs-trace-1"},
            )
    assert response.status_code == 200, response.text
    assert "errors" not in response.json(), response.json()
    assert response.headers["X-Request-ID"] == "obs-trace-1"

    finished = spans.get_finished_spans()
    by_id = {span_id_of(span): span for span in finished}
    (http,) = [s for s in finished if s.kind == SpanKind.SERVER and s.name == "POST /graphql"]
    (asking,) = [s for s in finished if s.name == f"request {QUERY_RUN}"]
    (served,) = [s for s in finished if s.name == f"process {QUERY_RUN}"]
    assert (trace_id_of(http), parent_id_of(http)) == (TRACE_ID, PARENT_ID)
    assert asking.kind == SpanKind.CLIENT and trace_id_of(asking) == TRACE_ID
    assert "POST /graphql" in _ancestors(asking, by_id)
    assert served.kind == SpanKind.SERVER
    assert (trace_id_of(served), parent_id_of(served)) == (TRACE_ID, span_id_of(asking))


async def test_the_query_service_hook_serves_a_micro_request_in_the_askers_trace(nats_server: NatsServer) -> None:
    """The one-line hook for the query service, `handler=traced_handler(service.handle)`, on a NATS micro
    endpoint asked by the gateway's real client: the handler runs under the asker's request id, in a server
    span that is the child of the gateway's client span."""
    seen: list[str | None] = []

    async def refuse(request: Request) -> None:
        seen.append(current_request_id())
        error = QueryError("no such metric", argument="metrics", hint="ask for events")
        await request.respond_error("400", error.describe(), error.body().model_dump_json().encode())

    nc = await nats.connect(nats_server.url)
    try:
        micro = await add_service(nc, name="observed-query", version="0.0.1")
        await micro.add_endpoint(name="run", subject=QUERY_RUN, handler=traced_handler(refuse))
        with (
            capture_spans() as spans,
            bound_request_id("obs-micro-1"),
            trace.get_tracer("test").start_as_current_span("POST /graphql", kind=SpanKind.SERVER),
            pytest.raises(QueryError),
        ):
            await run_query(nc, REQUEST, request_timeout=5)
    finally:
        await nc.close()
    assert seen == ["obs-micro-1"]
    finished = {span.name: span for span in spans.get_finished_spans()}
    http, asking, serving = (finished[n] for n in ("POST /graphql", f"request {QUERY_RUN}", f"process {QUERY_RUN}"))
    assert len({trace_id_of(http), trace_id_of(asking), trace_id_of(serving)}) == 1
    assert (parent_id_of(asking), parent_id_of(serving)) == (span_id_of(http), span_id_of(asking))
    assert asking.status.status_code == StatusCode.ERROR  # the refusal reached the asking side


SERVE_GATEWAY = """
import asyncio, sys
from pathlib import Path
from strix.platform import PlatformOptions, run_platform
from strix_config import load_catalog
from strix_runtime.logs import configure_logging

configure_logging("info")

async def main() -> None:
    options = PlatformOptions(
        catalog=load_catalog(Path(sys.argv[1])), data_dir=Path(sys.argv[2]), services=("gateway", "auth"),
        nats_url=sys.argv[3], port=0,
    )
    async with run_platform(options) as platform:
        print(platform.http_url, flush=True)
        await asyncio.to_thread(sys.stdin.read)

asyncio.run(main())
"""


async def _serve_gateway_and_ask(tmp_path: Path, nats_url: str) -> tuple[str, dict[str, httpx.Response]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SERVE_GATEWAY,
        str(EXAMPLE_CONFIGS),
        str(tmp_path / "data"),
        nats_url,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    answers: dict[str, httpx.Response] = {}
    try:
        url = (await asyncio.wait_for(process.stdout.readline(), 60)).decode().strip()
        assert url.startswith("http://"), url
        asker = await nats.connect(nats_url)
        try:
            key = await api_key(asker, ["read"])
        finally:
            await asker.close()
        async with httpx.AsyncClient(base_url=url, timeout=30, headers=bearer(key)) as client:
            answers["invalid"] = await client.post(
                "/graphql",
                json={"query": "{ clickstream(nonsense: 1) { rows { events } } }"},
                headers={"X-Request-ID": "bad-query-1", "traceparent": TRACEPARENT},
            )
            answers["unserved"] = await client.post(
                "/graphql", json={"query": COUNT_QUERY}, headers={"X-Request-ID": "no-query-service"}
            )
            answers["health"] = await client.get("/healthz", headers={"X-Request-ID": "health-1"})
    finally:
        process.stdin.close()
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    return stderr.decode(), answers


def _json_lines(stderr: str) -> list[dict[str, Any]]:
    lines = []
    for line in stderr.splitlines():
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise AssertionError(f"not a JSON line: {line!r}\nall of stderr:\n{stderr}") from exc
    return lines


async def test_every_line_a_serving_process_writes_is_json_with_its_request_id(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    """The gateway served alone, as `strix serve gateway` builds it, in a process of its own: an invalid query, a query no query service
    answers and a health check; stderr is read whole and every line must parse."""
    stderr, answers = await _serve_gateway_and_ask(tmp_path, nats_server.url)
    assert "errors" in answers["invalid"].json()
    assert answers["invalid"].headers["X-Request-ID"] == "bad-query-1"
    assert answers["health"].status_code == 200
    lines = _json_lines(stderr)
    by_request: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_request.setdefault(line.get("request_id", "-"), []).append(line)

    # The invalid query: one strawberry line per GraphQL error of the answer, and uvicorn's access line.
    invalid = by_request["bad-query-1"]
    errors = [line for line in invalid if line["logger"] == "strawberry.execution"]
    assert [line["logger"] for line in invalid] == [*(["strawberry.execution"] * len(errors)), "uvicorn.access"]
    assert len(errors) == len(answers["invalid"].json()["errors"]) > 0
    assert all(line["level"] == "error" for line in errors) and "nonsense" in errors[0]["event"]
    assert all(line["trace_id"] == TRACE_ID for line in invalid)

    # Without a query service the resolver fails: the failure and its traceback are fields of one line.
    (failed,) = [line for line in by_request["no-query-service"] if line["logger"] == "strawberry.execution"]
    assert "no query service is running" in failed["event"]
    assert "NoRespondersError" in failed["exception"]
    assert not any("Traceback" in line["event"] for line in lines)

    (access,) = by_request["health-1"]
    assert (access["logger"], access["method"], access["path"], access["status"]) == (
        "uvicorn.access",
        "GET",
        "/healthz",
        200,
    )
    assert any(line["event"] == "platform.ready" for line in lines)
    assert any(line.get("logger") == "uvicorn.error" for line in lines)  # uvicorn's start-up lines too
