"""The dashboard's files as the service serves them: the vendored chart library is the pinned
one, nothing is loaded from elsewhere, and only the listed files are served."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from tests.conftest import Api

ROOT = Path(__file__).resolve().parents[2]
PINNED = re.search(r"ECHARTS_MIN_SHA256=(\w+)", (ROOT / "scripts/vendor-assets.sh").read_text())


async def get(api: Api, path: str) -> tuple[int, dict[str, str], bytes]:
    async with api.session.get(f"{api.base_url}{path}") as r:
        return r.status, dict(r.headers), await r.read()


async def test_page_and_assets_come_from_the_service_only(api: Api) -> None:
    status, headers, body = await get(api, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    html = body.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/dashboard/") for s in sources)  # no CDN, no other site
    for source in sources:
        status, _, _ = await get(api, source)
        assert status == 200, source


async def test_the_chart_library_is_the_pinned_build(api: Api) -> None:
    assert PINNED is not None
    status, headers, body = await get(api, "/dashboard/vendor/echarts.min.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert hashlib.sha256(body).hexdigest() == PINNED.group(1)


async def test_only_listed_files_are_served(api: Api) -> None:
    for path in (
        "/dashboard/../../pyproject.toml",
        "/dashboard/vendor/ECHARTS-LICENSE.txt",
        "/dashboard/x.js",
    ):
        status, _, _ = await get(api, path)
        assert status == 404, path


async def test_the_api_key_never_travels_in_a_url() -> None:
    script = (ROOT / "query_api/dashboard/app.js").read_text()
    assert "localStorage.setItem" not in script and "document.cookie" not in script
    assert "sessionStorage.setItem(KEY" in script
    assert not re.search(r"searchParams\.set\([^)]*(KEY|key|token)", script)
