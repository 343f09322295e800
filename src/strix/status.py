"""`strix status`: each module's partitions, how far behind they are, who reads them and what was set aside.

Read from NATS only, so it works against any running platform: the event streams name the modules, the rollup
consumers their partitions; each consumer's info gives the waiting messages, the last commit (its last ack) and
the pinned client; the stream, when the oldest waiting message was stored; the batch-boundary KV, the batches
recorded and not yet acked; `$SRV.PING.strix-rollup`, the live rollup replicas (and so which one should serve
each partition); the dead-letter stream, how many events were set aside. A partition is flagged STALLED by the
rule the rollup's readiness uses (strix_rollup.lag).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from nats.aio.client import Client as NATS
from nats.js.errors import BucketNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from strix_contracts.subjects import dead_letter_stream, event_stream, rollup_consumer
from strix_rollup.assignment import owner
from strix_rollup.boundary_store import BUCKET, read_open
from strix_rollup.discovery import SERVICE
from strix_rollup.lag import PartitionLag, lag_from_info, seconds_since, stall_reason
from strix_runtime.consumers import consumer_info, first_waiting_time, partition_consumer
from strix_runtime.discovery import ping_service
from strix_runtime.natsauth import NatsCredentials

_STREAM_PREFIX = event_stream("")


@dataclass(frozen=True)
class PartitionStatus:
    lag: PartitionLag
    open_batches: int  # recorded in the boundary KV, not yet fully acked
    reader: str | None  # the rollup replica that should serve it (by discovery and assignment)
    stalled: str | None  # why, when it is stalled


@dataclass(frozen=True)
class ModuleStatus:
    module: str
    partitions: list[PartitionStatus]
    dead_letters: int


async def _api(nc: NATS, subject: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    reply = await nc.request(subject, json.dumps(body or {}).encode(), timeout=5)
    answer: dict[str, Any] = json.loads(reply.data)
    return answer


async def modules_in(nc: NATS) -> list[str]:
    """Every module with an event stream."""
    names: list[str] = []
    offset = 0
    while True:
        page = await _api(nc, "$JS.API.STREAM.NAMES", {"offset": offset})
        streams = page.get("streams") or []
        names += [s[len(_STREAM_PREFIX) :] for s in streams if s.startswith(_STREAM_PREFIX)]
        offset += len(streams)
        if not streams or offset >= int(page.get("total", 0)):
            return sorted(names)


async def partitions_of(nc: NATS, module: str) -> list[int]:
    """The partitions with a rollup consumer."""
    page = await _api(nc, f"$JS.API.CONSUMER.NAMES.{event_stream(module)}")
    prefix = rollup_consumer(module, 0).removesuffix("0")
    tails = [name.removeprefix(prefix) for name in page.get("consumers") or [] if name.startswith(prefix)]
    return sorted(int(tail) for tail in tails if tail.isdigit())


async def rollup_replicas(nc: NATS, wait: float = 0.5) -> list[str]:
    """The ids of the rollup replicas that answer a discovery ping."""
    found = await ping_service(nc, SERVICE, wait)
    return sorted(found)


async def dead_letter_count(nc: NATS, module: str) -> int:
    try:
        info = await nc.jetstream().stream_info(dead_letter_stream(module))
    except NotFoundError:
        return 0
    return int(info.state.messages)


async def read_status(nc: NATS, modules: list[str] | None, stall_seconds: float, now: datetime) -> list[ModuleStatus]:
    js = nc.jetstream()
    kv: KeyValue | None
    try:
        kv = await js.key_value(BUCKET)
    except BucketNotFoundError:
        kv = None
    replicas = await rollup_replicas(nc)
    result = []
    for module in modules if modules is not None else await modules_in(nc):
        partitions = []
        for partition in await partitions_of(nc, module):
            consumer = partition_consumer(module, partition)
            info = await consumer_info(nc, consumer)
            lag = lag_from_info(module, partition, info, None)
            if lag.waiting:
                lag = lag_from_info(module, partition, info, await first_waiting_time(nc, consumer, lag.ack_floor))
            recorded = await read_open(kv, module, partition) if kv is not None else []
            partitions.append(
                PartitionStatus(
                    lag=lag,
                    open_batches=len(recorded),
                    reader=owner(replicas, module, partition),
                    stalled=stall_reason(lag, now, stall_seconds),
                )
            )
        result.append(ModuleStatus(module, partitions, await dead_letter_count(nc, module)))
    return result


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="seconds")


def as_json(status: list[ModuleStatus], now: datetime) -> str:
    """One JSON document: modules, their partitions, and the numbers behind each column of the table."""
    return json.dumps(
        {
            "modules": [
                {
                    "module": m.module,
                    "dead_letters": m.dead_letters,
                    "partitions": [
                        {
                            "partition": p.lag.partition,
                            "waiting_messages": p.lag.waiting,
                            "undelivered_messages": p.lag.undelivered,
                            "unacked_messages": p.lag.unacked,
                            "oldest_waiting_seconds": seconds_since(p.lag.oldest_waiting, now),
                            "last_commit": _time(p.lag.last_commit),
                            "pinned_client": p.lag.pinned,
                            "reader": p.reader,
                            "open_batches": p.open_batches,
                            "stalled": p.stalled,
                        }
                        for p in m.partitions
                    ],
                }
                for m in status
            ]
        },
        indent=2,
    )


def _ago(moment: datetime | None, now: datetime) -> str:
    seconds = seconds_since(moment, now)
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


def as_table(status: list[ModuleStatus], now: datetime) -> str:
    lines = []
    header = ("partition", "waiting", "oldest", "last commit", "reader", "pin", "open batches", "")
    for module in status:
        lines.append(f"{module.module}: {len(module.partitions)} partition(s), {module.dead_letters} dead letter(s)")
        rows = [header]
        for p in module.partitions:
            oldest = seconds_since(p.lag.oldest_waiting, now)
            rows.append(
                (
                    str(p.lag.partition),
                    str(p.lag.waiting),
                    "-" if oldest is None else f"{oldest:.0f}s",
                    _ago(p.lag.last_commit, now),
                    p.reader or "-",
                    p.lag.pinned or "-",
                    str(p.open_batches),
                    "STALLED" if p.stalled else "",
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
        lines += [f"  ! {p.stalled}" for p in module.partitions if p.stalled]
    return "\n".join(lines) if lines else "no modules: no event stream on this NATS server"


async def run_status(
    nats_url: str,
    modules: list[str] | None,
    stall_seconds: float,
    json_output: bool,
    out: TextIO = sys.stdout,
    credentials: NatsCredentials | None = None,
) -> int:
    """Print the status; 1 when a partition is stalled (for scripts and probes), 0 otherwise."""
    import nats

    login = {} if credentials is None else {"user": credentials.user, "password": credentials.password}
    nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=0, **login)
    try:
        now = datetime.now(UTC)
        status = await read_status(nc, modules, stall_seconds, now)
    finally:
        await nc.close()
    print(as_json(status, now) if json_output else as_table(status, now), file=out)
    return 1 if any(p.stalled for m in status for p in m.partitions) else 0
