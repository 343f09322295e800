"""Cross-reference checks: every name in a module config points at something that exists and fits.

Returns (yaml_path, message) pairs so the loader can locate each one; never raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from strix_config.apinames import camel, field_clashes
from strix_config.fieldtypes import NUMERIC_TYPES, decimal_bound
from strix_config.model import (
    ORDER_OPS,
    STRING_OPS,
    EventField,
    FieldTest,
    ModuleConfig,
    Scalar,
    condition_tests,
    parse_duration,
)

Path = tuple[str | int, ...]

# Keys of a result row besides its dimensions and metrics.
RESERVED = frozenset({"bucket", "others", "previous", "change", "change_ratio", "joined"})


def _value_fits(field: EventField, value: Scalar) -> bool:
    """A config value (default, allowed value) of the field's type; times are RFC 3339 strings."""
    return field.type_spec.accepts(value)


def _datetime_fits(value: Scalar) -> bool:
    if not isinstance(value, str):
        return False
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return False
    return moment.tzinfo is not None


def _decimal_fits(field: EventField, value: Scalar) -> bool:
    """Within Decimal(18, scale) and with no more digits after the point than the field keeps: a condition on
    1.155 against a field of scale 2 could not be rendered exactly."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    number = Decimal(str(value))
    exponent = number.as_tuple().exponent
    return isinstance(exponent, int) and -exponent <= field.scale and abs(number) < decimal_bound(field.scale)


def condition_problems(name: str, field: EventField, op: str, value: Scalar | list[Scalar]) -> list[str]:
    """What is wrong with one test of a metric condition on event field `name`, against the field's type."""
    kind = field.type
    if op in STRING_OPS and not field.type_spec.text:
        return [f"`{op}` applies to string fields; {name!r} is {kind}"]
    if op in ORDER_OPS and not field.type_spec.ordered:
        return [f"`{op}` applies to numeric and datetime fields; {name!r} is {kind}"]
    problems: list[str] = []
    for item in value if isinstance(value, list) else [value]:
        if kind == "datetime":
            if not _datetime_fits(item):
                problems.append(f"{item!r} is not an RFC 3339 time with a zone, such as 2026-01-31T00:00:00Z")
        elif kind == "decimal":
            if not _decimal_fits(field, item):
                problems.append(f"{item!r} is not a decimal of at most {field.scale} digits after the point")
        elif not _value_fits(field, item):
            problems.append(f"{item!r} is not a {kind}")
    return problems


@dataclass(frozen=True)
class Declared:
    """Names a file declares, whether or not their definitions parsed (None: that part could not be read, so
    any name goes). A reference to a declared name whose definition is broken is not reported again: the
    definition's own problem is."""

    fields: frozenset[str] | None = frozenset()
    dimensions: frozenset[str] | None = frozenset()
    metrics: frozenset[str] | None = frozenset()

    @staticmethod
    def has(names: frozenset[str] | None, name: str) -> bool:
        return names is None or name in names


def check_module(config: ModuleConfig, declared: Declared | None = None) -> list[tuple[Path, str]]:
    """Every reference problem of a module; `declared` names the parts of the file that were set aside as
    structurally broken, so references to them are not reported as unknown."""
    problems: list[tuple[Path, str]] = []
    fields = config.event.fields
    known = ", ".join(sorted(fields))
    broken = declared or Declared()

    def need_field(path: Path, name: str) -> EventField | None:
        if name not in fields:
            if not broken.has(broken.fields, name):
                problems.append((path, f"unknown event field {name!r}; the event has: {known}"))
            return None
        return fields[name]

    def is_dimension(name: str) -> bool:
        return name in config.dimensions or broken.has(broken.dimensions, name)

    def is_metric(name: str) -> bool:
        return name in config.metrics or broken.has(broken.metrics, name)

    time_field = need_field(("event", "time_field"), config.event.time_field)
    if time_field is not None and time_field.type != "datetime":
        problems.append((("event", "time_field"), f"field {config.event.time_field!r} must have type datetime"))
    if time_field is not None and not time_field.required:
        problems.append((("event", "time_field"), "the event-time field must be required"))
    if config.event.id_field is not None:
        id_field = need_field(("event", "id_field"), config.event.id_field)
        if id_field is not None and (id_field.type not in ("string", "int") or not id_field.required):
            problems.append((("event", "id_field"), "the id field must be a required string or int"))
    if config.event.dedup_window is not None:
        if config.event.id_field is None:
            problems.append((("event", "dedup_window"), "a de-duplication window needs an `id_field`"))
        lateness = config.event.max_lateness
        if lateness is not None and parse_duration(config.event.dedup_window) < parse_duration(lateness):
            problems.append(
                (
                    ("event", "dedup_window"),
                    f"the de-duplication window {config.event.dedup_window} is shorter than max_lateness {lateness}: "
                    "an event re-sent late but within the lateness bound would count twice",
                )
            )
    need_field(("partition_by",), config.partition_by)

    for name, spec in fields.items():
        path: Path = ("event", "fields", name)
        if not spec.required and spec.default is None:
            problems.append((path, "an optional field needs a `default`, used when events omit it"))
        if spec.default is not None and not _value_fits(spec, spec.default):
            problems.append(((*path, "default"), f"default {spec.default!r} is not a {spec.type}"))
        for i, value in enumerate(spec.allowed or []):
            if not _value_fits(spec, value):
                problems.append(((*path, "allowed", i), f"allowed value {value!r} is not a {spec.type}"))
        if (spec.min is not None or spec.max is not None) and spec.type not in NUMERIC_TYPES:
            problems.append((path, "min and max apply to numeric fields only"))
        if spec.type == "datetime" and spec.allowed:
            problems.append(((*path, "allowed"), "allowed values do not apply to datetime fields"))

    for name in config.dimensions:
        field = need_field(("dimensions", name, "field"), config.dimension_field(name))
        if field is not None and not field.type_spec.dimension:
            problems.append((("dimensions", name), f"a dimension cannot be a {field.type} field; bucket it first"))

    for name, metric in config.metrics.items():
        mpath: Path = ("metrics", name)
        source = metric.source_field
        if source is not None:
            field = need_field((*mpath, "field"), source)
            if field is not None and field.type not in metric.field_types:
                needs = f"{metric.kind} needs a {metric.field_types_name} field"
                problems.append(((*mpath, "field"), f"{needs}, {source!r} is {field.type}"))
        for side, ref in zip(metric.input_keys, metric.inputs(), strict=True):
            if not is_metric(ref):
                problems.append(((*mpath, side), f"unknown metric {ref!r}; known: {', '.join(sorted(config.metrics))}"))
            elif ref == name:
                problems.append(((*mpath, side), f"a {metric.kind} cannot refer to itself"))
        for fname, wanted in (metric.where or {}).items():
            field = need_field((*mpath, "where", fname), fname)
            if field is None:
                continue
            for op, tested in condition_tests(wanted):
                at: Path = (
                    (*mpath, "where", fname) if not isinstance(wanted, FieldTest) else (*mpath, "where", fname, op)
                )
                problems.extend((at, message) for message in condition_problems(fname, field, op, tested))

    for name in [*config.dimensions, *config.metrics]:
        if name in RESERVED:
            problems.append(((), f"{name!r} is reserved; rename that dimension or metric"))
    for name in set(config.dimensions) & set(config.metrics):
        problems.append((("metrics", name), f"{name!r} is both a dimension and a metric"))
    row_names = [*((d, ("dimensions", d)) for d in config.dimensions), *((m, ("metrics", m)) for m in config.metrics)]
    problems.extend(field_clashes(row_names, {camel(r): r for r in RESERVED}))

    stored = set(config.stored_metrics())
    for name, rollup in config.rollups.items():
        rpath: Path = ("rollups", name)
        for i, dim in enumerate(rollup.dimensions):
            if not is_dimension(dim):
                problems.append(
                    (
                        (*rpath, "dimensions", i),
                        f"unknown dimension {dim!r}; known: {', '.join(sorted(config.dimensions))}",
                    )
                )
        if len(set(rollup.dimensions)) != len(rollup.dimensions):
            problems.append(((*rpath, "dimensions"), "a dimension is listed twice"))
        for i, metric_name in enumerate(rollup.metrics or []):
            if metric_name not in stored and (metric_name in config.metrics or not is_metric(metric_name)):
                problems.append(((*rpath, "metrics", i), f"{metric_name!r} is not a stored metric of this module"))
    for qname, query in config.queries.items():
        qpath: Path = ("queries", qname)
        for i, metric_name in enumerate(query.metrics):
            if not is_metric(metric_name):
                problems.append(((*qpath, "metrics", i), f"unknown metric {metric_name!r}"))
        for i, dim in enumerate(query.group_by):
            if not is_dimension(dim):
                problems.append(((*qpath, "group_by", i), f"unknown dimension {dim!r}"))
        for i, test in enumerate(query.filters):
            if not is_dimension(test.dimension):
                problems.append(((*qpath, "filters", i, "dimension"), f"unknown dimension {test.dimension!r}"))
        if query.top is not None and not is_metric(query.top.by):
            problems.append(((*qpath, "top", "by"), f"unknown metric {query.top.by!r}"))
        window = query.window
        if (window.last is None) != (window.unit is None):
            problems.append(((*qpath, "window"), "`last` and `unit` go together"))
        if (window.last is None) == (window.preset is None):
            problems.append(((*qpath, "window"), "give either `last` and `unit`, or `preset`"))
    for jname, join in config.joins.items():
        for dim in join.match:
            if not is_dimension(dim):
                problems.append((("joins", jname, "match", dim), f"unknown dimension {dim!r} of this module"))
    if not config.rollups and not config.raw.keep:
        problems.append((("rollups",), "a module that keeps no raw events needs at least one rollup"))
    return problems


def check_joins(
    modules: dict[str, ModuleConfig], broken: dict[str, frozenset[str] | None] | None = None
) -> list[tuple[str, Path, str]]:
    """Joins point across modules, so they are checked once every module has loaded: (module, path, message).

    `broken` holds modules whose files have problems of their own, by declared name, with the dimensions they
    declare (None when unreadable): a join to one is checked against those, never reported as unknown."""
    problems: list[tuple[str, Path, str]] = []
    others = broken or {}
    for name, config in modules.items():
        for jname, join in config.joins.items():
            other = modules.get(join.module)
            if other is not None:
                dimensions: frozenset[str] | None = frozenset(other.dimensions)
            elif join.module in others:
                dimensions = others[join.module]
            else:
                known = ", ".join(sorted({*modules, *others})) or "none"
                problems.append((name, ("joins", jname, "module"), f"unknown module {join.module!r}; known: {known}"))
                continue
            for mine, theirs in join.match.items():
                if dimensions is not None and theirs not in dimensions:
                    problems.append(
                        (name, ("joins", jname, "match", mine), f"{join.module} has no dimension {theirs!r}")
                    )
            joined_metrics = frozenset(other.metrics) if other is not None else None
            problems.extend(
                (name, path, message) for path, message in _join_metric_problems(config, jname, joined_metrics)
            )
    return problems


def _join_metric_problems(
    config: ModuleConfig, jname: str, joined_metrics: frozenset[str] | None
) -> list[tuple[Path, str]]:
    """The derived metrics of a join: named apart from the module's own names, reading metrics of this module
    (a bare name) or of the joined one (<module>.<metric>; None: that module is broken, any name goes)."""
    join = config.joins[jname]
    row_names = {camel(n): n for n in [*RESERVED, *config.dimensions, *config.metrics]}
    problems = field_clashes(((n, ("joins", jname, "metrics", n)) for n in join.metrics), row_names)
    for metric_name, metric in join.metrics.items():
        path: Path = ("joins", jname, "metrics", metric_name)
        if metric_name in config.metrics or metric_name in config.dimensions or metric_name in RESERVED:
            problems.append((path, f"{metric_name!r} is already a name of this module's rows; name it apart"))
        for key, ref in zip(metric.input_keys, metric.inputs(), strict=True):
            joined, target = join.side(ref)
            known = joined_metrics if joined else frozenset(config.metrics)
            if known is not None and target not in known:
                owner = join.module if joined else config.module
                problems.append(
                    (
                        (*path, key),
                        f"{owner} has no metric {target!r}; name this module's metrics alone and "
                        f"{join.module}'s as {join.module}.<metric>",
                    )
                )
    return problems
