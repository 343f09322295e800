// Answers turned into what a visualization draws, as plain data: the e2e tests compare these (read back from
// the chart) with the GraphQL answer, so nothing here may round or reorder silently.

import type { BuilderState } from "./builder";
import { asText, formatBucket } from "./format";
import { formatInstant } from "./window";
import { labelOf, type DimensionInfo, type MetricInfo, type ModuleInfo } from "./metadata";

export type Row = Record<string, unknown> & {
  bucket?: string;
  others?: boolean;
  previous?: Record<string, number | null> | null;
  change?: Record<string, number | null> | null;
  changeRatio?: Record<string, number | null> | null;
};

export interface Answer {
  rows: Row[];
  source: string;
  sourceReason: string | null;
  start: string;
  end: string;
  granularity: string;
  timeZone: string;
  cached: boolean;
  compareStart?: string | null;
  compareEnd?: string | null;
}

export interface Series {
  name: string;
  metric: string;
  data: (number | null)[];
}

export interface ChartData {
  categories: string[]; // group labels (bar, pie) or bucket labels (line)
  series: Series[];
}

export function chosenMetrics(state: BuilderState, module: ModuleInfo): MetricInfo[] {
  return state.metrics
    .map((n) => module.metrics.find((m) => m.name === n))
    .filter((m): m is MetricInfo => m !== undefined);
}

export function chosenDimensions(state: BuilderState, module: ModuleInfo): DimensionInfo[] {
  return state.groupBy
    .map((n) => module.dimensions.find((d) => d.name === n))
    .filter((d): d is DimensionInfo => d !== undefined);
}

/** The label of a row's group: its dimension values joined, "Others" for the others row, "All" without groups. */
export function groupLabel(row: Row, dims: DimensionInfo[], timeZone?: string): string {
  if (row.others) return "Others";
  if (!dims.length) return "All";
  return dims.map((d) => String(valueLabel(d, row[d.graphqlName], timeZone))).join(" · ");
}

/** A dimension value as the config stores it (an enum value name maps back to its value); a DateTime one as
 * wall time in `timeZone` (the answer's: the viewer's unless the question chose another). */
export function valueLabel(dim: DimensionInfo, value: unknown, timeZone?: string): string {
  if (value === null || value === undefined) return "–";
  if (dim.type === "DATETIME" && typeof value === "string" && timeZone) return formatInstant(value, timeZone);
  const allowed = dim.allowedValues?.find((a) => a.graphqlName === value);
  return allowed ? allowed.value : asText(value);
}

function numeric(value: unknown): number | null {
  return typeof value === "number" ? value : null;
}

/** Bars and pies: one category per group, one series per metric, rows in the answer's order. */
export function groupedChart(answer: Answer, metrics: MetricInfo[], dims: DimensionInfo[]): ChartData {
  return {
    categories: answer.rows.map((r) => groupLabel(r, dims, answer.timeZone)),
    series: metrics.map((m) => ({
      name: labelOf(m),
      metric: m.name,
      data: answer.rows.map((r) => numeric(r[m.graphqlName])),
    })),
  };
}

/** Time series: one category per bucket (sorted), one series per group and metric; a missing bucket is null. */
export function timeChart(answer: Answer, metrics: MetricInfo[], dims: DimensionInfo[]): ChartData {
  const buckets = [...new Set(answer.rows.map((r) => r.bucket ?? ""))].sort(
    (a, b) => Date.parse(a) - Date.parse(b),
  );
  const index = new Map(buckets.map((b, i) => [b, i]));
  const series = new Map<string, Series>();
  for (const row of answer.rows) {
    const group = groupLabel(row, dims, answer.timeZone);
    for (const m of metrics) {
      const name = dims.length ? (metrics.length > 1 ? `${group} · ${labelOf(m)}` : group) : labelOf(m);
      let s = series.get(name);
      if (s === undefined) {
        s = { name, metric: m.name, data: buckets.map(() => null) };
        series.set(name, s);
      }
      s.data[index.get(row.bucket ?? "") ?? 0] = numeric(row[m.graphqlName]);
    }
  }
  return { categories: buckets.map((b) => formatBucket(b, answer.granularity)), series: [...series.values()] };
}

export interface KpiValue {
  metric: MetricInfo;
  value: number | null;
  previous: number | null;
  change: number | null;
  changeRatio: number | null;
}

/** KPI tiles: the one total row's metrics with their change against the comparison window. */
export function kpis(answer: Answer, metrics: MetricInfo[]): KpiValue[] {
  const row = answer.rows[0];
  return metrics.map((m) => ({
    metric: m,
    value: row ? numeric(row[m.graphqlName]) : null,
    previous: row?.previous ? numeric(row.previous[m.graphqlName]) : null,
    change: row?.change ? numeric(row.change[m.graphqlName]) : null,
    changeRatio: row?.changeRatio ? numeric(row.changeRatio[m.graphqlName]) : null,
  }));
}

/**
 * A joined question drawn like any other: the joined module's metrics become extra metrics of an augmented
 * module (`joined_<name>`, labelled "<module>: <metric>"), and each row's `joined { ... }` is lifted beside them.
 */
export function joinedView(
  state: BuilderState,
  module: ModuleInfo,
  modules: ModuleInfo[],
): { state: BuilderState; module: ModuleInfo; flatten: (answer: Answer) => Answer } {
  const join = state.join ? module.joins.find((j) => j.name === state.join?.name) : undefined;
  if (!state.join || !join) return { state, module, flatten: (a) => a };
  const other = modules.find((m) => m.name === join.module);
  const extra: MetricInfo[] = state.join.metrics.map((name) => {
    const base = other?.metrics.find((m) => m.name === name);
    const key = `joined_${name}`;
    return {
      name: key,
      graphqlName: key,
      enumValue: key.toUpperCase(),
      label: `${other ? labelOf(other) : join.module}: ${base ? labelOf(base) : name}`,
      description: base?.description ?? null,
      unit: base?.unit ?? null,
      format: base?.format ?? null,
      kind: base?.kind ?? "COUNT",
      graphqlType: base?.graphqlType ?? "Float",
    };
  });
  const camelOf = new Map(
    state.join.metrics.map((n) => [n, other?.metrics.find((m) => m.name === n)?.graphqlName ?? n]),
  );
  return {
    state: { ...state, metrics: [...state.metrics, ...extra.map((m) => m.name)] },
    module: { ...module, metrics: [...module.metrics, ...extra] },
    flatten: (answer) => ({
      ...answer,
      rows: answer.rows.map((row) => {
        const joined = (row.joined ?? {}) as Record<string, unknown>;
        const lifted: Row = { ...row };
        for (const [name, field] of camelOf) lifted[`joined_${name}`] = joined[field] ?? null;
        return lifted;
      }),
    }),
  };
}
