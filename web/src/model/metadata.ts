// What the `modules` query answers (services/gateway/.../metadata.py): the builder is generated from it, so a
// dimension or metric added to a client config appears here with no front-end change.

export interface AllowedValue {
  value: string;
  graphqlName: string | null;
}

export interface DimensionInfo {
  name: string;
  graphqlName: string;
  enumValue: string;
  label: string | null;
  description: string | null;
  unit: string | null;
  format: string | null;
  type: "STRING" | "INT" | "FLOAT" | "DECIMAL" | "BOOL" | "DATETIME";
  graphqlType: string;
  allowedValues: AllowedValue[] | null;
  filterOperators: FilterOperator[];
}

export type FilterOperator = "EQ" | "NEQ" | "IN" | "NOT_IN" | "PREFIX" | "CONTAINS" | "GT" | "GTE" | "LT" | "LTE";

export interface MetricInfo {
  name: string;
  graphqlName: string;
  enumValue: string;
  label: string | null;
  description: string | null;
  unit: string | null;
  format: string | null;
  kind: string;
  graphqlType: "Long" | "Float";
}

export type Granularity = "MINUTE" | "HOUR" | "DAY" | "WEEK" | "MONTH" | "TOTAL";
export type TimeUnit = Exclude<Granularity, "TOTAL">;

export interface JoinInfo {
  name: string;
  graphqlName: string;
  module: string;
  label: string | null;
  description: string | null;
  match: { dimension: string; joinedDimension: string }[];
  joinedMetrics: string[];
}

/** A predefined query of the config: a named question the builder can load into its form. */
export interface PredefinedQueryInfo {
  name: string;
  graphqlName: string;
  label: string | null;
  description: string | null;
  window: { last: number | null; unit: TimeUnit | null; preset: string | null };
  granularity: Granularity;
  metrics: string[];
  groupBy: string[];
  filters: { dimension: string; operator: FilterOperator; values: string[] }[]; // strings as they are, other values as JSON
  orderBy: { field: string; descending: boolean }[];
  limit: number | null;
  top: { n: number; by: string; others: boolean } | null;
  compare: string | null;
}

export interface ModuleInfo {
  name: string;
  graphqlName: string;
  recordsField: string | null;
  label: string | null;
  description: string | null;
  keepsRawEvents: boolean;
  dimensions: DimensionInfo[];
  metrics: MetricInfo[];
  granularities: Granularity[];
  timeUnits: TimeUnit[];
  joins: JoinInfo[];
  queries: PredefinedQueryInfo[];
}

export const MODULES_QUERY = `query StrixModules {
  modules {
    name graphqlName recordsField label description keepsRawEvents granularities timeUnits
    dimensions {
      name graphqlName enumValue label description unit format type graphqlType filterOperators
      allowedValues { value graphqlName }
    }
    metrics { name graphqlName enumValue label description unit format kind graphqlType }
    joins { name graphqlName module label description match { dimension joinedDimension } joinedMetrics }
    queries {
      name graphqlName label description window { last unit preset } granularity metrics groupBy
      filters { dimension operator values } orderBy { field descending } limit top { n by others } compare
    }
  }
}`;

export const PRESETS = [
  ["TODAY", "Today"],
  ["YESTERDAY", "Yesterday"],
  ["THIS_WEEK", "This week"],
  ["LAST_WEEK", "Last week"],
  ["THIS_MONTH", "This month"],
  ["MONTH_TO_DATE", "Month to date"],
  ["LAST_MONTH", "Last month"],
] as const;

export const COMPARISONS = [
  ["PREVIOUS_PERIOD", "Previous period"],
  ["WEEK_EARLIER", "A week earlier"],
  ["YEAR_EARLIER", "A year earlier"],
] as const;

export function labelOf(item: { label: string | null; name: string }): string {
  return item.label ?? item.name.replace(/_/g, " ");
}

/** The GraphQL type name prefix of a module's generated types (names.py `pascal`). */
export function pascal(name: string): string {
  return name
    .split("_")
    .map((part) => part.slice(0, 1).toUpperCase() + part.slice(1))
    .join("");
}
