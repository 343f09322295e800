"""The built web UI served by the gateway: the app at / and at its own paths, assets cached for good, nothing
outside the build reachable, API paths never answered with the app, and an offline page when nothing is built."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from fastapi import FastAPI

from strix_gateway.webapp import GRAPHIQL, graphiql_html, graphiql_router, web_router


def _dist(root: Path) -> Path:
    dist = root / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text('<!doctype html><div id="app"></div>')
    (dist / "graphiql.html").write_text("<!doctype html><script>const defaultHeaders = {};</script>")
    (dist / "assets" / "app-abc123.js").write_text("console.log(1)")
    (root / "secret.txt").write_text("not for the web")
    return dist


def _client(dist: Path) -> httpx.AsyncClient:
    app = FastAPI()

    @app.get("/v1/modules")
    async def modules() -> list[str]:
        return ["arcade"]

    app.include_router(web_router(dist))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_the_app_answers_its_own_paths_and_assets_are_immutable(tmp_path: Path) -> None:
    async with _client(_dist(tmp_path)) as client:
        for path in ("/", "/dashboards/abc", "/public/abc", "/signin"):
            page = await client.get(path)
            assert page.status_code == 200 and '<div id="app">' in page.text, path
            assert page.headers["cache-control"] == "no-cache"
        asset = await client.get("/assets/app-abc123.js")
        assert asset.status_code == 200 and asset.headers["cache-control"].endswith("immutable")
        assert (await client.get("/v1/modules")).json() == ["arcade"]  # routes before it still answer


async def test_api_paths_and_files_outside_the_build_are_not_answered(tmp_path: Path) -> None:
    async with _client(_dist(tmp_path)) as client:
        for path in ("/v1/nowhere", "/graphql/x", "/auth/nothing", "/metrics/x", "/assets/missing.js"):
            assert (await client.get(path)).status_code == 404, path
        for path in ("/assets/../../secret.txt", "/assets/%2e%2e/%2e%2e/secret.txt", "/..%2fsecret.txt"):
            response = await client.get(path)
            assert "not for the web" not in response.text, path


async def test_without_a_build_pages_say_how_to_make_one(tmp_path: Path) -> None:
    async with _client(tmp_path / "nothing") as client:
        page = await client.get("/")
        assert page.status_code == 503 and "npm ci" in page.text and "http" not in page.text.split("<body")[1]
    assert "not built" in graphiql_html(tmp_path / "nothing")


async def test_the_package_serves_its_own_graphiql_with_no_web_build() -> None:
    """The gateway alone (its own container has no web/dist): the page and every file it names come from this
    package, nothing from another origin."""
    page = graphiql_html()
    assert "const defaultHeaders = {};" in page and "Loading GraphiQL" in page
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", page), "the page names another origin"
    named = re.findall(r'(?:src|href)="(/graphiql/assets/[^"]+)"', page)
    assert {name.rsplit(".", 1)[1] for name in named} == {"js", "css"}
    assert {p.name for p in (GRAPHIQL / "assets").iterdir()} == {n.rsplit("/", 1)[1] for n in named}
    app = FastAPI()
    app.include_router(graphiql_router())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        for name in named:
            asset = await client.get(name)
            assert asset.status_code == 200 and len(asset.content) > 1000, name
            assert asset.headers["cache-control"].endswith("immutable")
        assert (await client.get("/graphiql/assets/missing.js")).status_code == 404
        assert (await client.get("/graphiql/assets/../graphiql.html")).status_code == 404
