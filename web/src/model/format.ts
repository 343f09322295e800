// Numbers and times as the annotations say: `format` (currency, percent, integer) and `unit` (EUR, ms, km).

export interface Annotated {
  unit: string | null;
  format: string | null;
  graphqlType?: string;
}

const CURRENCY = /^[A-Z]{3}$/;

/** Any answer value as text (objects as JSON, never "[object Object]"). */
export function asText(value: unknown): string {
  if (value === null || value === undefined) return "–";
  switch (typeof value) {
    case "string":
      return value;
    case "number":
    case "boolean":
    case "bigint":
      return value.toString();
    default:
      return JSON.stringify(value) ?? typeof value;
  }
}

export function formatValue(value: unknown, spec: Annotated, locale?: string): string {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return asText(value);
  if (spec.format === "percent") {
    return new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 2 }).format(value);
  }
  if (spec.format === "currency" && spec.unit && CURRENCY.test(spec.unit)) {
    return new Intl.NumberFormat(locale, { style: "currency", currency: spec.unit }).format(value);
  }
  const integer = spec.format === "integer" || spec.graphqlType === "Long";
  const digits = integer ? 0 : Math.abs(value) >= 100 ? 1 : 2;
  const text = new Intl.NumberFormat(locale, { maximumFractionDigits: digits }).format(value);
  const unit = spec.unit && spec.unit !== "currency" && !(spec.format === "currency") ? spec.unit : null;
  return unit ? `${text} ${unit}` : text;
}

/** A relative change (0.25) as "+25%"; null when there is none to show. */
export function formatChangeRatio(ratio: number | null | undefined, locale?: string): string | null {
  if (ratio === null || ratio === undefined) return null;
  const text = new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 1 }).format(ratio);
  return ratio > 0 ? `+${text}` : text;
}

/** An absolute change with its sign, formatted like the metric. */
export function formatChange(change: number | null | undefined, spec: Annotated, locale?: string): string | null {
  if (change === null || change === undefined) return null;
  const text = formatValue(Math.abs(change), spec, locale);
  return change > 0 ? `+${text}` : change < 0 ? `−${text}` : text;
}

export function direction(change: number | null | undefined): "up" | "down" | "flat" | "none" {
  if (change === null || change === undefined) return "none";
  return change > 0 ? "up" : change < 0 ? "down" : "flat";
}

/** A bucket start ("2026-11-22T10:00:00+02:00") for an axis: wall time as the answer wrote it. */
export function formatBucket(bucket: string, granularity: string): string {
  const wall = bucket.slice(0, 16).replace("T", " ");
  if (granularity === "DAY" || granularity === "WEEK") return wall.slice(0, 10);
  if (granularity === "MONTH") return wall.slice(0, 7);
  return wall;
}
