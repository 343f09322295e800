// GraphQL literals for generated query text: the query the builder runs is self-contained and readable, so what
// the viewer sees (and can paste into GraphiQL) is exactly what was sent.

export interface EnumLiteral {
  enum: string;
}

export function enumLiteral(name: string): EnumLiteral {
  return { enum: name };
}

function isEnum(value: unknown): value is EnumLiteral {
  return typeof value === "object" && value !== null && Object.keys(value).length === 1 && "enum" in value;
}

/** A value as a GraphQL literal: objects as input objects, {enum: X} as the bare enum value X. */
export function literal(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (isEnum(value)) return value.enum;
  if (Array.isArray(value)) return `[${value.map(literal).join(", ")}]`;
  if (typeof value === "object") {
    const fields = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${fields.map(([k, v]) => `${k}: ${literal(v)}`).join(", ")}}`;
  }
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error(`${value} is not a finite number`);
    return String(value);
  }
  if (typeof value === "boolean" || typeof value === "bigint") return String(value);
  throw new Error(`cannot write ${typeof value} as a GraphQL literal`);
}

/** Field arguments, skipping those left out. */
export function argumentList(args: Record<string, unknown>): string {
  const given = Object.entries(args).filter(([, v]) => v !== undefined);
  return given.map(([k, v]) => `${k}: ${literal(v)}`).join(", ");
}
