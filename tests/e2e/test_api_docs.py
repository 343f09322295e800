"""The API docs page (`/docs`, open in embedded mode) in a real Chromium that cannot reach the internet: Swagger
UI comes from the gateway package, not a CDN, and lists the ingestion routes from the OpenAPI document. ReDoc,
which FastAPI would load from a CDN, is not served."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from strix_auth.app import AuthOptions
from strix_runtime.callers import DoorOptions
from tests.conftest import PlatformFactory
from tests.e2e.conftest import REPO, ContextFactory, screenshot_path

pytestmark = pytest.mark.e2e


async def test_the_api_docs_page_works_offline(start_platform: PlatformFactory, new_context: ContextFactory) -> None:
    options: dict[str, Any] = {
        "auth": AuthOptions(dev_sign_in=True),
        "doors": DoorOptions(open_schema=True, developer_graphiql=True),
    }
    async with start_platform(REPO / "configs", **options) as (platform, client):
        watched = await new_context()
        page = await watched.page()
        await page.goto(f"{platform.http_url}/docs")
        await expect(page.locator(".swagger-ui .info .title")).to_contain_text("Strix", timeout=20_000)
        ingest = page.locator(".opblock-post .opblock-summary-path", has_text="/v1/modules/{module}/events")
        await expect(ingest.first).to_be_visible()
        await page.screenshot(path=screenshot_path("api-docs"))
        await watched.context.close()

        assert (await client.get("/redoc")).status_code == 404
        bundle = await client.get("/apidocs/swagger-ui-bundle.js")
        assert bundle.status_code == 200 and "javascript" in bundle.headers["content-type"]
        for escape in ("/apidocs/..%2Fwebapp.py", "/apidocs/%2e%2e/webapp.py"):  # nothing outside its folder
            outside = await client.get(escape)
            assert "def apidocs_router" not in outside.text, escape
