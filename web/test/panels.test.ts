import { describe, expect, it } from "vitest";

import { defaultState, normalise } from "../src/model/builder";
import { differences, fromPanelQuery, nextSlot, place, toPanelQuery, type Panel } from "../src/model/panels";
import { ARCADE } from "./fixtures";

const panel = (id: string, x: number, y: number, w: number, h: number): Panel => ({
  id,
  title: id,
  query: toPanelQuery(defaultState(ARCADE, "UTC")),
  visualization: "table",
  options: {},
  layout: { x, y, w, h },
});

describe("panels as the dashboards service stores them", () => {
  it("round-trips the builder's state through the contract's shape", () => {
    const state = normalise(
      {
        ...defaultState(ARCADE, "Europe/Helsinki"),
        visualization: "bar",
        metrics: ["plays", "takings"],
        groupBy: ["cabinet"],
        filters: [
          { dimension: "stage", operator: "IN", values: ["3", "4"] },
          { dimension: "cabinet", operator: "EQ", values: ["tetra-2"] },
        ],
        window: { kind: "absolute", start: "2026-07-01T00:00", end: "2026-07-02T12:30" },
        compare: "WEEK_EARLIER",
        top: { n: 2, by: "takings", others: false },
        join: null,
      },
      ARCADE,
    );
    const query = toPanelQuery(state, ARCADE);
    expect(query).toMatchObject({
      module: "arcade",
      group_by: ["cabinet"],
      filters: [
        { dimension: "stage", op: "in", value: [3, 4] },
        { dimension: "cabinet", op: "eq", value: "tetra-2" },
      ],
      window: { start: "2026-07-01T00:00:00+03:00", end: "2026-07-02T12:30:00+03:00" },
      granularity: "total",
      compare: "week_earlier",
      top: { n: 2, by: "takings", others: false },
    });
    expect(fromPanelQuery(query, "bar")).toEqual(state);
  });

  it("places a new panel beside the last one, or below when the row is full", () => {
    expect(nextSlot([])).toEqual({ x: 0, y: 0, w: 6, h: 6 });
    expect(nextSlot([panel("a", 0, 0, 6, 6)])).toEqual({ x: 6, y: 0, w: 6, h: 6 });
    expect(nextSlot([panel("a", 0, 0, 6, 6), panel("b", 6, 0, 6, 6)])).toEqual({ x: 0, y: 6, w: 6, h: 6 });
  });

  it("moves and resizes within the grid, pushing what it covers down, never overlapping", () => {
    const panels = [panel("a", 0, 0, 6, 4), panel("b", 6, 0, 6, 4), panel("c", 0, 4, 12, 3)];
    const out = place(panels, "a", { x: 4, y: 0, w: 20, h: 5 });
    const byId = Object.fromEntries(out.map((p) => [p.id, p.layout]));
    expect(byId.a).toEqual({ x: 0, y: 0, w: 12, h: 5 });
    expect(byId.b).toEqual({ x: 6, y: 5, w: 6, h: 4 });
    expect(byId.c).toEqual({ x: 0, y: 9, w: 12, h: 3 });
  });

  it("says what changed between two versions", () => {
    const mine = { title: "Ops", panels: [panel("a", 0, 0, 6, 4)] };
    const theirs = { title: "Ops!", panels: [panel("a", 6, 0, 6, 4), panel("b", 0, 0, 6, 4)] };
    expect(differences(mine, theirs)).toEqual([
      'title: "Ops!" there, "Ops" here',
      'panel "b" added there',
      'panel "a" placed differently',
    ]);
  });
});
