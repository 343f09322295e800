import { describe, expect, it } from "vitest";

import { buildQuery, fromPredefined, predefinedNotes } from "../src/model/builder";
import type { PredefinedQueryInfo } from "../src/model/metadata";
import { ARCADE, DAILY } from "./fixtures";

const BUSIEST = ARCADE.queries[0]!;

describe("a predefined query loaded into the form", () => {
  it("carries its window, groups, filters and comparison, drawn as bars", () => {
    const state = fromPredefined(BUSIEST, ARCADE, "Europe/Helsinki");
    expect(state).toMatchObject({
      module: "arcade",
      visualization: "bar",
      metrics: ["plays", "takings"],
      groupBy: ["cabinet"],
      filters: [{ dimension: "cabinet", operator: "IN", values: ["pinball", "tetra-2"] }],
      window: { kind: "relative", last: 24, unit: "HOUR" },
      timeZone: "Europe/Helsinki",
      granularity: "TOTAL",
      compare: "PREVIOUS_PERIOD",
    });
    const text = buildQuery(state, ARCADE);
    expect(text).toContain("where: {cabinet: {in: [pinball, tetra_2]}}");
    expect(text).toContain("compare: PREVIOUS_PERIOD");
  });

  it("picks the chart that fits: buckets draw a time series, no groups a KPI; presets stay presets", () => {
    const hourly: PredefinedQueryInfo = { ...BUSIEST, granularity: "HOUR", groupBy: [], compare: null };
    expect(fromPredefined(hourly, ARCADE, "UTC").visualization).toBe("line");
    const total: PredefinedQueryInfo = { ...BUSIEST, groupBy: [], window: { last: null, unit: null, preset: "TODAY" } };
    const state = fromPredefined(total, ARCADE, "UTC");
    expect(state.visualization).toBe("kpi");
    expect(state.window).toEqual({ kind: "preset", preset: "TODAY" });
  });

  it("keeps a number filter's value as its text and drops what the module cannot answer", () => {
    const query: PredefinedQueryInfo = {
      ...BUSIEST,
      granularity: "MINUTE",
      filters: [{ dimension: "stage", operator: "GTE", values: ["3"] }],
    };
    const state = fromPredefined(query, DAILY, "UTC");
    expect(state.filters[0]?.values).toEqual(["3"]);
    expect(DAILY.granularities).toContain(state.granularity);
  });

  it("says what of the query the form does not carry", () => {
    expect(predefinedNotes(BUSIEST)).toEqual([
      "Ordered by plays (largest first) in its own field; the form orders by the chart.",
    ]);
    expect(predefinedNotes({ ...BUSIEST, orderBy: [], limit: 10 })).toEqual([
      "Its own field returns at most 10 rows; the form shows them all.",
    ]);
  });
});
