"""One ClickHouse client for every service: chDB embedded (`chdb:///path`) or a server (`http://...`).

clickhouse-connect has no async client over chDB, so calls run in a worker thread; chDB releases the GIL while
a query runs. Names are always fully qualified with the database, so one client serves several databases
(tests give each case its own database inside the one chDB store a process may open).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import clickhouse_connect
import pyarrow as pa
import pyarrow.ipc as pa_ipc
from clickhouse_connect.driver.client import Client

from strix_clickhouse.ddl import Statement


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

    @property
    def embedded(self) -> bool:
        return self.url.startswith("chdb:")

    async def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> None:
        await asyncio.to_thread(self._client.command, sql, parameters=dict(parameters or {}))

    async def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> QueryResult:
        result = await asyncio.to_thread(self._client.query, sql, parameters=dict(parameters or {}))
        return QueryResult(columns=list(result.column_names), rows=[tuple(r) for r in result.result_rows])

    async def insert_columns(
        self,
        table: str,
        columns: Mapping[str, Sequence[Any]],
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        names = list(columns)
        data = [list(columns[n]) for n in names]
        await asyncio.to_thread(
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
        await asyncio.to_thread(
            self._client.insert_arrow, table, data, database=self.database, settings=dict(settings or {})
        )

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
            yield f"file({_string_literal(path)}, 'Arrow')"
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


def _string_literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def connect(url: str, database: str) -> ClickHouse:
    """Open a client from a DSN: `chdb:///abs/path` (embedded) or `http(s)://user:pass@host:port`."""
    client = clickhouse_connect.get_client(dsn=url)
    return ClickHouse(client, database, url)
