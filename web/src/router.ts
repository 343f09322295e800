// Paths of the app (history API; the gateway answers index.html for each of them).

export type Route =
  | { name: "explore" }
  | { name: "signin"; returnTo: string };

/** A path of this site only (never another origin: `//host`, `https:`), else "/". */
export function safePath(path: string | null | undefined): string {
  if (!path || !path.startsWith("/") || path.startsWith("//") || path.includes("\\")) return "/";
  return path;
}

export function parseRoute(url: URL): Route {
  if (url.pathname === "/signin") return { name: "signin", returnTo: safePath(url.searchParams.get("return_to")) };
  return { name: "explore" };
}
