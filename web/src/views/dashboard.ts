// A dashboard: live panels on a 12-column grid. Editing moves and resizes panels (pointer or keyboard), adds and
// changes them with the query builder, and saves against the revision read; a save refused because someone else
// saved first shows what differs and offers to reload theirs or to save over it. Also: duplicate, share, public
// link, revision history with restore, delete.

import {
  createLink,
  deleteDashboard,
  duplicateDashboard,
  editDashboard,
  getDashboard,
  restoreRevision,
  revisions,
  revokeLink,
  shareDashboard,
  transferDashboard,
  unshareDashboard,
  type Content,
  type Dashboard,
  type Share,
} from "../api/dashboards";
import { normalise, type BuilderState } from "../model/builder";
import { labelOf, type ModuleInfo } from "../model/metadata";
import { differences, fromPanelQuery, nextSlot, place, toPanelQuery, type Layout, type Panel } from "../model/panels";
import { person } from "../model/people";
import { viewerTimeZone } from "../model/window";
import { currentSubject } from "../api/auth";
import { mountBuilder } from "./builder";
import { clear, h, notice, select } from "./dom";
import { errorNotice } from "./errors";
import { mountPanel, type PanelView } from "./panel";

const ROW_PX = 56;
const GAP_PX = 12;

export interface DashboardPageOptions {
  id: string;
  modules: ModuleInfo[];
  navigate: (path: string) => void;
  /** Read through a public link: read-only, no edit tools. */
  readOnly?: boolean;
  /** Open in edit mode (a new dashboard). */
  startEditing?: boolean;
}

function dialog(title: string, ...body: (HTMLElement | null)[]): HTMLDialogElement {
  const element = h(
    "dialog",
    { class: "dialog", "aria-label": title },
    h("div", { class: "dialog-head" }, h("h2", {}, title), h("button", { type: "button", class: "icon", "aria-label": "Close", onclick: () => element.close() }, "✕")),
    ...body,
  );
  element.addEventListener("close", () => element.remove());
  document.body.append(element);
  element.showModal();
  return element;
}

export function mountDashboard(root: HTMLElement, options: DashboardPageOptions): { dispose(): void } {
  let current: Dashboard | null = null; // as saved (the revision edits start from)
  let draft: Content | null = null; // while editing
  const views = new Map<string, PanelView>();
  const grid = h("div", { class: "grid", role: "list" });
  const head = h("div", { class: "dash-head" });
  const page = h("section", { class: "dashboard", "aria-label": "Dashboard" }, head, grid);
  clear(root, notice("loading", "Loading dashboard…"));

  const panels = (): Panel[] => (draft ?? current)?.panels ?? [];
  const editing = (): boolean => draft !== null;

  function disposePanels(): void {
    for (const view of views.values()) view.dispose();
    views.clear();
  }

  function placeElement(element: HTMLElement, layout: Layout): void {
    element.style.gridColumn = `${layout.x + 1} / span ${layout.w}`;
    element.style.gridRow = `${layout.y + 1} / span ${layout.h}`;
    element.dataset.layout = `${layout.x},${layout.y},${layout.w},${layout.h}`;
  }

  function relayout(next: Panel[]): void {
    if (draft === null) return;
    draft = { ...draft, panels: next };
    for (const panel of next) {
      const element = grid.querySelector<HTMLElement>(`[data-panel="${CSS.escape(panel.id)}"]`);
      if (element) placeElement(element, panel.layout);
    }
  }

  function moveBy(id: string, dx: number, dy: number, dw: number, dh: number): void {
    const panel = panels().find((p) => p.id === id);
    if (!panel) return;
    const l = panel.layout;
    relayout(place(panels(), id, { x: l.x + dx, y: l.y + dy, w: l.w + dw, h: l.h + dh }));
  }

  /** Drag a handle: the panel follows in whole grid cells; `resize` changes its size instead of its place. */
  function dragHandle(id: string, resize: boolean): HTMLElement {
    const label = resize ? "Resize (Shift+arrow keys)" : "Move (arrow keys)";
    const handle = h("button", { type: "button", class: resize ? "resize" : "move icon", title: label, "aria-label": `${label}: ${id}` }, resize ? "" : "✥");
    handle.addEventListener("pointerdown", (event: PointerEvent) => {
      event.preventDefault();
      handle.setPointerCapture(event.pointerId);
      const start = { x: event.clientX, y: event.clientY };
      const before = panels();
      const origin = before.find((p) => p.id === id)?.layout;
      if (!origin) return;
      const column = (grid.clientWidth + GAP_PX) / 12;
      const row = ROW_PX + GAP_PX;
      const move = (e: PointerEvent): void => {
        const dx = Math.round((e.clientX - start.x) / column);
        const dy = Math.round((e.clientY - start.y) / row);
        const layout = resize
          ? { ...origin, w: origin.w + dx, h: origin.h + dy }
          : { ...origin, x: origin.x + dx, y: origin.y + dy };
        relayout(place(before, id, layout));
      };
      const up = (): void => {
        handle.removeEventListener("pointermove", move);
        handle.removeEventListener("pointerup", up);
        drawHead();
      };
      handle.addEventListener("pointermove", move);
      handle.addEventListener("pointerup", up);
    });
    handle.addEventListener("keydown", (event: KeyboardEvent) => {
      const step: Record<string, [number, number]> = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
      const delta = step[event.key];
      if (!delta) return;
      event.preventDefault();
      if (event.shiftKey || resize) moveBy(id, 0, 0, delta[0], delta[1]);
      else moveBy(id, delta[0], delta[1], 0, 0);
    });
    return handle;
  }

  function panelElement(panel: Panel): HTMLElement {
    const module = options.modules.find((m) => m.name === panel.query.module);
    const body = h("div", { class: "dash-panel-body" });
    const freshSlot = h("div", { class: "fresh-slot" }); // the freshness line: in the head, never over content
    const tools = editing()
      ? h(
          "div",
          { class: "panel-tools" },
          dragHandle(panel.id, false),
          h("button", { type: "button", "aria-label": `Edit panel ${panel.title || panel.id}`, onclick: () => openBuilder(panel) }, "Edit"),
          h("button", { type: "button", "aria-label": `Remove panel ${panel.title || panel.id}`, onclick: () => removePanel(panel.id) }, "Remove"),
        )
      : null;
    const element = h(
      "article",
      { class: "dash-panel panel", role: "listitem", "data-panel": panel.id, "aria-label": panel.title || panel.id },
      h("header", { class: "dash-panel-head" }, h("h3", {}, panel.title || (module ? labelOf(module) : panel.query.module)), freshSlot, tools),
      body,
      editing() ? dragHandle(panel.id, true) : null,
    );
    placeElement(element, panel.layout);
    const problems = [...(panel.problems ?? [])];
    if (!module) problems.push(`module ${panel.query.module} is not served here any more`);
    if (problems.length || !module) {
      body.append(notice("error", "This panel asks for what the configs no longer hold.", problems.join("; ")));
      body.dataset.state = "problem";
      return element;
    }
    const state = normalise(fromPanelQuery(panel.query, panel.visualization), module);
    const view = mountPanel(body, state, module, { live: panel.visualization !== "records", modules: options.modules, freshnessIn: freshSlot });
    views.set(panel.id, view);
    void view.refresh();
    return element;
  }

  function drawGrid(): void {
    disposePanels();
    grid.style.gridAutoRows = `${ROW_PX}px`;
    const list = panels();
    clear(grid, list.length ? list.map(panelElement) : notice("empty", "No panels yet.", editing() ? "Add one with “Add panel”." : "Edit the dashboard to add panels."));
  }

  function drawHead(): void {
    const d = current;
    if (d === null) return;
    const title = draft?.title ?? d.title;
    const readOnly = options.readOnly === true;
    const button = (label: string, onclick: () => void, attrs: Record<string, string> = {}): HTMLElement =>
      h("button", { type: "button", onclick, ...attrs }, label);
    clear(
      head,
      editing()
        ? h("input", {
            class: "title-input",
            "aria-label": "Dashboard title",
            value: title,
            oninput: (e: Event) => {
              if (draft) draft = { ...draft, title: (e.target as HTMLInputElement).value };
            },
          })
        : h("h1", {}, title),
      h("span", { class: "muted small", "data-testid": "revision", "data-revision": d.revision }, `by ${person(d.owner, d.ownerName, currentSubject())} · revision ${d.revision} · updated ${new Date(d.updatedAt).toLocaleString()} by ${person(d.updatedBy, d.updatedByName, currentSubject())}`),
      readOnly
        ? h("span", { class: "badge" }, "Public, read-only")
        : h(
            "div",
            { class: "toolbar" },
            editing()
              ? [
                  button("Add panel", () => openBuilder(null)),
                  button("Save", () => void save(), { class: "primary" }),
                  button("Cancel", () => {
                    draft = null;
                    drawAll();
                  }),
                ]
              : [
                  button("Edit", () => {
                    draft = { title: d.title, description: d.description, panels: d.panels.map((p) => ({ ...p })) };
                    drawAll();
                  }),
                  button("Duplicate", () => void duplicate()),
                  button("Share", openShare),
                  button("Public link", openLink),
                  button("History", () => void openHistory()),
                  button("Delete", () => void remove(), { class: "danger" }),
                ],
          ),
    );
  }

  function drawAll(): void {
    drawHead();
    drawGrid();
  }

  function show(d: Dashboard): void {
    current = d;
    page.dataset.revision = String(d.revision);
    if (!root.contains(page)) clear(root, page);
    drawAll();
  }

  async function load(): Promise<void> {
    try {
      const d = await getDashboard(options.id);
      if (options.startEditing && !options.readOnly) draft = { title: d.title, description: d.description, panels: d.panels };
      show(d);
    } catch (error) {
      clear(root, errorNotice(error));
    }
  }

  function removePanel(id: string): void {
    if (!draft) return;
    draft = { ...draft, panels: draft.panels.filter((p) => p.id !== id) };
    drawGrid();
  }

  function openBuilder(panel: Panel | null): void {
    const host = h("div", { class: "dialog-builder" });
    const titleInput = h("input", { name: "panel-title", "aria-label": "Panel title", placeholder: "Panel title", value: panel?.title ?? "" });
    const box = dialog(panel ? "Edit panel" : "Add panel", h("label", { class: "field" }, h("span", {}, "Title"), titleInput), host);
    const module = panel ? options.modules.find((m) => m.name === panel.query.module) : undefined;
    const initial: BuilderState | null = panel && module ? normalise(fromPanelQuery(panel.query, panel.visualization), module) : null;
    const builder = mountBuilder(host, {
      modules: options.modules,
      initial,
      timeZone: viewerTimeZone(),
      actions: (state) => [
        h("button", {
          type: "button",
          class: "primary",
          name: "add-to-dashboard",
          onclick: () => {
            if (!draft) return;
            const chosen = options.modules.find((m) => m.name === state.module);
            const title = titleInput.value.trim() || (chosen ? labelOf(chosen) : state.module);
            const query = toPanelQuery(state, chosen);
            const next: Panel = panel
              ? { ...panel, title, query, visualization: state.visualization, problems: [] }
              : { id: `p${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`, title, query, visualization: state.visualization, options: {}, layout: nextSlot(draft.panels) };
            draft = { ...draft, panels: panel ? draft.panels.map((p) => (p.id === panel.id ? next : p)) : [...draft.panels, next] };
            box.close();
            drawGrid();
          },
        }, panel ? "Update panel" : "Add to dashboard"),
      ],
    });
    box.addEventListener("close", () => builder.dispose());
  }

  async function save(): Promise<void> {
    if (!current || !draft) return;
    try {
      const result = await editDashboard(current.id, current.revision, draft);
      if ("saved" in result) {
        draft = null;
        show(result.saved);
        return;
      }
      conflict(result.conflict, result.message);
    } catch (error) {
      dialog("Not saved", errorNotice(error));
    }
  }

  function conflict(theirs: Dashboard, message: string): void {
    const mine = draft;
    if (!mine) return;
    const changes = differences(mine, theirs);
    const box = dialog(
      "Someone saved first",
      // The service's message is for API callers; a person reads who saved what, and what differs.
      h("p", { title: message }, `${person(theirs.updatedBy, theirs.updatedByName, currentSubject()).replace(/^you$/, "You (elsewhere)")} saved revision ${theirs.revision} since you opened it. What differs from yours:`),
      h("ul", { class: "changes" }, (changes.length ? changes : ["the same panels: only the revision moved on"]).map((c) => h("li", {}, c))),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", name: "reload-theirs", onclick: () => { draft = null; box.close(); show(theirs); } }, "Reload theirs (drop my changes)"),
        h("button", { type: "button", class: "primary", name: "save-mine", onclick: () => { box.close(); current = theirs; void save(); } }, "Save mine over theirs"),
      ),
    );
  }

  async function duplicate(): Promise<void> {
    if (!current) return;
    try {
      const copy = await duplicateDashboard(current.id);
      options.navigate(`/dashboards/${encodeURIComponent(copy.id)}`);
    } catch (error) {
      dialog("Not duplicated", errorNotice(error));
    }
  }

  async function remove(): Promise<void> {
    if (!current || !window.confirm(`Delete “${current.title}” and its history?`)) return;
    try {
      await deleteDashboard(current.id);
      options.navigate("/dashboards");
    } catch (error) {
      dialog("Not deleted", errorNotice(error));
    }
  }

  function openShare(): void {
    if (!current) return;
    let kind: Share["kind"] = "ROLE";
    let permission: Share["permission"] = "VIEW";
    const name = h("input", { name: "share-name", "aria-label": "User or role", placeholder: "user or role" });
    const list = h("ul", { class: "shares" });
    const status = h("p", { role: "status" });
    const changed = (d: Dashboard, said: string): void => {
      current = d;
      drawShares(d);
      drawHead();
      status.textContent = said;
    };
    const ownedBy = h("p", { class: "muted small", "data-testid": "share-owner" });
    const drawShares = (d: Dashboard): void => {
      ownedBy.textContent = `Owned by ${person(d.owner, d.ownerName, currentSubject())}.`;
      clear(
        list,
        d.shares.length
          ? d.shares.map((s) => {
              const named = s.kind === "USER" && s.name === currentSubject() ? "you" : s.name;
              const who = s.kind === "EVERYONE" ? "everyone signed in" : `${s.kind.toLowerCase()} ${named}`;
              return h(
                "li",
                {},
                `${who} — ${s.permission.toLowerCase()} `,
                h("button", {
                  type: "button",
                  class: "small",
                  "aria-label": `Stop sharing with ${who}`,
                  onclick: () => {
                    unshareDashboard(d.id, s).then((next) => changed(next, `No longer shared with ${who}.`), (error: unknown) => clear(status, errorNotice(error)));
                  },
                }, "Stop sharing"),
              );
            })
          : h("li", { class: "muted" }, "Not shared."),
      );
    };
    drawShares(current);
    const owner = h("input", { name: "new-owner", "aria-label": "New owner (user)", placeholder: "user" });
    dialog(
      "Share",
      ownedBy,
      list,
      h(
        "div",
        { class: "row" },
        select("With", [["USER", "a user"], ["ROLE", "a role"], ["EVERYONE", "everyone signed in"]], kind, (v) => (kind = v as Share["kind"]), { name: "share-kind" }),
        h("label", { class: "field" }, h("span", {}, "Name"), name),
        select("May", [["VIEW", "view"], ["EDIT", "edit"]], permission, (v) => (permission = v as Share["permission"]), { name: "share-permission" }),
        h("button", {
          type: "button",
          class: "primary",
          onclick: () => {
            if (!current) return;
            shareDashboard(current.id, { kind, name: kind === "EVERYONE" ? "" : name.value.trim(), permission }).then(
              (d) => changed(d, "Shared."),
              (error: unknown) => clear(status, errorNotice(error)),
            );
          },
        }, "Share"),
      ),
      h(
        "div",
        { class: "row transfer" },
        h("label", { class: "field" }, h("span", {}, "Transfer ownership to"), owner),
        h("button", {
          type: "button",
          name: "transfer",
          onclick: () => {
            const to = owner.value.trim();
            if (!current || !to || !window.confirm(`Make ${to} the owner of “${current.title}”? You keep only what its shares give you.`)) return;
            transferDashboard(current.id, to).then((d) => changed(d, `${to} owns it now.`), (error: unknown) => clear(status, errorNotice(error)));
          },
        }, "Transfer"),
      ),
      status,
    );
  }

  function openLink(): void {
    if (!current) return;
    const out = h("div", { class: "link-box" });
    const make = (): void => {
      if (!current) return;
      createLink(current.id).then(
        ({ token, dashboard }) => {
          current = dashboard;
          const url = `${location.origin}/public/${encodeURIComponent(dashboard.id)}#${encodeURIComponent(token)}`;
          clear(out, h("p", {}, "Anyone with this link can view the dashboard, signed out. It is shown once:"), h("input", { readonly: true, name: "public-link", value: url, "aria-label": "Public link", onfocus: (e: Event) => (e.target as HTMLInputElement).select() }));
        },
        (error: unknown) => clear(out, errorNotice(error)),
      );
    };
    const revoke = (): void => {
      if (!current) return;
      revokeLink(current.id).then(
        (d) => {
          current = d;
          clear(out, h("p", {}, "The public link is revoked: it stops working at once."));
        },
        (error: unknown) => clear(out, errorNotice(error)),
      );
    };
    dialog(
      "Public link",
      h("p", { class: "muted" }, current.link ? `A link exists (made ${new Date(current.link.createdAt).toLocaleString()} by ${person(current.link.createdBy, current.link.createdBy === current.owner ? current.ownerName : "", currentSubject())}). A new one replaces it.` : "No public link yet."),
      h("div", { class: "actions" }, h("button", { type: "button", class: "primary", name: "make-link", onclick: make }, current.link ? "Make a new link" : "Make a public link"), current.link ? h("button", { type: "button", onclick: revoke }, "Revoke") : null),
      out,
    );
  }

  async function openHistory(): Promise<void> {
    if (!current) return;
    const d = current;
    let list: HTMLElement;
    try {
      const all = await revisions(d.id);
      list = h(
        "ol",
        { class: "revisions" },
        all.map((r) =>
          h(
            "li",
            { "data-revision": r.revision },
            h("span", {}, `Revision ${r.revision}: “${r.title}”, ${r.panels} panel(s), ${new Date(r.updatedAt).toLocaleString()} by ${person(r.updatedBy, r.updatedByName, currentSubject())}`),
            r.revision === d.revision
              ? h("span", { class: "muted" }, " (current)")
              : h("button", {
                  type: "button",
                  onclick: () => {
                    restoreRevision(d.id, r.revision, d.revision).then(
                      (result) => {
                        box.close();
                        if ("saved" in result) show(result.saved);
                        else show(result.conflict);
                      },
                      (error: unknown) => clear(list, errorNotice(error)),
                    );
                  },
                }, "Restore"),
          ),
        ),
      );
    } catch (error) {
      list = errorNotice(error);
    }
    const box = dialog("History", list);
  }

  void load();
  return { dispose: disposePanels };
}
