// Dashboard panels as the dashboards contract stores them (strix_contracts.dashboards.PanelQuery: config names,
// lower-case enums, RFC 3339 windows) and as the builder edits them (BuilderState): one pure mapping each way.

import type { BuilderState, FilterState, Visualization } from "./builder";
import type { FilterOperator, Granularity, ModuleInfo, TimeUnit } from "./metadata";
import { instantToWallTime, wallTimeToRfc3339, type WindowSpec } from "./window";

export interface PanelQuery {
  module: string;
  metrics: string[];
  group_by: string[];
  filters: { dimension: string; op: string; value: unknown }[];
  window: { start?: string | null; end?: string | null; last?: number | null; unit?: string | null; preset?: string | null };
  granularity: string;
  time_zone: string;
  top?: { n: number; by: string; others: boolean } | null;
  compare?: string | null;
  join?: { name: string; kind: string; metrics: string[] } | null;
}

export interface Layout {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface Panel {
  id: string;
  title: string;
  query: PanelQuery;
  visualization: Visualization;
  options: Record<string, unknown>;
  layout: Layout;
  problems?: string[];
}

export const GRID_COLUMNS = 12;

/** A filter value as the contract stores it: numbers and booleans typed by the dimension. */
function storedValue(module: ModuleInfo | undefined, dimension: string, value: string): unknown {
  const dim = module?.dimensions.find((d) => d.name === dimension);
  if (dim?.type === "INT") return Number.parseInt(value, 10);
  if (dim?.type === "FLOAT" || dim?.type === "DECIMAL") return Number(value);
  if (dim?.type === "BOOL") return value === "true";
  return value;
}

export function toPanelQuery(state: BuilderState, module?: ModuleInfo): PanelQuery {
  const w = state.window;
  const window =
    w.kind === "preset"
      ? { preset: w.preset.toLowerCase() }
      : w.kind === "relative"
        ? { last: w.last, unit: w.unit.toLowerCase() }
        : { start: wallTimeToRfc3339(w.start, state.timeZone), end: wallTimeToRfc3339(w.end, state.timeZone) };
  return {
    module: state.module,
    metrics: state.visualization === "records" ? [] : [...state.metrics],
    group_by: [...state.groupBy],
    filters: state.filters
      .filter((f) => f.values.length)
      .map((f) => ({
        dimension: f.dimension,
        op: f.operator.toLowerCase(),
        value:
          f.operator === "IN" || f.operator === "NOT_IN"
            ? f.values.map((v) => storedValue(module, f.dimension, v))
            : storedValue(module, f.dimension, f.values[0] ?? ""),
      })),
    window,
    granularity: state.granularity.toLowerCase(),
    time_zone: state.timeZone,
    top: state.top ? { ...state.top } : null,
    compare: state.compare ? state.compare.toLowerCase() : null,
    join: state.join ? { name: state.join.name, kind: state.join.kind.toLowerCase(), metrics: [...state.join.metrics] } : null,
  };
}

export function fromPanelQuery(query: PanelQuery, visualization: Visualization): BuilderState {
  const w = query.window;
  let window: WindowSpec;
  if (w.preset) window = { kind: "preset", preset: w.preset.toUpperCase() };
  else if (w.last && w.unit) window = { kind: "relative", last: w.last, unit: w.unit.toUpperCase() as TimeUnit };
  else if (w.start && w.end) {
    window = {
      kind: "absolute",
      start: instantToWallTime(Date.parse(w.start), query.time_zone),
      end: instantToWallTime(Date.parse(w.end), query.time_zone),
    };
  } else window = { kind: "relative", last: 24, unit: "HOUR" };
  const filters: FilterState[] = query.filters.map((f) => ({
    dimension: f.dimension,
    operator: f.op.toUpperCase() as FilterOperator,
    values: (Array.isArray(f.value) ? f.value : [f.value]).map((v) => (typeof v === "string" ? v : JSON.stringify(v))),
  }));
  return {
    module: query.module,
    visualization,
    metrics: [...query.metrics],
    groupBy: [...query.group_by],
    filters,
    window,
    timeZone: query.time_zone,
    granularity: query.granularity.toUpperCase() as Granularity,
    compare: query.compare ? query.compare.toUpperCase() : null,
    top: query.top ? { ...query.top } : null,
    join: query.join ? { name: query.join.name, kind: query.join.kind.toUpperCase(), metrics: [...query.join.metrics] } : null,
  };
}

/** Where a new panel goes: the first row below every panel, full width halves. */
export function nextSlot(panels: Panel[], w = 6, h = 6): Layout {
  const bottom = panels.reduce((y, p) => Math.max(y, p.layout.y + p.layout.h), 0);
  const lastRow = panels.filter((p) => p.layout.y + p.layout.h === bottom);
  const right = lastRow.reduce((x, p) => Math.max(x, p.layout.x + p.layout.w), 0);
  if (lastRow.length && right + w <= GRID_COLUMNS) {
    const top = Math.min(...lastRow.map((p) => p.layout.y));
    return { x: right, y: top, w, h };
  }
  return { x: 0, y: bottom, w, h };
}

function overlaps(a: Layout, b: Layout): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/**
 * Move or resize one panel (clamped to the grid), pushing any panel it now overlaps down below it, repeatedly,
 * so the layout never overlaps (the dashboards service refuses overlaps).
 */
export function place(panels: Panel[], id: string, layout: Layout): Panel[] {
  const w = Math.max(1, Math.min(GRID_COLUMNS, Math.round(layout.w)));
  const moved: Layout = {
    w,
    h: Math.max(1, Math.round(layout.h)),
    x: Math.max(0, Math.min(GRID_COLUMNS - w, Math.round(layout.x))),
    y: Math.max(0, Math.round(layout.y)),
  };
  const out = panels.map((p) => (p.id === id ? { ...p, layout: moved } : { ...p, layout: { ...p.layout } }));
  const settled: Layout[] = [moved];
  const others = out.filter((p) => p.id !== id).sort((a, b) => a.layout.y - b.layout.y || a.layout.x - b.layout.x);
  for (const panel of others) {
    let clash = settled.find((s) => overlaps(s, panel.layout));
    while (clash !== undefined) {
      panel.layout.y = clash.y + clash.h;
      clash = settled.find((s) => overlaps(s, panel.layout));
    }
    settled.push(panel.layout);
  }
  return out;
}

/** What differs between two versions of a dashboard, for the conflict dialog ("panel Revenue moved"). */
export function differences(
  mine: { title: string; panels: Panel[] },
  theirs: { title: string; panels: Panel[] },
): string[] {
  const out: string[] = [];
  if (mine.title !== theirs.title) out.push(`title: "${theirs.title}" there, "${mine.title}" here`);
  const theirsById = new Map(theirs.panels.map((p) => [p.id, p]));
  const mineById = new Map(mine.panels.map((p) => [p.id, p]));
  for (const p of theirs.panels) if (!mineById.has(p.id)) out.push(`panel "${p.title || p.id}" added there`);
  for (const p of mine.panels) {
    const other = theirsById.get(p.id);
    if (other === undefined) {
      out.push(`panel "${p.title || p.id}" not there`);
      continue;
    }
    if (JSON.stringify(other.query) !== JSON.stringify(p.query) || other.visualization !== p.visualization) {
      out.push(`panel "${p.title || p.id}" asks something else there`);
    }
    if (JSON.stringify(other.layout) !== JSON.stringify(p.layout)) out.push(`panel "${p.title || p.id}" placed differently`);
    if (other.title !== p.title) out.push(`panel "${p.title || p.id}" titled "${other.title}" there`);
  }
  return out;
}
