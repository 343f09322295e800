"""Dashboards wiring: the strix-dashboards NATS micro service over its KV bucket, and its health routes.

Endpoints (queue group `strix-dashboards`, so replicas share the load), each `dashboards.<verb>` of
strix_contracts.dashboards: create, get, edit, delete, duplicate, list, share, unshare, transfer, revisions,
restore, link.create, link.revoke, and link.resolve (a door's verifier turns a public link token into its Caller).
Every request but link.resolve carries the caller the gateway verified; each method loads the record, asks
`permissions` and `validation` (pure), and writes by compare-and-set (`store`). Errors are rendered once, in
`strix_runtime.micro`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import FastAPI
from nats.aio.client import Client as NATS

from strix_config import Catalog
from strix_contracts import dashboards as contract
from strix_contracts.caller import Caller
from strix_contracts.dashboards import Dashboard
from strix_contracts.errors import Conflict, StrixError, Unauthorized
from strix_dashboards import permissions, records, validation
from strix_dashboards.records import StoredDashboard, StoredLink
from strix_dashboards.store import DashboardStore, open_store
from strix_runtime.health import health_router
from strix_runtime.logs import get_logger
from strix_runtime.micro import Endpoint, json_endpoint, start_service, stop_service

log = get_logger("dashboards")

SERVICE_NAME = contract.DASHBOARDS_SERVICE
_CAS_ATTEMPTS = 5


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Dashboards:
    nc: NATS
    store: DashboardStore
    catalog: Catalog
    clock: Callable[[], datetime] = field(default=_utcnow)  # tests pass a fixed clock

    async def healthy(self) -> bool:
        return self.nc.is_connected

    def _view(self, stored: StoredDashboard, revision: int, caller: Caller) -> Dashboard:
        return records.view(stored, revision, caller, self.catalog)

    async def _conflict(self, dashboard_id: str, since: int, caller: Caller) -> Conflict:
        stored, revision = await self.store.get(dashboard_id)
        current = self._view(stored, revision, caller)
        return Conflict(
            f"dashboard {dashboard_id} changed since revision {since}: it is at revision {revision}",
            argument="revision",
            hint="reload it (the current dashboard is in this error's detail), apply your change again and save "
            "from the new revision",
            detail={"current": current.model_dump(mode="json")},
        )

    # --- content ----------------------------------------------------------------------------------------------

    async def create(self, request: contract.CreateDashboard) -> Dashboard:
        caller = request.caller
        permissions.require_person(caller, "create dashboards")
        content = validation.check_content(request.content, self.catalog)
        validation.check_readable(content, [], self.catalog, caller)
        now = self.clock()
        stored = StoredDashboard(
            id=records.new_dashboard_id(),
            owner=caller.subject,
            owner_name=records.display_name(caller),
            **content.model_dump(),
            created_at=now,
            updated_at=now,
            updated_by=caller.subject,
            updated_by_name=records.display_name(caller),
        )
        revision = await self.store.create(stored)
        log.info("dashboards.created", id=stored.id, owner=stored.owner, panels=len(stored.panels))
        return self._view(stored, revision, caller)

    async def get(self, request: contract.GetDashboard) -> Dashboard:
        stored, revision = await self.store.get(request.id)
        permissions.require_view(stored, request.caller)
        if request.revision is None or request.revision == revision:
            return self._view(stored, revision, request.caller)
        permissions.require_person(request.caller, "read past revisions")
        past = await self.store.at(request.id, request.revision)
        # The content of then; who owns and shares it is as it is now.
        then = stored.model_copy(
            update={
                **_fields(past.content()),
                "updated_at": past.updated_at,
                "updated_by": past.updated_by,
                "updated_by_name": past.updated_by_name,
            }
        )
        return self._view(then, request.revision, request.caller)

    async def edit(self, request: contract.EditDashboard) -> Dashboard:
        caller = request.caller
        stored, revision = await self.store.get(request.id)
        permissions.require_edit(stored, caller)
        if revision != request.revision:
            raise await self._conflict(request.id, request.revision, caller)
        content = validation.check_content(request.content, self.catalog)
        validation.check_readable(content, stored.panels, self.catalog, caller)
        return await self._write(stored, content, request.revision, caller)

    async def restore(self, request: contract.RestoreRevision) -> Dashboard:
        """A new revision whose content equals the one of `revision`; shares, owner and link stay as they are."""
        caller = request.caller
        stored, revision = await self.store.get(request.id)
        permissions.require_edit(stored, caller)
        if revision != request.from_revision:
            raise await self._conflict(request.id, request.from_revision, caller)
        past = await self.store.at(request.id, request.revision)
        return await self._write(stored, validation.cleared(past.content()), request.from_revision, caller)

    async def _write(
        self, stored: StoredDashboard, content: contract.DashboardContent, last: int, caller: Caller
    ) -> Dashboard:
        changed = stored.model_copy(
            update={**_fields(content), "updated_at": self.clock(), **records.written_by(stored, caller)}
        )
        revision = await self.store.update(changed, last)
        if revision is None:  # another writer won from the same revision
            raise await self._conflict(stored.id, last, caller)
        log.info("dashboards.edited", id=stored.id, by=caller.subject, revision=revision)
        return self._view(changed, revision, caller)

    async def duplicate(self, request: contract.DuplicateDashboard) -> Dashboard:
        caller = request.caller
        permissions.require_person(caller, "duplicate dashboards")
        stored, _ = await self.store.get(request.id)
        permissions.require_view(stored, caller)
        now = self.clock()
        copy = StoredDashboard(
            id=records.new_dashboard_id(),
            owner=caller.subject,
            owner_name=records.display_name(caller),
            **{**validation.cleared(stored.content()).model_dump(), "title": request.title or f"{stored.title} (copy)"},
            created_at=now,
            updated_at=now,
            updated_by=caller.subject,
            updated_by_name=records.display_name(caller),
        )
        revision = await self.store.create(copy)
        log.info("dashboards.duplicated", id=copy.id, source=stored.id, owner=copy.owner)
        return self._view(copy, revision, caller)

    async def delete(self, request: contract.DashboardRef) -> contract.Deleted:
        stored, _ = await self.store.get(request.id)
        permissions.require_manage(stored, request.caller, "delete")
        await self.store.remove(stored.id)
        if stored.link is not None:
            await self.store.drop_link(stored.link.hash)
        log.info("dashboards.deleted", id=stored.id, by=request.caller.subject, owner=stored.owner)
        return contract.Deleted(id=stored.id)

    async def list(self, request: contract.ListDashboards) -> contract.DashboardList:
        permissions.require_list(request.caller, request.scope)
        found = [
            self._view(stored, revision, request.caller)
            for stored, revision in await self.store.all()
            if permissions.listed(stored, request.caller, request.scope)
        ]
        found.sort(key=lambda d: (d.updated_at, d.id), reverse=True)
        return contract.DashboardList(dashboards=found)

    async def revisions(self, request: contract.DashboardRef) -> contract.Revisions:
        stored, _ = await self.store.get(request.id)
        permissions.require_view(stored, request.caller)
        permissions.require_person(request.caller, "list revisions")
        kept = await self.store.history(request.id)
        return contract.Revisions(revisions=[records.revision_info(s, r) for s, r in reversed(kept)])

    # --- who sees it ------------------------------------------------------------------------------------------

    async def _change(
        self,
        dashboard_id: str,
        caller: Caller,
        check: Callable[[StoredDashboard], None],
        change: Callable[[StoredDashboard], StoredDashboard],
    ) -> tuple[StoredDashboard, StoredDashboard, int]:
        """Apply `change` by compare-and-set, retried when another writer came first (a share or a link does
        not start from a revision a person read); (before, after, revision)."""
        for _ in range(_CAS_ATTEMPTS):
            stored, revision = await self.store.get(dashboard_id)
            check(stored)
            after = change(stored)
            changed = after.model_copy(update={"updated_at": self.clock(), **records.written_by(after, caller)})
            written = await self.store.update(changed, revision)
            if written is not None:
                return stored, changed, written
        raise Conflict(f"dashboard {dashboard_id} kept changing; nothing was changed", hint="try again")

    async def share(self, request: contract.ShareDashboard) -> Dashboard:
        new = request.share

        def change(stored: StoredDashboard) -> StoredDashboard:
            kept = [s for s in stored.shares if (s.kind, s.name) != (new.kind, new.name)]
            return stored.model_copy(update={"shares": [*kept, new]})

        _, changed, revision = await self._change(
            request.id, request.caller, lambda s: permissions.require_manage(s, request.caller, "share"), change
        )
        log.info("dashboards.shared", id=request.id, kind=new.kind, name=new.name, permission=new.permission)
        return self._view(changed, revision, request.caller)

    async def unshare(self, request: contract.UnshareDashboard) -> Dashboard:
        def change(stored: StoredDashboard) -> StoredDashboard:
            kept = [s for s in stored.shares if (s.kind, s.name) != (request.kind, request.name)]
            return stored.model_copy(update={"shares": kept})

        _, changed, revision = await self._change(
            request.id, request.caller, lambda s: permissions.require_manage(s, request.caller, "unshare"), change
        )
        log.info("dashboards.unshared", id=request.id, kind=request.kind, name=request.name)
        return self._view(changed, revision, request.caller)

    async def transfer(self, request: contract.TransferDashboard) -> Dashboard:
        """The new owner takes it over; the public link, made with the previous owner's identity, is revoked."""
        before, changed, revision = await self._change(
            request.id,
            request.caller,
            lambda s: permissions.require_manage(s, request.caller, "transfer"),
            # The new owner's name is not known here: it shows as its subject until that owner saves it.
            lambda s: s.model_copy(
                update={
                    "owner": request.owner,
                    "owner_name": s.owner_name if request.owner == s.owner else "",
                    "link": None,
                }
            ),
        )
        if before.link is not None:
            await self.store.drop_link(before.link.hash)
        log.info("dashboards.transferred", id=request.id, previous=before.owner, owner=request.owner)
        return self._view(changed, revision, request.caller)

    async def create_link(self, request: contract.DashboardRef) -> contract.LinkCreated:
        """A new public link (replacing any previous one), reading with the owner's identity of now."""
        caller = request.caller
        token = records.new_link_token()
        digest = records.link_hash(token)
        link = StoredLink(
            hash=digest,
            created_at=self.clock(),
            created_by=caller.subject,
            roles=caller.roles,
            scopes=caller.scopes,
            attributes=caller.attributes,
        )
        # The link key first: a link is live only once its dashboard holds its hash too.
        await self.store.put_link(digest, request.id)
        try:
            before, changed, revision = await self._change(
                request.id,
                caller,
                lambda s: permissions.require_owner(s, caller, "make its public link"),
                lambda s: s.model_copy(update={"link": link}),
            )
        except BaseException:
            await self.store.drop_link(digest)
            raise
        if before.link is not None:
            await self.store.drop_link(before.link.hash)
        log.info("dashboards.link_created", id=request.id, by=caller.subject)
        return contract.LinkCreated(token=token, dashboard=self._view(changed, revision, caller))

    async def revoke_link(self, request: contract.DashboardRef) -> Dashboard:
        before, changed, revision = await self._change(
            request.id,
            request.caller,
            lambda s: permissions.require_manage(s, request.caller, "revoke the public link of"),
            lambda s: s.model_copy(update={"link": None}),
        )
        if before.link is not None:
            await self.store.drop_link(before.link.hash)
        log.info("dashboards.link_revoked", id=request.id, by=request.caller.subject)
        return self._view(changed, revision, request.caller)

    async def resolve_link(self, request: contract.LinkToken) -> Caller:
        """The read-only caller of a public link; Unauthorized for an unknown or revoked one."""
        digest = records.link_hash(request.token)
        dashboard_id = await self.store.link(digest)
        refused = Unauthorized("unknown or revoked dashboard link", argument="x-strix-link")
        if dashboard_id is None:
            raise refused
        try:
            stored, _ = await self.store.get(dashboard_id)
        except StrixError:
            raise refused from None
        if not records.link_matches(stored, digest):
            raise refused
        return records.link_caller(stored, self.catalog)


def _fields(content: contract.DashboardContent) -> dict[str, object]:
    """The content's fields as models (for `model_copy(update=)`, which does not validate)."""
    return {"title": content.title, "description": content.description, "panels": list(content.panels)}


def _endpoints(service: Dashboards) -> list[Endpoint]:
    return [
        ("create", contract.DASHBOARDS_CREATE, json_endpoint(contract.CreateDashboard, service.create)),
        ("get", contract.DASHBOARDS_GET, json_endpoint(contract.GetDashboard, service.get)),
        ("edit", contract.DASHBOARDS_EDIT, json_endpoint(contract.EditDashboard, service.edit)),
        ("delete", contract.DASHBOARDS_DELETE, json_endpoint(contract.DashboardRef, service.delete)),
        (
            "duplicate",
            contract.DASHBOARDS_DUPLICATE,
            json_endpoint(contract.DuplicateDashboard, service.duplicate),
        ),
        ("list", contract.DASHBOARDS_LIST, json_endpoint(contract.ListDashboards, service.list)),
        ("share", contract.DASHBOARDS_SHARE, json_endpoint(contract.ShareDashboard, service.share)),
        (
            "unshare",
            contract.DASHBOARDS_UNSHARE,
            json_endpoint(contract.UnshareDashboard, service.unshare),
        ),
        (
            "transfer",
            contract.DASHBOARDS_TRANSFER,
            json_endpoint(contract.TransferDashboard, service.transfer),
        ),
        (
            "revisions",
            contract.DASHBOARDS_REVISIONS,
            json_endpoint(contract.DashboardRef, service.revisions),
        ),
        ("restore", contract.DASHBOARDS_RESTORE, json_endpoint(contract.RestoreRevision, service.restore)),
        (
            "link-create",
            contract.DASHBOARDS_LINK_CREATE,
            json_endpoint(contract.DashboardRef, service.create_link),
        ),
        (
            "link-revoke",
            contract.DASHBOARDS_LINK_REVOKE,
            json_endpoint(contract.DashboardRef, service.revoke_link),
        ),
        (
            "link-resolve",
            contract.DASHBOARDS_LINK_RESOLVE,
            json_endpoint(contract.LinkToken, service.resolve_link),
        ),
    ]


@asynccontextmanager
async def run_dashboards(
    nc: NATS, catalog: Catalog | None = None, clock: Callable[[], datetime] = _utcnow
) -> AsyncIterator[Dashboards]:
    """`catalog`: the module configs panels are checked against (None: no modules, so only empty dashboards)."""
    store = await open_store(nc.jetstream())
    service = Dashboards(nc, store, catalog if catalog is not None else Catalog(modules={}), clock)
    micro = await start_service(
        nc,
        name=SERVICE_NAME,
        version="0.2.0",
        description="Strix dashboards as data",
        queue_group="strix-dashboards",
        endpoints=_endpoints(service),
    )
    log.info("dashboards.started", modules=service.catalog.names())
    try:
        yield service
    finally:
        await stop_service(micro)
        log.info("dashboards.stopped")


def create_app(service: Dashboards) -> FastAPI:
    app = FastAPI(title="Strix dashboards")
    app.include_router(health_router({"nats": service.healthy}))
    return app
