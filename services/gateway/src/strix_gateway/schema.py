"""The GraphQL schema, generated from the module configs at start-up.

Per module: one query field; one field per predefined query (`<module><Query>`); one field per declared join
(`<module>With<Join>`). Resolvers only translate arguments and make one NATS request; the query service does
the rest. Limits on tokens, the size of the document with its fragments spread (before any validation rule
runs), variables, depth and aliases protect it; unexpected failures are answered with a request id only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig

from strix_config import Catalog
from strix_config.access import may_read
from strix_contracts.errors import StrixError, internal
from strix_gateway.dashboards import DashboardsApi, dashboard_fields
from strix_gateway.errors import request_id, to_graphql_error, unexpected
from strix_gateway.fastrows import FlatRowsExecutionContext
from strix_gateway.limits import SignedOutIntrospection, document_error, variables_error
from strix_gateway.live import LiveFeed
from strix_gateway.metadata import ModuleInfo, module_info
from strix_gateway.names import camel, pascal
from strix_gateway.resolvers import (
    QueryRunner,
    RecordsReader,
    caller_of,
    join_resolver,
    live_join_resolver,
    live_resolver,
    module_resolver,
    predefined_resolver,
    records_resolver,
)
from strix_gateway.types import (
    LONG_SCALAR,
    JoinTypes,
    Long,
    ModuleTypes,
    Removed,
    build_join_types,
    build_module_types,
    build_record_types,
    describe,
)
from strix_runtime.logs import get_logger

# Results are flat, so depth beyond a few levels is abuse; aliases multiply the work of one request.
MAX_DEPTH = 8
MAX_ALIASES = 20
MAX_TOKENS = 4000

# The limits as validation rules, built once: each limiter instance makes its own rule class, and the validation
# cache is keyed on the rules, so limiters made per request would never let it hit.
LIMIT_RULES = [
    *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
]
# Parsed and validated documents kept by query text (a dashboard re-sends the same text, or the same text with
# new variables): parsing and validating build ~2 000 objects in reference cycles per request (token lists,
# visitors), which only the cycle collector frees, in pauses of tens of milliseconds.
QUERY_TEXTS_KEPT = 256

__all__ = ["MAX_ALIASES", "MAX_DEPTH", "MAX_TOKENS", "QueryRunner", "build_schema"]

log = get_logger("gateway")


class BoundedValidation(ValidationCache):
    """The validation cache, behind the checks of `limits`: a document or variables over a limit are answered with
    what to reduce, and graphql-core (and the limiters among its rules) never sees them."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None
        error = document_error(context.graphql_document) or variables_error(context.variables)
        if error is not None:
            context.pre_execution_errors = [to_graphql_error(error)]
            yield
            return
        yield from super().on_validate()


class InternalErrors(MaskErrors):
    """Unexpected failures as `internal error (request id ...)` with `extensions.requestId`; each is logged with
    the id (and the query service's own id when it reported one)."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=unexpected)
        self.request_id = ""

    def on_operation(self) -> Iterator[None]:
        self.request_id = request_id(self.execution_context.context)
        yield from super().on_operation()

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        upstream = original.request_id if isinstance(original, StrixError) else None
        log.error(
            "gateway.internal_error",
            request_id=self.request_id,
            upstream_request_id=upstream,
            path=error.path,
            error=repr(original),
            exc_info=original,
        )
        masked = internal(self.request_id)
        return GraphQLError(
            masked.message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": "INTERNAL", "requestId": self.request_id, "hint": masked.hint},
        )


def build_schema(
    catalog: Catalog,
    run: QueryRunner,
    read: RecordsReader | None = None,
    feed: LiveFeed | None = None,
    removed: dict[str, Removed] | None = None,
    dashboards: DashboardsApi | None = None,
) -> strawberry.Schema:
    """`read` serves `<module>Records` fields (modules that keep raw events), `feed` the live subscriptions,
    `dashboards` the dashboard queries and the mutations; without them those fields are left out."""
    fields: dict[str, Any] = {}
    mutations: dict[str, Any] = {}
    if dashboards is not None:
        dashboard_queries, mutations = dashboard_fields(dashboards)
        fields.update(dashboard_queries)
    types = {
        name: build_module_types(catalog.modules[name], (removed or {}).get(name, Removed()))
        for name in catalog.names()
    }
    infos = {name: module_info(catalog, types[name], read is not None) for name in sorted(types)}

    def modules(info: strawberry.Info) -> list[ModuleInfo]:
        try:
            caller = caller_of(info.context)
        except StrixError as exc:
            raise to_graphql_error(exc) from exc
        return [found for name, found in infos.items() if may_read(catalog.modules[name], caller)]

    fields["modules"] = strawberry.field(
        resolver=modules,
        description="The modules this deployment serves that the caller may read: their dimensions, metrics, "
        "rollups, joins and predefined queries, typed and described (what a query builder is generated from).",
    )
    joins: dict[str, tuple[ModuleTypes, JoinTypes]] = {}  # field name -> the join's types (queries, subscriptions)
    for name, module_types in types.items():
        config = module_types.config
        fields[name] = strawberry.field(
            resolver=module_resolver(module_types, run), name=camel(name), description=describe(config, name)
        )
        if read is not None and config.raw.keep:
            fields[f"{name}_records"] = strawberry.field(
                resolver=records_resolver(module_types, build_record_types(config), read),
                name=camel(name) + "Records",
                description=f"Raw {name} events, newest first, a page at a time.",
            )
        for query_name, query in config.queries.items():
            field_name = f"{name}_{query_name}"
            fields[field_name] = strawberry.field(
                resolver=predefined_resolver(module_types, query, run),
                name=camel(name) + pascal(query_name),
                description=describe(query, query_name) + f" (a predefined {name} query)",
            )
        for join_name, spec in config.joins.items():
            join_types = build_join_types(module_types, join_name, types[spec.module])
            joins[f"{name}_with_{join_name}"] = (module_types, join_types)
            fields[f"{name}_with_{join_name}"] = strawberry.field(
                resolver=join_resolver(module_types, join_types, run),
                name=camel(name) + "With" + pascal(join_name),
                description=describe(spec, join_name) + f" ({name} joined with {spec.module})",
            )
    query_type = strawberry.type(
        type("Query", (), {"__annotations__": {}, **fields}),
        description="Questions to the modules this deployment serves, and what they hold (`modules`).",
    )
    subscription_type = None
    if feed is not None:
        live = {
            name: strawberry.subscription(
                resolver=live_resolver(module_types, run, feed),
                name=camel(name),
                description=describe(module_types.config, name)
                + " Pushed again whenever new events change the window.",
            )
            for name, module_types in types.items()
        }
        for field_name, (module_types, join_types) in joins.items():
            name, join_name = module_types.config.module, join_types.name
            live[field_name] = strawberry.subscription(
                resolver=live_join_resolver(module_types, join_types, run, feed),
                name=camel(name) + "With" + pascal(join_name),
                description=describe(module_types.config.joins[join_name], join_name)
                + f" ({name} joined with {join_types.other.config.module}). Pushed again whenever new events of "
                "either module change the window.",
            )
        subscription_type = strawberry.type(
            type("Subscription", (), {"__annotations__": {}, **live}),
            description="Live results: each module's query, pushed again whenever new events change its window.",
        )
    mutation_type = None
    if mutations:
        mutation_type = strawberry.type(
            type("Mutation", (), {"__annotations__": {}, **mutations}),
            description="Changes to dashboards: create, edit from a revision, share, link, transfer, delete.",
        )
    return strawberry.Schema(
        query=query_type,
        mutation=mutation_type,
        subscription=subscription_type,
        config=StrawberryConfig(scalar_map={Long: LONG_SCALAR}),
        execution_context_class=FlatRowsExecutionContext,
        extensions=[
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            lambda: ParserCache(maxsize=QUERY_TEXTS_KEPT),
            lambda: AddValidationRules(LIMIT_RULES),
            lambda: BoundedValidation(maxsize=QUERY_TEXTS_KEPT),
            SignedOutIntrospection,
            InternalErrors,
        ],
    )
