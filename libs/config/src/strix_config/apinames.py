"""GraphQL names of what the configs declare: the one naming rule, and the names a config may not take.

The gateway generates a root field per module (`<module>`, `<module>Records`, `<module><Query>`,
`<module>With<Join>`) beside its own fields (`modules`, the dashboard queries), and a field per dimension and
metric in a module's rows. Two names that meet in one type would silently replace one another, so the configs are
checked when they load, each clash with its file and line. `GATEWAY_FIELDS` is what the gateway defines itself: a
gateway test builds its schema and holds the two equal (a library cannot read a service).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from strix_config.model import ModuleConfig

Path = tuple[str | int, ...]

# The root Query fields the gateway defines besides the modules' (schema.py: modules; dashboards.py: the rest).
GATEWAY_FIELDS = frozenset({"modules", "dashboard", "dashboards", "dashboardRevisions"})


def pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def enum_value(name: str) -> str:
    return name.upper()


def root_fields(config: ModuleConfig) -> list[tuple[str, Path]]:
    """The root fields a module adds (on Query; its live field on Subscription has its own name), each with the
    YAML path that makes it."""
    module = camel(config.module)
    fields: list[tuple[str, Path]] = [(module, ("module",))]
    if config.raw.keep:
        fields.append((module + "Records", ("module",)))
    fields += [(module + pascal(name), ("queries", name)) for name in config.queries]
    fields += [(module + "With" + pascal(name), ("joins", name)) for name in config.joins]
    return fields


def root_field_clashes(modules: Mapping[str, ModuleConfig]) -> list[tuple[str, Path, str]]:
    """(module, path, message) for each root field that is the gateway's own or another's (reported at the later
    of the two, in module order, naming the first)."""
    owners: dict[str, tuple[str, Path]] = {}
    problems: list[tuple[str, Path, str]] = []
    for name in sorted(modules):
        for field, path in root_fields(modules[name]):
            if field in GATEWAY_FIELDS:
                problems.append(
                    (name, path, f"makes the GraphQL field {field!r}, which the gateway defines itself; rename it")
                )
            elif field in owners:
                other, other_path = owners[field]
                problems.append(
                    (
                        name,
                        path,
                        f"makes the GraphQL field {field!r}, as {other} does at {'.'.join(map(str, other_path))}; "
                        "rename one",
                    )
                )
            else:
                owners[field] = (name, path)
    return problems


def field_clashes(names: Iterable[tuple[str, Path]], taken: Mapping[str, str] | None = None) -> list[tuple[Path, str]]:
    """(path, message) for each name whose camelCase field another name of the same type already has: `taken`
    holds fields already there (field -> the name that makes it), `names` come in order with their paths."""
    seen = dict(taken or {})
    problems: list[tuple[Path, str]] = []
    for name, path in names:
        field = camel(name)
        if field in seen and seen[field] != name:
            problems.append((path, f"{name!r} is the GraphQL field {field!r}, as {seen[field]!r} is; rename one"))
        else:
            seen.setdefault(field, name)
    return problems
