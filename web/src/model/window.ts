// Time windows as the viewer sees them: a calendar preset, the last N units, or an absolute range typed as wall
// times in the viewer's time zone (sent as RFC 3339 with that zone's offset at each instant). Pure: no clock.

import type { TimeUnit } from "./metadata";

export type WindowSpec =
  | { kind: "preset"; preset: string }
  | { kind: "relative"; last: number; unit: TimeUnit }
  | { kind: "absolute"; start: string; end: string }; // wall times "YYYY-MM-DDTHH:mm" in the query's zone

export function viewerTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function parts(instant: number, timeZone: string): Record<string, number> {
  let format = formatters.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    formatters.set(timeZone, format);
  }
  const out: Record<string, number> = {};
  for (const part of format.formatToParts(new Date(instant))) {
    if (part.type !== "literal") out[part.type] = Number(part.value);
  }
  return out;
}

/** The zone's offset from UTC at an instant, in minutes (Helsinki in summer: 180). */
export function zoneOffsetMinutes(instant: number, timeZone: string): number {
  const p = parts(instant, timeZone);
  const asUtc = Date.UTC(p.year ?? 1970, (p.month ?? 1) - 1, p.day ?? 1, p.hour ?? 0, p.minute ?? 0, p.second ?? 0);
  return Math.round((asUtc - Math.floor(instant / 1000) * 1000) / 60000);
}

function offsetText(minutes: number): string {
  const sign = minutes < 0 ? "-" : "+";
  const abs = Math.abs(minutes);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

/** A wall time ("2026-11-22T10:15") in a zone as RFC 3339 with the offset in force then. */
export function wallTimeToRfc3339(wall: string, timeZone: string): string {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(wall);
  if (match === null) throw new Error(`${JSON.stringify(wall)} is not a date and time (YYYY-MM-DDTHH:mm)`);
  const [, y, mo, d, h, mi, s] = match.map(Number);
  const naive = Date.UTC(y!, mo! - 1, d, h, mi, Number.isNaN(s) ? 0 : (s ?? 0));
  let offset = zoneOffsetMinutes(naive, timeZone);
  offset = zoneOffsetMinutes(naive - offset * 60000, timeZone);
  const seconds = String(Number.isNaN(s) ? 0 : (s ?? 0)).padStart(2, "0");
  return `${wall.slice(0, 16)}:${seconds}${offsetText(offset)}`;
}

/** An instant as a wall time in a zone ("2026-11-22T10:15"), for the absolute window's inputs. */
export function instantToWallTime(instant: number, timeZone: string): string {
  const p = parts(instant, timeZone);
  const two = (n: number | undefined): string => String(n ?? 0).padStart(2, "0");
  return `${p.year}-${two(p.month)}-${two(p.day)}T${two(p.hour)}:${two(p.minute)}`;
}

/** An instant the API wrote (RFC 3339, any offset) as wall time in `timeZone`, "2026-12-05 09:04:12"; what is
 * not an instant comes back as it was. Record tables and DateTime dimensions show times this way, with the zone
 * in their column header, as the time axes do. */
export function formatInstant(value: string, timeZone: string): string {
  const instant = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(instant)) return value;
  const p = parts(instant, timeZone);
  const two = (n: number | undefined): string => String(n ?? 0).padStart(2, "0");
  return `${p.year}-${two(p.month)}-${two(p.day)} ${two(p.hour)}:${two(p.minute)}:${two(p.second)}`;
}

/** The WindowInput argument of a query, as GraphQL literal fields. */
export function windowArgument(window: WindowSpec, timeZone: string): Record<string, unknown> {
  switch (window.kind) {
    case "preset":
      return { preset: { enum: window.preset } };
    case "relative":
      return { last: window.last, unit: { enum: window.unit } };
    case "absolute":
      return { start: wallTimeToRfc3339(window.start, timeZone), end: wallTimeToRfc3339(window.end, timeZone) };
  }
}

/** A problem with a window, said so the viewer can fix it; null when it is fine. */
export function windowProblem(window: WindowSpec): string | null {
  if (window.kind === "relative" && (!Number.isInteger(window.last) || window.last < 1)) {
    return "the number of units must be a whole number of at least 1";
  }
  if (window.kind === "absolute") {
    if (!window.start || !window.end) return "give both a start and an end";
    if (window.end <= window.start) return "the end must come after the start";
  }
  return null;
}
