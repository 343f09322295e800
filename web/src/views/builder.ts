// The query builder: a form generated from one module's metadata. Every choice it offers is one the schema
// accepts (the rest are not offered, or are explained next to the Run button); the query it runs is shown.

import {
  defaultState,
  fromPredefined,
  granularitiesFor,
  isListOperator,
  JOIN_KINDS,
  normalise,
  OPERATOR_LABELS,
  predefinedNotes,
  problems,
  VISUALIZATIONS,
  type BuilderState,
  type FilterState,
} from "../model/builder";
import {
  COMPARISONS,
  labelOf,
  PRESETS,
  type DimensionInfo,
  type FilterOperator,
  type Granularity,
  type ModuleInfo,
  type TimeUnit,
} from "../model/metadata";
import { instantToWallTime, type WindowSpec } from "../model/window";
import { clear, h, notice, select, uid } from "./dom";
import { mountPanel, type PanelView } from "./panel";

const GRANULARITY_LABELS: Record<Granularity, string> = {
  MINUTE: "Minute",
  HOUR: "Hour",
  DAY: "Day",
  WEEK: "Week",
  MONTH: "Month",
  TOTAL: "Total (no buckets)",
};

export interface BuilderOptions {
  modules: ModuleInfo[];
  initial: BuilderState | null;
  timeZone: string;
  /** Called with each new state (the page keeps it in the URL; a dashboard editor saves it as a panel). */
  onChange?: (state: BuilderState) => void;
  /** Extra actions next to Run (a dashboard's "Add to dashboard"). */
  actions?: (state: BuilderState) => HTMLElement[];
}

function checkboxes(
  legend: string,
  items: { name: string; label: string; title: string }[],
  chosen: string[],
  onChange: (chosen: string[]) => void,
  attrs: { max?: number; name: string },
): HTMLElement {
  return h(
    "fieldset",
    { class: "checks", "data-field": attrs.name },
    h("legend", {}, legend),
    items.map((item) =>
      h(
        "label",
        { class: "check", title: item.title },
        h("input", {
          type: "checkbox",
          name: attrs.name,
          value: item.name,
          checked: chosen.includes(item.name),
          onchange: (e: Event) => {
            const on = (e.target as HTMLInputElement).checked;
            let next = on ? [...chosen, item.name] : chosen.filter((c) => c !== item.name);
            if (attrs.max !== undefined && next.length > attrs.max) next = next.slice(-attrs.max);
            onChange(next);
          },
        }),
        item.label,
      ),
    ),
  );
}

function filterValueControl(dim: DimensionInfo, filter: FilterState, update: (values: string[]) => void): HTMLElement {
  const id = uid("v");
  if (dim.allowedValues !== null || dim.type === "BOOL") {
    const values = dim.allowedValues?.map((a) => a.value) ?? ["true", "false"];
    if (isListOperator(filter.operator)) {
      return h(
        "select",
        {
          id,
          multiple: true,
          "aria-label": `Values of ${labelOf(dim)}`,
          size: Math.min(values.length, 5),
          onchange: (e: Event) =>
            update([...(e.target as HTMLSelectElement).selectedOptions].map((o) => o.value)),
        },
        values.map((v) => h("option", { value: v, selected: filter.values.includes(v) }, v)),
      );
    }
    return h(
      "select",
      {
        id,
        "aria-label": `Value of ${labelOf(dim)}`,
        onchange: (e: Event) => update([(e.target as HTMLSelectElement).value]),
      },
      h("option", { value: "", selected: !filter.values.length }, "—"),
      values.map((v) => h("option", { value: v, selected: filter.values[0] === v }, v)),
    );
  }
  const list = isListOperator(filter.operator);
  return h("input", {
    id,
    type: dim.type === "STRING" ? "text" : "text",
    inputmode: dim.type === "STRING" ? "text" : "decimal",
    "aria-label": list ? `Values of ${labelOf(dim)}, separated by commas` : `Value of ${labelOf(dim)}`,
    placeholder: list ? "a, b, c" : "value",
    value: filter.values.join(", "),
    onchange: (e: Event) => {
      const text = (e.target as HTMLInputElement).value;
      update(list ? text.split(",").map((v) => v.trim()).filter(Boolean) : text ? [text] : []);
    },
  });
}

function windowControls(state: BuilderState, module: ModuleInfo, set: (w: WindowSpec) => void): HTMLElement {
  const w = state.window;
  const kinds = [
    ["relative", "Last N"],
    ["preset", "Calendar"],
    ["absolute", "Between"],
  ] as const;
  const kindSelect = select("Time window", kinds, w.kind, (kind) => {
    if (kind === "relative") set({ kind, last: 24, unit: module.timeUnits.includes("HOUR") ? "HOUR" : (module.timeUnits[0] ?? "DAY") });
    else if (kind === "preset") set({ kind, preset: "TODAY" });
    else {
      const now = Date.now();
      set({
        kind: "absolute",
        start: instantToWallTime(now - 24 * 3600_000, state.timeZone),
        end: instantToWallTime(now, state.timeZone),
      });
    }
  }, { name: "window-kind" });
  let detail: HTMLElement;
  if (w.kind === "relative") {
    detail = h(
      "div",
      { class: "row" },
      h("label", { class: "field" }, h("span", {}, "Last"), h("input", {
        type: "number",
        min: 1,
        name: "window-last",
        value: w.last,
        onchange: (e: Event) => set({ ...w, last: Number((e.target as HTMLInputElement).value) }),
      })),
      select("Unit", module.timeUnits.map((u) => [u, u.toLowerCase() + "s"] as const), w.unit, (unit) =>
        set({ ...w, unit: unit as TimeUnit }), { name: "window-unit" }),
    );
  } else if (w.kind === "preset") {
    detail = select("Calendar window", PRESETS, w.preset, (preset) => set({ kind: "preset", preset }), { name: "window-preset" });
  } else {
    const input = (label: string, key: "start" | "end"): HTMLElement =>
      h("label", { class: "field" }, h("span", {}, label), h("input", {
        type: "datetime-local",
        name: `window-${key}`,
        value: w[key],
        onchange: (e: Event) => set({ ...w, [key]: (e.target as HTMLInputElement).value }),
      }));
    detail = h("div", { class: "row" }, input("From", "start"), input("To (excluded)", "end"));
  }
  return h("div", { class: "window" }, kindSelect, detail);
}

function timeZoneControl(state: BuilderState, set: (tz: string) => void): HTMLElement {
  const id = uid("tz");
  const listId = uid("zones");
  const zones = (Intl as unknown as { supportedValuesOf?: (k: string) => string[] }).supportedValuesOf?.("timeZone") ?? [];
  return h(
    "label",
    { class: "field", for: id },
    h("span", {}, "Time zone"),
    h("input", {
      id,
      name: "time-zone",
      list: listId,
      value: state.timeZone,
      onchange: (e: Event) => set((e.target as HTMLInputElement).value.trim() || "UTC"),
    }),
    h("datalist", { id: listId }, ["UTC", ...zones].map((z) => h("option", { value: z }))),
  );
}

export function mountBuilder(root: HTMLElement, options: BuilderOptions): { dispose(): void } {
  const { modules } = options;
  const firstModule = modules[0];
  if (firstModule === undefined) {
    clear(root, notice("empty", "No modules.", "This deployment serves no module configs."));
    return { dispose: () => undefined };
  }
  let module = modules.find((m) => m.name === options.initial?.module) ?? firstModule;
  let state = normalise(options.initial ?? defaultState(module, options.timeZone), module);
  let panel: PanelView | null = null;
  let timer: number | undefined;
  let live = false;
  let predefined = ""; // the predefined query the form holds, until a choice changes it

  const form = h("form", { class: "builder", "aria-label": "Query builder", onsubmit: (e: Event) => e.preventDefault() });
  const result = h("section", { class: "panel result-panel", "aria-live": "polite", "aria-label": "Answer" });
  const queryText = h("pre", { class: "query-text", "data-testid": "query-text" });
  const queryBox = h("details", { class: "query" }, h("summary", {}, "GraphQL"), queryText);
  clear(root, h("div", { class: "explore" }, form, h("div", { class: "explore-main" }, result, queryBox)));

  function set(next: Partial<BuilderState>, fromQuery = ""): void {
    predefined = fromQuery;
    state = normalise({ ...state, ...next }, module);
    drawForm();
    options.onChange?.(state);
    // The answer on screen no longer matches the form until the next run.
    result.querySelector(".panel-body")?.setAttribute("data-state", "stale");
    window.clearTimeout(timer);
    timer = window.setTimeout(run, 250);
  }

  function run(): void {
    // A run started directly (the live switch) replaces the one a form change scheduled: one panel, one feed.
    window.clearTimeout(timer);
    panel?.dispose();
    clear(result);
    panel = mountPanel(result, state, module, { live: live && state.visualization !== "records", modules });
    queryText.textContent = panel.query ?? "(events: one query per page)";
    void panel.refresh();
  }

  function drawFilters(): HTMLElement {
    const rows = state.filters.map((filter, i) => {
      const dim = module.dimensions.find((d) => d.name === filter.dimension);
      if (dim === undefined) return null;
      const update = (patch: Partial<FilterState>): void => {
        const filters = state.filters.slice();
        filters[i] = { ...filter, ...patch };
        set({ filters });
      };
      return h(
        "div",
        { class: "filter row", "data-filter": dim.name },
        select("Dimension", module.dimensions.map((d) => [d.name, labelOf(d)] as const), dim.name, (name) =>
          update({ dimension: name, values: [], operator: "IN" }), { name: "filter-dimension" }),
        select("Test", dim.filterOperators.map((op) => [op, OPERATOR_LABELS[op]] as const), filter.operator, (op) =>
          update({ operator: op as FilterOperator, values: isListOperator(op as FilterOperator) ? filter.values : filter.values.slice(0, 1) }), { name: "filter-operator" }),
        h("label", { class: "field" }, h("span", {}, "Value"), filterValueControl(dim, filter, (values) => update({ values }))),
        h("button", { type: "button", class: "icon", "aria-label": `Remove the filter on ${labelOf(dim)}`, onclick: () => set({ filters: state.filters.filter((_, j) => j !== i) }) }, "✕"),
      );
    });
    const first = module.dimensions[0];
    return h(
      "fieldset",
      { class: "filters" },
      h("legend", {}, "Filters"),
      rows,
      first
        ? h("button", {
            type: "button",
            onclick: () => set({ filters: [...state.filters, { dimension: first.name, operator: first.filterOperators.includes("IN") ? "IN" : "EQ", values: [] }] }),
          }, "+ Add filter")
        : null,
    );
  }

  /** The config's predefined queries: picking one loads its question into the form. */
  function drawPredefined(): HTMLElement | null {
    if (!module.queries.length) return null;
    const chosen = module.queries.find((q) => q.name === predefined);
    return h(
      "div",
      { class: "predefined" },
      select(
        "Predefined query",
        [["", "None (build your own)"], ...module.queries.map((q) => [q.name, q.label ?? q.name] as const)],
        predefined,
        (name) => {
          const query = module.queries.find((q) => q.name === name);
          if (query) set(fromPredefined(query, module, state.timeZone), name);
          else set({}, "");
        },
        { name: "predefined" },
      ),
      chosen
        ? h("p", { class: "muted small" }, [chosen.description ?? "", ...predefinedNotes(chosen)].filter(Boolean).join(" "))
        : null,
    );
  }

  function drawJoin(): HTMLElement | null {
    if (!module.joins.length || state.visualization === "records") return null;
    const join = state.join ?? null;
    const info = join ? module.joins.find((j) => j.name === join.name) : undefined;
    const other = info ? modules.find((m) => m.name === info.module) : undefined;
    return h(
      "fieldset",
      { class: "join" },
      h("legend", {}, "Join"),
      select(
        "With",
        [["", "Nothing"], ...module.joins.map((j) => [j.name, j.label ?? j.name] as const)],
        join?.name ?? "",
        (name) => {
          const chosen = module.joins.find((j) => j.name === name);
          set({ join: chosen ? { name, kind: "INNER", metrics: chosen.joinedMetrics.slice(0, 1) } : null });
        },
        { name: "join" },
      ),
      info && join
        ? [
            h("p", { class: "muted small" }, `${info.description ?? ""} Matched on ${info.match.map((m) => m.dimension).join(", ")} and the time bucket.`),
            select("Keep", JOIN_KINDS, join.kind, (kind) => set({ join: { ...join, kind } }), { name: "join-kind" }),
            checkboxes(
              `Metrics of ${other ? labelOf(other) : info.module}`,
              info.joinedMetrics.map((name) => {
                const metric = other?.metrics.find((m) => m.name === name);
                return { name, label: metric ? labelOf(metric) : name, title: metric?.description ?? "" };
              }),
              join.metrics,
              (metrics) => set({ join: { ...join, metrics } }),
              { name: "joined-metric" },
            ),
          ]
        : null,
    );
  }

  /** Which control has the focus, so a redraw of the form gives it back (a keyboard user keeps their place). */
  function focusKey(): string | null {
    const active = document.activeElement;
    if (!(active instanceof HTMLElement) || !form.contains(active)) return null;
    const name = active.getAttribute("name") ?? active.getAttribute("aria-label") ?? active.textContent ?? "";
    const value = active instanceof HTMLInputElement && (active.type === "checkbox" || active.type === "radio") ? active.value : "";
    return `${active.tagName}|${name}|${value}`;
  }

  function restoreFocus(key: string | null): void {
    if (key === null) return;
    for (const element of form.querySelectorAll<HTMLElement>("input, select, button, textarea")) {
      const name = element.getAttribute("name") ?? element.getAttribute("aria-label") ?? element.textContent ?? "";
      const value = element instanceof HTMLInputElement && (element.type === "checkbox" || element.type === "radio") ? element.value : "";
      if (`${element.tagName}|${name}|${value}` === key) {
        element.focus();
        return;
      }
    }
  }

  function drawForm(): void {
    const focused = focusKey();
    drawFormControls();
    restoreFocus(focused);
  }

  function drawFormControls(): void {
    const viz = state.visualization;
    const joinInfo = state.join ? module.joins.find((j) => j.name === state.join?.name) : undefined;
    const issues = problems(state, module);
    const top = state.top;
    clear(
      form,
      select("Module", modules.map((m) => [m.name, labelOf(m)] as const), module.name, (name) => {
        module = modules.find((m) => m.name === name) ?? module;
        set({ ...defaultState(module, state.timeZone), visualization: state.visualization === "records" && !module.recordsField ? "table" : state.visualization });
      }, { name: "module" }),
      module.description ? h("p", { class: "muted small" }, module.description) : null,
      drawPredefined(),
      h(
        "fieldset",
        { class: "segmented", "data-field": "visualization" },
        h("legend", {}, "Show as"),
        VISUALIZATIONS.filter(([v]) => v !== "records" || module.recordsField !== null).map(([value, label]) =>
          h("label", { class: value === viz ? "on" : null },
            h("input", { type: "radio", name: "visualization", value, checked: value === viz, onchange: () => set({ visualization: value }) }),
            label),
        ),
      ),
      viz === "records"
        ? null
        : checkboxes(
            viz === "pie" ? "Metric" : "Metrics",
            module.metrics.map((m) => ({ name: m.name, label: labelOf(m) + (m.unit ? ` (${m.unit})` : ""), title: m.description ?? "" })),
            state.metrics,
            (metrics) => set({ metrics }),
            { name: "metric", ...(viz === "pie" ? { max: 1 } : {}) },
          ),
      viz === "records" || viz === "kpi"
        ? null
        : checkboxes(
            "Group by",
            module.dimensions
              .filter((d) => !joinInfo || joinInfo.match.some((m) => m.dimension === d.name))
              .map((d) => ({ name: d.name, label: labelOf(d), title: d.description ?? "" })),
            state.groupBy,
            (groupBy) => set({ groupBy }),
            { name: "group-by" },
          ),
      drawJoin(),
      drawFilters(),
      h("fieldset", { class: "time" }, h("legend", {}, "Time"),
        windowControls(state, module, (window) => set({ window })),
        timeZoneControl(state, (timeZone) => set({ timeZone })),
        viz === "records" ? null : select("Granularity", granularitiesFor(module, viz).map((g) => [g, GRANULARITY_LABELS[g]] as const), state.granularity, (g) => set({ granularity: g as Granularity }), { name: "granularity" }),
        viz === "records" || joinInfo ? null : select("Compare with", [["", "Nothing"], ...COMPARISONS], state.compare ?? "", (c) => set({ compare: c || null }), { name: "compare" }),
      ),
      viz === "records" || viz === "kpi" || joinInfo
        ? null
        : h("fieldset", { class: "top" }, h("legend", {}, "Top N"),
            state.groupBy.length
              ? h("div", { class: "row" },
                  h("label", { class: "check" }, h("input", { type: "checkbox", name: "top-on", checked: top !== null, onchange: (e: Event) => set({ top: (e.target as HTMLInputElement).checked ? { n: 5, by: state.metrics[0] ?? "", others: true } : null }) }), "Keep the largest"),
                  top ? h("label", { class: "field" }, h("span", {}, "N"), h("input", { type: "number", min: 1, name: "top-n", value: top.n, onchange: (e: Event) => set({ top: { ...top, n: Number((e.target as HTMLInputElement).value) } }) })) : null,
                  top ? select("By", state.metrics.map((m) => [m, labelOf(module.metrics.find((x) => x.name === m) ?? { name: m, label: null })] as const), top.by, (by) => set({ top: { ...top, by } }), { name: "top-by" }) : null,
                  top ? h("label", { class: "check" }, h("input", { type: "checkbox", name: "top-others", checked: top.others, onchange: (e: Event) => set({ top: { ...top, others: (e.target as HTMLInputElement).checked } }) }), "Others row") : null,
                )
              : h("p", { class: "muted small" }, "Group by a dimension to keep only its largest groups."),
          ),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "primary", name: "run", disabled: issues.length > 0, onclick: run }, "Run"),
        viz === "records"
          ? null
          : h("label", { class: "check", title: "Update the answer whenever new events change it" },
              h("input", { type: "checkbox", name: "live", checked: live, onchange: (e: Event) => { live = (e.target as HTMLInputElement).checked; run(); } }),
              "Live"),
        options.actions?.(state) ?? [],
      ),
      issues.length ? h("ul", { class: "problems", role: "status" }, issues.map((p) => h("li", {}, p))) : null,
    );
  }

  drawForm();
  run();
  return {
    dispose: () => {
      window.clearTimeout(timer);
      panel?.dispose();
    },
  };
}
