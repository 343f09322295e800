import { describe, expect, it } from "vitest";

import { formatInstant, instantToWallTime, wallTimeToRfc3339, zoneOffsetMinutes } from "../src/model/window";

describe("wall times in the viewer's zone", () => {
  it("takes the offset in force at that instant, across a daylight-saving change", () => {
    expect(wallTimeToRfc3339("2026-03-29T02:30", "UTC")).toBe("2026-03-29T02:30:00+00:00");
    expect(wallTimeToRfc3339("2026-01-15T10:00", "Europe/Helsinki")).toBe("2026-01-15T10:00:00+02:00");
    expect(wallTimeToRfc3339("2026-07-15T10:00", "Europe/Helsinki")).toBe("2026-07-15T10:00:00+03:00");
    expect(wallTimeToRfc3339("2026-07-15T10:00", "America/St_Johns")).toBe("2026-07-15T10:00:00-02:30");
  });

  it("round-trips an instant through its wall time", () => {
    const instant = Date.UTC(2026, 10, 22, 8, 15);
    expect(instantToWallTime(instant, "Asia/Kolkata")).toBe("2026-11-22T13:45");
    expect(zoneOffsetMinutes(instant, "Asia/Kolkata")).toBe(330);
    expect(Date.parse(wallTimeToRfc3339("2026-11-22T13:45", "Asia/Kolkata"))).toBe(instant);
  });

  it("refuses text that is not a date and time", () => {
    expect(() => wallTimeToRfc3339("yesterday", "UTC")).toThrow(/not a date and time/);
  });

  it("shows an instant of the API as wall time in the viewer's zone, whatever offset it was written with", () => {
    expect(formatInstant("2026-12-05T05:04:12.345Z", "Europe/Helsinki")).toBe("2026-12-05 07:04:12");
    expect(formatInstant("2026-07-15T10:00:00+03:00", "America/St_Johns")).toBe("2026-07-15 04:30:00");
    expect(formatInstant("2026-12-05T05:04:12+00:00", "UTC")).toBe("2026-12-05 05:04:12");
    expect(formatInstant("not a time", "UTC")).toBe("not a time");
    expect(formatInstant("2026", "UTC")).toBe("2026"); // a number-like text is not taken for a year
  });
});
