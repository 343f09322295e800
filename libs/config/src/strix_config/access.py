"""Access rules of a module: who may read it, who may post its events, and which rows each caller sees.

A module config's `access` section:

    access:
      read: [analyst, operator]   # roles that may read the module; absent: any caller with a read scope
      write: [producer]           # roles that may post events; absent: any caller with the write scope
      rows:                       # row filters bound to caller attributes, AND-ed
        - roles: [operator]       # applies to callers holding any of these roles (absent: to every caller)
          dimension: brand
          attribute: brand        # rows where brand IN caller.attributes["brand"]; missing attribute: no rows

Invariants, which every function here keeps:
- the `admin` scope bypasses roles and row filters; nothing else widens access;
- scopes and roles are two checks that must both pass: scopes say what the credential permits (`read`,
  `read:<module>`, `write`), roles say which modules' rules admit the caller;
- a public link (kind `public_link`) reads only the modules its scopes name one by one (`read:<module>`), never
  through a blanket `read`, and never writes;
- a row filter whose attribute the caller lacks, or whose values do not fit the dimension's type, matches no row.

The functions are pure over the config and the caller. The caller is `strix_contracts.caller.Caller`; this
library sits below `strix_contracts` (which reads module configs), so it names the caller's shape, `Principal`,
rather than importing the class, and returns row conditions as plain `RowCondition` values, which the query
service turns into its filter conditions (op `in`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Protocol

from pydantic import BaseModel, ConfigDict, Field

from strix_config.fieldtypes import INT64_MAX, INT64_MIN

if TYPE_CHECKING:
    from strix_config.model import ModuleConfig

# Role names as providers and API keys spell them ("analyst", "brand-admin", "org:viewer"): no blanks, no
# whitespace, nothing YAML could read as something else once quoted.
ROLE_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.:@/-]{0,127}$"
ATTRIBUTE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$"
# Attributes are strings (token claims); a row filter compares them with a dimension of one of these types.
ROW_FILTER_TYPES = ("string", "int")

Role = Annotated[str, Field(pattern=ROLE_PATTERN)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RowFilter(_Strict):
    """Rows a caller sees: only those whose dimension holds one of the caller's values of an attribute."""

    roles: list[Role] | None = Field(
        default=None,
        min_length=1,
        description="The filter applies to callers holding any of these roles; to every caller when absent.",
    )
    dimension: str = Field(description="The dimension (string or int) whose value must be among the caller's.")
    attribute: str = Field(
        pattern=ATTRIBUTE_PATTERN,
        description="The caller attribute (a token claim or an API key attribute, such as brand) holding the "
        "values the caller may see; a caller without it sees no rows.",
    )


class Access(_Strict):
    """Who may read this module, who may post its events, and which rows each caller sees (admins: all)."""

    read: list[Role] | None = Field(
        default=None,
        description="Roles that may read the module (with a read scope); any caller with a read scope when "
        "absent; only admins when empty.",
    )
    write: list[Role] | None = Field(
        default=None,
        description="Roles that may post events (with the write scope); any caller with the write scope when "
        "absent; only admins when empty.",
    )
    rows: list[RowFilter] = Field(
        default_factory=list,
        description="Row filters bound to caller attributes; every filter that applies to a caller must hold.",
    )


class Principal(Protocol):
    """The caller as these rules read it: the shape of `strix_contracts.caller.Caller`."""

    @property
    def kind(self) -> str: ...

    @property
    def roles(self) -> Sequence[str]: ...

    @property
    def scopes(self) -> Sequence[str]: ...

    @property
    def attributes(self) -> Mapping[str, Sequence[str]]: ...

    @property
    def is_admin(self) -> bool: ...

    def may(self, action: str, module: str | None = None) -> bool: ...


@dataclass(frozen=True)
class RowCondition:
    """`dimension IN values`: one row filter bound to one caller's attribute values (empty: no row)."""

    dimension: str
    values: tuple[str | int, ...]


def _holds_any(caller: Principal, roles: Sequence[str] | None) -> bool:
    return roles is None or any(role in roles for role in caller.roles)


def may_read(config: ModuleConfig, caller: Principal) -> bool:
    """Whether the caller may read the module: its scopes permit it and its roles are admitted."""
    if caller.is_admin:
        return True
    module = config.module
    # A link names each module it reads; a blanket `read` on a link would reach modules no panel shows.
    scoped = f"read:{module}" in caller.scopes if caller.kind == "public_link" else caller.may("read", module)
    return scoped and _holds_any(caller, config.access.read)


def may_write(config: ModuleConfig, caller: Principal) -> bool:
    """Whether the caller may post events to the module: the write scope and an admitted role."""
    if caller.is_admin:
        return True
    if caller.kind == "public_link":
        return False
    return caller.may("write", config.module) and _holds_any(caller, config.access.write)


def row_filters(config: ModuleConfig, caller: Principal) -> list[RowCondition]:
    """The conditions every row the caller reads must meet, in the order the config lists them (none for an
    admin). Attribute values are converted to the dimension's type; values that do not convert are dropped,
    never widened: a filter left without values matches no row."""
    if caller.is_admin:
        return []
    found: list[RowCondition] = []
    for rule in config.access.rows:
        if not _holds_any(caller, rule.roles):
            continue
        kind = config.field_type(config.dimension_field(rule.dimension))
        values = caller.attributes.get(rule.attribute, ())
        found.append(RowCondition(rule.dimension, _typed(values, kind)))
    return found


def _typed(values: Sequence[str], kind: str) -> tuple[str | int, ...]:
    if kind != "int":
        return tuple(dict.fromkeys(values))
    numbers: list[int] = []
    for value in values:
        try:
            number = int(value.strip())
        except ValueError:
            continue
        if INT64_MIN <= number <= INT64_MAX:
            numbers.append(number)
    return tuple(dict.fromkeys(numbers))


Path = tuple[str | int, ...]


def access_problems(
    config: ModuleConfig, declared_dimensions: frozenset[str] | None = frozenset()
) -> list[tuple[Path, str]]:
    """Reference problems of the `access` section as (YAML path, message): a row filter on an unknown dimension
    or on one whose type attributes cannot be compared with, a role listed twice. `declared_dimensions` are the
    dimensions the file declares even when broken (None: unreadable, any name goes), not reported again here."""
    problems: list[tuple[Path, str]] = []
    access = config.access
    for key, roles in (("read", access.read), ("write", access.write)):
        if roles is not None and len(set(roles)) != len(roles):
            problems.append((("access", key), "a role is listed twice"))
    for i, rule in enumerate(access.rows):
        path: Path = ("access", "rows", i)
        if rule.roles is not None and len(set(rule.roles)) != len(rule.roles):
            problems.append(((*path, "roles"), "a role is listed twice"))
        if rule.dimension not in config.dimensions:
            if declared_dimensions is not None and rule.dimension not in declared_dimensions:
                known = ", ".join(sorted(config.dimensions)) or "none"
                problems.append(((*path, "dimension"), f"unknown dimension {rule.dimension!r}; known: {known}"))
            continue
        field = config.dimension_field(rule.dimension)
        kind = config.event.fields[field].type if field in config.event.fields else None
        if kind is not None and kind not in ROW_FILTER_TYPES:
            problems.append(
                (
                    (*path, "dimension"),
                    f"a row filter compares caller attributes (strings) with the dimension; {rule.dimension!r} "
                    f"is {kind}: filter on a string or int dimension",
                )
            )
    return problems
