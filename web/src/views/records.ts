// Raw events a page at a time, newest first; the columns are the module's event fields (introspected: the
// metadata names dimensions and metrics, not every field).

import { request } from "../api/graphql";
import { buildRecordsQuery, recordFieldsQuery, type BuilderState } from "../model/builder";
import type { ModuleInfo } from "../model/metadata";
import { asText } from "../model/format";
import { formatInstant } from "../model/window";
import { clear, h, notice } from "./dom";
import { errorNotice } from "./errors";

interface Page {
  records: Record<string, unknown>[];
  hasNextPage: boolean;
  endCursor: string | null;
  start: string;
  end: string;
}

interface RecordField {
  name: string;
  description: string | null;
  type?: { name: string | null; ofType: { name: string | null } | null } | null;
}

const PAGE_SIZE = 25;

/** Whether a record field holds instants (the GraphQL DateTime scalar, nullable or not). */
function isInstant(field: RecordField): boolean {
  return (field.type?.name ?? field.type?.ofType?.name) === "DateTime";
}

export function renderRecords(container: HTMLElement, state: BuilderState, module: ModuleInfo): () => void {
  let alive = true;
  const cursors: (string | null)[] = [null]; // cursors[i]: the `after` of page i
  let pageIndex = 0;
  let fields: RecordField[] = [];

  async function load(): Promise<void> {
    clear(container, notice("loading", "Loading events…"));
    container.dataset.state = "loading";
    try {
      if (!fields.length) {
        const meta = await request<{ __type: { fields: RecordField[] } | null }>(
          recordFieldsQuery(module),
        );
        fields = meta.__type?.fields ?? [];
      }
      const query = buildRecordsQuery(state, module, fields.map((f) => f.name), cursors[pageIndex] ?? null, PAGE_SIZE);
      const data = await request<Record<string, Page>>(query);
      if (!alive) return;
      const page = data[module.recordsField ?? ""];
      if (page === undefined) throw new Error("the answer has no events");
      if (page.hasNextPage) cursors[pageIndex + 1] = page.endCursor;
      draw(page);
    } catch (error) {
      if (!alive) return;
      clear(container, errorNotice(error));
      container.dataset.state = "error";
    }
  }

  function draw(page: Page): void {
    container.dataset.state = page.records.length ? "ready" : "empty";
    if (!page.records.length) {
      clear(container, notice("empty", "No events in this window.", `Nothing matched from ${page.start} to ${page.end}.`));
      return;
    }
    const table = h(
      "table",
      { class: "result records" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          fields.map((f) =>
            isInstant(f)
              ? h("th", { scope: "col", title: `${f.description ?? f.name}; times in ${state.timeZone}` }, f.name, " ", h("span", { class: "zone" }, `(${state.timeZone})`))
              : h("th", { scope: "col", title: f.description ?? "" }, f.name),
          ),
        ),
      ),
      h(
        "tbody",
        {},
        page.records.map((r) => h("tr", {}, fields.map((f) => cell(f, r[f.name])))),
      ),
    );
    const pager = h(
      "nav",
      { class: "pager", "aria-label": "Pages of events" },
      h("button", { type: "button", disabled: pageIndex === 0, onclick: () => void go(pageIndex - 1) }, "← Newer"),
      h("span", { class: "muted" }, `Page ${pageIndex + 1}`),
      h("button", { type: "button", disabled: !page.hasNextPage, onclick: () => void go(pageIndex + 1) }, "Older →"),
    );
    clear(container, h("div", { class: "table-wrap", tabindex: 0, role: "region", "aria-label": "Events table" }, table), pager);
  }

  function cell(field: RecordField, value: unknown): HTMLElement {
    if (isInstant(field) && typeof value === "string") {
      return h("td", { title: value, "data-instant": value }, formatInstant(value, state.timeZone));
    }
    return h("td", {}, asText(value));
  }

  async function go(index: number): Promise<void> {
    pageIndex = index;
    await load();
  }

  void load();
  return () => {
    alive = false;
  };
}
