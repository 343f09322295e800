import { describe, expect, it } from "vitest";

import { formatChangeRatio, formatValue } from "../src/model/format";
import { groupedChart, kpis, timeChart, valueLabel, type Answer } from "../src/model/results";
import { ARCADE } from "./fixtures";

const [plays, takings] = ARCADE.metrics as [NonNullable<(typeof ARCADE.metrics)[0]>, NonNullable<(typeof ARCADE.metrics)[1]>];
const cabinet = ARCADE.dimensions[0]!;
const answer = (rows: Answer["rows"], granularity = "TOTAL"): Answer => ({
  rows, source: "raw", sourceReason: null, start: "", end: "", granularity, timeZone: "UTC", cached: false,
});

describe("answers as chart data", () => {
  it("labels groups by their stored values, the others row as Others", () => {
    const data = groupedChart(answer([{ cabinet: "tetra_2", plays: 4 }, { cabinet: null, plays: 9, others: true }]), [plays], [cabinet]);
    expect(data).toEqual({ categories: ["tetra-2", "Others"], series: [{ name: "Plays", metric: "plays", data: [4, 9] }] });
  });

  it("puts buckets in time order with a gap where a group has none", () => {
    const rows = [
      { bucket: "2026-11-22T11:00:00+00:00", cabinet: "racer", plays: 2 },
      { bucket: "2026-11-22T10:00:00+00:00", cabinet: "pinball", plays: 1 },
      { bucket: "2026-11-22T11:00:00+00:00", cabinet: "pinball", plays: 3 },
    ];
    const data = timeChart(answer(rows, "HOUR"), [plays], [cabinet]);
    expect(data.categories).toEqual(["2026-11-22 10:00", "2026-11-22 11:00"]);
    expect(data.series).toEqual([
      { name: "racer", metric: "plays", data: [null, 2] },
      { name: "pinball", metric: "plays", data: [1, 3] },
    ]);
  });

  it("reads KPI changes from the comparison", () => {
    const row = { plays: 12, takings: 3.5, previous: { plays: 10, takings: null }, change: { plays: 2, takings: null }, changeRatio: { plays: 0.2, takings: null } };
    expect(kpis(answer([row]), [plays, takings]).map((k) => [k.value, k.previous, k.change, k.changeRatio])).toEqual([
      [12, 10, 2, 0.2],
      [3.5, null, null, null],
    ]);
  });

  it("formats by the annotations", () => {
    expect(formatValue(1234.5, takings, "en-US")).toBe("€1,234.50");
    expect(formatValue(0.0738, { unit: null, format: "percent" }, "en-US")).toBe("7.38%");
    expect(formatValue(37444, plays, "en-US")).toBe("37,444");
    expect(formatValue(12.345, { unit: "ms", format: null }, "en-US")).toBe("12.35 ms");
    expect(formatChangeRatio(0.25, "en-US")).toBe("+25%");
    expect(formatValue(null, plays)).toBe("–");
  });

  it("shows a DateTime dimension in the answer's zone and other dimensions as they are", () => {
    const signedUp = { ...cabinet, name: "signed_up", graphqlName: "signedUp", type: "DATETIME" as const, allowedValues: null };
    expect(valueLabel(signedUp, "2026-11-22T10:00:00+00:00", "Asia/Kolkata")).toBe("2026-11-22 15:30:00");
    expect(valueLabel(cabinet, "tetra_2", "Asia/Kolkata")).toBe("tetra-2");
    const data = groupedChart({ ...answer([{ signedUp: "2026-11-22T10:00:00Z", plays: 1 }]), timeZone: "Europe/Helsinki" }, [plays], [signedUp]);
    expect(data.categories).toEqual(["2026-11-22 12:00:00"]);
  });
});
