// One question answered in one box: loading, empty and error states that say what happened, the visualization,
// and on demand where the answer came from and the GraphQL that asked it.

import { RENDERERS, type Cleanup } from "../charts/render";
import { optionOf } from "../charts/echarts";
import { request, subscribe } from "../api/graphql";
import { buildQuery, buildSubscription, problems, type BuilderState } from "../model/builder";
import type { ModuleInfo } from "../model/metadata";
import { joinedView, type Answer } from "../model/results";
import { clear, h, notice } from "./dom";
import { errorNotice } from "./errors";
import { renderRecords } from "./records";

export interface PanelView {
  /** The query text the panel runs (null for event pages, which build theirs per page). */
  query: string | null;
  refresh(): Promise<void>;
  /** Draw an answer that arrived another way (a subscription). */
  show(answer: Answer): void;
  dispose(): void;
}

function sourceLine(answer: Answer): HTMLElement {
  return h(
    "details",
    { class: "source" },
    h("summary", {}, "Source"),
    h(
      "p",
      {},
      `${answer.source}${answer.cached ? " (cached)" : ""} — ${answer.sourceReason ?? ""}. Window ${answer.start} to ${answer.end} (${answer.timeZone})` +
        (answer.compareStart ? `, compared with ${answer.compareStart} to ${answer.compareEnd}` : "") +
        ".",
    ),
  );
}

export interface PanelOptions {
  /** Keep the answer current through a subscription, with a freshness line ("updated 2 s ago"). */
  live?: boolean;
  /** Now, in ms (tests and the freshness line). */
  now?: () => number;
  /** Every module's metadata (a joined question labels the joined module's metrics from it). */
  modules?: ModuleInfo[];
  /** Where the freshness line goes (a dashboard panel's head); above the answer when not given. */
  freshnessIn?: HTMLElement;
}

/** "updated 2 s ago", "updated 3 min ago". */
export function freshness(updatedAt: number, now: number): string {
  const seconds = Math.max(0, Math.round((now - updatedAt) / 1000));
  if (seconds < 60) return `updated ${seconds} s ago`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60 ? `updated ${minutes} min ago` : `updated ${Math.floor(minutes / 60)} h ago`;
}

export function mountPanel(
  container: HTMLElement,
  state: BuilderState,
  module: ModuleInfo,
  options: PanelOptions = {},
): PanelView {
  const now = options.now ?? Date.now;
  const body = h("div", { class: "panel-body" });
  const fresh = h("span", { class: "freshness muted small", "aria-live": "off" });
  if (options.live) (options.freshnessIn ?? container).append(fresh);
  container.append(body);
  let cleanup: Cleanup = () => undefined;
  let generation = 0;
  let updatedAt: number | null = null;
  let stopLive: () => void = () => undefined;
  const ticker = options.live
    ? window.setInterval(() => {
        if (updatedAt !== null) fresh.textContent = freshness(updatedAt, now());
      }, 1000)
    : undefined;
  const issues = problems(state, module);
  const query = state.visualization === "records" || issues.length ? null : buildQuery(state, module);
  const joined = joinedView(state, module, options.modules ?? [module]);
  // The answer's field: the module's, or its join's (joins are live too: pushed when either module changes).
  const field = state.join ? (module.joins.find((j) => j.name === state.join?.name)?.graphqlName ?? "") : module.graphqlName;

  function show(answer: Answer): void {
    updatedAt = now();
    fresh.textContent = freshness(updatedAt, updatedAt);
    fresh.dataset.updates = String(Number(fresh.dataset.updates ?? "0") + 1);
    cleanup();
    cleanup = () => undefined;
    clear(body);
    body.dataset.state = answer.rows.length ? "ready" : "empty";
    if (!answer.rows.length) {
      body.append(
        notice("empty", "No events in this window.", `Nothing matched from ${answer.start} to ${answer.end}; widen the window or loosen the filters.`),
      );
      body.append(sourceLine(answer));
      return;
    }
    if (state.visualization === "records") return;
    const view = h("div", { class: `viz viz-${state.visualization}` });
    body.append(view);
    cleanup = RENDERERS[state.visualization](view, joined.state, joined.module, joined.flatten(answer));
    body.append(sourceLine(answer));
  }

  async function refresh(): Promise<void> {
    const mine = ++generation;
    if (issues.length) {
      clear(body, notice("info", "This question is not complete.", issues.join(" ")));
      body.dataset.state = "invalid";
      return;
    }
    if (state.visualization === "records") {
      cleanup();
      clear(body);
      cleanup = renderRecords(body, state, module);
      return;
    }
    if (!body.childElementCount) clear(body, notice("loading", "Loading…"));
    body.dataset.state = "loading";
    if (options.live) {
      stopLive();
      stopLive = subscribe<Record<string, Answer>>(
        buildSubscription(state, module),
        {},
        (data) => {
          const answer = data[field];
          if (mine === generation && answer !== undefined) show(answer);
        },
        (error) => {
          if (mine !== generation) return;
          cleanup();
          cleanup = () => undefined;
          clear(body, errorNotice(error));
          body.dataset.state = "error";
        },
      );
      return;
    }
    await refreshOnce(mine);
  }

  async function refreshOnce(mine: number): Promise<void> {
    try {
      const data = await request<Record<string, Answer>>(query ?? "");
      if (mine !== generation) return;
      const answer = data[field];
      if (answer === undefined) throw new Error("the answer has no data for this module");
      show(answer);
    } catch (error) {
      if (mine !== generation) return;
      cleanup();
      cleanup = () => undefined;
      clear(body, errorNotice(error));
      body.dataset.state = "error";
    }
  }

  return {
    query,
    refresh,
    show,
    dispose: () => {
      generation += 1;
      stopLive();
      window.clearInterval(ticker);
      cleanup();
    },
  };
}

/** Test and debugging hook: the ECharts option drawn inside an element (or null). */
(window as unknown as { strixChartOption: (el: Element) => unknown }).strixChartOption = (el: Element) => {
  const chart = el.matches(".chart") ? el : el.querySelector(".chart");
  return chart ? optionOf(chart) : null;
};
