"""Access rules enforced by the query service, over a real NATS server and chDB: who reads which module, and
which rows each caller sees — in a plain query, a join's both sides, a record page and the caches.

Every number is checked against a plain-Python computation over the events inserted. The module configs are
the test fixtures in tests/fixtures/access-configs: `rounds` (operators see their brands, studio leads their
studios, analysts everything) joined with `payouts` (operators see their brands; studio leads may not read it).
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import nats
import pytest
import pytest_asyncio
from nats.aio.client import Client as NATS

from strix_clickhouse import ClickHouse, plan_module
from strix_clickhouse.columns import POSITION_COLUMN, SEQUENCE_COLUMN, events_table
from strix_config import Catalog, load_catalog
from strix_contracts.caller import Caller
from strix_contracts.errors import Unauthorized, error_from_json
from strix_contracts.query import Condition, QueryRequest
from strix_contracts.subjects import CACHED_HEADER, QUERY_RECORDS, QUERY_RUN
from strix_query.app import run_query_service
from strix_query.plan import answer_scope, plan_query
from strix_runtime.natsserver import NatsServer

CONFIGS = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "access-configs"
ORIGIN = datetime(2026, 11, 2, tzinfo=UTC)
WINDOW = {"start": ORIGIN.isoformat(), "end": (ORIGIN + timedelta(days=1)).isoformat()}
BRANDS = ("acme", "zenith", "orbit")
GAMES = ("g1", "g2", "g3", "g4")
STUDIOS = (1, 2, 3)

Event = dict[str, Any]


def generated() -> tuple[list[Event], list[Event]]:
    """A day of rounds and payouts of three brands, fixed by the seed."""
    rng = random.Random(11)
    rounds = [
        {
            "round_id": f"r{i}",
            "ts": ORIGIN + timedelta(seconds=rng.randrange(86_400)),
            "brand": rng.choice(BRANDS),
            "game": rng.choice(GAMES),
            "studio": rng.choice(STUDIOS),
            "stake": Decimal(rng.randrange(1, 10_000)) / 100,
        }
        for i in range(400)
    ]
    payouts = [
        {
            "ts": ORIGIN + timedelta(seconds=rng.randrange(86_400)),
            "brand": rng.choice(BRANDS),
            "game": rng.choice(GAMES),
            "amount": Decimal(rng.randrange(1, 50_000)) / 100,
        }
        for _ in range(250)
    ]
    return rounds, payouts


ROUNDS, PAYOUTS = generated()


def columns(events: list[Event]) -> dict[str, list[Any]]:
    data = {name: [e[name] for e in events] for name in events[0]}
    data[SEQUENCE_COLUMN] = list(range(1, len(events) + 1))
    data[POSITION_COLUMN] = [0] * len(events)
    return data


# --- the plain-Python side --------------------------------------------------------------------------------------


def totals_by_game(events: list[Event], amount: str, keep: Callable[[Event], bool]) -> dict[str, tuple[int, float]]:
    """(count, sum of `amount`) per game over the events `keep` admits; refuses an empty comparison."""
    found: dict[str, list[Any]] = defaultdict(lambda: [0, Decimal(0)])
    for event in events:
        if keep(event):
            found[event["game"]][0] += 1
            found[event["game"]][1] += event[amount]
    assert found, "an empty comparison proves nothing"
    return {game: (n, float(total)) for game, (n, total) in found.items()}


def hourly_by_game(events: list[Event], keep: Callable[[Event], bool]) -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = defaultdict(int)
    for event in events:
        if keep(event):
            hour = event["ts"].replace(minute=0, second=0, microsecond=0)
            found[(hour.isoformat(), event["game"])] += 1
    assert found, "an empty comparison proves nothing"
    return dict(found)


# --- the service --------------------------------------------------------------------------------------------------


@dataclass
class Service:
    nc: NATS
    catalog: Catalog

    async def ask(self, caller: Caller | None, **request: Any) -> tuple[list[dict[str, Any]], bool]:
        """The rows of an answer as dicts by column, and whether it came from the answer cache."""
        body = {"module": "rounds", "window": WINDOW, **request}
        if caller is not None:
            body["caller"] = caller.model_dump()
        reply = await self.nc.request(QUERY_RUN, json.dumps(body).encode(), timeout=20)
        _raise_error(reply)
        answer = json.loads(reply.data)
        rows = [dict(zip(answer["columns"], row, strict=True)) for row in answer["rows"]]
        return rows, bool(reply.headers and reply.headers.get(CACHED_HEADER))

    async def records(self, caller: Caller | None, **request: Any) -> dict[str, Any]:
        body = {"module": "rounds", "window": WINDOW, "first": 1000, **request}
        if caller is not None:
            body["caller"] = caller.model_dump()
        reply = await self.nc.request(QUERY_RECORDS, json.dumps(body).encode(), timeout=20)
        _raise_error(reply)
        result: dict[str, Any] = json.loads(reply.data)
        return result


def _raise_error(reply: Any) -> None:
    if reply.headers and "Nats-Service-Error-Code" in reply.headers:
        raise error_from_json(reply.data)


@pytest_asyncio.fixture
async def service(nats_server: NatsServer, clickhouse: ClickHouse) -> AsyncIterator[Service]:
    catalog = load_catalog(CONFIGS)
    for config in catalog.modules.values():
        await clickhouse.apply(plan_module(config, clickhouse.database))
    await clickhouse.insert_columns(events_table("rounds"), columns(ROUNDS))
    await clickhouse.insert_columns(events_table("payouts"), columns(PAYOUTS))
    nc = await nats.connect(nats_server.url)
    try:
        async with run_query_service(nc, clickhouse, catalog):
            yield Service(nc, catalog)
    finally:
        await nc.close()


def user(*roles: str, scopes: tuple[str, ...] = ("read",), **attributes: tuple[str, ...]) -> Caller:
    return Caller(
        subject=f"user-{'-'.join(roles) or 'none'}", kind="user", roles=roles, scopes=scopes, attributes=attributes
    )


ADMIN = Caller(subject="root", kind="user", scopes=("admin",))
ANALYST = user("analyst")
ACME = user("operator", brand=("acme",))
ACME_TOO = Caller(
    subject="another-acme-operator", kind="user", roles=("operator",), scopes=("read",), attributes={"brand": ("acme",)}
)
BY_GAME = {"granularity": "total", "group_by": ["game"], "metrics": ["rounds", "stakes"]}


def by_game(rows: list[dict[str, Any]]) -> dict[str, tuple[int, float]]:
    return {row["game"]: (row["rounds"], pytest.approx(row["stakes"])) for row in rows}


# --- who reads -----------------------------------------------------------------------------------------------


async def test_an_operator_sees_only_its_brands_rows(service: Service) -> None:
    rows, _ = await service.ask(ACME, **BY_GAME)
    assert by_game(rows) == totals_by_game(ROUNDS, "stake", lambda e: e["brand"] == "acme")

    two = user("operator", brand=("acme", "orbit"))
    rows, _ = await service.ask(two, **BY_GAME)
    assert by_game(rows) == totals_by_game(ROUNDS, "stake", lambda e: e["brand"] in ("acme", "orbit"))

    # The caller's own filters still apply, AND-ed with the rule's: asking for another brand yields nothing.
    mine, _ = await service.ask(ACME, **BY_GAME, filters=[{"dimension": "game", "op": "eq", "value": "g2"}])
    assert by_game(mine) == {"g2": totals_by_game(ROUNDS, "stake", lambda e: e["brand"] == "acme")["g2"]}
    other, _ = await service.ask(ACME, **BY_GAME, filters=[{"dimension": "brand", "op": "eq", "value": "zenith"}])
    assert other == []


async def test_top_groups_and_others_are_ranked_among_the_callers_rows(service: Service) -> None:
    top = {**BY_GAME, "top": {"n": 2, "by": "rounds"}}
    rows, _ = await service.ask(ACME, **top)
    mine = totals_by_game(ROUNDS, "stake", lambda e: e["brand"] == "acme")
    ranked = sorted(mine, key=lambda g: (-mine[g][0], g))
    kept = {row["game"]: row["rounds"] for row in rows if not row["others"]}
    assert kept == {g: mine[g][0] for g in ranked[:2]}
    (others,) = [row for row in rows if row["others"]]
    assert others["rounds"] == sum(mine[g][0] for g in ranked[2:])  # the rest of its own rows, no one else's


async def test_an_int_dimension_binds_the_attribute_as_numbers(service: Service) -> None:
    lead = user("studio-lead", studio=("2",))
    rows, _ = await service.ask(lead, **BY_GAME)
    assert by_game(rows) == totals_by_game(ROUNDS, "stake", lambda e: e["studio"] == 2)


async def test_a_missing_attribute_sees_no_rows(service: Service) -> None:
    rows, _ = await service.ask(user("operator"), **BY_GAME)
    assert rows == []
    rows, _ = await service.ask(user("operator", brand=("nosuchbrand",)), **BY_GAME)
    assert rows == []
    page = await service.records(user("operator"))
    assert page["records"] == [] and not page["has_next_page"]


async def test_admins_and_analysts_see_every_row(service: Service) -> None:
    everything = totals_by_game(ROUNDS, "stake", lambda e: True)
    for caller in (ADMIN, ANALYST, user("operator", scopes=("admin",))):
        rows, _ = await service.ask(caller, **BY_GAME)
        assert by_game(rows) == everything, caller.subject


async def test_a_request_without_a_caller_is_refused(service: Service) -> None:
    for ask in (service.ask(None, **BY_GAME), service.records(None)):
        with pytest.raises(Unauthorized) as refused:
            await ask
        assert refused.value.status == 401 and "no caller" in str(refused.value)
    with pytest.raises(Unauthorized):
        answer_scope(service.catalog, _request(None), ORIGIN)  # refused while planning, before any cache


async def test_a_module_the_caller_may_not_read_is_refused_naming_it(service: Service) -> None:
    cases = [
        (user("guest"), "the module admits the roles analyst, operator, studio-lead"),
        (user("analyst", scopes=("write",)), "the credential needs the scope read or read:rounds"),
        (user("analyst", scopes=("read:payouts",)), "the credential needs the scope read or read:rounds"),
        (
            Caller(subject="link:d1", kind="public_link", roles=("analyst",), scopes=("read",), dashboard="d1"),
            "a public link reads only the modules its dashboard's panels name (read:rounds)",
        ),
    ]
    for caller, hint in cases:
        for ask in (service.ask(caller, **BY_GAME), service.records(caller)):
            with pytest.raises(Exception) as refused:
                await ask
            error = refused.value
            assert type(error).__name__ == "Forbidden" and getattr(error, "status", None) == 403
            assert "may not read module 'rounds'" in str(error)
            assert getattr(error, "hint", None) == hint
    link = Caller(subject="link:d1", kind="public_link", roles=("analyst",), scopes=("read:rounds",), dashboard="d1")
    rows, _ = await service.ask(link, **BY_GAME)
    assert by_game(rows) == totals_by_game(ROUNDS, "stake", lambda e: True)


# --- joins ---------------------------------------------------------------------------------------------------


async def test_the_joined_side_is_filtered_by_the_joined_modules_rules(service: Service) -> None:
    request = {**BY_GAME, "join": {"name": "payouts", "kind": "full", "metrics": ["payouts", "paid"]}}
    rows, _ = await service.ask(ACME, **request)
    acme = lambda e: e["brand"] == "acme"  # noqa: E731
    assert by_game(rows) == totals_by_game(ROUNDS, "stake", acme)
    joined = {row["game"]: (row["joined.payouts"], pytest.approx(row["joined.paid"])) for row in rows}
    assert joined == totals_by_game(PAYOUTS, "amount", acme)
    assert joined != totals_by_game(PAYOUTS, "amount", lambda e: True)  # the filter hides rows here

    rows, _ = await service.ask(ANALYST, **request)
    assert {row["game"]: (row["joined.payouts"], pytest.approx(row["joined.paid"])) for row in rows} == (
        totals_by_game(PAYOUTS, "amount", lambda e: True)
    )


async def test_a_join_needs_the_joined_module_readable(service: Service) -> None:
    lead = user("studio-lead", studio=("2",))
    request = {**BY_GAME, "join": {"name": "payouts", "metrics": ["payouts"]}}
    with pytest.raises(Exception) as refused:
        await service.ask(lead, **request)
    assert getattr(refused.value, "status", None) == 403
    assert "may not read module 'payouts' (joined by rounds)" in str(refused.value)
    rows, _ = await service.ask(lead, **BY_GAME)  # alone, the main module answers
    assert by_game(rows) == totals_by_game(ROUNDS, "stake", lambda e: e["studio"] == 2)


# --- record pages ------------------------------------------------------------------------------------------------


async def test_record_pages_are_filtered(service: Service) -> None:
    page = await service.records(ACME)
    expected = sorted(e["round_id"] for e in ROUNDS if e["brand"] == "acme")
    assert expected and sorted(r["round_id"] for r in page["records"]) == expected
    assert {r["brand"] for r in page["records"]} == {"acme"}

    # Paging carries the filter: small pages, followed to the end, hold the same records.
    seen: list[str] = []
    after = None
    while True:
        page = await service.records(ACME, first=37, **({"after": after} if after else {}))
        seen += [r["round_id"] for r in page["records"]]
        if not page["has_next_page"]:
            break
        after = page["end_cursor"]
    assert sorted(seen) == expected

    everything = await service.records(ANALYST)
    assert len(everything["records"]) == len(ROUNDS)


# --- the caches ------------------------------------------------------------------------------------------------


async def test_an_answer_cached_for_a_wider_caller_never_reaches_a_narrower_one(service: Service) -> None:
    hourly = {"granularity": "hour", "group_by": ["game"], "metrics": ["rounds"]}  # read through the bucket cache
    everyone = hourly_by_game(ROUNDS, lambda e: True)
    acme = hourly_by_game(ROUNDS, lambda e: e["brand"] == "acme")

    def counts(rows: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
        return {(row["bucket"], row["game"]): row["rounds"] for row in rows}

    rows, cached = await service.ask(ADMIN, **hourly)  # fills the answer cache and the bucket cache
    assert counts(rows) == everyone and not cached
    rows, cached = await service.ask(ADMIN, **hourly)
    assert counts(rows) == everyone and cached  # the cache is in use

    rows, cached = await service.ask(ACME, **hourly)
    assert counts(rows) == acme and not cached  # never the admin's answer, nor its buckets
    rows, cached = await service.ask(ACME_TOO, **hourly)
    assert counts(rows) == acme and cached  # the same grant shares the answer, whoever holds it

    # A caller of another brand after them, and the analyst (who may see everything) shares the admin's.
    rows, _ = await service.ask(user("operator", brand=("zenith",)), **hourly)
    assert counts(rows) == hourly_by_game(ROUNDS, lambda e: e["brand"] == "zenith")
    rows, cached = await service.ask(ANALYST, **hourly)
    assert counts(rows) == everyone and cached

    # A fresh request skips the answer cache: buckets come from the bucket cache, still keyed by the grant.
    rows, cached = await service.ask(ACME, **hourly, fresh=True)
    assert counts(rows) == acme and not cached


# --- the plan, pure ----------------------------------------------------------------------------------------------


def _request(caller: Caller | None, **fields: Any) -> QueryRequest:
    return QueryRequest.model_validate({"module": "rounds", "window": WINDOW, **BY_GAME, **fields, "caller": caller})


def test_cache_keys_hold_what_a_caller_may_see_not_who_it_is() -> None:
    catalog = load_catalog(CONFIGS)
    key = {c.subject: answer_scope(catalog, _request(c), ORIGIN).key for c in (ADMIN, ANALYST, ACME, ACME_TOO)}
    assert key[ACME.subject] == key[ACME_TOO.subject]
    assert key[ADMIN.subject] == key[ANALYST.subject]
    assert key[ACME.subject] != key[ADMIN.subject]
    assert ACME.subject not in key[ACME.subject] and '"acme"' in key[ACME.subject]


def test_the_plan_reads_with_the_row_filters_and_the_joined_side_with_its_own() -> None:
    catalog = load_catalog(CONFIGS)
    lead = user("operator", "studio-lead", brand=("acme",), studio=("3",))
    join = {"name": "payouts", "metrics": ["paid"]}
    plan = plan_query(catalog, _request(lead, join=join), ORIGIN, "db")
    brand = Condition(dimension="brand", op="in", value=["acme"])
    assert plan.main.request.filters == [brand, Condition(dimension="studio", op="in", value=[3])]
    assert plan.main.request.caller is None
    assert plan.main.source.rollup is None  # no rollup keeps brand, studio and game together: the raw events
    assert plan.join is not None and plan.join.part.request.filters == [brand]  # payouts has no studio rule
    assert '"studio"' in plan.main.shape("db", None)  # the bucket cache's shape holds the filters too
