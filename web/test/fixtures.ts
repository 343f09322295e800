import type { ModuleInfo } from "../src/model/metadata";

/** Metadata as the gateway answers it for a small module (shape of the `modules` query). */
export const ARCADE: ModuleInfo = {
  name: "arcade",
  graphqlName: "arcade",
  recordsField: "arcadeRecords",
  label: "Arcade",
  description: "Plays of arcade cabinets per venue.",
  keepsRawEvents: true,
  granularities: ["MINUTE", "HOUR", "DAY", "WEEK", "MONTH", "TOTAL"],
  timeUnits: ["MINUTE", "HOUR", "DAY", "WEEK", "MONTH"],
  queries: [
    {
      name: "busiest_cabinets",
      graphqlName: "arcadeBusiestCabinets",
      label: "Busiest cabinets",
      description: "Plays and takings of two cabinets.",
      window: { last: 24, unit: "HOUR", preset: null },
      granularity: "TOTAL",
      metrics: ["plays", "takings"],
      groupBy: ["cabinet"],
      filters: [{ dimension: "cabinet", operator: "IN", values: ["pinball", "tetra-2"] }],
      orderBy: [{ field: "plays", descending: true }],
      limit: null,
      top: null,
      compare: "PREVIOUS_PERIOD",
    },
  ],
  joins: [
    {
      name: "repairs",
      graphqlName: "arcadeWithRepairs",
      module: "repairs",
      label: "Repairs",
      description: "Repairs of the same cabinet.",
      match: [{ dimension: "cabinet", joinedDimension: "cabinet" }],
      joinedMetrics: ["repairs", "repair_cost"],
    },
  ],
  dimensions: [
    {
      name: "cabinet",
      graphqlName: "cabinet",
      enumValue: "CABINET",
      label: "Cabinet",
      description: "Cabinet game.",
      unit: null,
      format: null,
      type: "STRING",
      graphqlType: "ArcadeCabinetValue",
      allowedValues: [
        { value: "pinball", graphqlName: "pinball" },
        { value: "racer", graphqlName: "racer" },
        { value: "tetra-2", graphqlName: "tetra_2" },
      ],
      filterOperators: ["EQ", "NEQ", "IN", "NOT_IN"],
    },
    {
      name: "stage",
      graphqlName: "stage",
      enumValue: "STAGE",
      label: "Stage",
      description: null,
      unit: null,
      format: null,
      type: "INT",
      graphqlType: "Long",
      allowedValues: null,
      filterOperators: ["EQ", "NEQ", "IN", "NOT_IN", "GT", "GTE", "LT", "LTE"],
    },
    {
      name: "player_name",
      graphqlName: "playerName",
      enumValue: "PLAYER_NAME",
      label: null,
      description: null,
      unit: null,
      format: null,
      type: "STRING",
      graphqlType: "String",
      allowedValues: null,
      filterOperators: ["EQ", "NEQ", "IN", "NOT_IN", "PREFIX", "CONTAINS", "GT", "GTE", "LT", "LTE"],
    },
  ],
  metrics: [
    { name: "plays", graphqlName: "plays", enumValue: "PLAYS", label: "Plays", description: null, unit: null, format: "integer", kind: "COUNT", graphqlType: "Long" },
    { name: "takings", graphqlName: "takings", enumValue: "TAKINGS", label: "Takings", description: null, unit: "EUR", format: "currency", kind: "SUM", graphqlType: "Float" },
    { name: "avg_score", graphqlName: "avgScore", enumValue: "AVG_SCORE", label: null, description: null, unit: null, format: null, kind: "AVG", graphqlType: "Float" },
  ],
};

/** A module keeping no raw events and answering from a daily rollup only. */
export const DAILY: ModuleInfo = {
  ...ARCADE,
  name: "daily_only",
  graphqlName: "dailyOnly",
  recordsField: null,
  keepsRawEvents: false,
  joins: [],
  queries: [],
  granularities: ["DAY", "WEEK", "MONTH", "TOTAL"],
  timeUnits: ["DAY", "WEEK", "MONTH"],
};

/** The module the arcade joins: its metrics label the joined columns. */
export const REPAIRS: ModuleInfo = {
  ...DAILY,
  name: "repairs",
  graphqlName: "repairs",
  label: "Repairs",
  metrics: [
    { name: "repairs", graphqlName: "repairs", enumValue: "REPAIRS", label: "Repairs", description: null, unit: null, format: "integer", kind: "COUNT", graphqlType: "Long" },
    { name: "repair_cost", graphqlName: "repairCost", enumValue: "REPAIR_COST", label: "Repair cost", description: null, unit: "EUR", format: "currency", kind: "SUM", graphqlType: "Float" },
  ],
};
