"""A dashboard as stored, and what each caller is shown of it: pure functions over plain records.

The stored record is the contract's content plus who owns it, whom it is shared with and its public link. The
link keeps the SHA-256 of its token (never the token) and the identity it reads with: the roles, attributes and
scopes of the owner who made it, captured then ("a public link shows what its owner saw", and never more: it reads
only the modules its panels use, each with `read:<module>`, and only those the owner's scopes allowed).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from strix_config import Catalog
from strix_contracts.caller import Caller, allows
from strix_contracts.dashboards import Dashboard, DashboardContent, LinkInfo, Panel, RevisionInfo, Share
from strix_dashboards.validation import marked, panel_modules

LINK_PREFIX = "strix_link_"


class StoredLink(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    hash: str  # SHA-256 of the token, hex
    created_at: AwareDatetime
    created_by: str
    roles: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    attributes: dict[str, tuple[str, ...]] = Field(default_factory=dict)


class StoredDashboard(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    owner: str
    # Display names, captured from the identity when it writes (records stored before them read as "": `named`).
    owner_name: str = ""
    title: str
    description: str = ""
    panels: list[Panel] = Field(default_factory=list)
    shares: list[Share] = Field(default_factory=list)
    link: StoredLink | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime
    updated_by: str
    updated_by_name: str = ""

    def content(self) -> DashboardContent:
        return DashboardContent(title=self.title, description=self.description, panels=self.panels)


NAME_ATTRIBUTES = ("name", "email")  # the attributes (mapped from the provider's claims) that name a person


def display_name(caller: Caller) -> str:
    """How people know `caller`: its `name` or `email` attribute, "API key <its name>", else its subject."""
    for attribute in NAME_ATTRIBUTES:
        values = caller.attributes.get(attribute, ())
        if values and values[0].strip():
            return values[0].strip()[:200]
    if caller.kind == "api_key":
        return f"API key {caller.name or caller.subject.removeprefix('apikey:')}"
    return caller.subject


def named(name: str, subject: str) -> str:
    """A stored display name, or one made from the subject when none was stored (older records, a transfer)."""
    if name:
        return name
    return f"API key {subject.removeprefix('apikey:')}" if subject.startswith("apikey:") else subject


def written_by(stored: StoredDashboard, caller: Caller) -> dict[str, str]:
    """The fields a write by `caller` sets: who wrote it, and the owner's name refreshed when the owner writes."""
    fields = {"updated_by": caller.subject, "updated_by_name": display_name(caller)}
    if caller.kind != "public_link" and caller.subject == stored.owner:
        fields["owner_name"] = fields["updated_by_name"]
    return fields


def new_dashboard_id() -> str:
    return secrets.token_hex(8)


def new_link_token() -> str:
    """256 random bits: unguessable, and only its hash is kept."""
    return LINK_PREFIX + secrets.token_urlsafe(32)


def link_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_matches(stored: StoredDashboard, digest: str) -> bool:
    return stored.link is not None and hmac.compare_digest(stored.link.hash, digest)


def view(stored: StoredDashboard, revision: int, caller: Caller, catalog: Catalog) -> Dashboard:
    """The dashboard as `caller` gets it: panels marked with what the configs no longer hold; through a public
    link, without whom it is shared with or how its link was made."""
    public = caller.kind == "public_link"
    link = None
    if stored.link is not None and not public:
        link = LinkInfo(created_at=stored.link.created_at, created_by=stored.link.created_by)
    return Dashboard(
        id=stored.id,
        owner=stored.owner,
        owner_name=named(stored.owner_name, stored.owner),
        title=stored.title,
        description=stored.description,
        panels=marked(stored.panels, catalog),
        shares=[] if public else list(stored.shares),
        link=link,
        created_at=stored.created_at,
        updated_at=stored.updated_at,
        updated_by=stored.updated_by,
        updated_by_name=named(stored.updated_by_name, stored.updated_by),
        revision=revision,
    )


def revision_info(stored: StoredDashboard, revision: int) -> RevisionInfo:
    return RevisionInfo(
        revision=revision,
        updated_at=stored.updated_at,
        updated_by=stored.updated_by,
        updated_by_name=named(stored.updated_by_name, stored.updated_by),
        title=stored.title,
        panels=len(stored.panels),
    )


def link_caller(stored: StoredDashboard, catalog: Catalog) -> Caller:
    """The caller a public link reads as: `read:<module>` for each module its panels use now (a joined one too)
    that the owner's scopes allowed when the link was made, with the owner's roles and attributes then."""
    assert stored.link is not None
    modules: set[str] = set()
    for panel in stored.panels:
        modules |= panel_modules(panel, catalog)
    readable = sorted(m for m in modules if m in catalog.modules and allows(stored.link.scopes, "read", m))
    return Caller(
        subject=f"link:{stored.id}",
        kind="public_link",
        roles=stored.link.roles,
        scopes=tuple(f"read:{m}" for m in readable),
        attributes=stored.link.attributes,
        dashboard=stored.id,
    )
