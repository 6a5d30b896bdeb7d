"""The server's own figures over HTTP: `GET /metrics` in Prometheus' text format, and
`GET /api/status` (the last hour's history, readiness and recent errors) for the admin
page's status panel (`static/status.js`).

Both are open, like `/api/health`: they hold counts, timings and error codes, never a text
or a voice. With `--metrics-private` they need the admin token or an API key (Prometheus:
`authorization: credentials: KEY`), as private reads do. Error messages, which may quote a
request's text, are shown only to those who may see private reads either way.
"""

from __future__ import annotations

from typing import List

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from . import schemas as s
from .apidoc import Operation
from .context import METRICS, may_see_private

ROUTES = frozenset({"/metrics", "/api/status"})  # private with --metrics-private
_PRIVATE = (
    "Open, unless the server runs with --metrics-private (then the admin token or an API key)"
)


def operations() -> List[Operation]:
    """The status routes, for the app's route table and its OpenAPI document."""
    return [
        Operation(
            "GET",
            "/api/status",
            status,
            "The last hour's first audio and load, readiness and recent errors",
            "status",
            responses={200: s.Status},
            description=_PRIVATE,
        ),
        Operation(
            "GET",
            "/metrics",
            metrics,
            "Prometheus metrics",
            "status",
            responses={200: "text/plain"},
            description=_PRIVATE,
        ),
    ]


async def status(request: web.Request) -> web.Response:
    figures = request.app[METRICS].status(private=may_see_private(request))
    return web.json_response(figures, headers={"Cache-Control": "no-store"})


async def metrics(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[METRICS].exposition(),
        headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"},
    )
