"""``/docs``: Swagger UI for the API, from the hub itself, so that it works on a network without internet.

FastAPI's own page loads Swagger UI's script and stylesheet from a CDN, which a
government network does not reach: the page stays blank. Here they come from the
``fastapi-offline`` package's data (Swagger UI 5, which reads OpenAPI 3.1), mounted
under ``/docs/assets``; the page itself is FastAPI's ``get_swagger_ui_html`` pointed at
them. ReDoc is not served (one documentation page to keep offline).

The page carries a Content-Security-Policy that allows this host only (``'self'``) and
the one inline script that starts Swagger UI, by its hash: nothing on the page can
fetch from elsewhere, and Swagger UI's online validator badge is switched off.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

DOCS_URL = "/docs"
ASSETS_URL = "/docs/assets"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def assets_directory() -> Path:
    """Where the installed ``fastapi-offline`` keeps Swagger UI's files (swagger-ui-bundle.js, swagger-ui.css)."""
    return Path(str(files("fastapi_offline") / "static"))


def install_docs(app: FastAPI) -> None:
    """Serve Swagger UI at ``/docs`` for ``app``'s OpenAPI document, with its assets from this host."""
    app.mount(ASSETS_URL, StaticFiles(directory=assets_directory()), name="docs-assets")

    @app.get(DOCS_URL, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        """The documentation page; every URL in it is on this host."""
        root = str(request.scope.get("root_path", "")).rstrip("/")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},  # the badge would ask validator.swagger.io
        )
        page.headers["Content-Security-Policy"] = content_security_policy(bytes(page.body).decode("utf-8"))
        return page


def content_security_policy(page: str) -> str:
    """A policy for ``page``: this host only, and its inline scripts by their SHA-256 (no 'unsafe-inline')."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii") + "'"
        for script in _INLINE_SCRIPT.findall(page)
    )
    return (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
