"""What to do when ClickHouse refuses a microbatch: retry it, or find the events it refuses and set them aside.

Two kinds of failure look alike from the worker (an exception from the insert):
- transient: ClickHouse is away, overloaded or slow (connection errors, timeouts, memory, too many parts...).
  The same insert will succeed later, so it is retried with back-off and nothing is acked meanwhile;
- a refusal of the data: a value the column cannot hold (the client cannot even serialise it, "Unable to
  create native array"), or any other ClickHouse error code. Retrying the same block fails forever and
  would stop the partition, so the batch is split in halves, recursively, until each refused event stands
  alone; those go to the dead-letter stream and everything else is inserted.

Invariants of the split (`Isolation`):
- deterministic: the same batch (the same token, the same events in the same order) is split the same way,
  and every slice is inserted under a token derived from the batch token and its position (`<token>/0/1`), so a
  batch re-formed after a crash repeats the same sub-inserts and ClickHouse's insert de-duplication drops those
  that had already landed;
- exact: the slices that land and the events set aside partition the batch — each event once, none lost.

This module is plain data and functions: the worker (consumer.py) does the inserting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from clickhouse_connect.driver.exceptions import DatabaseError, DataError, OperationalError

FailureKind = Literal["transient", "refused"]

# ClickHouse error codes that say nothing about the rows: the same insert may well succeed later.
TRANSIENT_CODES = frozenset(
    {
        3,  # UNEXPECTED_END_OF_FILE (a connection cut mid-answer)
        16,  # NO_SUCH_COLUMN_IN_TABLE (schema being migrated: dead-lettering every event would be wrong)
        32,  # ATTEMPT_TO_READ_AFTER_EOF
        60,  # UNKNOWN_TABLE (same)
        81,  # UNKNOWN_DATABASE (same)
        159,  # TIMEOUT_EXCEEDED
        160,  # TOO_SLOW
        164,  # READONLY
        173,  # CANNOT_ALLOCATE_MEMORY
        192,  # UNKNOWN_USER
        202,  # TOO_MANY_SIMULTANEOUS_QUERIES
        203,  # NO_FREE_CONNECTION
        209,  # SOCKET_TIMEOUT
        210,  # NETWORK_ERROR
        236,  # ABORTED
        241,  # MEMORY_LIMIT_EXCEEDED
        242,  # TABLE_IS_READ_ONLY
        243,  # NOT_ENOUGH_SPACE
        252,  # TOO_MANY_PARTS (merges behind; "too many partitions per insert" is switched off for inserts)
        285,  # TOO_FEW_LIVE_REPLICAS
        286,  # UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE
        319,  # UNKNOWN_STATUS_OF_INSERT
        394,  # QUERY_WAS_CANCELLED
        425,  # SYSTEM_ERROR
        439,  # CANNOT_SCHEDULE_TASK
        497,  # ACCESS_DENIED
        516,  # AUTHENTICATION_FAILED
        999,  # KEEPER_EXCEPTION
        1000,  # POCO_EXCEPTION
    }
)

_CODE = re.compile(r"\bCode:\s*(\d+)")
_COLUMN = re.compile(r"column\s+`([^`]+)`")
_SERIALISATION = ("Unable to create native array", "Error serializing column")


def error_code(exc: BaseException) -> int | None:
    """ClickHouse's error code, from the driver's attribute or the message text."""
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return code
    match = _CODE.search(str(exc))
    return int(match.group(1)) if match else None


def classify(exc: BaseException) -> FailureKind:
    """Transient unless ClickHouse (or the client, serialising a value) refused the data itself."""
    if isinstance(exc, OperationalError):  # connection refused, reset, timed out
        return "transient"
    if isinstance(exc, DataError) or any(text in str(exc) for text in _SERIALISATION):
        return "refused"
    if isinstance(exc, DatabaseError):
        code = error_code(exc)
        if code is None:  # no code: an HTTP or proxy failure, not an answer about the rows
            return "transient"
        return "transient" if code in TRANSIENT_CODES else "refused"
    return "transient"  # anything else (OSError, a chDB hiccup): keep the events and retry


def reason_text(exc: BaseException, limit: int = 1000) -> str:
    """ClickHouse's reason on one line (it becomes a NATS header), without the server's stack trace."""
    text = " ".join(str(exc).split())
    text = text.split(" Stack trace", 1)[0]
    return text[:limit] or type(exc).__name__


def refused_field(reason: str) -> str | None:
    """The column named in a refusal, when there is one ("... for column `quantity` ...")."""
    match = _COLUMN.search(reason)
    return match.group(1) if match else None


@dataclass(frozen=True)
class Slice:
    """Rows [start, stop) of a batch, inserted under `token`."""

    start: int
    stop: int
    token: str

    @property
    def size(self) -> int:
        return self.stop - self.start


def halves(piece: Slice) -> tuple[Slice, Slice]:
    """The two halves of a slice of two or more rows (the left one gets the smaller half when odd)."""
    assert piece.size >= 2, "a single row cannot be split"
    middle = piece.start + piece.size // 2
    return Slice(piece.start, middle, f"{piece.token}/0"), Slice(middle, piece.stop, f"{piece.token}/1")


@dataclass
class Isolation:
    """The split of a refused batch as a work list: ask `next()`, insert it, report `landed` or `refused`.

    Slices are handed out depth first, left half first, so the order of sub-inserts is fixed by the batch alone.
    The whole batch (the first slice) is the one already refused; it is split at once.
    """

    rows: int
    token: str
    todo: list[Slice] = field(default_factory=list)
    inserted: list[Slice] = field(default_factory=list)
    dead: list[int] = field(default_factory=list)  # rows refused on their own

    def __post_init__(self) -> None:
        self._split(Slice(0, self.rows, self.token))

    def next(self) -> Slice | None:
        return self.todo[-1] if self.todo else None

    def landed(self, piece: Slice) -> None:
        self._take(piece)
        self.inserted.append(piece)

    def refused(self, piece: Slice) -> None:
        self._take(piece)
        self._split(piece)

    def _split(self, piece: Slice) -> None:
        if piece.size == 1:
            self.dead.append(piece.start)
        elif piece.size > 1:
            left, right = halves(piece)
            self.todo.extend([right, left])  # a stack: the left half comes out first

    def _take(self, piece: Slice) -> None:
        assert self.todo and self.todo[-1] == piece, "report the slice next() gave"
        self.todo.pop()


def cut(columns: dict[str, list[Any]], piece: Slice) -> dict[str, list[Any]]:
    """The rows of a slice, column by column."""
    return {name: values[piece.start : piece.stop] for name, values in columns.items()}
