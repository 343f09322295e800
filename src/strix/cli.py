"""The `strix` command: up (everything, embedded), serve (one service), status, dlq, config (validate, schema)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from strix.platform import SERVICES, PlatformOptions, run_platform
from strix_config import ConfigError, load_catalog
from strix_config.schema import module_json_schema_text
from strix_rollup.lag import STALL_SECONDS
from strix_runtime.callers import CallerVerifier, DoorOptions
from strix_runtime.heap import freeze_startup_heap
from strix_runtime.logs import configure_logging
from strix_runtime.natsauth import NatsCredentials
from strix_runtime.natsserver import operator_credentials
from strix_runtime.settings import StrixSettings


def _nats_credentials(settings: StrixSettings, tool: bool = False) -> NatsCredentials | None:
    """STRIX_NATS_USER and STRIX_NATS_PASSWORD when set; for an operator tool, else the operator of the embedded
    server under the data dir (README "NATS credentials")."""
    if settings.nats_user is not None:
        password = settings.nats_password.get_secret_value() if settings.nats_password else ""
        return NatsCredentials(settings.nats_user, password)
    return operator_credentials(settings.data_dir) if tool else None


def _demo_rate(text: str) -> float:
    """argparse type: a demo rate the generator can keep, refused with the range otherwise."""
    from strix.demo import MAX_RATE, MIN_RATE

    try:
        rate = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not MIN_RATE <= rate <= MAX_RATE:
        raise argparse.ArgumentTypeError(f"{text} is outside {MIN_RATE:g}..{MAX_RATE:g} events per second")
    return rate


def _common(parser: argparse.ArgumentParser, settings: StrixSettings) -> None:
    parser.add_argument("--config-dir", type=Path, default=settings.config_dir, help="directory of module configs")
    parser.add_argument("--host", default=settings.host, help="HTTP bind address")
    parser.add_argument("--port", type=int, default=settings.port, help="HTTP port (0: any free port)")
    parser.add_argument("--nats-url", default=settings.nats_url, help="NATS server (embedded server when unset)")
    parser.add_argument(
        "--clickhouse-url",
        default=settings.clickhouse_url,
        help="ClickHouse http(s)://user:pass@host:port or chdb:///path (embedded chDB when unset)",
    )
    parser.add_argument("--clickhouse-database", default=settings.clickhouse_database)
    parser.add_argument("--data-dir", type=Path, default=settings.data_dir, help="embedded NATS and chDB data")
    parser.add_argument(
        "--otlp-endpoint",
        default=settings.otlp_endpoint,
        help="OpenTelemetry collector (OTLP/HTTP) to export spans to; no spans are recorded when unset",
    )
    parser.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=settings.access_log,
        help="one JSON log line per HTTP request",
    )


def build_parser(settings: StrixSettings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="strix", description="Strix: configuration-driven real-time analytics.")
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="run every service in one process (embedded NATS and chDB)")
    _common(up, settings)
    up.add_argument("--nats-port", type=int, default=settings.nats_port, help="port of the embedded NATS server")
    up.add_argument(
        "--demo", action="store_true", help="also generate a live clickstream (needs the clickstream module)"
    )
    up.add_argument(
        "--demo-rate", type=_demo_rate, default=2.0, help="demo events per second, live and in its history (1..5000)"
    )

    serve = commands.add_parser(
        "serve",
        help="run one service (or a few, in one process) against given NATS and ClickHouse",
        description="With embedded chDB, rollup and query must share one process: `strix serve rollup query`.",
    )
    serve.add_argument("service", choices=SERVICES, nargs="+")
    _common(serve, settings)

    dlq = commands.add_parser("dlq", help="dead letters: invalid events from topics, kept with their reason")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True)
    for name, text in (
        ("list", "print dead letters as JSON lines"),
        ("replay", "re-validate and store what now passes"),
    ):
        sub = dlq_commands.add_parser(name, help=text)
        sub.add_argument("module")
        sub.add_argument("--config-dir", type=Path, default=settings.config_dir)
        sub.add_argument("--nats-url", default=settings.nats_url or "nats://127.0.0.1:4222")
        if name == "list":
            sub.add_argument("--limit", type=int, default=100)

    status = commands.add_parser(
        "status", help="each module's partitions: waiting events, oldest, last commit, reader, dead letters"
    )
    status.add_argument("modules", nargs="*", help="modules to show (all with an event stream when none)")
    status.add_argument("--nats-url", default=settings.nats_url or f"nats://127.0.0.1:{settings.nats_port}")
    status.add_argument("--stall-seconds", type=float, default=STALL_SECONDS, help="flag partitions stuck this long")
    status.add_argument("--json", action="store_true", help="one JSON document instead of a table")

    nats_auth = commands.add_parser(
        "nats-auth", help="print the NATS server's authorization block: a user per service (deploy/nats/README.md)"
    )
    nats_auth.add_argument("--config-dir", type=Path, default=settings.config_dir)
    nats_auth.add_argument("--output", type=Path, help="write to this file instead of stdout")

    config = commands.add_parser("config", help="module configs")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    validate = config_commands.add_parser("validate", help="validate every module config of a directory")
    validate.add_argument("directory", type=Path, nargs="?", default=settings.config_dir)
    schema = config_commands.add_parser("schema", help="print the JSON Schema of a module config")
    schema.add_argument("--output", type=Path, help="write to this file instead of stdout")
    return parser


async def _run(args: argparse.Namespace) -> int:
    try:
        catalog = load_catalog(args.config_dir)
    except ConfigError as exc:
        print(f"invalid configs:\n{exc}", file=sys.stderr)
        return 2
    services = SERVICES if args.command == "up" else tuple(dict.fromkeys(args.service))
    if args.command == "serve" and args.nats_url is None:
        print("strix serve needs --nats-url (or STRIX_NATS_URL)", file=sys.stderr)
        return 2
    from strix_auth.options import AuthSettingsError, auth_options, sign_in_help

    settings = StrixSettings()
    try:
        auth = auth_options(
            settings, embedded=args.command == "up" and args.nats_url is None, default_dev_sign_in=args.command == "up"
        )
    except AuthSettingsError as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 2
    options = PlatformOptions(
        catalog=catalog,
        data_dir=args.data_dir,
        services=services,
        nats_url=args.nats_url,
        nats_port=getattr(args, "nats_port", 4222),
        clickhouse_url=args.clickhouse_url,
        clickhouse_database=args.clickhouse_database,
        host=args.host,
        port=args.port,
        access_log=args.access_log,
        otlp_endpoint=args.otlp_endpoint,
        doors=DoorOptions.from_settings(StrixSettings(), embedded=args.command == "up" and args.nats_url is None),
        nats_credentials=args.nats_credentials,
        auth=auth,
        public_url=settings.public_url,
    )
    if args.command == "up":  # the web UI, built on first start when missing (README "Web UI")
        from strix.webbuild import ensure_built
        from strix_gateway.webapp import default_web_dist

        await asyncio.to_thread(ensure_built, default_web_dist().parent)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with run_platform(options) as platform:
        generator = None
        if getattr(args, "demo", False):
            if "clickstream" not in catalog.modules:
                print("--demo needs a module named clickstream in the config dir", file=sys.stderr)
                return 2
            from strix.demo import DemoGenerator, demo_key, demo_router, mount_demo, revoke_demo_key

            key_id, key = await demo_key(platform.nc)  # the generator posts as a producer; revoked at stop
            url = f"{platform.http_url}/v1/modules/clickstream/events"
            generator = DemoGenerator(
                url,
                rate=args.demo_rate,
                headers={"Authorization": f"Bearer {key}"},
                mark=args.data_dir / "demo-reached",  # a restart posts only the history it missed
            )
            assert platform.app is not None
            doors = options.doors
            verifier = CallerVerifier(platform.nc, issuer=doors.issuer, audience=doors.audience)
            mount_demo(platform.app, demo_router(generator, verifier))
            generator.start()
        freeze_startup_heap()
        print(
            f"Strix is up: web UI {platform.http_url}/, GraphQL {platform.http_url}/graphql, ingestion {platform.http_url}/v1/modules/<module>/events"
            f" (modules: {', '.join(catalog.names())}). Ctrl-C stops.",
            flush=True,
        )
        if "gateway" in services and "auth" in services:
            print(sign_in_help(platform.http_url, auth), flush=True)
        if generator is not None:
            print(f"Demo clickstream at {args.demo_rate:g} events/s.", flush=True)
        await stop.wait()
        if generator is not None:
            await generator.stop()
            await revoke_demo_key(platform.nc, key_id)
    print("Strix stopped.", flush=True)
    return 0


async def _dead_letters(args: argparse.Namespace) -> int:
    import json

    import nats

    from strix_ingestion.deadletters import dead_letters, replay
    from strix_ingestion.validation import build_codec

    catalog = load_catalog(args.config_dir)
    config = catalog.get(args.module)
    if config is None:
        print(f"unknown module {args.module!r}; known: {', '.join(catalog.names())}", file=sys.stderr)
        return 2
    credentials = args.nats_credentials
    login = {} if credentials is None else {"user": credentials.user, "password": credentials.password}
    nc = await nats.connect(args.nats_url, **login)
    try:
        if args.dlq_command == "list":
            async for stored in dead_letters(nc, args.module, args.limit):
                letter = stored.letter
                print(
                    json.dumps(
                        {
                            "sequence": stored.sequence,
                            "reason": letter.reason,
                            "field": letter.field,
                            "source": letter.source,
                            "topic": letter.topic,
                            "partition": letter.partition,
                            "offset": letter.offset,
                            "index": letter.index,
                            "module": letter.module,
                            "stream_sequence": letter.sequence,
                            "position": letter.position,
                            "event": letter.payload.decode(errors="replace"),
                        }
                    )
                )
            return 0
        report = await replay(nc, build_codec(config))
        for sequence, reason in report.still_invalid:
            print(f"still invalid: #{sequence}: {reason}", file=sys.stderr)
        print(f"replayed {report.replayed} event(s); {len(report.still_invalid)} still invalid", file=sys.stderr)
        return 0 if not report.still_invalid else 1
    finally:
        await nc.close()


def main(argv: list[str] | None = None) -> int:
    settings = StrixSettings()
    args = build_parser(settings).parse_args(argv)
    args.nats_credentials = _nats_credentials(settings, tool=args.command in ("dlq", "status"))
    configure_logging(settings.log_level, settings.log_json)
    if args.command == "dlq":
        return asyncio.run(_dead_letters(args))
    if args.command == "status":
        from strix.status import run_status

        credentials = args.nats_credentials
        return asyncio.run(
            run_status(args.nats_url, args.modules or None, args.stall_seconds, args.json, credentials=credentials)
        )
    if args.command == "nats-auth":
        from strix_runtime.natsauth import deployed_authorization

        block = deployed_authorization(load_catalog(args.config_dir).names())
        if args.output:
            args.output.write_text(block, encoding="utf-8")
        else:
            sys.stdout.write(block)
        return 0
    if args.command == "config":
        if args.config_command == "schema":
            text = module_json_schema_text()
            if args.output:
                args.output.write_text(text, encoding="utf-8")
            else:
                sys.stdout.write(text)
            return 0
        try:
            catalog = load_catalog(args.directory)
        except ConfigError as exc:
            print(f"{len(exc.problems)} problem(s):\n{exc}", file=sys.stderr)
            return 1
        for name in catalog.names():
            cfg = catalog.modules[name]
            print(
                f"ok  {catalog.sources[name]}: module {name}, {len(cfg.event.fields)} fields, "
                f"{len(cfg.dimensions)} dimensions, {len(cfg.metrics)} metrics, {len(cfg.rollups)} rollups"
            )
        return 0
    return asyncio.run(_run(args))


if __name__ == "__main__":
    sys.exit(main())
