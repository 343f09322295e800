"""A fast path for the one shape that is large: lists of flat result rows.

graphql-core completes every field of every row through the generic executor (~6 µs a field: a 30-day hourly
top-10 answer with comparisons is ~100 k fields, half a second). Result rows are flat by construction — leaves,
plus nested metric-value objects of leaves — so when a selection on them uses only plain fields (no fragments,
directives or arguments), this execution context builds each row's dict directly with the same serialisers.
Any other selection goes through the generic executor unchanged, so the output is the same either way.
"""

from __future__ import annotations

from collections.abc import Callable
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

RowBuilder = Callable[[Any], dict[str, Any]]

# GraphQL object types whose instances are AttrRow mappings keyed by Python field name.
FLAT_TYPES: set[str] = set()


class AttrRow(dict[str, Any]):
    """A result row: a dict (for the fast path) that also answers attribute access (for the generic one)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # not a field: keep protocols (await, copy, pickle) honest
            raise AttributeError(name)
        return self.get(name)


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"Float cannot represent {value!r}")
    return float(value)


# The built-in scalars' serialisers check and coerce every kind of input (~3 µs a value); row values were typed
# by the query service already, so these only convert.
_FAST_SERIALIZERS: dict[str, Callable[[Any], Any]] = {"Float": _float, "Boolean": bool, "String": str, "Long": int}


def _python_names(object_type: GraphQLObjectType) -> dict[str, str]:
    names: dict[str, str] = {}
    for graphql_name, field in object_type.fields.items():
        strawberry_field = field.extensions.get("strawberry-definition") if field.extensions else None
        names[graphql_name] = getattr(strawberry_field, "python_name", graphql_name)
    return names


def _builder(object_type: GraphQLObjectType, selections: list[FieldNode]) -> RowBuilder | None:
    """A function from row to response dict, or None when the selection needs the generic executor."""
    python_names = _python_names(object_type)
    steps: list[tuple[str, str, Callable[[Any], Any]]] = []
    for node in selections:
        if not isinstance(node, FieldNode) or node.directives or node.arguments:
            return None
        key = node.alias.value if node.alias else node.name.value
        if node.name.value == "__typename":
            type_name = object_type.name
            steps.append((key, "", lambda _value, name=type_name: name))  # type: ignore[misc]
            continue
        field = object_type.fields.get(node.name.value)
        if field is None:
            return None
        field_type: GraphQLOutputType = get_nullable_type(field.type)
        if isinstance(field_type, GraphQLScalarType) and node.selection_set is None:
            serialize = _FAST_SERIALIZERS.get(field_type.name, field_type.serialize)
            steps.append((key, python_names[node.name.value], lambda v, s=serialize: None if v is None else s(v)))  # type: ignore[misc]
        elif isinstance(field_type, GraphQLObjectType) and field_type.name in FLAT_TYPES and node.selection_set:
            nested = _builder(field_type, list(node.selection_set.selections))  # type: ignore[arg-type]
            if nested is None:
                return None
            steps.append((key, python_names[node.name.value], lambda v, b=nested: None if v is None else b(v)))  # type: ignore[misc]
        else:
            return None

    def build(row: Any) -> dict[str, Any]:
        return {key: convert(row.get(name)) if name else convert(None) for key, name, convert in steps}

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
        item_type = return_type.of_type
        inner = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if (
            isinstance(result, list)
            and isinstance(inner, GraphQLObjectType)
            and inner.name in FLAT_TYPES
            and len(field_details_list) == 1
            and all(isinstance(row, AttrRow) for row in result[:1])
        ):
            node = field_details_list[0].node
            if node.selection_set is not None:
                build = _builder(inner, list(node.selection_set.selections))
                if build is not None:
                    return [build(row) for row in result]
        return super().complete_list_value(return_type, field_details_list, info, path, result, position_context)
