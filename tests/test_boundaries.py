"""The architecture as a test: what each layer may import.

Services talk over NATS only (ARCHITECTURE §2): no service imports another, and libs import no service. Inside a
service, logic modules are plain functions over plain data (STYLE habit 1); only the wiring (`app.py`) and the
adapters named below, per service, may reach a transport — each only the transports it adapts. Libs are held
the same way: `strix_contracts` and `strix_config` are pure; the I/O of `strix_clickhouse` and `strix_runtime`
lives in named modules.

A module reaches a transport by importing its library, or a lib module that does (`strix_runtime.streams` is
NATS, `strix_clickhouse.ClickHouse` is ClickHouse): importing a lib module counts as importing what it reaches.

What counts as a transport, and what does not:
- nats: the message bus (nats-py).
- http: fastapi, starlette, uvicorn, httpx.
- clickhouse: the drivers, clickhouse_connect and chdb.
- kafka: confluent_kafka.
- graphql: strawberry and graphql-core. No I/O, but GraphQL types and ASTs are the gateway's transport
  format, not plain data: only its schema modules hold them.
- Not transports, allowed anywhere: msgspec and pydantic (pure encoding of plain data), prometheus_client,
  structlog and opentelemetry (process metrics, logs and traces, reached through strix_runtime).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

TRANSPORTS = {
    "nats": "nats",
    "fastapi": "http",
    "starlette": "http",
    "uvicorn": "http",
    "httpx": "http",
    "clickhouse_connect": "clickhouse",
    "chdb": "clickhouse",
    "confluent_kafka": "kafka",
    "strawberry": "graphql",
    "graphql": "graphql",
}

# Per service, the modules that may reach a transport and which ones; every module not named is logic and may
# reach none. A new adapter is named here, with what it adapts.
SERVICE_ADAPTERS: dict[str, dict[str, set[str]]] = {
    "auth": {
        "app.py": {"http", "nats"},
        "store.py": {"nats"},  # signing keys, API key records (watched) and refresh sessions in KV buckets
        "provider.py": {"http"},  # the OpenID provider: discovery, JWKS, token endpoint
    },
    "dashboards": {
        "app.py": {"http", "nats"},
        "store.py": {"nats"},  # dashboards and their public links in a KV bucket with history
    },
    "gateway": {
        "app.py": {"http", "nats", "graphql"},  # wiring: the ASGI app, the NATS connection, the schema
        "client.py": {"nats"},  # one NATS request per resolver, to the query service
        "dashboards_client.py": {"nats"},  # one NATS request per dashboard field, to the dashboards service
        "dashboards.py": {"graphql"},  # the dashboard queries and mutations
        "history.py": {"nats"},  # schema history in a KV bucket
        "live.py": {"nats"},  # subscriptions fed by rollup commit notices
        "schema.py": {"graphql"},  # the schema, its extensions, errors rendered once
        "types.py": {"graphql"},  # GraphQL types built from the module configs
        "metadata.py": {"graphql"},  # the modules query: typed metadata from the module configs
        "resolvers.py": {"graphql"},
        "fastrows.py": {"graphql"},  # rows put into the GraphQL answer as they are
        "errors.py": {"graphql"},  # StrixError -> GraphQLError
        "limits.py": {"graphql"},  # depth, alias and token limits over the document AST
        "signin.py": {"http", "nats"},  # sign-in routes, each one request to the auth service
        "signin_page.py": {"http"},  # the page a browser gets when signing in fails
        "webapp.py": {"http"},  # the built web UI and GraphiQL, served as files
    },
    "ingestion": {
        "app.py": {"http", "nats"},
        "publisher.py": {"nats"},
        "deadletters.py": {"nats"},
        "kafka_source.py": {"kafka", "nats"},
    },
    "query": {
        "app.py": {"http", "nats", "clickhouse"},
        "execution.py": {"clickhouse"},  # the thin loop over ClickHouse and the caches; plan.py decides
    },
    "rollup": {
        "app.py": {"http", "nats", "clickhouse"},
        "consumer.py": {"nats", "clickhouse"},  # pulls a partition, inserts its batches
        "joint.py": {"nats", "clickhouse"},  # pulls every partition of a module, inserts one batch of each at once
        "probe.py": {"clickhouse"},  # which of a batch's event ids the store already holds
        "deadletters.py": {"nats"},
        "boundary_store.py": {"nats"},
        "discovery.py": {"nats"},
        "pinned.py": {"nats"},
        "isolation.py": {"clickhouse"},  # which ClickHouse errors a batch caused, and which the server
    },
}

# Per lib, the same. strix_contracts and strix_config are pure: subjects, payloads, errors, the config model.
LIB_ADAPTERS: dict[str, dict[str, set[str]]] = {
    "config": {},
    "contracts": {},
    "tokens": {},  # pure: tokens, keys, API keys, role mapping
    "clickhouse": {"client.py": {"clickhouse"}, "__init__.py": {"clickhouse"}},  # __init__ re-exports the client
    "runtime": {
        "streams.py": {"nats"},  # JetStream event and dead-letter streams
        "consumers.py": {"nats"},  # the rollup's pinned partition consumers
        "buckets.py": {"nats"},  # KV buckets
        "discovery.py": {"nats"},  # $SRV.PING
        "health.py": {"http"},  # /healthz, /readyz and /metrics routers
        "asgi.py": {"http"},  # access log and trace middleware
        "callers.py": {"nats", "http"},  # credentials verified over NATS; the FastAPI dependency and error rendering
        "micro.py": {"nats"},  # NATS micro services: their JSON endpoints and the one way to call them
    },
    # Real servers for tests: a Kafka broker, a chDB store per process.
    "testkit": {"kafka.py": {"kafka"}, "kafka_plugin.py": {"kafka"}, "plugin.py": {"clickhouse"}},
}


@dataclass(frozen=True)
class Layout:
    """Where the packages of a tree live: `strix_<name>` of services/<name>/src and libs/<name>/src."""

    root: Path

    def services(self) -> list[str]:
        return sorted(p.name for p in (self.root / "services").iterdir() if (p / "src").is_dir())

    def libs(self) -> list[str]:
        return sorted(p.name for p in (self.root / "libs").iterdir() if (p / "src").is_dir())

    def modules(self, kind: str, name: str) -> list[Path]:
        return sorted((self.root / kind / name / "src").rglob("*.py"))

    def lib_module_path(self, dotted: str) -> Path | None:
        """The file of a lib module (`strix_runtime.streams`, `strix_clickhouse`), None when not one of ours."""
        package, *rest = dotted.split(".")
        if not package.startswith("strix_"):
            return None
        base = self.root / "libs" / package.removeprefix("strix_") / "src" / package
        path = base.joinpath(*rest)
        for candidate in (path.with_suffix(".py"), path / "__init__.py"):
            if candidate.is_file():
                return candidate
        return None


def imported(path: Path) -> frozenset[str]:
    """Every module a file imports, dotted (`from a import b` counts as `a` and, if it is one, module `a.b`)."""
    return _imported(path.read_text(encoding="utf-8"))


@cache
def _imported(text: str) -> frozenset[str]:  # by text: lib modules are read once per module importing them
    tree = ast.parse(text)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return frozenset(found)


def reached(layout: Layout, path: Path, seen: frozenset[Path] = frozenset()) -> set[str]:
    """The transports a file reaches: directly, or through the lib modules it imports."""
    found: set[str] = set()
    for name in imported(path):
        transport = TRANSPORTS.get(name.split(".")[0])
        if transport is not None:
            found.add(transport)
            continue
        lib = layout.lib_module_path(name)
        if lib is not None and lib not in seen and lib != path:
            found |= reached(layout, lib, seen | {path})
    return found


def transport_offenders(layout: Layout, kind: str, adapters: Mapping[str, Mapping[str, set[str]]]) -> list[str]:
    """Modules reaching a transport they are not named for (`kind`: "services" or "libs")."""
    offenders = []
    names = layout.services() if kind == "services" else layout.libs()
    for name in names:
        allowed = adapters.get(name)
        if allowed is None:
            offenders.append(f"{kind}/{name} is not listed in the boundaries test: name its adapters")
            continue
        for path in layout.modules(kind, name):
            relative = path.relative_to(layout.root / kind / name / "src").as_posix().split("/", 1)[-1]
            bad = reached(layout, path) - allowed.get(relative, set())
            if bad:
                offenders.append(f"{path.relative_to(layout.root)} reaches {sorted(bad)}")
    return offenders


@cache
def _repo() -> Layout:
    return Layout(REPO)


def test_no_service_imports_another_service() -> None:
    layout = _repo()
    services = layout.services()
    offenders = []
    for service in services:
        others = {f"strix_{s}" for s in services if s != service}
        for path in layout.modules("services", service):
            bad = {name.split(".")[0] for name in imported(path)} & others
            if bad:
                offenders.append(f"{path.relative_to(REPO)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


def test_libs_import_no_service() -> None:
    layout = _repo()
    services = {f"strix_{s}" for s in layout.services()}
    offenders = [
        f"{path.relative_to(REPO)} imports {sorted(bad)}"
        for lib in layout.libs()
        for path in layout.modules("libs", lib)
        if (bad := {name.split(".")[0] for name in imported(path)} & services)
    ]
    assert not offenders, "\n".join(offenders)


def test_service_logic_modules_reach_no_transport() -> None:
    offenders = transport_offenders(_repo(), "services", SERVICE_ADAPTERS)
    assert not offenders, "\n".join(offenders)


def test_lib_modules_reach_only_their_transport() -> None:
    offenders = transport_offenders(_repo(), "libs", LIB_ADAPTERS)
    assert not offenders, "\n".join(offenders)


def test_every_named_adapter_exists() -> None:
    """A name left behind after a module moved would exempt whatever takes its place."""
    missing = [
        f"{kind}/{name}/.../{module}"
        for kind, table in (("services", SERVICE_ADAPTERS), ("libs", LIB_ADAPTERS))
        for name, modules in table.items()
        for module in modules
        if not (REPO / kind / name / "src" / f"strix_{name}" / module).is_file()
    ]
    assert not missing, "\n".join(missing)


# --- the test of the test: a synthetic tree with the imports it must refuse -------------------------------------


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def synthetic(tmp_path: Path) -> Layout:
    """A gateway, a query service and a runtime lib laid out as the repository is, every module within its rules."""
    _write(
        tmp_path, "services/gateway/src/strix_gateway/types.py", "import strawberry\nfrom graphql import GraphQLError\n"
    )
    _write(tmp_path, "services/gateway/src/strix_gateway/client.py", "from nats.aio.client import Client\n")
    _write(tmp_path, "services/query/src/strix_query/planner.py", "from strix_config import ModuleConfig\n")
    _write(tmp_path, "services/query/src/strix_query/execution.py", "from strix_clickhouse import ClickHouse\n")
    _write(
        tmp_path, "libs/clickhouse/src/strix_clickhouse/__init__.py", "from strix_clickhouse.client import ClickHouse\n"
    )
    _write(tmp_path, "libs/clickhouse/src/strix_clickhouse/client.py", "import clickhouse_connect\n")
    _write(tmp_path, "libs/runtime/src/strix_runtime/streams.py", "from nats.js import JetStreamContext\n")
    _write(tmp_path, "libs/config/src/strix_config/__init__.py", "import pydantic\n")
    return Layout(tmp_path)


def _offenders(layout: Layout) -> list[str]:
    return transport_offenders(layout, "services", SERVICE_ADAPTERS) + transport_offenders(layout, "libs", LIB_ADAPTERS)


def test_the_synthetic_tree_passes_as_written(synthetic: Layout) -> None:
    assert _offenders(synthetic) == []


def test_nats_in_gateway_types_fails(synthetic: Layout) -> None:
    _write(synthetic.root, "services/gateway/src/strix_gateway/types.py", "import strawberry\nimport nats\n")
    assert _offenders(synthetic) == ["services/gateway/src/strix_gateway/types.py reaches ['nats']"]


def test_clickhouse_connect_in_query_planner_fails(synthetic: Layout) -> None:
    _write(synthetic.root, "services/query/src/strix_query/planner.py", "import clickhouse_connect\n")
    assert _offenders(synthetic) == ["services/query/src/strix_query/planner.py reaches ['clickhouse']"]


def test_a_transport_reached_through_a_lib_module_fails(synthetic: Layout) -> None:
    _write(synthetic.root, "services/query/src/strix_query/planner.py", "from strix_clickhouse import ClickHouse\n")
    _write(synthetic.root, "services/query/src/strix_query/window.py", "from strix_runtime.streams import x\n")
    assert _offenders(synthetic) == [
        "services/query/src/strix_query/planner.py reaches ['clickhouse']",
        "services/query/src/strix_query/window.py reaches ['nats']",
    ]


def test_an_unlisted_service_fails(synthetic: Layout) -> None:
    _write(synthetic.root, "services/billing/src/strix_billing/app.py", "import fastapi\n")
    assert _offenders(synthetic) == ["services/billing is not listed in the boundaries test: name its adapters"]
