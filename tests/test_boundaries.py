"""The architecture as a test: no service imports another service, and logic modules import no transport.

Services talk over NATS only (ARCHITECTURE §2); what they share lives in libs/. A service's logic modules are
plain functions over plain data (STYLE habit 1): only its wiring (`app.py`) and its named adapters may touch
FastAPI, NATS or strawberry.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SERVICES = sorted(p.name for p in (REPO / "services").iterdir() if (p / "src").is_dir())
TRANSPORTS = {"fastapi", "nats", "strawberry", "uvicorn", "starlette", "httpx"}
# Modules whose job is transport: wiring, and adapters named for what they adapt.
ADAPTERS = {
    "app.py",
    "publisher.py",
    "consumer.py",
    "kafka_source.py",
    "deadletters.py",
    "history.py",
    "pinned.py",
    "discovery.py",
    "boundary_store.py",
    "client.py",
    "schema.py",
    "types.py",
    "resolvers.py",
    "live.py",
    "fastrows.py",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_no_service_imports_another_service() -> None:
    offenders = []
    for service in SERVICES:
        others = {f"strix_{s}" for s in SERVICES if s != service}
        for path in (REPO / "services" / service / "src").rglob("*.py"):
            bad = _imports(path) & others
            if bad:
                offenders.append(f"{path.relative_to(REPO)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


def test_libs_import_no_service() -> None:
    services = {f"strix_{s}" for s in SERVICES}
    offenders = [
        f"{path.relative_to(REPO)} imports {sorted(_imports(path) & services)}"
        for path in (REPO / "libs").rglob("src/**/*.py")
        if _imports(path) & services
    ]
    assert not offenders, "\n".join(offenders)


def test_logic_modules_import_no_transport() -> None:
    offenders = []
    for service in SERVICES:
        for path in (REPO / "services" / service / "src").rglob("*.py"):
            if path.name in ADAPTERS:
                continue
            bad = _imports(path) & TRANSPORTS
            if bad:
                offenders.append(f"{path.relative_to(REPO)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)
