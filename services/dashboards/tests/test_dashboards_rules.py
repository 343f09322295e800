"""The dashboards' pure rules: who may do what, what a public link reads, what a panel may hold. No I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from strix_config import Catalog, load_catalog
from strix_contracts.caller import Caller
from strix_contracts.dashboards import DashboardContent, Panel, Share
from strix_contracts.errors import QueryError
from strix_dashboards import permissions
from strix_dashboards.records import (
    StoredDashboard,
    StoredLink,
    display_name,
    link_caller,
    link_hash,
    link_matches,
    new_link_token,
    written_by,
)
from strix_dashboards.records import (
    view as shown_as,
)
from strix_dashboards.validation import check_content, content_problems, marked

CONFIGS = Path(__file__).resolve().parents[3] / "configs"
T0 = datetime(2026, 12, 1, tzinfo=UTC)

OWNER = Caller(subject="alice", kind="user", roles=("analyst",), scopes=("read",))
VIEWER = Caller(subject="bob", kind="user", roles=("operator",), scopes=("read",))
EDITOR = Caller(subject="carol", kind="user", roles=("editor",), scopes=("read",))
STRANGER = Caller(subject="dave", kind="user", roles=("operator2",), scopes=("read",))
ADMIN = Caller(subject="root", kind="api_key", scopes=("admin",))


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(CONFIGS)


def panel(panel_id: str, module: str = "gaming", x: int = 0, y: int = 0, w: int = 6, **query: Any) -> Panel:
    return Panel.model_validate(
        {
            "id": panel_id,
            "visualization": "table",
            "query": {"module": module, "metrics": query.pop("metrics", ["rounds"]), **query},
            "layout": {"x": x, "y": y, "w": w, "h": 2},
        }
    )


def stored(*panels: Panel, shares: list[Share] | None = None, link: StoredLink | None = None) -> StoredDashboard:
    return StoredDashboard(
        id="d1",
        owner="alice",
        title="T",
        panels=list(panels),
        shares=shares or [],
        link=link,
        created_at=T0,
        updated_at=T0,
        updated_by="alice",
    )


def link(scopes: tuple[str, ...] = ("read",)) -> StoredLink:
    return StoredLink(
        hash="h", created_at=T0, created_by="alice", roles=("analyst",), scopes=scopes, attributes={"b": ("x",)}
    )


def test_who_may_view_edit_and_manage() -> None:
    d = stored(
        shares=[Share(kind="role", name="operator"), Share(kind="user", name="carol", permission="edit")],
        link=link(),
    )
    own_link = Caller(subject="link:d1", kind="public_link", scopes=("read:gaming",), dashboard="d1")
    other_link = Caller(subject="link:d2", kind="public_link", scopes=("read:gaming",), dashboard="d2")
    # A public link caller named like the owner is not the owner.
    owner_named_link = Caller(subject="alice", kind="public_link", dashboard="d9")
    table = {
        "owner": (OWNER, True, True, True),
        "viewer by role": (VIEWER, True, False, False),
        "editor by name": (EDITOR, True, True, False),
        "stranger": (STRANGER, False, False, False),
        "admin": (ADMIN, True, True, True),
        "its link": (own_link, True, False, False),
        "another link": (other_link, False, False, False),
        "link named alice": (owner_named_link, False, False, False),
    }
    for name, (caller, view, edit, manage) in table.items():
        got = (permissions.may_view(d, caller), permissions.may_edit(d, caller), permissions.may_manage(d, caller))
        assert got == (view, edit, manage), name
    assert not permissions.may_view(stored(), own_link)  # a dashboard without a link opens to no link caller
    assert (
        permissions.shared_permission(
            stored(shares=[Share(kind="everyone"), Share(kind="role", name="operator", permission="edit")]), VIEWER
        )
        == "edit"
    )  # the widest share counts


def test_lists_mine_shared_public_and_all() -> None:
    shared = stored(shares=[Share(kind="role", name="operator"), Share(kind="everyone")])

    def scopes(caller: Caller) -> list[str]:
        return [s for s in ("mine", "shared", "public", "all") if permissions.listed(shared, caller, s)]

    assert scopes(OWNER) == ["mine"]
    assert scopes(VIEWER) == ["shared"]  # by role: shared, not public
    assert scopes(STRANGER) == ["public"]
    assert scopes(ADMIN) == ["public", "all"]


def test_a_link_reads_the_panels_modules_its_owner_could_read(catalog: Catalog) -> None:
    joined = panel("j", "clickstream", metrics=["revenue"], join={"name": "campaigns", "metrics": ["spend"]})
    gone = panel("g", "retired", x=6)
    d = stored(panel("a"), joined, gone, link=link(("read",)))
    caller = link_caller(d, catalog)
    assert caller.scopes == ("read:campaigns", "read:clickstream", "read:gaming")  # not the retired module
    assert (caller.kind, caller.dashboard, caller.roles, caller.attributes) == (
        "public_link",
        "d1",
        ("analyst",),
        {"b": ("x",)},
    )
    narrow = stored(panel("a"), joined, link=link(("read:gaming", "read:clickstream")))
    assert link_caller(narrow, catalog).scopes == ("read:clickstream", "read:gaming")
    assert link_caller(stored(panel("a"), link=link(("write",))), catalog).scopes == ()
    assert link_caller(stored(panel("a"), link=link(("admin",))), catalog).scopes == ("read:gaming",)


def test_link_tokens_are_random_and_kept_as_hashes() -> None:
    tokens = {new_link_token() for _ in range(100)}
    assert len(tokens) == 100 and all(len(t) == len("strix_link_") + 43 for t in tokens)
    token = tokens.pop()
    d = stored(link=link().model_copy(update={"hash": link_hash(token)}))
    assert link_matches(d, link_hash(token)) and not link_matches(d, link_hash(token + "x"))
    assert not link_matches(stored(), link_hash(token))


def test_layouts_touching_are_fine_overlapping_are_not(catalog: Catalog) -> None:
    side_by_side = DashboardContent(title="T", panels=[panel("a", w=6), panel("b", x=6, w=6), panel("c", y=2, w=12)])
    assert content_problems(side_by_side, catalog) == []
    overlapping = DashboardContent(title="T", panels=[panel("a", w=6), panel("b", x=5, y=1, w=3)])
    assert [(p.panel, p.field) for p in content_problems(overlapping, catalog)] == [("b", "layout")]
    with pytest.raises(QueryError, match="overlaps panel 'a'"):
        check_content(overlapping, catalog)


def test_marks_every_reference_a_config_dropped(catalog: Catalog) -> None:
    gaming = catalog.modules["gaming"]
    smaller = gaming.model_copy(
        update={
            "metrics": {k: v for k, v in gaming.metrics.items() if k not in ("bets", "rtp")},
            "dimensions": {k: v for k, v in gaming.dimensions.items() if k != "currency"},
        }
    )
    after = Catalog(modules={**catalog.modules, "gaming": smaller})
    p = panel(
        "p",
        metrics=["rounds", "bets"],
        group_by=["currency"],
        filters=[{"all": [{"dimension": "currency", "op": "eq", "value": "EUR"}]}],
        top={"n": 3, "by": "rtp"},
    )
    assert marked([p], after)[0].problems == [
        "metric bets is no longer in module gaming",
        "dimension currency is no longer in module gaming",
        "dimension currency is no longer in module gaming",
        "metric rtp is no longer in module gaming",
    ]
    assert marked([p], catalog)[0].problems == []


def test_a_dashboard_too_large_for_one_message_is_refused(catalog: Catalog) -> None:
    big = panel("a").model_copy(update={"options": {"notes": "x" * 300_000}})
    with pytest.raises(QueryError, match="more than 262144") as refused:
        check_content(DashboardContent(title="T", panels=[big]), catalog)
    assert refused.value.argument == "content"
    check_content(
        DashboardContent(title="T", panels=[panel("a").model_copy(update={"options": {"n": "x" * 1000}})]), catalog
    )


def test_owners_are_shown_by_name_and_old_records_by_subject(catalog: Catalog) -> None:
    named = Caller(subject="u-81", kind="user", attributes={"email": ("bob@example.com",)})
    both = Caller(subject="u-82", kind="user", attributes={"name": ("Bob Martin",), "email": ("bob@example.com",)})
    key = Caller(subject="apikey:0f3a9c", kind="api_key", name="nightly export")
    assert display_name(named) == "bob@example.com"
    assert display_name(both) == "Bob Martin"
    assert display_name(key) == "API key nightly export"
    assert display_name(OWNER) == "alice"  # no name attribute: the subject (the dev sign-in's user name)
    # A record stored before names were kept reads with names made from the subjects.
    old = stored().model_copy(update={"owner": "apikey:0f3a9c", "updated_by": "apikey:0f3a9c"})
    shown = shown_as(old, 3, ADMIN, catalog)
    assert (shown.owner, shown.owner_name, shown.updated_by_name) == (
        "apikey:0f3a9c",
        "API key 0f3a9c",
        "API key 0f3a9c",
    )
    # The owner's own write stores its name; someone else's write names only the writer.
    as_owner = Caller(subject="alice", kind="user", attributes={"name": ("Alice Martin",)})
    assert written_by(stored(), as_owner) == {
        "updated_by": "alice",
        "updated_by_name": "Alice Martin",
        "owner_name": "Alice Martin",
    }
    assert written_by(stored(), key) == {"updated_by": "apikey:0f3a9c", "updated_by_name": "API key nightly export"}
