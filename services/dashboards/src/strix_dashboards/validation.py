"""Panels checked against the module configs: pure functions over a dashboard's content and the catalog.

Two uses of one walk (`panel_problems`):
- on write, every problem refuses the edit with one `QueryError` naming the panel and the field
  (`panels[2].query.metrics[0]: unknown metric 'revnue' in module 'gaming'`), with the names it could have used;
- on read, the problems of references the configs no longer hold mark their panel
  (`metric revenue is no longer in module gaming`) and the dashboard still loads.

Layout rules (every panel on the 12-column grid, no two overlapping) and unique panel ids are write-time only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from strix_config import Catalog, ModuleConfig
from strix_config.access import may_read
from strix_contracts.caller import Caller
from strix_contracts.dashboards import DashboardContent, Layout, Panel
from strix_contracts.errors import Forbidden, QueryError
from strix_contracts.query import AllOf, AnyOf, Condition, Filter

_SHOWN = 12  # names listed in a hint
# A dashboard is one KV value, and a NATS message (1 MB by default) carries it with its request: room for a
# hundred panels with generous options, and a clear refusal before the server's.
MAX_CONTENT_BYTES = 256 * 1024


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one panel: where (`field`, under the panel), what (`message`, for an editor), and,
    for a reference the configs no longer hold, how a reader is told (`gone`)."""

    index: int
    panel: str
    field: str
    message: str
    hint: str | None = None
    gone: str | None = None

    @property
    def argument(self) -> str:
        return f"content.panels[{self.index}].{self.field}"

    def describe(self) -> str:
        return f"panel {self.panel!r}: {self.field}: {self.message}"


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(sorted(names)[:_SHOWN])
    return shown + (", ..." if len(names) > _SHOWN else "") if names else "none"


def _conditions(filters: Sequence[Filter], path: str) -> Iterator[tuple[str, Condition]]:
    """Every condition of a filter tree with its path, without recursion (the tree is size-checked, not shallow)."""
    stack: list[tuple[Sequence[Filter], str]] = [(filters, path)]
    while stack:
        items, where = stack.pop()
        for i, item in enumerate(items):
            here = f"{where}[{i}]"
            if isinstance(item, AllOf):
                stack.append((item.all, f"{here}.all"))
            elif isinstance(item, AnyOf):
                stack.append((item.any, f"{here}.any"))
            else:
                yield f"{here}.dimension", item


def panel_problems(index: int, panel: Panel, catalog: Catalog) -> list[Problem]:
    """What of the panel's query the module configs do not hold (module, metrics, dimensions, join), and whether
    its visualization fits its query."""
    query = panel.query

    def problem(field: str, message: str, hint: str | None = None, gone: str | None = None) -> Problem:
        return Problem(index, panel.id, field, message, hint, gone)

    config = catalog.get(query.module)
    if config is None:
        return [
            problem(
                "query.module",
                f"unknown module {query.module!r}",
                f"modules: {_names(catalog.names())}",
                f"module {query.module} is no longer served",
            )
        ]
    found: list[Problem] = []
    module = config.module
    dimensions = list(config.dimensions)

    def metric(field: str, name: str, owner: ModuleConfig) -> None:
        if name not in owner.metrics:
            found.append(
                problem(
                    field,
                    f"unknown metric {name!r} in module {owner.module!r}",
                    f"metrics of {owner.module}: {_names(list(owner.metrics))}",
                    f"metric {name} is no longer in module {owner.module}",
                )
            )

    def dimension(field: str, name: str) -> None:
        if name not in config.dimensions:
            found.append(
                problem(
                    field,
                    f"unknown dimension {name!r} in module {module!r}",
                    f"dimensions of {module}: {_names(dimensions)}",
                    f"dimension {name} is no longer in module {module}",
                )
            )

    for i, name in enumerate(query.metrics):
        metric(f"query.metrics[{i}]", name, config)
    for i, name in enumerate(query.group_by):
        dimension(f"query.group_by[{i}]", name)
    for path, condition in _conditions(query.filters, "query.filters"):
        dimension(path, condition.dimension)
    for i, order in enumerate(query.order_by):
        if order.field != "bucket" and order.field not in config.metrics and order.field not in config.dimensions:
            found.append(
                problem(
                    f"query.order_by[{i}].field",
                    f"cannot order by {order.field!r}: not bucket, a dimension or a metric of {module!r}",
                    "order by bucket, a group-by dimension or a requested metric",
                    f"{order.field} is no longer in module {module}",
                )
            )
    if query.top is not None:
        metric("query.top.by", query.top.by, config)
    if query.join is not None:
        spec = config.joins.get(query.join.name)
        joined = catalog.get(spec.module) if spec is not None else None
        if spec is None or joined is None:
            found.append(
                problem(
                    "query.join.name",
                    f"unknown join {query.join.name!r} of module {module!r}",
                    f"joins of {module}: {_names(list(config.joins))}",
                    f"join {query.join.name} is no longer in module {module}",
                )
            )
        else:
            for i, name in enumerate(query.join.metrics):
                metric(f"query.join.metrics[{i}]", name, joined)
    if panel.visualization == "records":
        if not config.raw.keep:
            found.append(
                problem(
                    "visualization",
                    f"module {module!r} keeps no raw events to list",
                    "set raw.keep in its config, or choose another visualization",
                    f"module {module} no longer keeps raw events",
                )
            )
    elif not query.metrics:
        found.append(problem("query.metrics", f"a {panel.visualization} panel needs at least one metric"))
    return found


def _overlap(a: Layout, b: Layout) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


def content_problems(content: DashboardContent, catalog: Catalog) -> list[Problem]:
    found: list[Problem] = []
    seen: dict[str, int] = {}
    for index, panel in enumerate(content.panels):
        if panel.id in seen:
            found.append(Problem(index, panel.id, "id", f"panel id {panel.id!r} is also panels[{seen[panel.id]}]"))
        seen.setdefault(panel.id, index)
        for other in content.panels[:index]:
            if _overlap(panel.layout, other.layout):
                found.append(
                    Problem(
                        index,
                        panel.id,
                        "layout",
                        f"overlaps panel {other.id!r}",
                        "place panels side by side or below one another on the 12-column grid",
                    )
                )
                break
        found.extend(panel_problems(index, panel, catalog))
    return found


def check_content(content: DashboardContent, catalog: Catalog) -> DashboardContent:
    """The content as stored (panels' `problems` cleared), or one QueryError listing every problem, the first
    one's place as its argument."""
    size = len(content.model_dump_json())
    if size > MAX_CONTENT_BYTES:
        raise QueryError(
            f"the dashboard is {size} bytes as JSON, more than {MAX_CONTENT_BYTES}",
            argument="content",
            hint="keep panel options small; split a large dashboard in two",
        )
    found = content_problems(content, catalog)
    if found:
        first = found[0]
        more = f" (and {len(found) - 1} more: " + "; ".join(p.describe() for p in found[1:]) + ")" if found[1:] else ""
        raise QueryError(first.describe() + more, argument=first.argument, hint=first.hint)
    return cleared(content)


def cleared(content: DashboardContent) -> DashboardContent:
    """The content without read-time `problems` (never stored; a client may send back what it read)."""
    return content.model_copy(update={"panels": [p.model_copy(update={"problems": []}) for p in content.panels]})


def marked(panels: Sequence[Panel], catalog: Catalog) -> list[Panel]:
    """Panels as a reader gets them: each with what the current configs no longer hold."""
    result = []
    for index, panel in enumerate(panels):
        gone = [p.gone for p in panel_problems(index, panel, catalog) if p.gone is not None]
        result.append(panel.model_copy(update={"problems": gone}))
    return result


def panel_modules(panel: Panel, catalog: Catalog) -> set[str]:
    """The modules a panel reads: its own and, for a join, the joined one."""
    modules = {panel.query.module}
    config = catalog.get(panel.query.module)
    if config is not None and panel.query.join is not None:
        spec = config.joins.get(panel.query.join.name)
        if spec is not None:
            modules.add(spec.module)
    return modules


def check_readable(content: DashboardContent, previous: Sequence[Panel], catalog: Catalog, caller: Caller) -> None:
    """Refuse a new or changed panel on a module the caller may not read (scopes and the module's access roles):
    an editor builds panels only from what it sees. Panels left as they were are not held against it."""
    before = {p.id: p.query for p in previous}
    for index, panel in enumerate(content.panels):
        if before.get(panel.id) == panel.query:
            continue
        for module in sorted(panel_modules(panel, catalog)):
            config = catalog.get(module)
            if config is None:
                continue  # an unknown module is a validation problem, reported by check_content
            if not (caller.may("read", module) and may_read(config, caller)):
                raise Forbidden(
                    f"panel {panel.id!r}: {caller.subject} may not read module {module!r}",
                    argument=f"content.panels[{index}].query.module",
                    hint="build panels from the modules your roles and scopes let you read",
                )
