"""`/docs`: Swagger UI served from a package on disk, never from a CDN, so the page works on a
hospital network without internet access. The assets come from `fastapi-offline`, which ships
a Swagger UI 5 bundle (OpenAPI 3.1, which FastAPI writes) as package data."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

DOCS = "/docs"
ASSETS = "/docs/assets"
_STATIC = Path(fastapi_offline.__file__).parent / "static"


SPEC = f"{DOCS}/openapi.json"


def install_docs(app: FastAPI) -> None:
    app.mount(ASSETS, StaticFiles(directory=_STATIC), name="docs-assets")

    @app.get(SPEC, include_in_schema=False)
    async def spec_for_this_page(request: Request) -> JSONResponse:
        """The contract with this instance as its only server: the committed contract's
        `servers` entry is a template (https://localhost:8000 by default), and "Try it out"
        must call the instance that serves the page."""
        here = str(request.base_url).rstrip("/")
        return JSONResponse({**app.openapi(), "servers": [{"url": here}]})

    @app.get(DOCS, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=SPEC,
            title="Puls API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
            # A key typed into "Authorize" survives a reload of the page (it stays in the
            # browser's local storage, never on the server).
            swagger_ui_parameters={"persistAuthorization": True, "displayRequestDuration": True},
        )
