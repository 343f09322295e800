"""The web UI and GraphiQL, served from the built assets in `web/dist` (Vite's output): no CDN, no Node at run time.

The app is a single-page app: `/` and every path that is not an API route answer `index.html`, and the app's
router reads the path; hashed files under `/assets/` are cached for good. Without a build it says, in a page that
needs nothing from outside, how to get one (`strix up` builds it on first start when Node is present; images and
CI build it ahead).

GraphiQL (GET /graphql from a browser) ships inside this package (`strix_gateway/graphiql/`, built from web/ by
`npm run build:graphiql` and committed), its assets under `/graphiql/assets/`: the gateway alone — its own container,
no web/dist — serves a working GraphiQL offline. The API docs page (`/docs`, Swagger UI over `/openapi.json`) is
served the same way from `strix_gateway/apidocs/` (swagger-ui-dist's files, copied by `npm run build:apidocs`).
"""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response

# First path segments that belong to APIs: never answered with the app (a mistyped API path is a 404, not HTML).
API_PREFIXES = frozenset(
    {
        "graphql",
        "graphiql",
        "apidocs",
        "v1",
        "auth",
        "healthz",
        "readyz",
        "metrics",
        "demo",
        "openapi.json",
        "docs",
        "redoc",
        ".well-known",
    }
)
IMMUTABLE = "public, max-age=31536000, immutable"  # Vite names assets by content hash
REVALIDATE = "no-cache"  # index.html names the current hashes: always asked again


def default_web_dist() -> Path:
    """`web/dist` of the checkout this package runs from (services/gateway/src/strix_gateway/ -> repository)."""
    return Path(__file__).resolve().parents[4] / "web" / "dist"


def _missing_page(what: str, dist: Path) -> str:
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Strix: {html.escape(what)} not built"
        "</title><link rel='icon' href='data:,'></head><body style='font-family: system-ui; margin: 3em'>"
        f"<h1>The {html.escape(what)} is not built</h1><p>No built assets in <code>{html.escape(str(dist))}</code>."
        " Build them with <code>npm ci &amp;&amp; npm run build</code> in <code>web/</code> (Node.js 20), or start"
        " with <code>strix up</code>, which builds them when they are missing and Node.js is installed."
        " The GraphQL API answers POST requests at <code>/graphql</code> meanwhile.</p></body></html>"
    )


GRAPHIQL = Path(__file__).resolve().parent / "graphiql"  # the package's own GraphiQL build


def graphiql_html(built: Path = GRAPHIQL) -> str:
    """GraphiQL from bundled assets (strawberry's own page loads its scripts from a public CDN). The page holds
    `const defaultHeaders = {};`, which the gateway may fill in (embedded mode's development sign-in)."""
    page = built / "graphiql.html"
    if not page.is_file():  # only a checkout someone deleted it from: the package ships it
        return _missing_page("GraphiQL page", built)
    return page.read_text(encoding="utf-8")


def graphiql_router(built: Path = GRAPHIQL) -> APIRouter:
    """The GraphiQL page's assets at `/graphiql/assets/` (hashed by content: cached for good)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/graphiql/assets/{path:path}")
    async def graphiql_asset(path: str) -> Response:
        found = _inside(built / "assets", path)
        if found is None:
            raise HTTPException(404, f"no GraphiQL asset {path!r}")
        return FileResponse(found, headers={"cache-control": IMMUTABLE})

    return router


APIDOCS = Path(__file__).resolve().parent / "apidocs"  # swagger-ui-dist's files, committed


def apidocs_router(openapi_url: str, title: str, built: Path = APIDOCS) -> APIRouter:
    """`/docs`: Swagger UI over the OpenAPI document, its script and styles from this package (FastAPI's own
    page loads them, and a favicon, from public hosts)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/docs")
    async def docs() -> Response:
        if not (built / "swagger-ui-bundle.js").is_file():
            return HTMLResponse(_missing_page("API docs page", built), status_code=503)
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} · API",
            swagger_js_url="/apidocs/swagger-ui-bundle.js",
            swagger_css_url="/apidocs/swagger-ui.css",
            swagger_favicon_url="data:,",
        )

    @router.get("/apidocs/{path:path}")
    async def apidocs_asset(path: str) -> Response:
        found = _inside(built, path)
        if found is None:
            raise HTTPException(404, f"no API docs asset {path!r}")
        return FileResponse(found, headers={"cache-control": REVALIDATE})  # not content-hashed: revalidated

    return router


def _inside(dist: Path, path: str) -> Path | None:
    """The file `path` names inside `dist`, or None (missing, a directory, or outside it: `..`, absolute)."""
    root = dist.resolve()
    candidate = (root / path).resolve()
    if candidate.is_relative_to(root) and candidate.is_file():
        return candidate
    return None


def web_router(dist: Path) -> APIRouter:
    """The app at `/` with its assets, and the app's own paths (its router reads them). Include it after every
    API router: its catch-all GET route must be matched last."""
    router = APIRouter(include_in_schema=False)

    def index() -> Response:
        page = dist / "index.html"
        if not page.is_file():
            return HTMLResponse(_missing_page("web UI", dist), status_code=503)
        return FileResponse(page, media_type="text/html", headers={"cache-control": REVALIDATE})

    @router.get("/")
    async def root() -> Response:
        return index()

    @router.get("/assets/{path:path}")
    async def asset(path: str) -> Response:
        found = _inside(dist / "assets", path)
        if found is None:
            raise HTTPException(404, f"no asset {path!r}")
        return FileResponse(found, headers={"cache-control": IMMUTABLE})

    @router.get("/{path:path}")
    async def app_path(path: str) -> Response:
        if path.split("/", 1)[0] in API_PREFIXES:
            raise HTTPException(404, "Not Found")
        found = _inside(dist, path) if "." in path.rsplit("/", 1)[-1] else None
        if found is not None:
            return FileResponse(found, headers={"cache-control": REVALIDATE})
        return index()

    return router
