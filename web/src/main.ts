// The app shell: header, routes, and the module metadata every view is generated from.
import "./styles.css";

import { request } from "./api/graphql";
import { MODULES_QUERY, type ModuleInfo } from "./model/metadata";
import type { BuilderState } from "./model/builder";
import { viewerTimeZone } from "./model/window";
import { mountBuilder } from "./views/builder";
import { clear, h, notice } from "./views/dom";
import { errorNotice } from "./views/errors";

const app = document.getElementById("app") as HTMLElement;
const main = h("main", { id: "main", tabindex: -1 });

function header(): HTMLElement {
  const link = (href: string, label: string): HTMLElement =>
    h("a", { href, "aria-current": location.pathname === href ? "page" : null }, label);
  return h(
    "header",
    { class: "top-bar" },
    h("a", { class: "brand", href: "/" }, "Strix"),
    h("nav", { "aria-label": "Main" }, link("/", "Explore"), h("a", { href: "/graphql" }, "GraphiQL")),
  );
}

function stateFromUrl(): BuilderState | null {
  const text = new URLSearchParams(location.search).get("q");
  if (!text) return null;
  try {
    return JSON.parse(text) as BuilderState;
  } catch {
    return null;
  }
}

async function explore(): Promise<void> {
  clear(main, notice("loading", "Loading modules…"));
  let modules: ModuleInfo[];
  try {
    modules = (await request<{ modules: ModuleInfo[] }>(MODULES_QUERY)).modules;
  } catch (error) {
    clear(main, errorNotice(error));
    return;
  }
  mountBuilder(main, {
    modules,
    initial: stateFromUrl(),
    timeZone: viewerTimeZone(),
    onChange: (state) => {
      const url = new URL(location.href);
      url.searchParams.set("q", JSON.stringify(state));
      history.replaceState(null, "", url);
    },
  });
}

async function route(): Promise<void> {
  clear(app, h("a", { class: "skip", href: "#main" }, "Skip to content"), header(), main);
  await explore();
}

void route();
