"""Where the ids of a batch were counted before: the lookup in the module's ids table (strix_clickhouse.event_ids)
that dedup.py's rule reads.

Embedded (chDB), one statement: the batch's ids written to an Arrow file that the lookup reads. A ClickHouse server
cannot read our disk, so there the ids go into the partition's Memory probe table first and the lookup reads them
back by the batch's token: two statements (the table is emptied only once it holds PROBE_ROWS_KEPT rows). Every
chDB statement waits for the one engine handle that the partitions share, so a statement saved is a wait saved.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from strix_clickhouse import ClickHouse
from strix_clickhouse.arrow import arrow_type
from strix_clickhouse.client import QueryResult
from strix_clickhouse.event_ids import (
    ID_COLUMN,
    TOKEN_COLUMN,
    clear_probe_sql,
    create_probe_sql,
    earlier_occurrences_sql,
    ids_from_sql,
    probe_ids_sql,
    probe_table,
)
from strix_config import ModuleConfig
from strix_rollup.batches import Microbatch
from strix_rollup.dedup import Place

# The probe table keeps the ids of recent batches (each read by its token) and is emptied when it holds more.
PROBE_ROWS_KEPT = 200_000


class IdProbe:
    """One partition's probe; `through_table` forces the server's two-statement path (it also runs on chDB)."""

    def __init__(self, clickhouse: ClickHouse, config: ModuleConfig, partition: int, through_table: bool) -> None:
        assert config.event.id_field is not None
        self.clickhouse = clickhouse
        self.config = config
        self.id_field = config.event.id_field
        self.partition = partition
        self.through_table = through_table
        self.table_ready = False  # whether this partition's probe table exists
        self.table_rows = 0  # rows put into the probe table since it was last emptied

    @classmethod
    def of(cls, clickhouse: ClickHouse, config: ModuleConfig, partition: int) -> IdProbe:
        return cls(clickhouse, config, partition, through_table=not clickhouse.embedded)

    async def earlier(self, batch: Microbatch) -> dict[Any, Place]:
        """Each id of the batch counted before, with the place where it was first counted."""
        ids = self._ids(batch)
        module, database = self.config.module, self.clickhouse.database
        if self.through_table or ids is None:
            return _places((await self._through_table(batch, ids)).rows)
        with self.clickhouse.local_table(pa.table({ID_COLUMN: ids})) as source:
            found = await self.clickhouse.query(earlier_occurrences_sql(module, database, ids_from_sql(source)))
        return _places(found.rows)

    def _ids(self, batch: Microbatch) -> pa.Array | None:
        """The batch's ids as Arrow (None for a Python column an Arrow array cannot hold: the table path takes it)."""
        rows = batch.columns
        if isinstance(rows, pa.Table):
            return rows.column(self.id_field).combine_chunks()
        try:
            return pa.array(rows[self.id_field], arrow_type(self.config.event.fields[self.id_field]))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            return None

    async def _through_table(self, batch: Microbatch, ids: pa.Array | None) -> QueryResult:
        module, database = self.config.module, self.clickhouse.database
        if not self.table_ready:
            await self.clickhouse.command(create_probe_sql(self.config, database, self.partition))
            self.table_ready = True
            self.table_rows = PROBE_ROWS_KEPT  # whatever an earlier process left there: empty it now
        if self.table_rows + batch.events > PROBE_ROWS_KEPT:
            await self.clickhouse.command(clear_probe_sql(module, database, self.partition))
            self.table_rows = 0
        table = probe_table(module, self.partition)
        if ids is not None:
            tokens = pa.repeat(pa.scalar(batch.token, pa.string()), len(ids))
            await self.clickhouse.insert_arrow(
                table, pa.Table.from_arrays([tokens, ids], names=[TOKEN_COLUMN, ID_COLUMN])
            )
        else:
            column = batch.columns[self.id_field]  # Python lists: the Arrow path refused them
            await self.clickhouse.insert_columns(table, {TOKEN_COLUMN: [batch.token] * len(column), ID_COLUMN: column})
        self.table_rows += batch.events
        return await self.clickhouse.query(
            earlier_occurrences_sql(module, database, probe_ids_sql(module, database, self.partition)),
            {"token": batch.token},
        )


def _places(rows: list[tuple[Any, ...]]) -> dict[Any, Place]:
    return {row[0]: (int(row[1][0]), int(row[1][1])) for row in rows}
