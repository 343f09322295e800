"""Services of the benches as separate processes (`strix serve`), as a deployment scales them, and what each costs.

The bench process itself holds the store (embedded chDB allows one process per data directory), so it runs the
query service (and the rollup, which owns the tables) on the embedded NATS server it starts; the gateway and the
auth service run as `strix serve gateway` / `strix serve auth` processes against that server, each as its own
NATS user. CPU and memory are read from /proc (Linux), so every figure is the process's own.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from nats.aio.client import Client as NATS

from strix_contracts.notices import Committed
from strix_contracts.subjects import committed_subject
from strix_runtime.natsauth import user_name
from strix_runtime.natsserver import passwords_file

REPO = Path(__file__).resolve().parents[2]
_TICKS = os.sysconf("SC_CLK_TCK")
_UP = re.compile(r"Strix is up: web UI (http://[^/\s]+)/")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14 and 15 of stat)


def rss_mb(pid: int) -> float:
    """Resident memory of the process in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


@dataclass
class CpuMeter:
    """CPU used by some processes between `start` and `stop`, as cores busy (1.0: one core all the time)."""

    pids: dict[str, int]
    began: float = 0.0
    before: dict[str, float] | None = None

    def start(self) -> None:
        self.before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self.began = time.perf_counter()

    def stop(self) -> dict[str, float]:
        assert self.before is not None
        wall = time.perf_counter() - self.began
        return {name: round((cpu_seconds(pid) - self.before[name]) / wall, 2) for name, pid in self.pids.items()}


@dataclass
class Served:
    """One `strix serve` process: its name, process and HTTP address."""

    name: str
    process: asyncio.subprocess.Process
    url: str

    @property
    def pid(self) -> int:
        return self.process.pid


async def _serve(services: Sequence[str], nats_url: str, data_dir: Path, config_dir: Path) -> Served:
    """`strix serve <services>` on a free port, connected as the first service's NATS user of the bench's
    embedded server; returns once it printed its address."""
    user = user_name(services[0])
    passwords = json.loads(passwords_file(data_dir).read_text(encoding="utf-8"))
    env = {
        **os.environ,
        "STRIX_NATS_USER": user,
        "STRIX_NATS_PASSWORD": passwords[user],
        "STRIX_LOG_LEVEL": "warning",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "strix.cli",
        "serve",
        *services,
        "--nats-url",
        nats_url,
        "--port",
        "0",
        "--config-dir",
        str(config_dir),
        "--no-access-log",
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(90):
            async for raw in process.stdout:
                line = raw.decode(errors="replace")
                seen.append(line)
                found = _UP.search(line)
                if found:
                    asyncio.create_task(_drain(process))  # noqa: RUF006 - ends with the process
                    return Served("+".join(services), process, found.group(1))
    except TimeoutError:
        pass
    process.kill()
    raise RuntimeError(f"strix serve {' '.join(services)} did not start:\n{''.join(seen)[-3000:]}")


async def _drain(process: asyncio.subprocess.Process) -> None:
    assert process.stdout is not None
    async for _ in process.stdout:
        pass


async def _stop(served: Served) -> None:
    if served.process.returncode is None:
        served.process.terminate()
        try:
            async with asyncio.timeout(15):
                await served.process.wait()
        except TimeoutError:
            served.process.kill()
            await served.process.wait()


@asynccontextmanager
async def serving(
    groups: Sequence[Sequence[str]], nats_url: str, data_dir: Path, config_dir: Path = REPO / "configs"
) -> AsyncIterator[list[Served]]:
    """A `strix serve` process per group of services, stopped (SIGTERM) on leaving."""
    async with AsyncExitStack() as stack:
        started: list[Served] = []
        for services in groups:
            served = await _serve(services, nats_url, data_dir, config_dir)
            stack.push_async_callback(_stop, served)
            started.append(served)
        yield started


async def forget_answers(nc: NATS, first: datetime, last: datetime, module: str = "clickstream") -> None:
    """Have the query service drop what it cached of `module` between `first` and `last`, as a rollup commit's
    notice does (the benches load events straight into the store, which sends none)."""
    notice = Committed(
        module=module, partition=0, events=0, first_event=first, last_event=last, stream_first=0, stream_last=0
    )
    await nc.publish(committed_subject(module), notice.model_dump_json().encode())
    await nc.flush()
    await asyncio.sleep(0.5)  # delivered to the query service's own connection
