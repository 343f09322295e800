"""What a GraphQL request may cost before graphql-core works on it: checks that run in linear time.

A document of a few hundred bytes can spread fragments that spread others twice each: `...F0` with
`fragment F<i> { ...F<i+1> ...F<i+1> }` stands for 2^n fields. graphql-core's own rules cope, but strawberry's
depth and alias limiters walk the expansion (n=20 held the event loop 6 s; n=30, minutes). So the size of the
expanded document is computed first, one pass over the text's nodes with each fragment's size memoised, and a
document over the limit is refused before any validation rule runs (and never enters the validation cache).

Variables are raw JSON that graphql-core coerces (an `in` of 500 000 values took 1.8 s, an `or` of 50 000
branches 10 s): their size, nesting, `in` lists and and/or branches are checked in one walk first.

Invariants: every function here is iterative (a check must not fail on the nesting it refuses) and linear in
the size of its input.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from typing import Any, TypeVar

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from strawberry.extensions import SchemaExtension

from strix_contracts.errors import QueryError, Unauthorized
from strix_contracts.query import MAX_FILTER_BRANCHES, MAX_FILTER_DEPTH, MAX_FILTER_VALUES
from strix_gateway.errors import to_graphql_error

# Fields, fragment spreads and inline fragments of a document with every fragment spread in place. The largest
# dashboard document asks a few dozen; 2 000 leaves room for anything a person writes.
MAX_SELECTIONS = 2_000
# A `where` nests at most this many levels of and/or (each level is an any of all-ofs in the query contract).
MAX_WHERE_DEPTH = MAX_FILTER_DEPTH // 2
# Values in all the variables of one request (every scalar, list and object counts one).
MAX_VARIABLE_VALUES = 4 * MAX_FILTER_VALUES
# Nesting of variables outside and/or (a where is a few levels deep per level of and/or).
MAX_VARIABLE_DEPTH = 4 * MAX_WHERE_DEPTH + 8

# The longest the gateway waits for one answer: past it the caller hears what to narrow. Longer than the query
# service's own deadline (whose answer says the same, sooner), shorter than the NATS request's wait.
DEADLINE = 25.0

T = TypeVar("T")

_LOGICAL = ("and", "or")
_LISTS = ("in", "notIn")


def _selection_sets(root: SelectionSetNode) -> Iterator[SelectionSetNode]:
    stack = [root]
    while stack:
        selection_set = stack.pop()
        yield selection_set
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode | InlineFragmentNode) and selection.selection_set is not None:
                stack.append(selection.selection_set)


def _own_size(root: SelectionSetNode) -> tuple[int, dict[str, int]]:
    """Selections written under `root` (fields, spreads, inline fragments) and how often each fragment is spread."""
    size = 0
    spreads: dict[str, int] = {}
    for selection_set in _selection_sets(root):
        for selection in selection_set.selections:
            size += 1
            if isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                spreads[name] = spreads.get(name, 0) + 1
    return size, spreads


def expanded_size(document: DocumentNode, cap: int = MAX_SELECTIONS) -> int:
    """Selections of the document's operations with every fragment spread in place, counted up to `cap + 1`
    (enough to refuse; the true number can have hundreds of digits). Each fragment is sized once, after the
    fragments it spreads (a depth-first walk over the spreads). Unknown fragments count nothing (graphql-core
    names them); a fragment that spreads itself, directly or not, is refused here: it never ends."""
    fragments: dict[str, tuple[int, dict[str, int]]] = {}
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            fragments[definition.name.value] = _own_size(definition.selection_set)

    def size(own: int, spreads: dict[str, int]) -> int:
        return min(cap + 1, own + sum(count * sizes.get(name, 0) for name, count in spreads.items()))

    sizes: dict[str, int] = {}
    for start in fragments:
        if start in sizes:
            continue
        path, on_path = [start], {start}
        children = [iter(fragments[start][1])]
        while children:
            child = next(children[-1], None)
            if child is None:
                name = path.pop()
                on_path.discard(name)
                children.pop()
                sizes[name] = size(*fragments[name])
            elif child in fragments and child not in sizes:
                if child in on_path:
                    cycle = " -> ".join([*path[path.index(child) :], child])
                    raise QueryError(
                        f"fragment {child} spreads itself ({cycle})", argument="query", hint="break the cycle"
                    )
                path.append(child)
                on_path.add(child)
                children.append(iter(fragments[child][1]))
    total = 0
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            total = min(cap + 1, total + size(*_own_size(definition.selection_set)))
    return total


def document_error(document: DocumentNode) -> QueryError | None:
    """Why the document is refused (too large once expanded, or a fragment cycle); None when it is not."""
    try:
        size = expanded_size(document)
    except QueryError as error:
        return error
    if size <= MAX_SELECTIONS:
        return None
    return QueryError(
        f"the document asks for over {MAX_SELECTIONS} fields once its fragments are spread",
        argument="query",
        hint="use each fragment once, ask for fewer fields, or split the document into several requests",
    )


def variables_error(variables: dict[str, Any] | None) -> QueryError | None:
    """The first limit the variables break, in one walk without recursion; None when they keep every one."""
    if not variables:
        return None
    count = 0
    stack: list[tuple[Any, str, int, int]] = [(value, name, 1, 0) for name, value in variables.items()]
    while stack:
        value, path, depth, levels = stack.pop()
        count += 1
        if count > MAX_VARIABLE_VALUES:
            return QueryError(
                f"the variables hold more than {MAX_VARIABLE_VALUES} values",
                argument="variables",
                hint=f"an `in` list takes at most {MAX_FILTER_VALUES} values; send less per request",
            )
        if levels > MAX_WHERE_DEPTH:
            return where_too_deep(path)
        if depth > MAX_VARIABLE_DEPTH:
            return QueryError(f"variables nest more than {MAX_VARIABLE_DEPTH} levels deep", argument=path)
        if isinstance(value, dict):
            for key, item in value.items():
                here = f"{path}.{key}"
                if key in _LOGICAL and isinstance(item, list):
                    if len(item) > MAX_FILTER_BRANCHES:
                        return too_many_branches(here, len(item))
                    stack.extend((x, f"{here}[{i}]", depth + 2, levels + 1) for i, x in enumerate(item))
                    continue
                if key in _LISTS and isinstance(item, list) and len(item) > MAX_FILTER_VALUES:
                    return too_many_values(here, len(item))
                stack.append((item, here, depth + 1, levels))
        elif isinstance(value, list):
            stack.extend((x, f"{path}[{i}]", depth + 1, levels) for i, x in enumerate(value))
    return None


def where_too_deep(path: str) -> QueryError:
    return QueryError(
        f"where nests more than {MAX_WHERE_DEPTH} levels of and/or",
        argument=path.split(".", 1)[0],  # the argument or variable: the path to the level is all or[0]s
        hint="flatten the conditions: `in` takes many values of one dimension",
    )


def too_many_branches(path: str, count: int) -> QueryError:
    return QueryError(
        f"where has {count} branches in one and/or, at most {MAX_FILTER_BRANCHES}",
        argument=_short(path),
        hint="use `in` for many values of one dimension",
    )


def too_many_values(path: str, count: int) -> QueryError:
    return QueryError(
        f"where has an `in` list of {count} values, at most {MAX_FILTER_VALUES}",
        argument=_short(path),
        hint="filter on a coarser dimension, or group by this one and keep the top N",
    )


def _short(path: str) -> str:
    return path if len(path) <= 60 else path[:40] + "..." + path[-17:]


async def within_deadline(work: Awaitable[T], seconds: float = DEADLINE) -> T:
    try:
        async with asyncio.timeout(seconds):
            return await work
    except TimeoutError as exc:
        raise QueryError(
            f"the query took longer than {seconds:g} s",
            argument="window",
            hint="narrow the window, filter, group by fewer dimensions or choose a coarser granularity",
        ) from exc


# --- introspection, signed out ----------------------------------------------------------------------------------

INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})


def introspects(document: DocumentNode) -> bool:
    """Whether any operation or fragment of the document asks for `__schema` or `__type` (`__typename` is a
    field of every type, not introspection of the schema)."""
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode):
            for selection_set in _selection_sets(definition.selection_set):
                for selection in selection_set.selections:
                    if isinstance(selection, FieldNode) and selection.name.value in INTROSPECTION_FIELDS:
                        return True
    return False


class SignedOutIntrospection(SchemaExtension):
    """Introspection through a door (the HTTP or websocket context, a dict) needs a signed-in caller unless the
    schema is open (`open_schema` in the context: embedded mode); in-process callers (`schema.introspect()`, the
    schema's own tests and exports) pass no context and are not a door. Listed after the validation cache, whose
    hook has validated the document when this one runs (strawberry reads the errors before any hook resumes), so
    a document is answered with its validation errors first."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        values = context.context
        signed_out = isinstance(values, dict) and values.get("caller") is None and not values.get("open_schema")
        document = context.graphql_document
        if signed_out and not context.pre_execution_errors and document is not None and introspects(document):
            refused = Unauthorized(
                "introspection needs a signed-in caller",
                argument="query",
                hint="send `Authorization: Bearer <token or API key>`; signed out, the schema is open in embedded "
                "mode only",
            )
            context.pre_execution_errors = [to_graphql_error(refused)]
        yield
