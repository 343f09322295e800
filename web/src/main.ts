// The app shell: header, routes, and the module metadata every view is generated from.
import "./styles.css";

import { signedInAs, signOut, useLinkToken } from "./api/auth";
import { request } from "./api/graphql";
import type { BuilderState } from "./model/builder";
import { MODULES_QUERY, type ModuleInfo } from "./model/metadata";
import { viewerTimeZone } from "./model/window";
import { parseRoute, type Route } from "./router";
import { mountBuilder } from "./views/builder";
import { mountDashboard } from "./views/dashboard";
import { mountDashboardList } from "./views/dashboards";
import { clear, h, notice } from "./views/dom";
import { errorNotice } from "./views/errors";
import { mountSignIn } from "./views/signin";

const app = document.getElementById("app") as HTMLElement;
const main = h("main", { id: "main", tabindex: -1 });
let disposeView: () => void = () => undefined;

function navigate(path: string): void {
  history.pushState(null, "", path);
  void render();
}

function header(route: Route, user: string | null): HTMLElement {
  const link = (href: string, label: string, current: boolean): HTMLElement =>
    h("a", { href, "aria-current": current ? "page" : null }, label);
  const here = location.pathname + location.search;
  return h(
    "header",
    { class: "top-bar" },
    h("a", { class: "brand", href: "/" }, "Strix"),
    h(
      "nav",
      { "aria-label": "Main" },
      route.name === "public"
        ? null
        : [
            link("/", "Explore", route.name === "explore"),
            link("/dashboards", "Dashboards", route.name === "dashboards" || route.name === "dashboard"),
            h("a", { href: "/graphql" }, "GraphiQL"),
          ],
    ),
    h(
      "div",
      { class: "user" },
      user
        ? [
            h("span", { "data-testid": "user" }, user),
            h("button", { type: "button", onclick: () => void signOut().then(() => navigate("/signin")) }, "Sign out"),
          ]
        : route.name === "signin"
          ? null
          : h("a", { href: `/signin?return_to=${encodeURIComponent(here)}` }, "Sign in"),
    ),
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

let modulesCache: Promise<ModuleInfo[]> | null = null;

/** The module metadata, asked once per page load (and again after a failure). */
async function loadModules(): Promise<ModuleInfo[] | null> {
  modulesCache ??= request<{ modules: ModuleInfo[] }>(MODULES_QUERY).then((d) => d.modules);
  try {
    return await modulesCache;
  } catch (error) {
    modulesCache = null;
    clear(main, errorNotice(error));
    return null;
  }
}

async function explore(): Promise<void> {
  clear(main, notice("loading", "Loading modules…"));
  const modules = await loadModules();
  if (modules === null) return;
  const view = mountBuilder(main, {
    modules,
    initial: stateFromUrl(),
    timeZone: viewerTimeZone(),
    onChange: (state) => {
      const url = new URL(location.href);
      url.searchParams.set("q", JSON.stringify(state));
      history.replaceState(null, "", url);
    },
  });
  disposeView = () => view.dispose();
}

async function render(): Promise<void> {
  disposeView();
  disposeView = () => undefined;
  const route = parseRoute(new URL(location.href));
  useLinkToken(route.name === "public" ? route.token : null);
  const user = route.name === "public" ? null : await signedInAs();
  if (route.name !== "signin" && route.name !== "public" && user === null) {
    history.replaceState(null, "", `/signin?return_to=${encodeURIComponent(location.pathname + location.search)}`);
    return render();
  }
  clear(app, h("a", { class: "skip", href: "#main" }, "Skip to content"), header(route, user), main);
  if (route.name === "signin") await mountSignIn(main, route.returnTo, navigate);
  else if (route.name === "dashboards") mountDashboardList(main, navigate);
  else if (route.name === "dashboard" || route.name === "public") {
    clear(main, notice("loading", "Loading…"));
    const modules = await loadModules();
    if (modules === null) return;
    const view = mountDashboard(main, {
      id: route.id,
      modules,
      navigate,
      readOnly: route.name === "public",
      startEditing: route.name === "dashboard" && route.edit,
    });
    disposeView = () => view.dispose();
  } else await explore();
}

window.addEventListener("popstate", () => void render());
void render();
