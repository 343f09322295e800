// One function per visualization: the answer in, DOM (or an ECharts option) out. Units and formats come from
// the metric annotations; change indicators from the comparison the query asked for.

import type { BuilderState } from "../model/builder";
import {
  direction,
  formatChange,
  formatChangeRatio,
  formatValue,
} from "../model/format";
import { labelOf, type DimensionInfo, type MetricInfo, type ModuleInfo } from "../model/metadata";
import {
  chosenDimensions,
  chosenMetrics,
  groupedChart,
  groupLabel,
  kpis,
  timeChart,
  valueLabel,
  type Answer,
  type Row,
} from "../model/results";
import { h } from "../views/dom";
import { draw, type Option } from "./echarts";

export type Cleanup = () => void;

const ARROWS = { up: "▲", down: "▼", flat: "■", none: "" } as const;

function changeBadge(metric: MetricInfo, change: number | null, ratio: number | null): HTMLElement | null {
  const dir = direction(change);
  if (dir === "none") return null;
  const ratioText = formatChangeRatio(ratio);
  return h(
    "span",
    { class: `change change-${dir}`, title: "Change against the comparison window" },
    `${ARROWS[dir]} ${formatChange(change, metric) ?? ""}${ratioText ? ` (${ratioText})` : ""}`,
  );
}

export function renderKpi(container: HTMLElement, state: BuilderState, module: ModuleInfo, answer: Answer): Cleanup {
  const tiles = kpis(answer, chosenMetrics(state, module)).map((k) =>
    h(
      "div",
      { class: "kpi", "data-metric": k.metric.name },
      h("div", { class: "kpi-label", title: k.metric.description ?? "" }, labelOf(k.metric)),
      h("div", { class: "kpi-value", "data-value": k.value ?? "" }, formatValue(k.value, k.metric)),
      state.compare
        ? h(
            "div",
            { class: "kpi-previous" },
            changeBadge(k.metric, k.change, k.changeRatio),
            h("span", { class: "muted" }, ` vs ${formatValue(k.previous, k.metric)}`),
          )
        : null,
    ),
  );
  container.append(h("div", { class: "kpis" }, tiles));
  return () => undefined;
}

function cell(dim: DimensionInfo, row: Row, timeZone: string): HTMLElement {
  const value = row[dim.graphqlName];
  const instant = dim.type === "DATETIME" && typeof value === "string" ? value : null;
  return h(
    "td",
    { "data-dimension": dim.name, title: instant },
    row.others ? "Others" : valueLabel(dim, value, timeZone),
  );
}

/** A column header; time columns name the zone their wall times are in. */
function zoned(label: string, timeZone: string): HTMLElement {
  return h("th", { scope: "col", title: `Times in ${timeZone}` }, label, " ", h("span", { class: "zone" }, `(${timeZone})`));
}

export function renderTable(container: HTMLElement, state: BuilderState, module: ModuleInfo, answer: Answer): Cleanup {
  const metrics = chosenMetrics(state, module);
  const dims = chosenDimensions(state, module);
  const bucketed = answer.granularity !== "TOTAL";
  const head = h(
    "tr",
    {},
    bucketed ? zoned("Time", answer.timeZone) : null,
    dims.map((d) => (d.type === "DATETIME" ? zoned(labelOf(d), answer.timeZone) : h("th", { scope: "col" }, labelOf(d)))),
    metrics.map((m) => h("th", { scope: "col", class: "num", title: m.description ?? "" }, labelOf(m))),
  );
  const body = answer.rows.map((row) =>
    h(
      "tr",
      { class: row.others ? "others" : null },
      bucketed ? h("td", { "data-bucket": row.bucket ?? "" }, (row.bucket ?? "").slice(0, 16).replace("T", " ")) : null,
      dims.map((d) => cell(d, row, answer.timeZone)),
      metrics.map((m) => {
        const value = row[m.graphqlName];
        const change = row.change?.[m.graphqlName] ?? null;
        const ratio = row.changeRatio?.[m.graphqlName] ?? null;
        return h(
          "td",
          { class: "num", "data-metric": m.name, "data-value": typeof value === "number" ? value : "" },
          formatValue(value, m),
          state.compare ? h("br") : null,
          state.compare ? changeBadge(m, change, ratio) : null,
        );
      }),
    ),
  );
  container.append(
    // Focusable, so a keyboard user can scroll a table larger than its panel.
    h("div", { class: "table-wrap", tabindex: 0, role: "region", "aria-label": "Answer table" }, h("table", { class: "result" }, h("thead", {}, head), h("tbody", {}, body))),
  );
  return () => undefined;
}

function tooltipFormatter(metrics: MetricInfo[]): (params: unknown) => string {
  return (params: unknown) => {
    const list = (Array.isArray(params) ? params : [params]) as {
      seriesIndex: number;
      seriesName: string;
      name: string;
      value: number | null;
      marker: string;
    }[];
    const title = list[0]?.name ?? "";
    const lines = list.map((p) => {
      const metric = metrics[p.seriesIndex % metrics.length] ?? metrics[0];
      return `${p.marker}${p.seriesName}: <b>${metric ? formatValue(p.value, metric) : String(p.value)}</b>`;
    });
    return [title, ...lines].join("<br>");
  };
}

function chartBox(container: HTMLElement): HTMLElement {
  const box = h("div", { class: "chart", role: "img" });
  container.append(box);
  return box;
}

export function renderBar(container: HTMLElement, state: BuilderState, module: ModuleInfo, answer: Answer): Cleanup {
  const metrics = chosenMetrics(state, module);
  const dims = chosenDimensions(state, module);
  const data = answer.granularity === "TOTAL" ? groupedChart(answer, metrics, dims) : timeChart(answer, metrics, dims);
  const box = chartBox(container);
  box.setAttribute("aria-label", `Bar chart of ${metrics.map(labelOf).join(", ")}`);
  const option: Option = {
    animation: false,
    tooltip: { trigger: "axis", formatter: tooltipFormatter(metrics) },
    legend: { type: "scroll", top: 0 },
    grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
    xAxis: { type: "category", data: data.categories },
    yAxis: { type: "value", axisLabel: { formatter: (v: number) => formatValue(v, { ...metrics[0]!, unit: null }) } },
    series: data.series.map((s) => ({ type: "bar", name: s.name, data: s.data, stack: answer.granularity !== "TOTAL" && dims.length ? s.metric : undefined })),
  };
  return draw(box, option);
}

export function renderPie(container: HTMLElement, state: BuilderState, module: ModuleInfo, answer: Answer): Cleanup {
  const metric = chosenMetrics(state, module)[0];
  const dims = chosenDimensions(state, module);
  const box = chartBox(container);
  if (metric === undefined) return () => undefined;
  box.setAttribute("aria-label", `Pie chart of ${labelOf(metric)}`);
  const data = groupedChart(answer, [metric], dims);
  const option: Option = {
    animation: false,
    tooltip: {
      trigger: "item",
      formatter: (p: { name: string; value: number; percent: number; marker: string }) =>
        `${p.marker}${p.name}: <b>${formatValue(p.value, metric)}</b> (${p.percent}%)`,
    },
    legend: { type: "scroll", orient: "vertical", left: 0, top: "middle" },
    series: [
      {
        type: "pie",
        name: labelOf(metric),
        radius: ["35%", "70%"],
        center: ["60%", "50%"],
        data: data.categories.map((name, i) => ({ name, value: data.series[0]?.data[i] ?? null })),
        label: { formatter: "{b}: {d}%" },
      },
    ],
  };
  return draw(box, option);
}

export function renderLine(container: HTMLElement, state: BuilderState, module: ModuleInfo, answer: Answer): Cleanup {
  const metrics = chosenMetrics(state, module);
  const dims = chosenDimensions(state, module);
  const data = timeChart(answer, metrics, dims);
  const box = chartBox(container);
  box.setAttribute("aria-label", `Time series of ${metrics.map(labelOf).join(", ")}`);
  const option: Option = {
    animation: false,
    tooltip: { trigger: "axis", formatter: tooltipFormatter(metrics) },
    legend: { type: "scroll", top: 0 },
    grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
    xAxis: { type: "category", data: data.categories, boundaryGap: false },
    yAxis: { type: "value" },
    series: data.series.map((s) => ({ type: "line", name: s.name, data: s.data, showSymbol: data.categories.length < 60, connectNulls: false })),
  };
  return draw(box, option);
}

export const RENDERERS = {
  kpi: renderKpi,
  table: renderTable,
  bar: renderBar,
  pie: renderPie,
  line: renderLine,
} as const;

export { groupLabel };
