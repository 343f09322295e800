"""One ClickHouse client for every service: chDB embedded (`chdb:///path`) or a server (`http://...`).

clickhouse-connect has no async client over chDB, so calls run in worker threads of the client's own; chDB releases
the GIL while a query runs. chDB runs one statement at a time (its engine handle's lock), so embedded calls get one
thread: statements queue in the order they were made, not in whichever order a lock lets blocked threads in, and
calls waiting for the engine no longer hold threads of the event loop's default executor (6 here), which everything
else calling `asyncio.to_thread` shares (the Kafka source's polls). `busy_seconds` sums the time calls ran: embedded,
the engine's busy time (its share of the wall time says how close chDB is to saturation). Names are always fully
qualified with the database, so one client serves several databases (tests give each case its own database inside
the one chDB store a process may open).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import clickhouse_connect
import pyarrow as pa
import pyarrow.ipc as pa_ipc
from clickhouse_connect.driver.client import Client

from strix_clickhouse.ddl import Statement
from strix_clickhouse.sql import quote_literal

T = TypeVar("T")
# A server answers statements side by side: as many threads as asyncio's default executor had.
SERVER_THREADS = min(32, (os.cpu_count() or 1) + 4)


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


class ClickHouse:
    """Async facade over a clickhouse-connect client, bound to one Strix database."""

    def __init__(self, client: Client, database: str, url: str) -> None:
        self._client = client
        self.database = database
        self.url = url
        threads = 1 if self.embedded else SERVER_THREADS
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="clickhouse")
        self.busy_seconds = 0.0

    @property
    def embedded(self) -> bool:
        return self.url.startswith("chdb:")

    async def _call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`function` in the client's threads (with the caller's context variables, as asyncio.to_thread)."""
        call = functools.partial(contextvars.copy_context().run, self._timed, function, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _timed(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        began = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            self.busy_seconds += time.perf_counter() - began

    async def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> None:
        await self._call(self._client.command, sql, parameters=dict(parameters or {}))

    async def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> QueryResult:
        return await self.query_formed(lambda: (sql, parameters or {}))

    async def query_formed(self, form: Callable[[], tuple[str, Mapping[str, Any]]]) -> QueryResult:
        """A statement formed when its turn comes (the worker thread calls `form` right before running it): a
        caller that queued it can still change what it reads while it waits (embedded, behind other statements)."""

        def run() -> Any:
            sql, parameters = form()
            return self._client.query(sql, parameters=dict(parameters))

        result = await self._call(run)
        return QueryResult(columns=list(result.column_names), rows=[tuple(r) for r in result.result_rows])

    async def insert_columns(
        self,
        table: str,
        columns: Mapping[str, Sequence[Any]],
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        names = list(columns)
        data = [list(columns[n]) for n in names]
        await self._call(
            self._client.insert,
            table,
            data,
            column_names=names,
            database=self.database,
            column_oriented=True,
            settings=dict(settings or {}),
        )

    async def insert_arrow(self, table: str, data: pa.Table, settings: Mapping[str, Any] | None = None) -> None:
        """An Arrow table as one block (FORMAT Arrow): no Python object per value on the way (arrow.py)."""
        await self._call(self._client.insert_arrow, table, data, database=self.database, settings=dict(settings or {}))

    @contextmanager
    def local_table(self, data: pa.Table) -> Iterator[str]:
        """`data` as a table expression a query of this client can read in the same statement: an Arrow file
        read through `file()`, removed afterwards (a small local write: no thread). Embedded only — chDB reads this machine's disk, a server does not
        (ValueError); a server's callers fill a table first. Saves a statement per use (event_ids.py)."""
        if not self.embedded:
            raise ValueError("local_table needs embedded ClickHouse (chDB): a server cannot read this disk")
        handle, path = tempfile.mkstemp(prefix="strix-", suffix=".arrow")
        try:
            with os.fdopen(handle, "wb") as sink, pa_ipc.new_file(sink, data.schema) as writer:
                writer.write_table(data)
            yield f"file({quote_literal(path)}, 'Arrow')"
        finally:
            Path(path).unlink()

    async def apply(self, statements: Sequence[Statement]) -> None:
        for statement in statements:
            await self.command(statement.sql)

    async def ping(self) -> bool:
        try:
            await self.query("SELECT 1")
        except Exception:
            return False
        return True

    def close(self) -> None:
        self._client.close()
        self._executor.shutdown(wait=False)


def connect(url: str, database: str) -> ClickHouse:
    """Open a client from a DSN: `chdb:///abs/path` (embedded) or `http(s)://user:pass@host:port`."""
    client = clickhouse_connect.get_client(dsn=url)
    return ClickHouse(client, database, url)
