"""What a caller may see of a request: the module access rules, enforced where the data is read.

The query service is the authority: the gateway only forwards the caller its door verified. Every path — a query,
a predefined query, a subscription's re-run, a join, a record page — asks `authorize` first, before the answer
cache is consulted, and reads with the row filters it returns added to the request's own filters. The filters
are therefore part of every cache key (the answer cache's and the bucket cache's shapes), and an answer filled
for a caller who may see more never reaches one who may see less.

Invariants:
- no caller, no data (Unauthorized); a module the caller may not read, or a joined one, is refused naming it
  (Forbidden) before anything is planned;
- the caller's identity is not part of a cache key, only what it may see: two operators of one brand share
  answers; an operator and an admin do not;
- the joined side is filtered by the joined module's rules, the main side by the main module's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from strix_config import Catalog, ModuleConfig
from strix_config.access import RowCondition, may_read, row_filters
from strix_contracts.caller import Caller
from strix_contracts.errors import Forbidden, Unauthorized
from strix_contracts.query import Condition, QueryRequest, RecordsRequest
from strix_query.validation import module_of


@dataclass(frozen=True)
class Grant:
    """The row filters that bind one caller: of the module asked, and of the module it joins (if any)."""

    rows: list[Condition] = field(default_factory=list)
    joined_rows: list[Condition] = field(default_factory=list)


def authorize(catalog: Catalog, request: QueryRequest | RecordsRequest) -> Grant:
    """The caller's grant for `request`, or the refusal: Unauthorized without a caller, Forbidden for a module
    (asked or joined) it may not read, NotFound for an unknown module."""
    caller = request.caller
    if caller is None:
        raise Unauthorized(
            "no caller: every query is asked on behalf of a verified identity",
            hint="send the request through the gateway with a token or an API key",
        )
    config = module_of(catalog, request)
    require_read(config, caller)
    joined: list[Condition] = []
    if isinstance(request, QueryRequest) and request.join is not None:
        spec = config.joins.get(request.join.name)
        if spec is not None and spec.module in catalog.modules:  # an unknown join is refused with a hint later
            other = catalog.modules[spec.module]
            require_read(other, caller, joined_by=config.module)
            joined = conditions(row_filters(other, caller))
    return Grant(conditions(row_filters(config, caller)), joined)


def require_read(config: ModuleConfig, caller: Caller, joined_by: str | None = None) -> None:
    """Refuse, naming the module and what is missing, unless the caller may read it."""
    if may_read(config, caller):
        return
    module = config.module
    through = f" (joined by {joined_by})" if joined_by else ""
    if caller.kind == "public_link" and caller.may("read", module):
        hint = f"a public link reads only the modules its dashboard's panels name (read:{module})"
    elif not caller.may("read", module):
        hint = f"the credential needs the scope read or read:{module}"
    else:
        hint = f"the module admits the roles {', '.join(config.access.read or []) or '(admins only)'}"
    raise Forbidden(f"{caller.subject} may not read module {module!r}{through}", argument="module", hint=hint)


def conditions(found: Sequence[RowCondition]) -> list[Condition]:
    """Row filters as query conditions: `dimension in values` (an empty list matches no row)."""
    return [Condition(dimension=r.dimension, op="in", value=list(r.values)) for r in found]


def restricted(request: QueryRequest, rows: list[Condition]) -> QueryRequest:
    """The request as it is planned and cached: its filters AND the caller's row filters, and no caller (the
    identity is not what decides the rows, the filters are)."""
    return request.model_copy(update={"filters": [*request.filters, *rows], "caller": None})


def restricted_records(request: RecordsRequest, rows: list[Condition]) -> RecordsRequest:
    return request.model_copy(update={"filters": [*request.filters, *rows], "caller": None})
