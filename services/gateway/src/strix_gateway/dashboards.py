"""Dashboards in GraphQL: the `dashboard`, `dashboards` and `dashboardRevisions` queries and the dashboard
mutations, each one request to the dashboards service with the verified caller (`info.context["caller"]`).

A panel's `query` and `options` are JSON: the query is the module query's arguments (module, metrics, groupBy is
`group_by`, filters, window, granularity, compare, top, join ...) as the dashboards contract spells them, checked
by the service against the module configs, which names the panel and the field of any problem. A stale edit or
restore is an expected outcome, answered as a `DashboardConflict` holding the current dashboard; every other
refusal is a GraphQL error with `code`, `argument` and `hint`.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Protocol, TypeVar

import strawberry
from pydantic import BaseModel, ValidationError
from strawberry.scalars import JSON

from strix_contracts import dashboards as contract
from strix_contracts.caller import Caller
from strix_contracts.errors import Conflict, StrixError, invalid_request
from strix_gateway.errors import resolver_error
from strix_gateway.resolvers import caller_of
from strix_gateway.types import Long

Reply = TypeVar("Reply", bound=BaseModel)


class DashboardsApi(Protocol):
    """One request to the dashboards service (dashboards_client.DashboardsClient over NATS)."""

    async def call(self, subject: str, request: BaseModel, reply_type: type[Reply]) -> Reply: ...


def _d(description: str) -> Any:
    return strawberry.field(description=description)


@strawberry.enum(description="How a panel shows its answer.")
class Visualization(Enum):
    KPI = strawberry.enum_value("kpi", description="One number per metric (with its comparison, if asked).")
    TABLE = strawberry.enum_value("table", description="Rows and columns.")
    BAR = strawberry.enum_value("bar", description="Bars per group or bucket.")
    PIE = strawberry.enum_value("pie", description="Shares of a whole per group.")
    LINE = strawberry.enum_value("line", description="A series over time.")
    RECORDS = strawberry.enum_value("records", description="Raw events, newest first (modules that keep them).")


@strawberry.enum(description="What a share lets its holder do.")
class SharePermission(Enum):
    VIEW = strawberry.enum_value("view", description="Read the dashboard.")
    EDIT = strawberry.enum_value("edit", description="Read it and change its title, description and panels.")


@strawberry.enum(description="Whom a share names.")
class ShareKind(Enum):
    USER = strawberry.enum_value("user", description="One user or API key, by subject.")
    ROLE = strawberry.enum_value("role", description="Everyone holding a role.")
    EVERYONE = strawberry.enum_value("everyone", description="Every signed-in caller (a public dashboard).")


@strawberry.enum(description="Which dashboards to list.")
class DashboardScope(Enum):
    MINE = strawberry.enum_value("mine", description="Owned by the caller.")
    SHARED = strawberry.enum_value("shared", description="Shared with the caller or one of its roles.")
    PUBLIC = strawberry.enum_value("public", description="Shared with everyone (and not otherwise the caller's).")
    ALL = strawberry.enum_value("all", description="Every dashboard (admin scope only).")


@strawberry.type(description="A panel's place on the 12-column grid.")
class PanelLayout:
    x: int = _d("First column, 0 to 11.")
    y: int = _d("First row, from 0 at the top.")
    w: int = _d("Width in columns; x + w is at most 12.")
    h: int = _d("Height in rows.")


@strawberry.type(description="One panel: a query, how it is shown, and where.")
class DashboardPanel:
    id: str = _d("The panel's id, unique in its dashboard.")
    title: str = _d("The panel's title.")
    query: JSON = _d(
        "The module query's arguments as the dashboards contract spells them: module, metrics, group_by, filters, "
        "window, granularity, time_zone, order_by, limit, fill, top, compare, join."
    )
    visualization: Visualization = _d("How the answer is shown.")
    options: JSON = _d("The visualization's own settings (colours, stacking ...).")
    layout: PanelLayout = _d("Where the panel sits on the grid.")
    problems: list[str] = _d(
        'What the module configs no longer hold ("metric x is no longer in module y"); empty when the panel can '
        "be asked as it is."
    )


@strawberry.type(description="Whom a dashboard is shared with, and to do what.")
class DashboardShare:
    kind: ShareKind = _d("A user, a role, or everyone.")
    name: str = _d("The user's subject or the role; empty for everyone.")
    permission: SharePermission = _d("View, or edit.")


@strawberry.type(description="A dashboard's public link (its token is shown once, when made).")
class DashboardLink:
    created_at: datetime = _d("When the link was made.")
    created_by: str = _d("Who made it (the owner then): it reads with that owner's roles and attributes.")


@strawberry.type(description="A dashboard: its panels as data, who owns it, whom it is shared with.")
class Dashboard:
    id: IdArg = _d("The dashboard's id.")
    owner: str = _d("The subject of its owner (compare it with the caller's to tell one's own dashboards).")
    owner_name: str = _d(
        "How people know its owner: the name or email of its identity, `API key <name>`, or its subject when no "
        "name is known yet."
    )
    title: str = _d("Its title.")
    description: str = _d("What it is for.")
    panels: list[DashboardPanel] = _d("Its panels, in order.")
    shares: list[DashboardShare] = _d("Whom it is shared with (empty through a public link).")
    link: DashboardLink | None = _d("Its public link, if it has one (null through a public link).")
    created_at: datetime = _d("When it was made.")
    updated_at: datetime = _d("When this revision was written.")
    updated_by: str = _d("Who wrote this revision.")
    updated_by_name: str = _d("How people know who wrote this revision (as `ownerName`).")
    revision: Long = _d("The revision read; an edit names the revision it starts from.")


@strawberry.type(description="A past revision of a dashboard (`dashboard(id, revision)` reads it).")
class DashboardRevision:
    revision: Long = _d("The revision number.")
    updated_at: datetime = _d("When it was written.")
    updated_by: str = _d("Who wrote it.")
    updated_by_name: str = _d("How people know who wrote it (as `Dashboard.ownerName`).")
    title: str = _d("The title then.")
    panels: int = _d("How many panels it had.")


@strawberry.type(description="An edit refused because the dashboard changed since its revision: the current one.")
class DashboardConflict:
    message: str = _d("What happened, and what to do.")
    current: Dashboard = _d("The dashboard as it is now: apply the change again from its revision.")


@strawberry.type(description="A new public link.")
class DashboardLinkCreated:
    token: str = _d("Send it as the `X-Strix-Link` header. Shown once: only its hash is kept.")
    dashboard: Dashboard = _d("The dashboard with its new link.")


@strawberry.input(description="A panel's place on the 12-column grid.")
class PanelLayoutInput:
    x: int = _d("First column, 0 to 11.")
    y: int = _d("First row, from 0 at the top.")
    w: int = _d("Width in columns; x + w is at most 12.")
    h: int = _d("Height in rows.")


@strawberry.input(description="One panel of a dashboard.")
class DashboardPanelInput:
    id: str = _d("The panel's id, unique in its dashboard (letters, digits, - and _).")
    query: JSON = _d("The module query's arguments (see DashboardPanel.query).")
    visualization: Visualization = _d("How the answer is shown.")
    layout: PanelLayoutInput = _d("Where the panel sits on the grid.")
    title: str = strawberry.field(default="", description="The panel's title.")
    options: JSON | None = strawberry.field(default=None, description="The visualization's own settings.")


@strawberry.input(description="What an editor writes: title, description and panels.")
class DashboardInput:
    title: str = _d("The title.")
    description: str = strawberry.field(default="", description="What the dashboard is for.")
    panels: list[DashboardPanelInput] = strawberry.field(default_factory=list, description="The panels, in order.")


IdArg = Annotated[strawberry.ID, strawberry.argument(description="The dashboard's id.")]
RevisionArg = Annotated[Long, strawberry.argument(description="The revision the change starts from (the one read).")]
PastArg = Annotated[Long, strawberry.argument(description="The past revision whose content comes back.")]
ReadArg = Annotated[
    Long | None,
    strawberry.argument(description="A past revision to read (dashboardRevisions lists them); now if null."),
]
ScopeArg = Annotated[DashboardScope, strawberry.argument(description="Which dashboards: mine by default.")]
InputArg = Annotated[DashboardInput, strawberry.argument(description="The title, description and panels.")]
KindArg = Annotated[ShareKind, strawberry.argument(description="Share with a user, a role, or everyone.")]
NameArg = Annotated[str, strawberry.argument(description="The user's subject or the role; empty for everyone.")]
PermissionArg = Annotated[SharePermission, strawberry.argument(description="View (the default) or edit.")]
TitleArg = Annotated[str | None, strawberry.argument(description="The copy's title; the original's + (copy) if null.")]
OwnerArg = Annotated[str, strawberry.argument(description="The subject of the new owner.")]


DashboardSaved = Annotated[
    Dashboard | DashboardConflict,
    strawberry.union(
        "DashboardSaved",
        description="The saved dashboard, or the current one when it changed since the edit's revision.",
    ),
]


# --- contract <-> GraphQL ------------------------------------------------------------------------------------


def dashboard_type(d: contract.Dashboard) -> Dashboard:
    return Dashboard(
        id=strawberry.ID(d.id),
        owner=d.owner,
        owner_name=d.owner_name,
        title=d.title,
        description=d.description,
        panels=[
            DashboardPanel(
                id=p.id,
                title=p.title,
                query=JSON(p.query.model_dump(mode="json", exclude_none=True)),
                visualization=Visualization(p.visualization),
                options=JSON(p.options),
                layout=PanelLayout(x=p.layout.x, y=p.layout.y, w=p.layout.w, h=p.layout.h),
                problems=list(p.problems),
            )
            for p in d.panels
        ],
        shares=[
            DashboardShare(kind=ShareKind(s.kind), name=s.name, permission=SharePermission(s.permission))
            for s in d.shares
        ],
        link=DashboardLink(created_at=d.link.created_at, created_by=d.link.created_by) if d.link else None,
        created_at=d.created_at,
        updated_at=d.updated_at,
        updated_by=d.updated_by,
        updated_by_name=d.updated_by_name,
        revision=Long(d.revision),
    )


def content_data(given: DashboardInput) -> dict[str, Any]:
    return {
        "title": given.title,
        "description": given.description,
        "panels": [
            {
                "id": p.id,
                "title": p.title,
                "query": p.query,
                "visualization": p.visualization.value,
                "options": p.options or {},
                "layout": {"x": p.layout.x, "y": p.layout.y, "w": p.layout.w, "h": p.layout.h},
            }
            for p in given.panels
        ],
    }


def _request(model: type[Reply], info: strawberry.Info, **fields: Any) -> Reply:
    """The contract request with the verified caller; an argument that does not fit it is a GraphQL error naming it."""
    caller: Caller = caller_of(info.context)
    try:
        return model.model_validate({"caller": caller, **fields})
    except ValidationError as exc:
        raise invalid_request(exc) from exc


def _conflict(exc: Conflict) -> DashboardConflict:
    current = (exc.detail or {}).get("current")
    if current is None:
        raise resolver_error(exc) from exc
    return DashboardConflict(message=exc.describe(), current=dashboard_type(contract.Dashboard.model_validate(current)))


def dashboard_fields(api: DashboardsApi) -> tuple[dict[str, Any], dict[str, Any]]:
    """(query fields, mutation fields) of the dashboards API, each resolver one request to the service."""

    async def ask(subject: str, request: BaseModel, reply: type[Reply]) -> Reply:
        try:
            return await api.call(subject, request, reply)
        except StrixError as exc:
            raise resolver_error(exc) from exc

    async def one(subject: str, model: type[BaseModel], info: strawberry.Info, **fields: Any) -> Dashboard:
        try:
            request = _request(model, info, **fields)
        except StrixError as exc:
            raise resolver_error(exc) from exc
        return dashboard_type(await ask(subject, request, contract.Dashboard))

    async def saved(
        subject: str, model: type[BaseModel], info: strawberry.Info, **fields: Any
    ) -> Dashboard | DashboardConflict:
        try:
            request = _request(model, info, **fields)
            return dashboard_type(await api.call(subject, request, contract.Dashboard))
        except Conflict as exc:
            return _conflict(exc)
        except StrixError as exc:
            raise resolver_error(exc) from exc

    # --- queries

    async def dashboard(info: strawberry.Info, id: IdArg, revision: ReadArg = None) -> Dashboard:
        return await one(contract.DASHBOARDS_GET, contract.GetDashboard, info, id=id, revision=revision)

    async def dashboards(info: strawberry.Info, scope: ScopeArg = DashboardScope.MINE) -> list[Dashboard]:
        try:
            request = _request(contract.ListDashboards, info, scope=scope.value)
        except StrixError as exc:
            raise resolver_error(exc) from exc
        found = await ask(contract.DASHBOARDS_LIST, request, contract.DashboardList)
        return [dashboard_type(d) for d in found.dashboards]

    async def dashboard_revisions(info: strawberry.Info, id: IdArg) -> list[DashboardRevision]:
        try:
            request = _request(contract.DashboardRef, info, id=id)
        except StrixError as exc:
            raise resolver_error(exc) from exc
        found = await ask(contract.DASHBOARDS_REVISIONS, request, contract.Revisions)
        return [
            DashboardRevision(
                revision=Long(r.revision),
                updated_at=r.updated_at,
                updated_by=r.updated_by,
                updated_by_name=r.updated_by_name,
                title=r.title,
                panels=r.panels,
            )
            for r in found.revisions
        ]

    # --- mutations

    async def create_dashboard(info: strawberry.Info, input: InputArg) -> Dashboard:
        return await one(contract.DASHBOARDS_CREATE, contract.CreateDashboard, info, content=content_data(input))

    async def edit_dashboard(
        info: strawberry.Info, id: IdArg, revision: RevisionArg, input: InputArg
    ) -> DashboardSaved:
        return await saved(
            contract.DASHBOARDS_EDIT,
            contract.EditDashboard,
            info,
            id=id,
            revision=revision,
            content=content_data(input),
        )

    async def restore_dashboard_revision(
        info: strawberry.Info, id: IdArg, revision: PastArg, from_revision: RevisionArg
    ) -> DashboardSaved:
        return await saved(
            contract.DASHBOARDS_RESTORE,
            contract.RestoreRevision,
            info,
            id=id,
            revision=revision,
            from_revision=from_revision,
        )

    async def delete_dashboard(info: strawberry.Info, id: IdArg) -> strawberry.ID:
        try:
            request = _request(contract.DashboardRef, info, id=id)
        except StrixError as exc:
            raise resolver_error(exc) from exc
        return strawberry.ID((await ask(contract.DASHBOARDS_DELETE, request, contract.Deleted)).id)

    async def duplicate_dashboard(info: strawberry.Info, id: IdArg, title: TitleArg = None) -> Dashboard:
        return await one(contract.DASHBOARDS_DUPLICATE, contract.DuplicateDashboard, info, id=id, title=title)

    async def share_dashboard(
        info: strawberry.Info,
        id: IdArg,
        kind: KindArg,
        name: NameArg = "",
        permission: PermissionArg = SharePermission.VIEW,
    ) -> Dashboard:
        share = {"kind": kind.value, "name": name, "permission": permission.value}
        return await one(contract.DASHBOARDS_SHARE, contract.ShareDashboard, info, id=id, share=share)

    async def unshare_dashboard(info: strawberry.Info, id: IdArg, kind: KindArg, name: NameArg = "") -> Dashboard:
        return await one(
            contract.DASHBOARDS_UNSHARE, contract.UnshareDashboard, info, id=id, kind=kind.value, name=name
        )

    async def transfer_dashboard(info: strawberry.Info, id: IdArg, owner: OwnerArg) -> Dashboard:
        return await one(contract.DASHBOARDS_TRANSFER, contract.TransferDashboard, info, id=id, owner=owner)

    async def create_dashboard_link(info: strawberry.Info, id: IdArg) -> DashboardLinkCreated:
        try:
            request = _request(contract.DashboardRef, info, id=id)
        except StrixError as exc:
            raise resolver_error(exc) from exc
        made = await ask(contract.DASHBOARDS_LINK_CREATE, request, contract.LinkCreated)
        return DashboardLinkCreated(token=made.token, dashboard=dashboard_type(made.dashboard))

    async def revoke_dashboard_link(info: strawberry.Info, id: IdArg) -> Dashboard:
        return await one(contract.DASHBOARDS_LINK_REVOKE, contract.DashboardRef, info, id=id)

    queries = {
        "dashboard": strawberry.field(
            resolver=dashboard,
            description="One dashboard the caller may view (a public link: its own), now or at a past revision.",
        ),
        "dashboards": strawberry.field(
            resolver=dashboards, description="Dashboards of the caller's, shared with it, public, or (admins) all."
        ),
        "dashboard_revisions": strawberry.field(
            resolver=dashboard_revisions, description="The revisions kept of a dashboard (the last 64), newest first."
        ),
    }
    mutations = {
        "create_dashboard": strawberry.mutation(
            resolver=create_dashboard, description="A new dashboard of the caller's."
        ),
        "edit_dashboard": strawberry.mutation(
            resolver=edit_dashboard,
            description="Replace title, description and panels, starting from `revision`; a dashboard changed "
            "since is answered with the current one (DashboardConflict), never merged.",
        ),
        "restore_dashboard_revision": strawberry.mutation(
            resolver=restore_dashboard_revision,
            description="A new revision with the content of a past one, starting from `fromRevision` (the current).",
        ),
        "delete_dashboard": strawberry.mutation(
            resolver=delete_dashboard, description="Delete a dashboard with its revisions (owner or admin)."
        ),
        "duplicate_dashboard": strawberry.mutation(
            resolver=duplicate_dashboard, description="A copy of a dashboard the caller may view, owned by the caller."
        ),
        "share_dashboard": strawberry.mutation(
            resolver=share_dashboard,
            description="Share with a user, a role or everyone, to view or edit (owner or admin).",
        ),
        "unshare_dashboard": strawberry.mutation(resolver=unshare_dashboard, description="Remove a share."),
        "transfer_dashboard": strawberry.mutation(
            resolver=transfer_dashboard,
            description="Give a dashboard to another owner (owner or admin); its public link is revoked.",
        ),
        "create_dashboard_link": strawberry.mutation(
            resolver=create_dashboard_link,
            description="A public read-only link (owner only): it reads with the owner's roles and attributes of now, "
            "only the modules of its panels. Replaces any previous link.",
        ),
        "revoke_dashboard_link": strawberry.mutation(
            resolver=revoke_dashboard_link, description="Revoke the public link: it stops at once."
        ),
    }
    return queries, mutations
