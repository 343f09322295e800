// The query builder's state and what follows from it, as pure functions over the module metadata: the form's
// choices, the rules that keep a choice valid (or say why it is not), and the GraphQL text the builder runs.

import { argumentList, enumLiteral } from "./graphql";
import type { DimensionInfo, FilterOperator, Granularity, MetricInfo, ModuleInfo, PredefinedQueryInfo } from "./metadata";
import { windowArgument, windowProblem, type WindowSpec } from "./window";

export const VISUALIZATIONS = [
  ["kpi", "KPI"],
  ["table", "Table"],
  ["bar", "Bar"],
  ["pie", "Pie"],
  ["line", "Time series"],
  ["records", "Events"],
] as const;

export type Visualization = (typeof VISUALIZATIONS)[number][0];

export interface FilterState {
  dimension: string;
  operator: FilterOperator;
  values: string[]; // as typed or picked; allowed values by their stored value
}

export interface TopState {
  n: number;
  by: string;
  others: boolean;
}

export const JOIN_KINDS = [
  ["INNER", "matched rows only"],
  ["LEFT", "every row of this module"],
  ["RIGHT", "every row of the joined module"],
  ["FULL", "every row of either"],
] as const;

export interface JoinState {
  name: string; // the join's name in the config
  kind: string; // INNER, LEFT, RIGHT, FULL
  metrics: string[]; // metrics of the joined module
}

export interface BuilderState {
  module: string;
  visualization: Visualization;
  metrics: string[];
  groupBy: string[];
  filters: FilterState[];
  window: WindowSpec;
  timeZone: string;
  granularity: Granularity;
  compare: string | null;
  top: TopState | null;
  join?: JoinState | null;
}

export const OPERATOR_LABELS: Record<FilterOperator, string> = {
  EQ: "is",
  NEQ: "is not",
  IN: "is any of",
  NOT_IN: "is none of",
  PREFIX: "starts with",
  CONTAINS: "contains",
  GT: ">",
  GTE: "≥",
  LT: "<",
  LTE: "≤",
};

const FILTER_FIELDS: Record<FilterOperator, string> = {
  EQ: "eq",
  NEQ: "neq",
  IN: "in",
  NOT_IN: "notIn",
  PREFIX: "prefix",
  CONTAINS: "contains",
  GT: "gt",
  GTE: "gte",
  LT: "lt",
  LTE: "lte",
};

export function isListOperator(op: FilterOperator): boolean {
  return op === "IN" || op === "NOT_IN";
}

export function defaultState(module: ModuleInfo, timeZone: string): BuilderState {
  const hourly = module.granularities.includes("HOUR");
  return {
    module: module.name,
    visualization: "table",
    metrics: module.metrics.slice(0, 1).map((m) => m.name),
    groupBy: [],
    filters: [],
    window: hourly ? { kind: "relative", last: 24, unit: "HOUR" } : { kind: "preset", preset: "THIS_MONTH" },
    timeZone,
    granularity: "TOTAL",
    compare: null,
    top: null,
  };
}

/**
 * A predefined query of the config loaded into the form: its window, granularity, metrics, groups, filters, top-N
 * and comparison, drawn as the chart that fits it (buckets: a time series; groups: bars; neither: a KPI). The time
 * zone stays the viewer's, as everywhere in the form; the query's ordering and row limit are not the form's (see
 * `predefinedNotes`).
 */
export function fromPredefined(query: PredefinedQueryInfo, module: ModuleInfo, timeZone: string): BuilderState {
  const w = query.window;
  const window: WindowSpec =
    w.preset !== null
      ? { kind: "preset", preset: w.preset }
      : { kind: "relative", last: w.last ?? 1, unit: w.unit ?? module.timeUnits[0] ?? "DAY" };
  const visualization: Visualization =
    query.granularity !== "TOTAL" ? "line" : query.groupBy.length ? "bar" : "kpi";
  const state: BuilderState = {
    module: module.name,
    visualization,
    metrics: query.metrics.slice(),
    groupBy: query.groupBy.slice(),
    filters: query.filters.map((f) => ({
      dimension: f.dimension,
      operator: f.operator,
      values: f.values.slice(), // as text already, as the form holds them (strings bare, numbers as written)
    })),
    window,
    timeZone,
    granularity: query.granularity,
    compare: query.compare,
    top: query.top ? { ...query.top } : null,
    join: null,
  };
  return normalise(state, module);
}

/** What of a predefined query the form does not carry over, said next to it. */
export function predefinedNotes(query: PredefinedQueryInfo): string[] {
  const notes: string[] = [];
  if (query.orderBy.length)
    notes.push(`Ordered by ${query.orderBy.map((o) => `${o.field}${o.descending ? " (largest first)" : ""}`).join(", ")} in its own field; the form orders by the chart.`);
  if (query.limit !== null) notes.push(`Its own field returns at most ${query.limit} rows; the form shows them all.`);
  return notes;
}

/** Which granularities a visualization can show, of those the module answers. */
export function granularitiesFor(module: ModuleInfo, visualization: Visualization): Granularity[] {
  if (visualization === "kpi" || visualization === "pie") return ["TOTAL"];
  if (visualization === "line") return module.granularities.filter((g) => g !== "TOTAL");
  return module.granularities;
}

/**
 * The state with every choice the visualization or the module rules out replaced by one it allows, so the form
 * never holds an impossible combination: a KPI is one total per metric; a pie one metric over groups; a time
 * series needs buckets; names the module no longer has are dropped.
 */
export function normalise(state: BuilderState, module: ModuleInfo): BuilderState {
  const metrics = state.metrics.filter((m) => module.metrics.some((x) => x.name === m));
  const dims = new Set(module.dimensions.map((d) => d.name));
  const next: BuilderState = {
    ...state,
    metrics: metrics.length || !module.metrics[0] ? metrics : [module.metrics[0].name],
    groupBy: state.groupBy.filter((d) => dims.has(d)),
    filters: state.filters.filter((f) => dims.has(f.dimension)),
  };
  const allowed = granularitiesFor(module, next.visualization);
  if (!allowed.includes(next.granularity)) next.granularity = allowed.includes("HOUR") ? "HOUR" : (allowed[0] ?? "TOTAL");
  if (next.visualization === "kpi") {
    next.groupBy = [];
    next.top = null;
  }
  if (next.visualization === "pie") next.metrics = next.metrics.slice(0, 1);
  if (next.window.kind === "relative" && !module.timeUnits.includes(next.window.unit)) {
    next.window = { ...next.window, unit: module.timeUnits[0] ?? "DAY" };
  }
  const join = next.join ? module.joins.find((j) => j.name === next.join?.name) : undefined;
  if (next.join && join === undefined) next.join = null;
  if (next.join && join) {
    // A join answers matched buckets and keys: it groups by shared dimensions only, with no top-N or comparison.
    const shared = new Set(join.match.map((m) => m.dimension));
    next.groupBy = next.groupBy.filter((d) => shared.has(d));
    next.top = null;
    next.compare = null;
    next.join = { ...next.join, metrics: next.join.metrics.filter((m) => join.joinedMetrics.includes(m)) };
    if (next.visualization === "records") next.visualization = "table";
  }
  if (next.top !== null) {
    if (!next.groupBy.length) next.top = null;
    else if (!next.metrics.includes(next.top.by)) next.top = { ...next.top, by: next.metrics[0] ?? next.top.by };
  }
  return next;
}

/** What keeps the query from running, said so the viewer can fix it; empty when it can run. */
export function problems(state: BuilderState, module: ModuleInfo): string[] {
  const out: string[] = [];
  if (state.visualization !== "records" && !state.metrics.length) out.push("Pick at least one metric.");
  if (state.join && !state.join.metrics.length) out.push("Pick at least one metric of the joined module.");
  if (state.visualization === "pie" && !state.groupBy.length) out.push("A pie needs a dimension to group by.");
  if (state.visualization === "records" && module.recordsField === null) {
    out.push(`${module.label ?? module.name} keeps no raw events: pick a chart instead.`);
  }
  const windowIssue = windowProblem(state.window);
  if (windowIssue) out.push(`Time window: ${windowIssue}.`);
  if (state.top !== null && (!Number.isInteger(state.top.n) || state.top.n < 1)) {
    out.push("Top N: N must be a whole number of at least 1.");
  }
  for (const filter of state.filters) {
    const dim = module.dimensions.find((d) => d.name === filter.dimension);
    if (dim === undefined) continue;
    const bad = filter.values.find((v) => filterValueProblem(dim, v) !== null);
    if (!filter.values.length) out.push(`Filter on ${dim.label ?? dim.name}: give a value.`);
    else if (bad !== undefined) out.push(`Filter on ${dim.label ?? dim.name}: ${filterValueProblem(dim, bad)}.`);
  }
  return out;
}

export function filterValueProblem(dim: DimensionInfo, value: string): string | null {
  if (dim.allowedValues !== null && !dim.allowedValues.some((a) => a.value === value)) {
    return `${JSON.stringify(value)} is not one of its values`;
  }
  if (dim.type === "INT" && !/^-?\d+$/.test(value.trim())) return `${JSON.stringify(value)} is not a whole number`;
  if ((dim.type === "FLOAT" || dim.type === "DECIMAL") && !Number.isFinite(Number(value.trim()))) {
    return `${JSON.stringify(value)} is not a number`;
  }
  if (dim.type === "BOOL" && value !== "true" && value !== "false") return "pick true or false";
  return null;
}

/** One filter value as the literal its filter input takes (an enum value for `allowed:` strings). */
export function filterValue(dim: DimensionInfo, value: string): unknown {
  if (dim.allowedValues !== null) {
    const allowed = dim.allowedValues.find((a) => a.value === value);
    if (allowed?.graphqlName) return enumLiteral(allowed.graphqlName);
  }
  switch (dim.type) {
    case "INT":
      return enumLiteral(value.trim()); // a Long literal, written as is (beyond 2^53 too)
    case "FLOAT":
    case "DECIMAL":
      return Number(value.trim());
    case "BOOL":
      return value === "true";
    default:
      return value;
  }
}

/** The `where` argument: one entry per dimension; an operator used twice on one dimension goes into `and`. */
export function whereArgument(state: BuilderState, module: ModuleInfo): Record<string, unknown> | undefined {
  const where: Record<string, Record<string, unknown>> = {};
  const extra: Record<string, unknown>[] = [];
  for (const filter of state.filters) {
    const dim = module.dimensions.find((d) => d.name === filter.dimension);
    if (dim === undefined || !filter.values.length) continue;
    const field = FILTER_FIELDS[filter.operator];
    const values = filter.values.map((v) => filterValue(dim, v));
    const test = isListOperator(filter.operator) ? values : values[0];
    const current = (where[dim.graphqlName] ??= {});
    if (field in current) extra.push({ [dim.graphqlName]: { [field]: test } });
    else current[field] = test;
  }
  if (!Object.keys(where).length) return undefined;
  return extra.length ? { ...where, and: extra } : where;
}

function metricInfos(state: BuilderState, module: ModuleInfo): MetricInfo[] {
  return state.metrics
    .map((name) => module.metrics.find((m) => m.name === name))
    .filter((m): m is MetricInfo => m !== undefined);
}

function dimensionInfos(state: BuilderState, module: ModuleInfo): DimensionInfo[] {
  return state.groupBy
    .map((name) => module.dimensions.find((d) => d.name === name))
    .filter((d): d is DimensionInfo => d !== undefined);
}

/** The arguments of the module's query field. */
export function queryArguments(state: BuilderState, module: ModuleInfo): Record<string, unknown> {
  const metrics = metricInfos(state, module);
  const groupBy = dimensionInfos(state, module);
  return {
    window: windowArgument(state.window, state.timeZone),
    timeZone: state.timeZone,
    granularity: enumLiteral(state.granularity),
    metrics: metrics.map((m) => enumLiteral(m.enumValue)),
    groupBy: groupBy.length ? groupBy.map((d) => enumLiteral(d.enumValue)) : undefined,
    where: whereArgument(state, module),
    compare: state.compare ? enumLiteral(state.compare) : undefined,
    top:
      state.top && groupBy.length
        ? { n: state.top.n, by: enumLiteral(state.top.by.toUpperCase()), others: state.top.others }
        : undefined,
  };
}

/** camel(name), as the gateway names fields (names.py). */
export function camel(name: string): string {
  const [head = "", ...rest] = name.split("_");
  return head + rest.map((p) => p.slice(0, 1).toUpperCase() + p.slice(1)).join("");
}

/** The arguments of a join's query field: the module's own, the joined metrics and the kind; no top or compare. */
function joinArguments(state: BuilderState, module: ModuleInfo, join: JoinState): Record<string, unknown> {
  const own = queryArguments(state, module);
  return {
    window: own.window,
    timeZone: own.timeZone,
    granularity: own.granularity,
    metrics: own.metrics,
    joinedMetrics: join.metrics.map((m) => enumLiteral(m.toUpperCase())),
    kind: enumLiteral(join.kind),
    groupBy: own.groupBy,
    where: own.where,
  };
}

/** The GraphQL text of the builder's question (aggregates). */
export function buildQuery(state: BuilderState, module: ModuleInfo): string {
  const metrics = metricInfos(state, module).map((m) => m.graphqlName);
  const joinInfo = state.join ? module.joins.find((j) => j.name === state.join?.name) : undefined;
  const rowFields = [
    ...(state.granularity === "TOTAL" ? [] : ["bucket"]),
    ...dimensionInfos(state, module).map((d) => d.graphqlName),
    ...metrics,
    ...(state.top ? ["others"] : []),
  ];
  if (state.join && joinInfo) {
    rowFields.push(`joined { ${state.join.metrics.map(camel).join(" ")} }`);
    return [
      `query StrixBuilder {`,
      `  ${joinInfo.graphqlName}(${argumentList(joinArguments(state, module, state.join))}) {`,
      `    source sourceReason joinedSource start end granularity timeZone cached`,
      `    rows { ${rowFields.join(" ")} }`,
      `  }`,
      `}`,
    ].join("\n");
  }
  if (state.compare) {
    const values = metrics.join(" ");
    rowFields.push(`previous { ${values} }`, `change { ${values} }`, `changeRatio { ${values} }`);
  }
  const compare = state.compare ? " compareStart compareEnd" : "";
  return [
    `query StrixBuilder {`,
    `  ${module.graphqlName}(${argumentList(queryArguments(state, module))}) {`,
    `    source sourceReason start end granularity timeZone cached${compare}`,
    `    rows { ${rowFields.join(" ")} }`,
    `  }`,
    `}`,
  ].join("\n");
}

/** The same question as a subscription: answered at once, then again whenever new events change its window. */
export function buildSubscription(state: BuilderState, module: ModuleInfo): string {
  return buildQuery(state, module).replace(/^query StrixBuilder/, "subscription StrixLive");
}

/** The GraphQL text of one page of raw events. */
export function buildRecordsQuery(
  state: BuilderState,
  module: ModuleInfo,
  fields: string[],
  after: string | null,
  first = 25,
): string {
  if (module.recordsField === null) throw new Error(`${module.name} keeps no raw events`);
  const args = argumentList({
    window: windowArgument(state.window, state.timeZone),
    timeZone: state.timeZone,
    where: whereArgument(state, module),
    first,
    after: after ?? undefined,
  });
  return [
    `query StrixRecords {`,
    `  ${module.recordsField}(${args}) {`,
    `    start end hasNextPage endCursor`,
    `    records { ${fields.join(" ")} }`,
    `  }`,
    `}`,
  ].join("\n");
}

/** The introspection query for a module's record fields (the metadata names dimensions, not every field). */
export function recordFieldsQuery(module: ModuleInfo): string {
  const typeName = module.recordsField ? module.recordsField.slice(0, -"Records".length) : module.graphqlName;
  const pascalName = typeName.slice(0, 1).toUpperCase() + typeName.slice(1);
  return `query StrixRecordFields { __type(name: "${pascalName}Record") { fields { name description type { name ofType { name } } } } }`;
}
