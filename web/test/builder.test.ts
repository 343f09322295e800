import { describe, expect, it } from "vitest";

import {
  buildQuery,
  buildRecordsQuery,
  defaultState,
  granularitiesFor,
  normalise,
  problems,
  whereArgument,
  type BuilderState,
} from "../src/model/builder";
import { literal } from "../src/model/graphql";
import { ARCADE, DAILY, REPAIRS } from "./fixtures";
import { joinedView } from "../src/model/results";

const base = (patch: Partial<BuilderState> = {}): BuilderState =>
  normalise({ ...defaultState(ARCADE, "Europe/Helsinki"), ...patch }, ARCADE);

describe("form generation from metadata", () => {
  it("starts from the module's first metric and a window its granularities answer", () => {
    expect(defaultState(ARCADE, "UTC")).toMatchObject({ metrics: ["plays"], window: { kind: "relative", unit: "HOUR" } });
    expect(defaultState(DAILY, "UTC").window).toEqual({ kind: "preset", preset: "THIS_MONTH" });
  });

  it("offers only granularities the module answers and the visualization can draw", () => {
    expect(granularitiesFor(DAILY, "line")).toEqual(["DAY", "WEEK", "MONTH"]);
    expect(granularitiesFor(ARCADE, "kpi")).toEqual(["TOTAL"]);
    expect(granularitiesFor(DAILY, "table")).toEqual(DAILY.granularities);
  });

  it("keeps choices valid: a KPI drops groups, a pie keeps one metric, a time series gets buckets", () => {
    expect(base({ visualization: "kpi", groupBy: ["cabinet"], granularity: "HOUR" })).toMatchObject({
      groupBy: [],
      granularity: "TOTAL",
    });
    expect(base({ visualization: "pie", metrics: ["plays", "takings"] }).metrics).toEqual(["plays"]);
    expect(base({ visualization: "line", granularity: "TOTAL" }).granularity).toBe("HOUR");
    const daily = normalise({ ...defaultState(DAILY, "UTC"), window: { kind: "relative", last: 3, unit: "HOUR" } }, DAILY);
    expect(daily.window).toEqual({ kind: "relative", last: 3, unit: "DAY" });
  });

  it("drops names the module no longer has (a dimension left the config)", () => {
    const state = base({ metrics: ["gone", "takings"], groupBy: ["gone", "cabinet"], filters: [{ dimension: "gone", operator: "EQ", values: ["x"] }] });
    expect(state).toMatchObject({ metrics: ["takings"], groupBy: ["cabinet"], filters: [] });
  });

  it("explains what keeps a question from running", () => {
    expect(problems(base({ visualization: "pie", groupBy: [] }), ARCADE)).toContain("A pie needs a dimension to group by.");
    expect(problems(base({ filters: [{ dimension: "stage", operator: "GT", values: ["two"] }] }), ARCADE)).toEqual([
      'Filter on Stage: "two" is not a whole number.',
    ]);
    expect(problems(base({ window: { kind: "absolute", start: "2026-11-02T00:00", end: "2026-11-01T00:00" } }), ARCADE)).toEqual([
      "Time window: the end must come after the start.",
    ]);
    expect(problems({ ...defaultState(DAILY, "UTC"), visualization: "records" }, DAILY)[0]).toMatch(/keeps no raw events/);
    expect(problems(base(), ARCADE)).toEqual([]);
  });
});

describe("the GraphQL the builder runs", () => {
  it("writes filters by dimension type: enum values for allowed strings, Long literals, quoted text", () => {
    const state = base({
      filters: [
        { dimension: "cabinet", operator: "IN", values: ["tetra-2", "racer"] },
        { dimension: "stage", operator: "GTE", values: ["3"] },
        { dimension: "player_name", operator: "PREFIX", values: ['a"b'] },
        { dimension: "stage", operator: "GTE", values: ["5"] },
      ],
    });
    expect(literal(whereArgument(state, ARCADE))).toBe(
      '{cabinet: {in: [tetra_2, racer]}, stage: {gte: 3}, playerName: {prefix: "a\\"b"}, and: [{stage: {gte: 5}}]}',
    );
  });

  it("asks for exactly what the visualization draws: groups, metrics, others, comparison values", () => {
    const state = base({
      metrics: ["plays", "avg_score"],
      groupBy: ["cabinet"],
      compare: "PREVIOUS_PERIOD",
      top: { n: 2, by: "plays", others: true },
      window: { kind: "absolute", start: "2026-07-01T00:00", end: "2026-07-02T00:00" },
    });
    expect(buildQuery(state, ARCADE)).toBe(
      [
        "query StrixBuilder {",
        '  arcade(window: {start: "2026-07-01T00:00:00+03:00", end: "2026-07-02T00:00:00+03:00"}, timeZone: "Europe/Helsinki", granularity: TOTAL, metrics: [PLAYS, AVG_SCORE], groupBy: [CABINET], compare: PREVIOUS_PERIOD, top: {n: 2, by: PLAYS, others: true}) {',
        "    source sourceReason start end granularity timeZone cached compareStart compareEnd",
        "    rows { cabinet plays avgScore others previous { plays avgScore } change { plays avgScore } changeRatio { plays avgScore } }",
        "  }",
        "}",
      ].join("\n"),
    );
  });

  it("pages raw events with the same window and filters", () => {
    const state = base({ window: { kind: "preset", preset: "YESTERDAY" }, filters: [{ dimension: "cabinet", operator: "EQ", values: ["racer"] }] });
    expect(buildRecordsQuery(state, ARCADE, ["playedAt", "cabinet"], "c1", 10)).toContain(
      'arcadeRecords(window: {preset: YESTERDAY}, timeZone: "Europe/Helsinki", where: {cabinet: {eq: racer}}, first: 10, after: "c1")',
    );
  });
});

describe("joins with other modules", () => {
  const joined = (): BuilderState =>
    base({
      groupBy: ["cabinet", "stage"],
      compare: "PREVIOUS_PERIOD",
      top: { n: 2, by: "plays", others: true },
      join: { name: "repairs", kind: "LEFT", metrics: ["repair_cost", "gone"] },
    });

  it("keeps only what a join can answer: shared dimensions, the joined module's metrics, no top-N or comparison", () => {
    expect(joined()).toMatchObject({
      groupBy: ["cabinet"],
      top: null,
      compare: null,
      join: { name: "repairs", kind: "LEFT", metrics: ["repair_cost"] },
    });
    expect(problems(base({ join: { name: "repairs", kind: "INNER", metrics: [] } }), ARCADE)).toContain(
      "Pick at least one metric of the joined module.",
    );
  });

  it("asks the join's own field with the joined metrics under rows", () => {
    const text = buildQuery(joined(), ARCADE);
    expect(text).toContain("arcadeWithRepairs(window: {last: 24, unit: HOUR}");
    expect(text).toContain("joinedMetrics: [REPAIR_COST], kind: LEFT, groupBy: [CABINET]");
    expect(text).toContain("rows { cabinet plays joined { repairCost } }");
  });

  it("draws the joined metrics as columns labelled by their module", () => {
    const view = joinedView(joined(), ARCADE, [ARCADE, REPAIRS]);
    expect(view.state.metrics).toEqual(["plays", "joined_repair_cost"]);
    expect(view.module.metrics.at(-1)).toMatchObject({ label: "Repairs: Repair cost", unit: "EUR", format: "currency" });
    const answer = view.flatten({ rows: [{ cabinet: "racer", plays: 3, joined: { repairCost: 12.5 } }], source: "", sourceReason: null, start: "", end: "", granularity: "TOTAL", timeZone: "UTC", cached: false });
    expect(answer.rows[0]).toMatchObject({ plays: 3, joined_repair_cost: 12.5 });
  });
});
