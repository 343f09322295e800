"""What rollup announces after each commit, so live queries and caches know which buckets changed."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class Committed(BaseModel):
    module: str
    partition: int
    events: int
    first_event: datetime
    last_event: datetime
    stream_first: int
    stream_last: int
