"""Result rows without per-row work in the gateway.

graphql-core completes every field of every row through the generic executor (~6 µs a field: a 30-day hourly
top-10 answer with comparisons is ~100 k fields, half a second). Result rows are flat by construction — leaves,
plus nested metric-value objects of leaves — so when the selection on `rows` uses only plain fields (no
fragments, directives or arguments), the resolver turns it into a row layout and the query service answers with
each row already encoded as its response object (and keeps that encoding with its cached rows). This execution
context writes those bytes into the response as they are. Any other selection goes through the generic executor
over attribute rows; a test checks both write the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from graphql import (
    FieldNode,
    GraphQLEnumType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    get_nullable_type,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from strix_contracts.query import NESTED_GROUPS, RowField

# Row types and their nested value types: flat objects of leaves (AttrRow mappings by Python field name).
FLAT_TYPES: set[str] = set()
# Enums of `allowed:` values where some value is not its own GraphQL name: rows carry the value, the answer the
# name, so only the generic executor writes them.
MAPPED_ENUMS: set[str] = set()


@dataclass(frozen=True, slots=True)
class EncodedRows:
    """The rows of an answer as the JSON array the query service wrote, laid out as the selection asked."""

    raw: msgspec.Raw


def decode_answer(data: bytes, laid_out: bool) -> dict[str, Any]:
    """A query service answer as plain data; rows written with a layout stay bytes (EncodedRows): scanning
    past them costs a fraction of decoding them."""
    if not laid_out:
        answer: dict[str, Any] = msgspec.json.decode(data)
        return answer
    parts = msgspec.json.decode(data, type=dict[str, msgspec.Raw])
    rows = parts.pop("rows")
    decoded = {name: msgspec.json.decode(value) for name, value in parts.items()}
    decoded["rows"] = EncodedRows(rows)
    return decoded


def rows_layout(info: GraphQLResolveInfo[Any]) -> list[RowField] | None:
    """The layout of `rows` in the result this resolver returns, or None when the selection needs the generic
    executor (fragments or directives around `rows`, `rows` asked twice, a non-plain field inside)."""
    if len(info.field_nodes) != 1 or info.field_nodes[0].selection_set is None:
        return None
    result_type = get_nullable_type(info.return_type)
    if not isinstance(result_type, GraphQLObjectType) or "rows" not in result_type.fields:
        return None
    selections = info.field_nodes[0].selection_set.selections
    if not all(isinstance(node, FieldNode) for node in selections):
        return None  # a fragment may hold another `rows`
    rows = [node for node in selections if isinstance(node, FieldNode) and node.name.value == "rows"]
    if len(rows) != 1 or rows[0].directives or rows[0].arguments or rows[0].selection_set is None:
        return None
    row_type = get_nullable_type(result_type.fields["rows"].type)
    if isinstance(row_type, GraphQLList):
        row_type = get_nullable_type(row_type.of_type)
    if not isinstance(row_type, GraphQLObjectType) or row_type.name not in FLAT_TYPES:
        return None
    return row_layout(row_type, list(rows[0].selection_set.selections))


def _python_names(object_type: GraphQLObjectType) -> dict[str, str]:
    names: dict[str, str] = {}
    for graphql_name, field in object_type.fields.items():
        strawberry_field = field.extensions.get("strawberry-definition") if field.extensions else None
        names[graphql_name] = getattr(strawberry_field, "python_name", graphql_name)
    return names


def row_layout(object_type: GraphQLObjectType, selections: list[Any]) -> list[RowField] | None:
    """The response keys of a row selection, in order, with the row value under each (Python names: a
    dimension, a metric, `bucket`, `others`, or a nested group of values); None when a selection is not a plain
    field. A field the query service was not asked for comes back null, as the generic executor gives it."""
    python_names = _python_names(object_type)
    layout: list[RowField] = []
    for node in selections:
        if not isinstance(node, FieldNode) or node.directives or node.arguments:
            return None
        key = node.alias.value if node.alias else node.name.value
        if node.name.value == "__typename":
            layout.append(RowField(key=key, constant=object_type.name))
            continue
        field = object_type.fields.get(node.name.value)
        if field is None:
            return None
        field_type = get_nullable_type(field.type)
        name = python_names[node.name.value]
        if isinstance(field_type, GraphQLEnumType) and field_type.name in MAPPED_ENUMS:
            return None
        if isinstance(field_type, GraphQLScalarType | GraphQLEnumType) and node.selection_set is None:
            layout.append(RowField(key=key, value=name, integer=field_type.name == "Long"))
        elif (
            isinstance(field_type, GraphQLObjectType)
            and field_type.name in FLAT_TYPES
            and name in NESTED_GROUPS
            and node.selection_set is not None
        ):
            inner = row_layout(field_type, list(node.selection_set.selections))
            if inner is None:
                return None
            layout.append(RowField(key=key, group=name, fields=inner))
        else:
            return None
    if len({f.key for f in layout}) != len(layout):
        return None  # the same key twice (allowed when the selections agree): the generic executor merges them
    return layout


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
    """A result row for the generic executor: a dict that answers attribute access."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # not a field: keep protocols (await, copy, pickle) honest
            raise AttributeError(name)
        return self.get(name)


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
        if isinstance(result, EncodedRows):
            return result.raw  # the JSON encoder writes it as it is
        if isinstance(result, ColumnarRows):
            result = result.as_attr_rows()
        return super().complete_list_value(return_type, field_details_list, info, path, result, position_context)
