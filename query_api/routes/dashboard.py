"""The usage dashboard: a static page at ``/`` that calls the API from the browser.

The page holds no data and no credentials of its own: the browser keeps the API key (or the
admin token) in the tab's ``sessionStorage`` and sends it with each API call, so the server
serves the same files to everybody. ECharts is vendored by the set-up command
(``scripts/vendor-assets.sh``: pinned version, checked sha512) and served from here: nothing
is loaded from another site, and the Content-Security-Policy says so.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from core.errors import Unavailable

ROOT = Path(__file__).resolve().parents[1] / "dashboard"
FILES = {
    "index.html": "text/html",
    "app.js": "text/javascript",
    "charts.js": "text/javascript",
    "app.css": "text/css",
    "vendor/echarts.min.js": "text/javascript",
}
HEADERS = {
    # Inline styles only because the chart library sets element styles; no inline scripts.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _file(name: str) -> web.Response:
    path = ROOT / name
    if not path.is_file():
        # Only the vendored library can be missing: the set-up command was not run.
        raise Unavailable(f"dashboard asset {name} missing: run `make setup`")
    return web.Response(
        body=path.read_bytes(),
        headers={**HEADERS, "Content-Type": f"{FILES[name]}; charset=utf-8"},
    )


async def index(request: web.Request) -> web.Response:
    return _file("index.html")


async def asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in FILES:
        raise web.HTTPNotFound()
    return _file(name)


async def no_icon(request: web.Request) -> web.Response:
    return web.Response(status=204)


def register(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/favicon.ico", no_icon)
    app.router.add_get("/dashboard/{name:.+}", asset)
