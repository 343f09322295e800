// Paths of the app (history API; the gateway answers index.html for each of them).

export type Route =
  | { name: "explore" }
  | { name: "signin"; returnTo: string }
  | { name: "dashboards" }
  | { name: "dashboard"; id: string; edit: boolean }
  | { name: "public"; id: string; token: string };

/** A path of this site only (never another origin: `//host`, `https:`), else "/". */
export function safePath(path: string | null | undefined): string {
  if (!path || !path.startsWith("/") || path.startsWith("//") || path.includes("\\")) return "/";
  return path;
}

export function parseRoute(url: URL): Route {
  const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  if (url.pathname === "/signin") return { name: "signin", returnTo: safePath(url.searchParams.get("return_to")) };
  if (parts[0] === "dashboards" && parts.length === 1) return { name: "dashboards" };
  if (parts[0] === "dashboards" && parts[1]) return { name: "dashboard", id: parts[1], edit: url.searchParams.get("edit") === "1" };
  if (parts[0] === "public" && parts[1]) return { name: "public", id: parts[1], token: decodeURIComponent(url.hash.slice(1)) };
  return { name: "explore" };
}
