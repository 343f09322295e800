"""A fast path for the one shape that is large: lists of flat result rows.

graphql-core completes every field of every row through the generic executor (~6 µs a field: a 30-day hourly
top-10 answer with comparisons is ~100 k fields, half a second). Result rows are flat by construction — leaves,
plus nested metric-value objects of leaves — so when a selection on them uses only plain fields (no fragments,
directives or arguments), this execution context builds each row's dict directly with the same serialisers.
Any other selection goes through the generic executor unchanged, so the output is the same either way.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from operator import itemgetter
from typing import Any

from graphql import (
    FieldNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    get_nullable_type,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

RowBuilder = Callable[[list[Any]], dict[str, Any]]

# GraphQL object types whose instances are AttrRow mappings keyed by Python field name.
FLAT_TYPES: set[str] = set()


class ColumnarRows(list[list[Any]]):
    """Rows as arrays (the query service's wire form) with their column names (`previous.revenue` for nested)."""

    def __init__(self, columns: list[str], rows: list[list[Any]]) -> None:
        super().__init__(rows)
        self.columns = columns
        self.positions = {name: i for i, name in enumerate(columns)}

    def as_attr_rows(self) -> list[AttrRow]:
        """The same rows for the generic executor: attribute access, nested groups as their own rows."""
        flat_names = [c for c in self.columns if "." not in c]
        groups: dict[str, list[tuple[str, int]]] = {}
        for i, name in enumerate(self.columns):
            if "." in name:
                group, metric = name.split(".", 1)
                groups.setdefault(group, []).append((metric, i))
        out = []
        for row in self:
            item = AttrRow({name: row[self.positions[name]] for name in flat_names})
            if item.get("bucket") is not None:
                item["bucket"] = datetime.fromisoformat(item["bucket"])
            for group, members in groups.items():
                item[group] = AttrRow({metric: row[i] for metric, i in members})
            out.append(item)
        return out


class AttrRow(dict[str, Any]):
    """A result row: a dict (for the fast path) that also answers attribute access (for the generic one)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # not a field: keep protocols (await, copy, pickle) honest
            raise AttributeError(name)
        return self.get(name)


def _python_names(object_type: GraphQLObjectType) -> dict[str, str]:
    names: dict[str, str] = {}
    for graphql_name, field in object_type.fields.items():
        strawberry_field = field.extensions.get("strawberry-definition") if field.extensions else None
        names[graphql_name] = getattr(strawberry_field, "python_name", graphql_name)
    return names


def _builder(
    object_type: GraphQLObjectType, selections: list[Any], index: dict[str, int], prefix: str = ""
) -> RowBuilder | None:
    """A function from an array row to the response dict, or None when the selection needs the generic
    executor. Values are already serialised by the query service (ISO buckets, float metrics)."""
    python_names = _python_names(object_type)
    keys: list[str] = []
    positions: list[int] = []
    constants: dict[str, Any] = {}
    nested: list[tuple[str, RowBuilder, int]] = []
    for node in selections:
        if not isinstance(node, FieldNode) or node.directives or node.arguments:
            return None
        key = node.alias.value if node.alias else node.name.value
        if node.name.value == "__typename":
            constants[key] = object_type.name
            continue
        field = object_type.fields.get(node.name.value)
        if field is None:
            return None
        field_type = get_nullable_type(field.type)
        name = prefix + python_names[node.name.value]
        if isinstance(field_type, GraphQLScalarType) and node.selection_set is None:
            if name in index:
                keys.append(key)
                positions.append(index[name])
            else:
                constants[key] = None  # not requested of the query service: null, as the generic path gives
        elif isinstance(field_type, GraphQLObjectType) and field_type.name in FLAT_TYPES and node.selection_set:
            group = python_names[node.name.value]
            members = [i for n, i in index.items() if n.startswith(group + ".")]
            inner = _builder(field_type, list(node.selection_set.selections), index, group + ".")
            if inner is None:
                return None
            nested.append((key, inner, members[0] if members else -1))
        else:
            return None
    if len(positions) == 1:
        only = positions[0]

        def pick(row: list[Any]) -> tuple[Any, ...]:
            return (row[only],)
    elif positions:
        pick = itemgetter(*positions)  # type: ignore[assignment]
    else:

        def pick(row: list[Any]) -> tuple[Any, ...]:
            return ()

    def build(row: list[Any]) -> dict[str, Any]:
        out = dict(zip(keys, pick(row), strict=True))
        if constants:
            out.update(constants)
        for key, inner, probe in nested:
            out[key] = None if probe < 0 else inner(row)
        return out

    return build


class FlatRowsExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def complete_list_value(
        self,
        return_type: GraphQLList[GraphQLOutputType],
        field_details_list: Any,
        info: Any,
        path: Any,
        result: Any,
        position_context: Any,
    ) -> Any:
        if isinstance(result, ColumnarRows):
            item_type = return_type.of_type
            inner = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
            node = field_details_list[0].node
            if (
                isinstance(inner, GraphQLObjectType)
                and inner.name in FLAT_TYPES
                and len(field_details_list) == 1
                and node.selection_set is not None
            ):
                build = _builder(inner, list(node.selection_set.selections), result.positions)
                if build is not None:
                    return [build(row) for row in result]
            result = result.as_attr_rows()
        return super().complete_list_value(return_type, field_details_list, info, path, result, position_context)
