"""A real OpenID Connect provider for SSO tests: `tests/oidc/provider.mjs` (the npm package oidc-provider 9) run
with node on 127.0.0.1, port picked by the system.

Its npm packages come from `tests/oidc/package-lock.json` (`npm ci --prefix tests/oidc`, which .ci/run does; run
here once when they are missing). No node, or an install that fails, fails the test: nothing is skipped.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

HARNESS = Path(__file__).resolve().parents[4] / "tests" / "oidc"
CLIENT_ID = "strix"
CLIENT_SECRET = "strix-test-secret"
PUBLIC_CLIENT_ID = "strix-public"
USERS = {"ada": "ada-password", "bob": "bob-password"}
_install_lock = threading.Lock()


@dataclass
class OidcTestProvider:
    issuer: str
    state_dir: Path
    process: subprocess.Popen[str]

    def _post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(
            self.issuer + path,
            data=json.dumps(body or {}).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, Any] = json.loads(response.read())
        return answer

    def register_redirect(self, redirect_uri: str, client_id: str = CLIENT_ID) -> None:
        self._post("/__harness/redirect_uris", {"client_id": client_id, "redirect_uris": [redirect_uri]})

    def rotate_keys(self) -> list[str]:
        """A new signing key signs from now on; the old ones stay published. Returns the kids, newest first."""
        kids: list[str] = self._post("/__harness/rotate")["kids"]
        return kids


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        raise RuntimeError(
            "node is not installed: the SSO tests run a real OpenID provider on node (apt install nodejs)"
        )
    return node


def ensure_installed() -> None:
    with _install_lock:
        if (HARNESS / "node_modules" / "oidc-provider" / "package.json").is_file():
            return
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is not installed: needed once for `npm ci --prefix tests/oidc`")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HARNESS, check=True, capture_output=True)


@contextmanager
def oidc_provider(state_dir: Path) -> Iterator[OidcTestProvider]:
    """The provider, started on a free port; its state (keys, grants, redirect URIs) kept in `state_dir`."""
    ensure_installed()
    state_dir.mkdir(parents=True, exist_ok=True)
    process, issuer = _started(state_dir)
    try:
        yield OidcTestProvider(issuer=issuer, state_dir=state_dir, process=process)
    finally:
        _stop(process)


def _started(state_dir: Path, attempts: int = 2) -> tuple[subprocess.Popen[str], str]:
    """A provider process and its issuer. One that has not said where it listens within 60 s is stopped and
    started again (node starts in ~1 s; a machine busy with a parallel test run took over 20, and once a CI run
    saw one print nothing at all in 60 s)."""
    for attempt in range(1, attempts + 1):
        with (state_dir / "provider.log").open("a") as log:
            process = subprocess.Popen(
                [_node(), str(HARNESS / "provider.mjs"), "--state-dir", str(state_dir)],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert process.stdout is not None
        ready: list[str] = []
        reader = threading.Thread(target=_first_line, args=(process.stdout, ready), daemon=True)
        reader.start()
        reader.join(timeout=60)
        if ready and ready[0].strip():
            return process, str(json.loads(ready[0])["issuer"])
        code = process.poll()
        _stop(process)
        if attempt == attempts:
            log_text = (state_dir / "provider.log").read_text()[-2000:]
            raise RuntimeError(f"the OpenID provider did not start (exit code {code}): {log_text}")
    raise AssertionError("unreachable")


def _first_line(stream: IO[str], into: list[str]) -> None:
    into.append(stream.readline())


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()
