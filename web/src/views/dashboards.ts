// The dashboards list: mine, shared with me, public; and a new one.

import { currentSubject } from "../api/auth";
import { createDashboard, listDashboards, type Dashboard } from "../api/dashboards";
import { person } from "../model/people";
import { clear, h, notice } from "./dom";
import { errorNotice } from "./errors";

const SCOPES = [
  ["MINE", "Mine"],
  ["SHARED", "Shared with me"],
  ["PUBLIC", "Public"],
] as const;

export function mountDashboardList(root: HTMLElement, navigate: (path: string) => void): void {
  let scope: (typeof SCOPES)[number][0] = "MINE";
  const list = h("div", { class: "dash-list" });
  const tabs = h("div", { class: "segmented", role: "tablist" });
  const status = h("p", { role: "status" });

  function drawTabs(): void {
    clear(
      tabs,
      SCOPES.map(([value, label]) =>
        h("button", { type: "button", role: "tab", class: value === scope ? "on" : null, "aria-selected": value === scope ? "true" : "false", onclick: () => { scope = value; drawTabs(); void load(); } }, label),
      ),
    );
  }

  function card(d: Dashboard): HTMLElement {
    return h(
      "li",
      { class: "dash-card panel" },
      h("a", { href: `/dashboards/${encodeURIComponent(d.id)}`, onclick: (e: Event) => { e.preventDefault(); navigate(`/dashboards/${encodeURIComponent(d.id)}`); } }, d.title),
      h("p", { class: "muted small" }, `${d.panels.length} panel(s) · by ${person(d.owner, d.ownerName, currentSubject())} · updated ${new Date(d.updatedAt).toLocaleString()}`),
      d.description ? h("p", { class: "small" }, d.description) : null,
    );
  }

  async function load(): Promise<void> {
    clear(list, notice("loading", "Loading dashboards…"));
    try {
      const found = await listDashboards(scope);
      clear(list, found.length ? h("ul", { class: "cards" }, found.map(card)) : notice("empty", "No dashboards here yet."));
    } catch (error) {
      clear(list, errorNotice(error));
    }
  }

  const titleInput = h("input", { name: "new-title", "aria-label": "New dashboard title", placeholder: "Title of a new dashboard" });
  const form = h(
    "form",
    {
      class: "row new-dashboard",
      onsubmit: (e: Event) => {
        e.preventDefault();
        const title = titleInput.value.trim();
        if (!title) {
          status.textContent = "Give the new dashboard a title.";
          return;
        }
        createDashboard({ title, description: "", panels: [] }).then(
          (d) => navigate(`/dashboards/${encodeURIComponent(d.id)}?edit=1`),
          (error: unknown) => clear(status, errorNotice(error)),
        );
      },
    },
    titleInput,
    h("button", { type: "submit", class: "primary" }, "New dashboard"),
  );
  clear(root, h("section", { class: "dashboards" }, h("h1", {}, "Dashboards"), form, status, tabs, list));
  drawTabs();
  void load();
}
