"""Dashboards as data (issue 11) against a real NATS server: the strix-dashboards service over its KV bucket, the
door's link verifier, and the GraphQL API of the gateway over both.

Every check that a writer lost, a caller was refused or a link stopped is made on the answers a client gets (the
error class, its argument, the current dashboard it carries), and the stored state is read back through the
service, never from the test's own bookkeeping.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import graphql
import httpx
import nats
import pytest
import strawberry
from nats.aio.client import Client as NATS

from strix_config import Catalog, load_catalog
from strix_config.access import Access
from strix_contracts import dashboards as contract
from strix_contracts.caller import Caller
from strix_contracts.errors import Conflict, Forbidden, NotFound, QueryError, StrixError, Unauthorized, error_from_json
from strix_contracts.query import QueryRequest
from strix_dashboards.app import run_dashboards
from strix_gateway.dashboards_client import DashboardsClient
from strix_gateway.schema import build_schema
from strix_runtime.callers import CallerVerifier
from strix_runtime.natsauth import inbox_prefix, user_name
from strix_runtime.natsserver import NatsServer
from strix_testkit.plugin import SecuredNats
from tests.conftest import PlatformFactory
from tests.support import api_key, bearer, post_events, wait_for_count
from tests.support import graphql as post_graphql

CONFIGS = Path(__file__).resolve().parent.parent / "configs"

ALICE = Caller(subject="alice", kind="user", roles=("analyst",), scopes=("read",), attributes={"brand": ("acme",)})
BOB = Caller(subject="bob", kind="user", roles=("operator",), scopes=("read",))
CAROL = Caller(subject="carol", kind="user", roles=("viewer",), scopes=("read",))
ADMIN = Caller(subject="root", kind="user", roles=(), scopes=("admin",))


class Clock:
    """A clock that moves one second per reading: updated_at orders the lists deterministically."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(CONFIGS)


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as s:
        yield s


async def connect(stack: AsyncExitStack, server: NatsServer) -> NATS:
    nc = await nats.connect(server.url)
    stack.push_async_callback(nc.close)
    return nc


async def start(stack: AsyncExitStack, server: NatsServer, catalog: Catalog) -> NATS:
    """One replica of the service on its own connection; returns a client connection."""
    service_nc = await connect(stack, server)
    await stack.enter_async_context(run_dashboards(service_nc, catalog, Clock()))
    return await connect(stack, server)


async def call(nc: NATS, subject: str, caller: Caller | None, **body: Any) -> dict[str, Any]:
    payload = json.loads(json.dumps(body, default=str))
    if caller is not None:
        payload["caller"] = caller.model_dump(mode="json")
    reply = await nc.request(subject, json.dumps(payload).encode(), timeout=10)
    if reply.headers and reply.headers.get("Nats-Service-Error-Code"):
        raise error_from_json(reply.data)
    answer: dict[str, Any] = json.loads(reply.data)
    return answer


def panel(
    panel_id: str,
    module: str = "gaming",
    metrics: list[str] | None = None,
    *,
    x: int = 0,
    y: int = 0,
    w: int = 6,
    h: int = 4,
    visualization: str = "line",
    **query: Any,
) -> dict[str, Any]:
    return {
        "id": panel_id,
        "title": panel_id.title(),
        "visualization": visualization,
        "query": {"module": module, "metrics": metrics if metrics is not None else ["rounds"], **query},
        "options": {"stacked": True},
        "layout": {"x": x, "y": y, "w": w, "h": h},
    }


def content(title: str = "Ops", panels: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"title": title, "description": "", "panels": panels if panels is not None else [panel("rounds")]}


async def create(nc: NATS, caller: Caller, body: dict[str, Any] | None = None) -> dict[str, Any]:
    return await call(nc, contract.DASHBOARDS_CREATE, caller, content=body or content())


async def listed(nc: NATS, caller: Caller, scope: str) -> list[str]:
    answer = await call(nc, contract.DASHBOARDS_LIST, caller, scope=scope)
    return [d["id"] for d in answer["dashboards"]]


# --- content, revisions, conflicts ------------------------------------------------------------------------------


async def test_a_dashboard_is_stored_as_data_and_read_back(
    nats_server: NatsServer, stack: AsyncExitStack, catalog: Catalog
) -> None:
    nc = await start(stack, nats_server, catalog)
    panels = [
        panel("rounds", group_by=["game"], filters=[{"dimension": "currency", "op": "eq", "value": "EUR"}]),
        panel("spend", "clickstream", ["revenue"], x=6, join={"name": "campaigns", "metrics": ["spend"]}),
        panel("events", "gaming", [], y=4, w=12, visualization="records"),
    ]
    made = await create(nc, ALICE, content("Ops", panels))
    assert made["owner"] == "alice" and made["revision"] >= 1
    got = await call(nc, contract.DASHBOARDS_GET, ALICE, id=made["id"])
    assert got == made
    assert [p["id"] for p in got["panels"]] == ["rounds", "spend", "events"]
    assert got["panels"][0]["query"]["filters"] == [{"dimension": "currency", "op": "eq", "value": "EUR"}]
    assert got["panels"][1]["query"]["join"] == {
        "name": "campaigns",
        "kind": "inner",
        "metrics": ["spend"],
        "derived": [],
    }
    assert got["panels"][0]["options"] == {"stacked": True}
    assert all(p["problems"] == [] for p in got["panels"])


async def test_two_clients_editing_one_revision_one_wins_the_other_gets_the_current_dashboard(
    nats_server: NatsServer, stack: AsyncExitStack, catalog: Catalog
) -> None:
    # Two replicas of the service sharing the load (queue group) and two clients, as in a deployment.
    first = await start(stack, nats_server, catalog)
    second = await start(stack, nats_server, catalog)
    made = await create(first, ALICE)
    await call(
        first,
        contract.DASHBOARDS_SHARE,
        ALICE,
        id=made["id"],
        share={"kind": "user", "name": "bob", "permission": "edit"},
    )
    current = await call(first, contract.DASHBOARDS_GET, ALICE, id=made["id"])
    start_revision = current["revision"]

    async def edit(nc: NATS, caller: Caller, title: str) -> dict[str, Any] | StrixError:
        try:
            return await call(
                nc, contract.DASHBOARDS_EDIT, caller, id=made["id"], revision=start_revision, content=content(title)
            )
        except StrixError as exc:
            return exc

    for attempt in range(5):  # at once, several times: never both win, never both lose
        results = await asyncio.gather(edit(first, ALICE, f"alice {attempt}"), edit(second, BOB, f"bob {attempt}"))
        won = [r for r in results if isinstance(r, dict)]
        lost = [r for r in results if isinstance(r, StrixError)]
        assert len(won) == 1 and len(lost) == 1, results
        refused = lost[0]
        assert isinstance(refused, Conflict) and refused.argument == "revision"
        assert refused.detail is not None
        assert refused.detail["current"]["revision"] == won[0]["revision"] > start_revision
        assert refused.detail["current"]["title"] == won[0]["title"]
        stored = await call(second, contract.DASHBOARDS_GET, BOB, id=made["id"])
        assert (stored["revision"], stored["title"]) == (won[0]["revision"], won[0]["title"])
        start_revision = stored["revision"]

    # An edit from an older revision, not racing anyone, is refused too, and nothing is merged.
    with pytest.raises(Conflict) as stale:
        await call(
            first, contract.DASHBOARDS_EDIT, ALICE, id=made["id"], revision=current["revision"], content=content("late")
        )
    assert stale.value.detail is not None and stale.value.detail["current"]["revision"] == start_revision
    assert (await call(first, contract.DASHBOARDS_GET, ALICE, id=made["id"]))["title"] != "late"


async def test_past_revisions_are_listed_and_restored_as_a_new_revision(
    nats_server: NatsServer, stack: AsyncExitStack, catalog: Catalog
) -> None:
    nc = await start(stack, nats_server, catalog)
    made = await create(nc, ALICE, content("v1", [panel("rounds")]))
    second = await call(
        nc,
        contract.DASHBOARDS_EDIT,
        ALICE,
        id=made["id"],
        revision=made["revision"],
        content=content("v2", [panel("rounds"), panel("bets", metrics=["bets"], x=6)]),
    )
    third = await call(
        nc, contract.DASHBOARDS_EDIT, ALICE, id=made["id"], revision=second["revision"], content=content("v3", [])
    )
    revisions = (await call(nc, contract.DASHBOARDS_REVISIONS, ALICE, id=made["id"]))["revisions"]
    assert [(r["revision"], r["title"], r["panels"]) for r in revisions] == [
        (third["revision"], "v3", 0),
        (second["revision"], "v2", 2),
        (made["revision"], "v1", 1),
    ]
    old = await call(nc, contract.DASHBOARDS_GET, ALICE, id=made["id"], revision=second["revision"])
    assert (old["title"], old["revision"], len(old["panels"])) == ("v2", second["revision"], 2)

    # A restore names the revision it starts from, like an edit.
    with pytest.raises(Conflict):
        await call(
            nc,
            contract.DASHBOARDS_RESTORE,
            ALICE,
            id=made["id"],
            revision=second["revision"],
            from_revision=second["revision"],
        )
    restored = await call(
        nc,
        contract.DASHBOARDS_RESTORE,
        ALICE,
        id=made["id"],
        revision=second["revision"],
        from_revision=third["revision"],
    )
    assert restored["revision"] > third["revision"]
    assert (restored["title"], restored["panels"]) == (second["title"], second["panels"])
    now = await call(nc, contract.DASHBOARDS_GET, ALICE, id=made["id"])
    assert (now["revision"], now["title"]) == (restored["revision"], "v2")
    history = (await call(nc, contract.DASHBOARDS_REVISIONS, ALICE, id=made["id"]))["revisions"]
    assert [r["title"] for r in history] == ["v2", "v3", "v2", "v1"]

    with pytest.raises(NotFound, match="no revision"):  # another dashboard's revision is not one of this one's
        other = await create(nc, ALICE)
        await call(nc, contract.DASHBOARDS_GET, ALICE, id=made["id"], revision=other["revision"])


# --- validation against the module configs ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("panels", "argument", "message"),
    [
        (
            [panel("p1", metrics=["rounds", "revnue"])],
            "content.panels[0].query.metrics[1]",
            "panel 'p1': query.metrics[1]: unknown metric 'revnue' in module 'gaming'",
        ),
        (
            [panel("a"), panel("p2", "nope", x=6)],
            "content.panels[1].query.module",
            "panel 'p2': query.module: unknown module 'nope'",
        ),
        (
            [panel("p3", group_by=["colour"])],
            "content.panels[0].query.group_by[0]",
            "panel 'p3': query.group_by[0]: unknown dimension 'colour' in module 'gaming'",
        ),
        (
            [
                panel(
                    "p4",
                    filters=[
                        {
                            "any": [
                                {"dimension": "game", "op": "eq", "value": "x"},
                                {"dimension": "shoe", "op": "eq", "value": 1},
                            ]
                        }
                    ],
                )
            ],
            "content.panels[0].query.filters[0].any[1].dimension",
            "unknown dimension 'shoe' in module 'gaming'",
        ),
        (
            [panel("p5", "clickstream", ["revenue"], join={"name": "campaigns", "metrics": ["rounds"]})],
            "content.panels[0].query.join.metrics[0]",
            "unknown metric 'rounds' in module 'campaigns'",
        ),
        ([panel("p6", top={"n": 5, "by": "rtpp"})], "content.panels[0].query.top.by", "unknown metric 'rtpp'"),
        (
            [panel("p7", metrics=[], visualization="kpi")],
            "content.panels[0].query.metrics",
            "a kpi panel needs at least one metric",
        ),
        ([panel("a"), panel("p8", x=3, y=2)], "content.panels[1].layout", "panel 'p8': layout: overlaps panel 'a'"),
        ([panel("a"), panel("a", x=6)], "content.panels[1].id", "panel id 'a' is also panels[0]"),
        ([panel("p9", x=8, w=6)], "content.panels.0.layout", "x + w is 14, past the 12 columns of the grid"),
        ([panel("p10", w=0)], "content.panels.0.layout.w", "greater than or equal to 1"),
    ],
)
async def test_invalid_panels_are_refused_naming_the_panel_and_the_field(
    nats_server: NatsServer,
    stack: AsyncExitStack,
    catalog: Catalog,
    panels: list[dict[str, Any]],
    argument: str,
    message: str,
) -> None:
    nc = await start(stack, nats_server, catalog)
    with pytest.raises(QueryError) as refused:
        await create(nc, ALICE, content("Bad", panels))
    assert refused.value.argument == argument
    assert message in refused.value.message
    assert await listed(nc, ALICE, "mine") == []  # nothing stored


async def test_every_problem_is_listed_with_the_names_one_could_use(
    nats_server: NatsServer, stack: AsyncExitStack, catalog: Catalog
) -> None:
    nc = await start(stack, nats_server, catalog)
    with pytest.raises(QueryError) as refused:
        await create(nc, ALICE, content("Bad", [panel("a", metrics=["x"]), panel("b", group_by=["y"], x=6)]))
    assert "and 1 more: panel 'b': query.group_by[0]: unknown dimension 'y'" in refused.value.message
    assert refused.value.hint is not None and "rounds" in refused.value.hint and "win_rate" in refused.value.hint


async def test_a_metric_removed_from_the_config_marks_its_panel_and_the_dashboard_still_loads(
    nats_server: NatsServer, catalog: Catalog
) -> None:
    body = content("Ops", [panel("rtp", metrics=["rounds", "rtp"]), panel("bets", metrics=["bets"], x=6)])
    async with AsyncExitStack() as stack:
        nc = await start(stack, nats_server, catalog)
        made = await create(nc, ALICE, body)
    gaming = catalog.modules["gaming"]
    changed = gaming.model_copy(update={"metrics": {k: v for k, v in gaming.metrics.items() if k != "rtp"}})
    smaller = Catalog(modules={**catalog.modules, "gaming": changed})
    async with AsyncExitStack() as stack:  # the service restarted with the new configs
        nc = await start(stack, nats_server, smaller)
        got = await call(nc, contract.DASHBOARDS_GET, ALICE, id=made["id"])
        assert [p["problems"] for p in got["panels"]] == [["metric rtp is no longer in module gaming"], []]
        assert got["panels"][0]["query"]["metrics"] == ["rounds", "rtp"]  # kept as written, for its editor
        mine = (await call(nc, contract.DASHBOARDS_LIST, ALICE, scope="mine"))["dashboards"]
        assert mine[0]["panels"][0]["problems"] == ["metric rtp is no longer in module gaming"]
        # Saving it as it is refuses the gone metric, naming the panel.
        with pytest.raises(QueryError, match=r"panel .rtp.: query.metrics.1.: unknown metric .rtp."):
            await call(nc, contract.DASHBOARDS_EDIT, ALICE, id=made["id"], revision=got["revision"], content=body)
    async with AsyncExitStack() as stack:  # and a module gone altogether
        nc = await start(stack, nats_server, Catalog(modules={"campaigns": catalog.modules["campaigns"]}))
        got = await call(nc, contract.DASHBOARDS_GET, ALICE, id=made["id"])
        assert [p["problems"] for p in got["panels"]] == [["module gaming is no longer served"]] * 2


# --- sharing, roles, ownership ------------------------------------------------------------------------------


async def test_sharing_with_users_roles_and_everyone(
    nats_server: NatsServer, stack: AsyncExitStack, catalog: Catalog
) -> None:
    nc = await start(stack, nats_server, catalog)
    made = await create(nc, ALICE)
    ident = made["id"]
    for caller in (BOB, CAROL):  # not shared: as if it did not exist
        with pytest.raises(NotFound):
            await call(nc, contract.DASHBOARDS_GET, caller, id=ident)
    assert await listed(nc, BOB, "shared") == [] and await listed(nc, ALICE, "mine") == [ident]

    await call(nc, contract.DASHBOARDS_SHARE, ALICE, id=ident, share={"kind": "role", "name": "operator"})
    seen = await call(nc, contract.DASHBOARDS_GET, BOB, id=ident)
    with pytest.raises(Forbidden, match=r"may view dashboard .* but not edit"):
        await call(nc, contract.DASHBOARDS_EDIT, BOB, id=ident, revision=seen["revision"], content=content("bob's"))
    with pytest.raises(Forbidden, match="only the owner"):  # view does not manage
        await call(nc, contract.DASHBOARDS_SHARE, BOB, id=ident, share={"kind": "user", "name": "carol"})
    assert await listed(nc, BOB, "shared") == [ident]
    assert await listed(nc, BOB, "mine") == [] and await listed(nc, BOB, "public") == []

    # The same share again replaces it: one entry, now edit.
    await call(
        nc, contract.DASHBOARDS_SHARE, ALICE, id=ident, share={"kind": "role", "name": "operator", "permission": "edit"}
    )
    seen = await call(nc, contract.DASHBOARDS_GET, BOB, id=ident)
    assert seen["shares"] == [{"kind": "role", "name": "operator", "permission": "edit"}]
    edited = await call(
        nc, contract.DASHBOARDS_EDIT, BOB, id=ident, revision=seen["revision"], content=content("by bob")
    )
    assert (edited["title"], edited["updated_by"], edited["owner"]) == ("by bob", "bob", "alice")

    await call(nc, contract.DASHBOARDS_SHARE, ALICE, id=ident, share={"kind": "everyone"})
    assert await listed(nc, CAROL, "public") == [ident] and await listed(nc, CAROL, "shared") == []
    assert await listed(nc, BOB, "public") == []  # bob has it under shared
    await call(nc, contract.DASHBOARDS_GET, CAROL, id=ident)

    await call(nc, contract.DASHBOARDS_UNSHARE, ALICE, id=ident, kind="role", name="operator")
    await call(nc, contract.DASHBOARDS_UNSHARE, ALICE, id=ident, kind="everyone")
    for caller in (BOB, CAROL):
        with pytest.raises(NotFound):
            await call(nc, contract.DASHBOARDS_GET, caller, id=ident)

    with pytest.raises(QueryError, match="names its user or role"):
        await call(nc, contract.DASHBOARDS_SHARE, ALICE, id=ident, share={"kind": "role", "name": ""})


async def test_panels_on_modules_the_editor_may_not_read_are_refused(
    nats_server: NatsServer, stack: AsyncExitStack, catalog: Catalog
) -> None:
    gaming = catalog.modules["gaming"].model_copy(update={"access": Access(read=["analyst"])})
    guarded = Catalog(modules={**catalog.modules, "gaming": gaming})
    nc = await start(stack, nats_server, guarded)
    with pytest.raises(Forbidden, match="panel 'rounds': bob may not read module 'gaming'"):
        await create(nc, BOB)
    campaigns_only = Caller(subject="dora", kind="user", scopes=("read:campaigns",))
    with pytest.raises(Forbidden, match="may not read module 'campaigns'"):  # the joined module counts
        await create(
            nc,
            Caller(subject="eve", kind="user", scopes=("read:clickstream",)),
            content("J", [panel("j", "clickstream", ["revenue"], join={"name": "campaigns", "metrics": ["spend"]})]),
        )
    made = await create(nc, campaigns_only, content("C", [panel("c", "campaigns", ["clicks"])]))
    # An editor may change what it can read and keep panels it cannot: only new or changed panels are checked.
    mixed = await create(nc, ALICE, content("Mixed", [panel("rounds"), panel("c", "campaigns", ["clicks"], x=6)]))
    await call(
        nc,
        contract.DASHBOARDS_SHARE,
        ALICE,
        id=mixed["id"],
        share={"kind": "user", "name": "dora", "permission": "edit"},
    )
    current = await call(nc, contract.DASHBOARDS_GET, campaigns_only, id=mixed["id"])
    body = content("Mixed", [panel("rounds"), panel("c", "campaigns", ["impressions"], x=6)])
    edited = await call(
        nc, contract.DASHBOARDS_EDIT, campaigns_only, id=mixed["id"], revision=current["revision"], content=body
    )
    assert edited["panels"][1]["query"]["metrics"] == ["impressions"]
    assert made["owner"] == "dora"


async def test_ownership_transfer_and_deleting_someone_elses_dashboard(
    nats_server: NatsServer, stack: AsyncExitStack, catalog: Catalog
) -> None:
    nc = await start(stack, nats_server, catalog)
    made = await create(nc, ALICE)
    ident = made["id"]
    await call(
        nc, contract.DASHBOARDS_SHARE, ALICE, id=ident, share={"kind": "user", "name": "bob", "permission": "edit"}
    )
    with pytest.raises(Forbidden, match=r"only the owner of dashboard .* or an admin may delete"):
        await call(nc, contract.DASHBOARDS_DELETE, BOB, id=ident)  # an editor does not delete
    with pytest.raises(NotFound):
        await call(nc, contract.DASHBOARDS_DELETE, CAROL, id=ident)  # a stranger does not even see it
    with pytest.raises(Forbidden):
        await call(nc, contract.DASHBOARDS_TRANSFER, BOB, id=ident, owner="bob")

    moved = await call(nc, contract.DASHBOARDS_TRANSFER, ALICE, id=ident, owner="carol")
    assert moved["owner"] == "carol"
    assert await listed(nc, CAROL, "mine") == [ident] and await listed(nc, ALICE, "mine") == []
    with pytest.raises(NotFound):  # alice kept no share of it
        await call(nc, contract.DASHBOARDS_GET, ALICE, id=ident)
    with pytest.raises(Forbidden):
        await call(nc, contract.DASHBOARDS_DELETE, BOB, id=ident)

    # Admin operations over every dashboard.
    other = await create(nc, BOB, content("Bob's"))
    assert set(await listed(nc, ADMIN, "all")) == {ident, other["id"]}
    with pytest.raises(Forbidden, match="admin scope"):
        await listed(nc, ALICE, "all")
    current = await call(nc, contract.DASHBOARDS_GET, ADMIN, id=other["id"])
    await call(
        nc, contract.DASHBOARDS_EDIT, ADMIN, id=other["id"], revision=current["revision"], content=content("fixed")
    )
    await call(nc, contract.DASHBOARDS_TRANSFER, ADMIN, id=other["id"], owner="alice")
    assert await listed(nc, ALICE, "mine") == [other["id"]]
    assert (await call(nc, contract.DASHBOARDS_DELETE, ADMIN, id=ident)) == {"id": ident}
    with pytest.raises(NotFound):
        await call(nc, contract.DASHBOARDS_GET, CAROL, id=ident)
    with pytest.raises(NotFound):
        await call(nc, contract.DASHBOARDS_REVISIONS, ADMIN, id=ident)  # every revision went with it
    assert await listed(nc, ADMIN, "all") == [other["id"]]


async def test_owners_and_writers_are_named_as_people_know_them(
    nats_server: NatsServer, stack: AsyncExitStack, catalog: Catalog
) -> None:
    nc = await start(stack, nats_server, catalog)
    alice = ALICE.model_copy(update={"attributes": {**ALICE.attributes, "name": ("Alice Martin",)}})
    carol = CAROL.model_copy(update={"attributes": {**CAROL.attributes, "email": ("carol@example.com",)}})
    made = await create(nc, alice)
    assert (made["owner"], made["owner_name"], made["updated_by_name"]) == ("alice", "Alice Martin", "Alice Martin")
    ident = made["id"]
    # Given to carol: her name is not known until she writes it, so her subject shows meanwhile.
    moved = await call(nc, contract.DASHBOARDS_TRANSFER, alice, id=ident, owner="carol")
    assert (moved["owner_name"], moved["updated_by_name"]) == ("carol", "Alice Martin")
    edited = await call(
        nc, contract.DASHBOARDS_EDIT, carol, id=ident, revision=moved["revision"], content=content("Carol's")
    )
    assert (edited["owner_name"], edited["updated_by_name"]) == ("carol@example.com", "carol@example.com")
    listed_by_carol = await call(nc, contract.DASHBOARDS_LIST, carol, scope="mine")
    assert [d["owner_name"] for d in listed_by_carol["dashboards"]] == ["carol@example.com"]
    history = await call(nc, contract.DASHBOARDS_REVISIONS, carol, id=ident)
    assert [r["updated_by_name"] for r in history["revisions"]] == ["carol@example.com", "Alice Martin", "Alice Martin"]


async def test_duplicate_makes_a_dashboard_of_ones_own(
    nats_server: NatsServer, stack: AsyncExitStack, catalog: Catalog
) -> None:
    nc = await start(stack, nats_server, catalog)
    made = await create(nc, ALICE, content("Ops", [panel("rounds"), panel("bets", metrics=["bets"], x=6)]))
    await call(nc, contract.DASHBOARDS_SHARE, ALICE, id=made["id"], share={"kind": "user", "name": "bob"})
    await call(nc, contract.DASHBOARDS_LINK_CREATE, ALICE, id=made["id"])
    copy = await call(nc, contract.DASHBOARDS_DUPLICATE, BOB, id=made["id"])
    assert copy["id"] != made["id"]
    assert (copy["owner"], copy["title"], copy["shares"], copy["link"]) == ("bob", "Ops (copy)", [], None)
    assert copy["panels"] == made["panels"]
    named = await call(nc, contract.DASHBOARDS_DUPLICATE, BOB, id=made["id"], title="Mine")
    assert named["title"] == "Mine"
    assert sorted(await listed(nc, BOB, "mine")) == sorted([copy["id"], named["id"]])
    with pytest.raises(NotFound):
        await call(nc, contract.DASHBOARDS_DUPLICATE, CAROL, id=made["id"])


async def test_a_request_without_a_caller_is_refused(
    nats_server: NatsServer, stack: AsyncExitStack, catalog: Catalog
) -> None:
    nc = await start(stack, nats_server, catalog)
    with pytest.raises(QueryError) as refused:
        await call(nc, contract.DASHBOARDS_CREATE, None, content=content())
    assert refused.value.argument == "caller"


# --- public links ----------------------------------------------------------------------------------------


async def test_a_public_link_resolves_to_what_its_owner_saw_and_revoking_it_stops_it(
    nats_server: NatsServer, stack: AsyncExitStack, catalog: Catalog
) -> None:
    nc = await start(stack, nats_server, catalog)
    owner = Caller(
        subject="olga",
        kind="user",
        roles=("operator",),
        scopes=("read:gaming", "read:clickstream"),
        attributes={"operator": ("op-1",)},
    )
    panels = [
        panel("rounds"),
        panel("spend", "clickstream", ["revenue"], x=6, join={"name": "campaigns", "metrics": ["spend"]}),
    ]
    made = await create(nc, ADMIN, content("Public", panels))  # the admin made it ...
    await call(nc, contract.DASHBOARDS_TRANSFER, ADMIN, id=made["id"], owner="olga")  # ... olga owns it
    with pytest.raises(Forbidden, match="only the owner"):  # an admin does not make a link reading as someone else
        await call(nc, contract.DASHBOARDS_LINK_CREATE, ADMIN, id=made["id"])
    link = await call(nc, contract.DASHBOARDS_LINK_CREATE, owner, id=made["id"])
    token = link["token"]
    assert token.startswith("strix_link_") and len(token) >= 11 + 43
    assert link["dashboard"]["link"]["created_by"] == "olga"

    resolved = Caller.model_validate(await call(nc, contract.DASHBOARDS_LINK_RESOLVE, None, token=token))
    # campaigns is joined by a panel, but olga's scopes never let her read it: the link does not either.
    assert resolved == Caller(
        subject=f"link:{made['id']}",
        kind="public_link",
        roles=("operator",),
        scopes=("read:clickstream", "read:gaming"),
        attributes={"operator": ("op-1",)},
        dashboard=made["id"],
    )
    # The door's verifier (strix_runtime.callers) resolves it the same way.
    verifier = CallerVerifier(nc)
    assert await verifier.caller({"X-Strix-Link": token}) == resolved

    # Through the link: this dashboard, read-only, without whom it is shared with.
    await call(nc, contract.DASHBOARDS_SHARE, owner, id=made["id"], share={"kind": "user", "name": "bob"})
    seen = await call(nc, contract.DASHBOARDS_GET, resolved, id=made["id"])
    assert (seen["title"], seen["shares"], seen["link"]) == ("Public", [], None)
    other = await create(nc, owner)
    with pytest.raises(NotFound):
        await call(nc, contract.DASHBOARDS_GET, resolved, id=other["id"])
    with pytest.raises(Forbidden):
        await call(nc, contract.DASHBOARDS_EDIT, resolved, id=made["id"], revision=seen["revision"], content=content())
    with pytest.raises(Forbidden, match="public link may not"):
        await listed(nc, resolved, "mine")

    for guess in (token[:-1] + ("A" if token[-1] != "A" else "B"), "strix_link_", "x" * 600):
        with pytest.raises(Unauthorized):
            await verifier.caller({"X-Strix-Link": guess})

    # A new link replaces the old one; revoking stops the new one; the dashboard is as it was.
    again = (await call(nc, contract.DASHBOARDS_LINK_CREATE, owner, id=made["id"]))["token"]
    with pytest.raises(Unauthorized, match="unknown or revoked"):
        await call(nc, contract.DASHBOARDS_LINK_RESOLVE, None, token=token)
    assert (await verifier.caller({"X-Strix-Link": again})) == resolved
    revoked = await call(nc, contract.DASHBOARDS_LINK_REVOKE, owner, id=made["id"])
    assert revoked["link"] is None
    with pytest.raises(Unauthorized, match="unknown or revoked"):
        await verifier.caller({"X-Strix-Link": again})
    with pytest.raises(NotFound):  # a caller resolved before the revocation no longer opens it
        await call(nc, contract.DASHBOARDS_GET, resolved, id=made["id"])

    # Transferring a dashboard revokes its link (it read with the previous owner's identity); so does deleting.
    third = (await call(nc, contract.DASHBOARDS_LINK_CREATE, owner, id=made["id"]))["token"]
    await call(nc, contract.DASHBOARDS_TRANSFER, owner, id=made["id"], owner="bob")
    with pytest.raises(Unauthorized):
        await verifier.caller({"X-Strix-Link": third})
    fourth = (await call(nc, contract.DASHBOARDS_LINK_CREATE, BOB, id=made["id"]))["token"]
    assert (await verifier.caller({"X-Strix-Link": fourth})).scopes == (
        "read:campaigns",
        "read:clickstream",
        "read:gaming",
    )
    await call(nc, contract.DASHBOARDS_DELETE, BOB, id=made["id"])
    with pytest.raises(Unauthorized):
        await verifier.caller({"X-Strix-Link": fourth})


async def test_a_link_reads_only_the_modules_its_panels_use_now(
    nats_server: NatsServer, stack: AsyncExitStack, catalog: Catalog
) -> None:
    nc = await start(stack, nats_server, catalog)
    made = await create(nc, ALICE, content("One", [panel("rounds")]))
    token = (await call(nc, contract.DASHBOARDS_LINK_CREATE, ALICE, id=made["id"]))["token"]
    resolve: Callable[[], Any] = lambda: call(nc, contract.DASHBOARDS_LINK_RESOLVE, None, token=token)  # noqa: E731
    assert (await resolve())["scopes"] == ["read:gaming"]
    current = await call(nc, contract.DASHBOARDS_GET, ALICE, id=made["id"])
    await call(
        nc,
        contract.DASHBOARDS_EDIT,
        ALICE,
        id=made["id"],
        revision=current["revision"],
        content=content("Two", [panel("c", "campaigns", ["clicks"])]),
    )
    assert (await resolve())["scopes"] == ["read:campaigns"]


# --- through GraphQL --------------------------------------------------------------------------------------------


async def no_query(request: QueryRequest) -> dict[str, Any]:
    raise AssertionError("dashboards ask no module query")


async def graphql_schema(stack: AsyncExitStack, server: NatsServer, catalog: Catalog) -> strawberry.Schema:
    nc = await start(stack, server, catalog)
    return build_schema(catalog, no_query, dashboards=DashboardsClient(nc))


async def gql(schema: strawberry.Schema, caller: Caller | None, query: str, **variables: Any) -> dict[str, Any]:
    result = await schema.execute(query, variable_values=variables, context_value={"caller": caller})
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data


async def gql_error(schema: strawberry.Schema, caller: Caller | None, query: str, **variables: Any) -> dict[str, Any]:
    result = await schema.execute(query, variable_values=variables, context_value={"caller": caller})
    assert result.errors, result.data
    error = result.errors[0]
    return {"message": error.message, **(error.extensions or {})}


FIELDS = "id owner title revision panels { id query options visualization layout { x y w h } problems } shares { kind name permission } link { createdBy }"
CREATE = f"mutation($input: DashboardInput!) {{ createDashboard(input: $input) {{ {FIELDS} }} }}"
EDIT = f"""mutation($id: ID!, $revision: Long!, $input: DashboardInput!) {{
  editDashboard(id: $id, revision: $revision, input: $input) {{
    __typename ... on Dashboard {{ {FIELDS} }} ... on DashboardConflict {{ message current {{ {FIELDS} }} }}
  }}
}}"""


def gql_input(title: str, panels: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "title": title,
        "panels": [
            {
                "id": p["id"],
                "title": p["title"],
                "query": p["query"],
                "visualization": p["visualization"].upper(),
                "options": p["options"],
                "layout": p["layout"],
            }
            for p in panels
        ],
    }


def test_every_dashboard_element_of_the_schema_is_described(catalog: Catalog) -> None:
    schema = build_schema(catalog, no_query, dashboards=DashboardsClient(nats.NATS()))
    graphql_schema_ = schema._schema
    assert graphql_schema_.mutation_type is not None
    missing = []
    for name, named in graphql_schema_.type_map.items():
        if name.startswith("__"):
            continue
        if not named.description:
            missing.append(name)
        if isinstance(named, graphql.GraphQLEnumType):
            missing += [f"{name}.{v}" for v, spec in named.values.items() if not spec.description]
        if isinstance(named, graphql.GraphQLObjectType | graphql.GraphQLInputObjectType):
            for field_name, spec in named.fields.items():
                if not spec.description:
                    missing.append(f"{name}.{field_name}")
                args = getattr(spec, "args", {})
                missing += [f"{name}.{field_name}({a}:)" for a, arg in args.items() if not arg.description]
    assert missing == []
    mutations = set(graphql_schema_.mutation_type.fields)
    assert mutations == {
        "createDashboard",
        "editDashboard",
        "restoreDashboardRevision",
        "deleteDashboard",
        "duplicateDashboard",
        "shareDashboard",
        "unshareDashboard",
        "transferDashboard",
        "createDashboardLink",
        "revokeDashboardLink",
    }


async def test_graphql_edits_from_one_revision_one_saved_one_answered_with_the_current_dashboard(
    nats_server: NatsServer, stack: AsyncExitStack, catalog: Catalog
) -> None:
    schema = await graphql_schema(stack, nats_server, catalog)
    made = (await gql(schema, ALICE, CREATE, input=gql_input("Ops", [panel("rounds", group_by=["game"])])))[
        "createDashboard"
    ]
    assert made["owner"] == "alice" and made["panels"][0]["query"]["group_by"] == ["game"]
    assert made["panels"][0]["visualization"] == "LINE" and made["panels"][0]["options"] == {"stacked": True}
    ident, revision = made["id"], made["revision"]

    first = (await gql(schema, ALICE, EDIT, id=ident, revision=revision, input=gql_input("first", [])))["editDashboard"]
    second = (await gql(schema, ALICE, EDIT, id=ident, revision=revision, input=gql_input("second", [])))[
        "editDashboard"
    ]
    assert (first["__typename"], first["title"]) == ("Dashboard", "first")
    assert second["__typename"] == "DashboardConflict"
    assert f"changed since revision {revision}" in second["message"]
    assert (second["current"]["title"], second["current"]["revision"]) == ("first", first["revision"])

    got = await gql(schema, ALICE, "query($id: ID!) { dashboard(id: $id) { title revision } }", id=ident)
    assert got["dashboard"] == {"title": "first", "revision": first["revision"]}
    revisions = await gql(
        schema, ALICE, "query($id: ID!) { dashboardRevisions(id: $id) { revision title panels } }", id=ident
    )
    assert revisions["dashboardRevisions"] == [
        {"revision": first["revision"], "title": "first", "panels": 0},
        {"revision": revision, "title": "Ops", "panels": 1},
    ]
    restore = """mutation($id: ID!, $r: Long!, $from: Long!) { restoreDashboardRevision(id: $id, revision: $r, fromRevision: $from) {
      __typename ... on Dashboard { title revision panels { id } } } }"""
    restored = (await gql(schema, ALICE, restore, id=ident, r=revision, **{"from": first["revision"]}))[
        "restoreDashboardRevision"
    ]
    assert (restored["__typename"], restored["title"], restored["panels"]) == ("Dashboard", "Ops", [{"id": "rounds"}])


async def test_graphql_refusals_name_what_is_wrong(
    nats_server: NatsServer, stack: AsyncExitStack, catalog: Catalog
) -> None:
    schema = await graphql_schema(stack, nats_server, catalog)
    bad = await gql_error(schema, ALICE, CREATE, input=gql_input("Bad", [panel("p1", metrics=["revnue"])]))
    assert bad["code"] == "INVALID_QUERY" and bad["argument"] == "content.panels[0].query.metrics[0]"
    assert "panel 'p1': query.metrics[0]: unknown metric 'revnue' in module 'gaming'" in bad["message"]
    layout = await gql_error(schema, ALICE, CREATE, input=gql_input("Bad", [panel("p1", x=10, w=4)]))
    assert layout["code"] == "INVALID_QUERY" and "past the 12 columns" in layout["message"]

    signed_out = await gql_error(schema, None, "{ dashboards { id } }")
    assert signed_out["code"] == "UNAUTHORIZED"

    made = (await gql(schema, ALICE, CREATE, input=gql_input("Ops", [panel("rounds")])))["createDashboard"]
    delete = "mutation($id: ID!) { deleteDashboard(id: $id) }"
    assert (await gql_error(schema, BOB, delete, id=made["id"]))["code"] == "NOT_FOUND"
    share = "mutation($id: ID!, $name: String!) { shareDashboard(id: $id, kind: USER, name: $name, permission: EDIT) { shares { kind name permission } } }"
    shared = await gql(schema, ALICE, share, id=made["id"], name="bob")
    assert shared["shareDashboard"]["shares"] == [{"kind": "USER", "name": "bob", "permission": "EDIT"}]
    refused = await gql_error(schema, BOB, delete, id=made["id"])
    assert refused["code"] == "FORBIDDEN" and "or an admin may delete" in refused["message"]
    listed_ = await gql(schema, BOB, "{ dashboards(scope: SHARED) { id } }")
    assert listed_["dashboards"] == [{"id": made["id"]}]
    assert (await gql_error(schema, BOB, "{ dashboards(scope: ALL) { id } }"))["code"] == "FORBIDDEN"
    assert (await gql(schema, ADMIN, delete, id=made["id"]))["deleteDashboard"] == made["id"]


async def test_graphql_public_link_transfer_and_duplicate(
    nats_server: NatsServer, stack: AsyncExitStack, catalog: Catalog
) -> None:
    schema = await graphql_schema(stack, nats_server, catalog)
    made = (await gql(schema, ALICE, CREATE, input=gql_input("Ops", [panel("rounds")])))["createDashboard"]
    link = "mutation($id: ID!) { createDashboardLink(id: $id) { token dashboard { link { createdBy } } } }"
    created = (await gql(schema, ALICE, link, id=made["id"]))["createDashboardLink"]
    assert created["dashboard"]["link"] == {"createdBy": "alice"}
    verifier = CallerVerifier(await connect(stack, nats_server))
    viewer = await verifier.caller({"X-Strix-Link": created["token"]})
    assert viewer is not None and viewer.scopes == ("read:gaming",) and viewer.attributes == {"brand": ("acme",)}
    seen = await gql(
        schema,
        viewer,
        "query($id: ID!) { dashboard(id: $id) { title shares { name } link { createdBy } } }",
        id=made["id"],
    )
    assert seen["dashboard"] == {"title": "Ops", "shares": [], "link": None}
    assert (await gql_error(schema, viewer, CREATE, input=gql_input("Mine", [])))["code"] == "FORBIDDEN"

    share = 'mutation($id: ID!) { shareDashboard(id: $id, kind: ROLE, name: "operator") { id } }'
    await gql(schema, ALICE, share, id=made["id"])
    duplicate = 'mutation($id: ID!) { duplicateDashboard(id: $id, title: "Bob\'s") { id owner title } }'
    copy = (await gql(schema, BOB, duplicate, id=made["id"]))["duplicateDashboard"]
    assert copy["id"] != made["id"] and (copy["owner"], copy["title"]) == ("bob", "Bob's")
    dup_error = await gql_error(
        schema, CAROL, "mutation($id: ID!) { duplicateDashboard(id: $id) { id } }", id=made["id"]
    )
    assert dup_error["code"] == "NOT_FOUND"

    moved = await gql(
        schema,
        ALICE,
        'mutation($id: ID!) { transferDashboard(id: $id, owner: "bob") { owner link { createdBy } } }',
        id=made["id"],
    )
    assert moved["transferDashboard"] == {"owner": "bob", "link": None}
    with pytest.raises(Unauthorized):
        await verifier.caller({"X-Strix-Link": created["token"]})
    revoke = "mutation($id: ID!) { revokeDashboardLink(id: $id) { link { createdBy } } }"
    assert (await gql_error(schema, ALICE, revoke, id=made["id"]))["code"] == "NOT_FOUND"


# --- under the NATS users of a deployment ---------------------------------------------------------------------


async def test_the_service_works_as_its_own_nats_user_and_only_the_gateway_calls_it(
    secured_nats_server: Callable[[list[str]], SecuredNats], stack: AsyncExitStack, catalog: Catalog
) -> None:
    """Every bucket operation the service makes (create, CAS update, history, watch, purge) is one its NATS user
    may make; the gateway's user calls it; a service that has no business with dashboards cannot."""
    secured = secured_nats_server(catalog.names())

    async def login(service: str) -> NATS:
        credentials = secured.credentials[user_name(service)]
        nc = await nats.connect(
            secured.url,
            user=credentials.user,
            password=credentials.password,
            inbox_prefix=inbox_prefix(service),
            allow_reconnect=False,
        )
        stack.push_async_callback(nc.close)
        return nc

    await stack.enter_async_context(run_dashboards(await login("dashboards"), catalog, Clock()))
    gateway = await login("gateway")
    made = await create(gateway, ALICE)
    edited = await call(
        gateway, contract.DASHBOARDS_EDIT, ALICE, id=made["id"], revision=made["revision"], content=content("v2")
    )
    with pytest.raises(Conflict):
        await call(
            gateway, contract.DASHBOARDS_EDIT, ALICE, id=made["id"], revision=made["revision"], content=content()
        )
    assert len((await call(gateway, contract.DASHBOARDS_REVISIONS, ALICE, id=made["id"]))["revisions"]) == 2
    assert await listed(gateway, ALICE, "mine") == [made["id"]]
    token = (await call(gateway, contract.DASHBOARDS_LINK_CREATE, ALICE, id=made["id"]))["token"]
    assert (await CallerVerifier(gateway).caller({"X-Strix-Link": token})) is not None
    current = await call(gateway, contract.DASHBOARDS_GET, ALICE, id=made["id"])
    restored = await call(
        gateway,
        contract.DASHBOARDS_RESTORE,
        ALICE,
        id=made["id"],
        revision=made["revision"],
        from_revision=current["revision"],
    )
    assert restored["title"] == "Ops" and edited["title"] == "v2"
    await call(gateway, contract.DASHBOARDS_DELETE, ALICE, id=made["id"])
    assert await listed(gateway, ALICE, "mine") == []

    rollup = await login("rollup")
    with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):  # refused: never answered
        await rollup.request(contract.DASHBOARDS_LIST, b"{}", timeout=1)


# --- end to end: a public link through the platform's doors --------------------------------------------------

ACCESS_CONFIGS = Path(__file__).resolve().parent / "fixtures" / "access-configs"
E2E_DASHBOARD = {
    "title": "Acme rounds",
    "panels": [
        {
            "id": "by-game",
            "query": {"module": "rounds", "metrics": ["rounds"], "group_by": ["game"]},
            "visualization": "BAR",
            "layout": {"x": 0, "y": 0, "w": 12, "h": 4},
        }
    ],
}
BY_BRAND = "{ rounds(window: {last: 2, unit: DAY}, granularity: TOTAL, groupBy: [BRAND], metrics: [ROUNDS]) { rows { brand rounds } } }"


@pytest.mark.e2e
async def test_a_public_link_reads_over_http_what_its_owner_saw_until_revoked(start_platform: PlatformFactory) -> None:
    now = datetime.now(UTC)
    events = [
        {
            "round_id": f"r{i}",
            "ts": (now - timedelta(minutes=i + 1)).isoformat(),
            "brand": ("acme", "zenith", "orbit")[i % 3],
            "game": ("g1", "g2")[i % 2],
            "studio": 1,
            "stake": "1.00",
        }
        for i in range(60)
    ]
    expected = {"acme": sum(1 for e in events if e["brand"] == "acme")}
    async with start_platform(ACCESS_CONFIGS) as (platform, admin):
        await post_events(admin, "rounds", events)
        await wait_for_count(admin, "rounds", "rounds", len(events))
        key = await api_key(platform.nc, ["read"], roles=["operator"], attributes={"brand": ["acme"]}, name="owner")
        async with httpx.AsyncClient(base_url=platform.http_url, timeout=60, headers=bearer(key)) as owner:
            seen = await post_graphql(owner, BY_BRAND)
            assert seen["data"]["rounds"]["rows"] == [{"brand": "acme", "rounds": expected["acme"]}]
            made = await post_graphql(
                owner,
                "mutation($i: DashboardInput!) { createDashboard(input: $i) { id ownerName } }",
                {"i": E2E_DASHBOARD},
            )
            assert made["data"]["createDashboard"]["ownerName"] == "API key owner"  # the key's name, not its id
            ident = made["data"]["createDashboard"]["id"]
            link = await post_graphql(
                owner, "mutation($id: ID!) { createDashboardLink(id: $id) { token } }", {"id": ident}
            )
            token = link["data"]["createDashboardLink"]["token"]

            async with httpx.AsyncClient(
                base_url=platform.http_url, timeout=60, headers={"X-Strix-Link": token}
            ) as viewer:
                # What the owner saw: acme's rounds only, though the link names no brand.
                through = await post_graphql(viewer, BY_BRAND)
                assert through["data"]["rounds"]["rows"] == [{"brand": "acme", "rounds": expected["acme"]}]
                opened = await post_graphql(
                    viewer, "query($id: ID!) { dashboard(id: $id) { title panels { id problems } } }", {"id": ident}
                )
                assert opened["data"]["dashboard"] == {
                    "title": "Acme rounds",
                    "panels": [{"id": "by-game", "problems": []}],
                }
                # Nothing else: another module, or a change.
                other = await post_graphql(
                    viewer, "{ payouts(window: {last: 2, unit: DAY}, metrics: [PAYOUTS]) { rows { payouts } } }"
                )
                assert other["data"] is None and other["errors"][0]["extensions"]["code"] == "FORBIDDEN"
                write = await post_graphql(
                    viewer, "mutation($i: DashboardInput!) { createDashboard(input: $i) { id } }", {"i": E2E_DASHBOARD}
                )
                assert write["errors"][0]["extensions"]["code"] == "FORBIDDEN"

                revoked = await post_graphql(
                    owner, "mutation($id: ID!) { revokeDashboardLink(id: $id) { link { createdBy } } }", {"id": ident}
                )
                assert revoked["data"]["revokeDashboardLink"] == {"link": None}
                refused = await viewer.post("/graphql", json={"query": BY_BRAND})
                assert refused.status_code == 401
                assert "unknown or revoked dashboard link" in refused.text
