"""The dashboards contract between the gateway and the dashboards service: dashboards as data, and their subjects.

A dashboard is a title, a description and panels; a panel is a query (the fields of a `QueryRequest` except the
caller, who is whoever looks at the panel), a visualization, free-form options and a place on a 12-column grid.
Every request names its `caller` (verified by the door); the service decides what that caller may do.

Invariants:
- `revision` is the JetStream KV revision of the stored dashboard: it grows with every change (edit, share, link,
  transfer, restore) and an edit or restore names the revision it starts from; any other is refused with the
  current dashboard (`Conflict`, `detail.current`), never merged.
- A public link's token is shown once, when made; the service keeps only its SHA-256.
- `Panel.problems` is computed on read (a module, metric or dimension the module configs no longer hold); it is
  never stored and ignored on input.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from strix_contracts.caller import Caller
from strix_contracts.query import (
    Comparison,
    Filter,
    Join,
    Order,
    QueryGranularity,
    TimeWindow,
    TopN,
    check_filter_size,
)

# --- subjects (`dashboards.<verb>`, answered by the strix-dashboards micro service) ---------------------------

DASHBOARDS_SERVICE = "strix-dashboards"
DASHBOARDS_CREATE = "dashboards.create"
DASHBOARDS_GET = "dashboards.get"
DASHBOARDS_EDIT = "dashboards.edit"
DASHBOARDS_DELETE = "dashboards.delete"
DASHBOARDS_DUPLICATE = "dashboards.duplicate"
DASHBOARDS_LIST = "dashboards.list"
DASHBOARDS_SHARE = "dashboards.share"
DASHBOARDS_UNSHARE = "dashboards.unshare"
DASHBOARDS_TRANSFER = "dashboards.transfer"
DASHBOARDS_REVISIONS = "dashboards.revisions"
DASHBOARDS_RESTORE = "dashboards.restore"
DASHBOARDS_LINK_CREATE = "dashboards.link.create"
DASHBOARDS_LINK_REVOKE = "dashboards.link.revoke"
# Answered for a door's verifier (strix_runtime.callers.LINK_RESOLVE): a link token -> its `Caller`.
DASHBOARDS_LINK_RESOLVE = "dashboards.link.resolve"

GRID_COLUMNS = 12  # a panel's x + w fits in these
MAX_PANELS = 100
MAX_GRID_ROWS = 1000
PANEL_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
DASHBOARD_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

Visualization = Literal["kpi", "table", "bar", "pie", "line", "records"]
Permission = Literal["view", "edit"]
ShareKind = Literal["user", "role", "everyone"]
ListScope = Literal["mine", "shared", "public", "all"]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PanelQuery(Model):
    """What a panel asks: a `QueryRequest` without its caller (the viewer asks) or its transport options."""

    module: str
    metrics: list[str] = Field(default_factory=list, max_length=50)  # none for a records panel
    group_by: list[str] = Field(default_factory=list, max_length=10)
    filters: list[Filter] = Field(default_factory=list)
    window: TimeWindow = Field(default_factory=lambda: TimeWindow(last=24, unit="hour"))
    granularity: QueryGranularity = "hour"
    time_zone: str = "UTC"
    order_by: list[Order] = Field(default_factory=list)
    limit: int | None = Field(default=None, ge=1)
    fill: bool = False
    top: TopN | None = None
    compare: Comparison | None = None
    join: Join | None = None

    _filter_size = field_validator("filters", mode="before")(check_filter_size)


class Layout(Model):
    """A panel's place on the grid: column `x` (0-11) and row `y`, `w` columns wide and `h` rows high."""

    x: int = Field(ge=0, lt=GRID_COLUMNS)
    y: int = Field(ge=0, le=MAX_GRID_ROWS)
    w: int = Field(ge=1, le=GRID_COLUMNS)
    h: int = Field(ge=1, le=100)

    @model_validator(mode="after")
    def _fits(self) -> Layout:
        if self.x + self.w > GRID_COLUMNS:
            raise ValueError(f"x + w is {self.x + self.w}, past the {GRID_COLUMNS} columns of the grid")
        return self


class Panel(Model):
    id: str = Field(pattern=PANEL_ID_PATTERN)
    title: str = Field(default="", max_length=200)
    query: PanelQuery
    visualization: Visualization
    options: dict[str, Any] = Field(default_factory=dict)  # the visualization's own settings (colours, stacking)
    layout: Layout
    # Set on read: what the module configs no longer hold ("metric x is no longer in module y"). Never stored.
    problems: list[str] = Field(default_factory=list)


class DashboardContent(Model):
    """What an editor writes: the title, description and panels (what a revision restores)."""

    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    panels: list[Panel] = Field(default_factory=list, max_length=MAX_PANELS)


class Share(Model):
    """Who else sees a dashboard: a user (by subject), everyone holding a role, or every signed-in caller."""

    kind: ShareKind
    name: str = Field(default="", max_length=256)  # the subject or role; empty for everyone
    permission: Permission = "view"

    @model_validator(mode="after")
    def _named(self) -> Share:
        if (self.kind == "everyone") != (self.name == ""):
            raise ValueError("a user or role share names its user or role; a share with everyone names none")
        return self


class LinkInfo(Model):
    """A dashboard's public link, without its token."""

    created_at: AwareDatetime
    created_by: str


class Dashboard(DashboardContent):
    id: str
    owner: str  # the owner's subject (what permissions compare)
    # How people know the owner: the name or email its identity carried, "API key <name>", or the subject when
    # none was known (a dashboard transferred to a subject who has not saved it since).
    owner_name: str = ""
    shares: list[Share] = Field(default_factory=list)
    link: LinkInfo | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime
    updated_by: str
    updated_by_name: str = ""  # how people know `updated_by` (as `owner_name`)
    revision: int = 0  # the KV revision this dashboard was read at


class RevisionInfo(Model):
    revision: int
    updated_at: datetime
    updated_by: str
    updated_by_name: str = ""
    title: str
    panels: int


# --- requests and replies -------------------------------------------------------------------------------------


class Asked(Model):
    caller: Caller


class CreateDashboard(Asked):
    content: DashboardContent


class DashboardRef(Asked):
    id: str = Field(pattern=DASHBOARD_ID_PATTERN)


class GetDashboard(DashboardRef):
    revision: int | None = Field(default=None, ge=1)  # a past revision (None: the current one)


class EditDashboard(DashboardRef):
    revision: int = Field(ge=1)  # the revision the edit starts from
    content: DashboardContent


class DuplicateDashboard(DashboardRef):
    title: str | None = Field(default=None, min_length=1, max_length=200)


class ListDashboards(Asked):
    scope: ListScope = "mine"


class ShareDashboard(DashboardRef):
    share: Share


class UnshareDashboard(DashboardRef):
    kind: ShareKind
    name: str = ""


class TransferDashboard(DashboardRef):
    owner: str = Field(min_length=1, max_length=256)


class RestoreRevision(DashboardRef):
    revision: int = Field(ge=1)  # the past revision whose content comes back
    from_revision: int = Field(ge=1)  # the current revision the restore starts from


class LinkToken(Model):
    token: str = Field(min_length=1, max_length=512)


class DashboardList(Model):
    dashboards: list[Dashboard]


class Revisions(Model):
    revisions: list[RevisionInfo]  # newest first


class LinkCreated(Model):
    token: str  # shown once: only its hash is kept
    dashboard: Dashboard


class Deleted(Model):
    id: str
