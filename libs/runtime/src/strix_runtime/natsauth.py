"""Who may say what on NATS: one user per Strix service, allowed exactly the subjects that service uses.

Pure data and functions. The permission table is derived from the subject builders of `strix_contracts.subjects`
and the stream and bucket names each service uses (listed below, with the module that uses each); the embedded
server (`natsserver.start_nats_server`) and the distributed deployment (`deploy/nats/`) are configured from
the same `render_authorization`, so both run with the same rules.

Invariants:
- No `default_permissions` and no `no_auth_user`: a connection that presents no known user is refused.
- A service publishes only to the subjects it writes or calls, and subscribes only to what it serves, what it
  listens to and its own reply inbox `_INBOX.<service>.>` (the platform connects it with that inbox prefix), so
  no service reads the replies meant for another (tokens, query answers).
- A service that answers requests (a NATS micro service) gets `allow_responses`: it may publish to the reply
  subject of a request it received, once, and to no other inbox.
- JetStream: each stream and KV bucket is reached through the `$JS.API` subjects naming it; only the operator
  user lists, deletes or purges streams, and only an owner writes a bucket.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from strix_contracts.dashboards import DASHBOARDS_LINK_RESOLVE, DASHBOARDS_SERVICE
from strix_contracts.subjects import (
    COMMITTED_PREFIX,
    QUERY_RECORDS,
    QUERY_RUN,
    QUERY_SERVICE,
    committed_subject,
    dead_letter_stream,
    dead_letter_subject,
    event_stream,
    event_subjects,
)
from strix_tokens.messages import AUTH_JWKS, AUTH_KEYS_VERIFY, AUTH_SERVICE

SERVICES = ("ingestion", "rollup", "query", "gateway", "dashboards", "auth")
# The user of operators and operator tools (`strix status`, `strix dlq`): every subject.
OPERATOR = "strix-operator"

# Stream and bucket names the services use, kept equal to their definitions by tests/test_nats_credentials.py.
INGESTION_LEDGER = "strix_ingestion_requests"  # strix_ingestion.publisher.LEDGER_BUCKET
KAFKA_BATCHES = "strix_kafka_batches"  # strix_ingestion.kafka_source.BUCKET
ROLLUP_BATCHES = "strix_rollup_batches"  # strix_rollup.boundary_store.BUCKET
SCHEMA_HISTORY = "strix_schema_history"  # strix_gateway.history.BUCKET
# strix_auth.store
AUTH_BUCKETS = ("strix_auth_signing", "strix_auth_apikeys", "strix_auth_sessions", "strix_auth_oidc")
DASHBOARDS_BUCKETS = ("strix_dashboards",)  # strix_dashboards.store.BUCKET
ROLLUP_SERVICE = "strix-rollup"  # strix_rollup.discovery.SERVICE
# Subjects a door calls to verify a credential: the auth service's keys, a dashboard's public link.
AUTH_VERIFY = (AUTH_JWKS, AUTH_KEYS_VERIFY)
LINK_RESOLVE = DASHBOARDS_LINK_RESOLVE
# Commit notices of every module, as the query service and the gateway subscribe to them.
COMMITTED_ALL = f"{COMMITTED_PREFIX}.>"


@dataclass(frozen=True)
class Permissions:
    """What one user may publish and subscribe to (nats-server subject patterns)."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    responds: bool = False  # may answer a request it received (allow_responses: one reply, to that inbox only)


@dataclass(frozen=True)
class NatsUser:
    """A user of the NATS server: name, password, permissions (None: every subject, the operator)."""

    name: str
    password: str
    permissions: Permissions | None


@dataclass(frozen=True)
class NatsCredentials:
    """What a client presents when it connects. A service's connection also takes `inbox_prefix(service)`."""

    user: str
    password: str

    def __repr__(self) -> str:  # never a password in a log line or a traceback
        return f"NatsCredentials(user={self.user!r})"


def user_name(service: str) -> str:
    return f"strix-{service}"


def inbox_prefix(service: str) -> str:
    """The reply inbox prefix of a service's connection; its user may subscribe below it and nowhere else."""
    return f"_INBOX.{service}"


def new_password() -> str:
    """256 random bits as a letter and 64 hex digits: a deployed server reads a password from its environment
    as a config value (one starting with a digit is read as a number and refused), so it must start with a letter."""
    return "p" + secrets.token_hex(32)


def _stream(
    stream: str, *, manage: bool = False, read: bool = False, create_consumers: bool = False, consume: bool = False
) -> list[str]:
    """`$JS.API` subjects naming one stream: manage (create, update, info), read (info, get), create_consumers,
    consume (its consumers: create, info, next, unpin, delete; acks and flow control replies)."""
    api = f"$JS.API.STREAM.INFO.{stream}"
    subjects = [api]
    if manage:
        subjects += [f"$JS.API.STREAM.CREATE.{stream}", f"$JS.API.STREAM.UPDATE.{stream}"]
    if read:
        subjects += [
            f"$JS.API.STREAM.MSG.GET.{stream}",
            f"$JS.API.DIRECT.GET.{stream}",
            f"$JS.API.DIRECT.GET.{stream}.>",
        ]
    if create_consumers or consume:
        subjects += [f"$JS.API.CONSUMER.CREATE.{stream}", f"$JS.API.CONSUMER.CREATE.{stream}.>"]
    if consume:
        subjects += [
            f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.*",
            f"$JS.API.CONSUMER.INFO.{stream}.*",
            f"$JS.API.CONSUMER.DELETE.{stream}.*",
            f"$JS.API.CONSUMER.MSG.NEXT.{stream}.*",
            f"$JS.API.CONSUMER.UNPIN.{stream}.*",
            f"$JS.ACK.{stream}.>",
            f"$JS.FC.{stream}.>",
        ]
    return subjects


def _bucket(bucket: str) -> list[str]:
    """A KV bucket its owner creates, reads, writes, watches and purges of deletes."""
    stream = f"KV_{bucket}"
    return [
        *_stream(stream, manage=True, read=True, consume=True),
        f"$JS.API.STREAM.PURGE.{stream}",
        f"$KV.{bucket}.>",
    ]


def _micro(service: str) -> list[str]:
    """Subscriptions of a NATS micro service's discovery endpoints (PING, INFO, STATS; all, by name, by id)."""
    return ["$SRV.*", f"$SRV.*.{service}", f"$SRV.*.{service}.*"]


def service_permissions(service: str, modules: Sequence[str]) -> Permissions:
    """The permissions of one service's user, for the modules of the catalog it serves."""
    inbox = f"{inbox_prefix(service)}.>"
    if service == "ingestion":
        # Writes validated events (and dead letters of its topics); creates the streams and the rollup's
        # consumers before the first event, so the stream keeps it (strix_runtime.streams, consumers).
        publish = []
        for m in modules:
            publish += [event_subjects(m), dead_letter_subject(m)]
            publish += _stream(event_stream(m), manage=True, create_consumers=True)
            publish += _stream(dead_letter_stream(m), manage=True)
        # Verifies credentials (a public link is resolved, then refused: links only read).
        publish += [*_bucket(INGESTION_LEDGER), *_bucket(KAFKA_BATCHES), *AUTH_VERIFY, LINK_RESOLVE]
        return Permissions(tuple(publish), (inbox,))
    if service == "rollup":
        # Reads the events through its pinned consumers, dead-letters what ClickHouse refuses, announces commits;
        # replicas find each other by pinging their own micro service.
        publish = []
        for m in modules:
            publish += [dead_letter_subject(m), committed_subject(m)]
            publish += _stream(event_stream(m), manage=True, read=True, consume=True)
            publish += _stream(dead_letter_stream(m), manage=True)
        publish += [*_bucket(ROLLUP_BATCHES), f"$SRV.PING.{ROLLUP_SERVICE}"]
        return Permissions(tuple(publish), (inbox, *_micro(ROLLUP_SERVICE)), responds=True)
    if service == "query":
        return Permissions((), (inbox, QUERY_RUN, QUERY_RECORDS, COMMITTED_ALL, *_micro(QUERY_SERVICE)), True)
    if service == "gateway":
        # The front door: asks the query service, the auth service (sign-in, keys; it checks the caller's
        # scopes first) and the dashboards service; follows commits for live queries.
        calls = (QUERY_RUN, QUERY_RECORDS, "auth.>", "dashboards.>")
        return Permissions((*calls, *_bucket(SCHEMA_HISTORY)), (inbox, COMMITTED_ALL))
    if service == "dashboards":
        buckets = tuple(subject for bucket in DASHBOARDS_BUCKETS for subject in _bucket(bucket))
        return Permissions(buckets, (inbox, "dashboards.>", *_micro(DASHBOARDS_SERVICE)), responds=True)
    if service == "auth":
        buckets = tuple(subject for bucket in AUTH_BUCKETS for subject in _bucket(bucket))
        return Permissions(buckets, (inbox, "auth.>", *_micro(AUTH_SERVICE)), responds=True)
    raise ValueError(f"unknown service {service!r}; services: {', '.join(SERVICES)}")


def service_users(passwords: dict[str, str], modules: Sequence[str]) -> list[NatsUser]:
    """Every service's user and the operator, with the passwords given per user name."""
    users = [NatsUser(user_name(s), passwords[user_name(s)], service_permissions(s, modules)) for s in SERVICES]
    return [*users, NatsUser(OPERATOR, passwords[OPERATOR], None)]


def user_names() -> list[str]:
    return [*(user_name(s) for s in SERVICES), OPERATOR]


def password_variable(user: str) -> str:
    """The environment variable a deployed server reads a user's password from (`STRIX_NATS_PASSWORD_QUERY`)."""
    return "STRIX_NATS_PASSWORD_" + user.removeprefix("strix-").upper().replace("-", "_")


def deployed_authorization(modules: Sequence[str]) -> str:
    """The authorization block of a deployed server (deploy/nats): every user, passwords read from the server's
    environment (`password_variable`)."""
    users = service_users(dict.fromkeys(user_names(), ""), modules)
    header = (
        "# Strix NATS users, one per service (deploy/nats/README.md). Generated by `strix nats-auth` from the\n"
        f"# module configs ({', '.join(modules)}); the server reads each password from its environment.\n"
    )
    return header + render_authorization(users, passwords_from_env=True)


def _subjects(values: Sequence[str], indent: str) -> str:
    return "[\n" + "".join(f"{indent}  {json.dumps(v)},\n" for v in values) + f"{indent}]"


def render_authorization(users: Sequence[NatsUser], passwords_from_env: bool = False) -> str:
    """The nats-server `authorization` block for these users. With `passwords_from_env`, each password is a
    reference to `password_variable(user)`, which the server reads from its environment (deploy/nats)."""
    lines = ["authorization {", "  users = ["]
    for user in users:
        password = f"${password_variable(user.name)}" if passwords_from_env else json.dumps(user.password)
        lines += ["    {", f"      user: {json.dumps(user.name)}", f"      password: {password}"]
        permissions = user.permissions
        if permissions is None:
            lines.append('      permissions: {publish: ">", subscribe: ">"}')
        else:
            # An empty allow list would allow everything: a user that publishes nothing of its own is denied all
            # (its answers still go out through allow_responses).
            publish = f"allow: {_subjects(permissions.publish, '        ')}" if permissions.publish else 'deny: [">"]'
            lines += [
                "      permissions: {",
                f"        publish: {{{publish}}}",
                f"        subscribe: {{allow: {_subjects(permissions.subscribe, '        ')}}}",
            ]
            if permissions.responds:
                lines.append("        allow_responses: true")
            lines.append("      }")
        lines.append("    },")
    lines += ["  ]", "}"]
    return "\n".join(lines) + "\n"
