"""The OpenAPI document describes every route, and schemathesis fuzzes every route it
describes against the real web app on 127.0.0.1 (fake engine) with valid and invalid
requests, with and without the admin token: no server error, no hang."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from wyoming_polytts.http.app import DOCUMENT, OPERATIONS, api_document, create_app
from wyoming_polytts.presets import PresetStore

from .fake_engine import ADMIN, http_context, serve_fake, serve_http

# 501 is what a route answers when this server runs without an optional part (here: speech
# recognition, which the fuzzed server does not load); every other 5xx is a defect.
WITHOUT_OPTIONAL_PART = 501


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The web app with the fake engine, in an event loop of its own thread."""
    root = tmp_path_factory.mktemp("fuzz")
    started = threading.Event()
    url: list = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def run() -> None:
        presets = PresetStore(root / "presets.json")
        async with serve_fake(presets=presets) as running, serve_http(running, root) as base:
            running.engine.seconds_per_char = 0.001  # long fuzzed texts stay quick
            url.append(base)
            started.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    assert started.wait(30)
    try:
        yield url[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)


API = schemathesis.openapi.from_dict(api_document())
ROUTES = [(op.method.upper(), op.path) for op in (found.ok() for found in API.get_all_operations())]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_no_route_fails_or_hangs_whatever_it_is_sent(
    server_url: str, method: str, path: str
) -> None:
    operation = API[path][method]

    @settings(
        max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=st.one_of([operation.as_strategy(mode) for mode in GenerationMode]))
    def fuzz(case: schemathesis.Case) -> None:
        for headers in ({}, {"X-Admin-Token": ADMIN}):
            response = case.call(base_url=server_url, headers=headers, timeout=20)
            status = response.status_code
            assert status < 500 or status == WITHOUT_OPTIONAL_PART, (
                f"{case.method} {case.formatted_path}: {status} {response.text[:300]}"
            )

    fuzz()


async def test_every_route_is_in_the_document_with_its_models(tmp_path: Path) -> None:
    async with serve_fake() as running:
        app = create_app(http_context(running, tmp_path))
        document = app[DOCUMENT]
        async with serve_http(running, tmp_path) as url, httpx.AsyncClient(base_url=url) as http:
            assert (await http.get("/openapi.json")).json() == document
            docs = await http.get("/docs")
            script = await http.get("/docs/static/swagger-ui-bundle.js")
    assert docs.status_code == 200 and "/openapi.json" in docs.text
    assert script.status_code == 200 and "SwaggerUIBundle" in script.text
    assert document["openapi"].startswith("3.0")
    files = {"/static", "/docs/static"}  # the page's files and Swagger UI's
    served = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource and route.resource.canonical not in files
    }
    described = {(verb.upper(), path) for path, item in document["paths"].items() for verb in item}
    assert served == described and len(described) == len(app[OPERATIONS])
    speech = document["paths"]["/v1/audio/speech"]["post"]
    body = speech["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/SpeechRequest"}
    fields = document["components"]["schemas"]["SpeechRequest"]["properties"]
    assert fields["response_format"]["enum"] == ["mp3", "opus", "aac", "flac", "wav", "pcm"]
    assert fields["voice"]["nullable"] is True
    register = document["paths"]["/v1/zipvoice/voices/register"]["post"]
    assert "multipart/form-data" in register["requestBody"]["content"]


async def test_behind_a_proxy_the_docs_page_and_document_carry_its_path(tmp_path: Path) -> None:
    ingress = {"X-Ingress-Path": "/api/hassio_ingress/abc123"}
    async with (
        serve_fake() as running,
        serve_http(running, tmp_path) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        docs = (await http.get("/docs", headers=ingress)).text
        document = (await http.get("/openapi.json", headers=ingress)).json()
        plain = (await http.get("/openapi.json")).json()
        evil = (await http.get("/docs", headers={"X-Ingress-Path": "//evil.example"})).text
    assert 'src="/api/hassio_ingress/abc123/docs/static/swagger-ui-bundle.js"' in docs
    assert 'url: "/api/hassio_ingress/abc123/openapi.json"' in docs
    assert document["servers"] == [{"url": "/api/hassio_ingress/abc123"}]
    assert "servers" not in plain and document["paths"] == plain["paths"]
    assert "evil" not in evil and 'url: "/openapi.json"' in evil
