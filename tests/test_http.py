"""The admin API over real HTTP on 127.0.0.1: auth, registration, errors, URL downloads."""

from __future__ import annotations

import asyncio
import base64
import io
import ipaddress
import stat
from pathlib import Path
from typing import AsyncIterator, Dict, Optional

import aiohttp
import pytest
import soundfile
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from wyoming_polytts.engines.kokoro import KokoroEngine
from wyoming_polytts.engines.zipvoice import LANGUAGES, ZipVoiceEngine
from wyoming_polytts.http.app import OPEN_ROUTES, SAFE_METHODS, AdminContext, create_app
from wyoming_polytts.http.auth import TOKEN_FILE, Guard, load_or_create_token
from wyoming_polytts.http.download import UrlCache, UrlPolicy
from wyoming_polytts.models import resolve_kokoro
from wyoming_polytts.registry import PromptLimits, VoiceRegistry
from wyoming_polytts.settings import parse_settings
from wyoming_polytts.voices import VoiceCatalog

from .helpers import encode, voice_like

TOKEN = "correct-horse-battery-staple"
AUTH = {"X-Admin-Token": TOKEN}
LOOPBACK_ONE = ipaddress.ip_network("127.0.0.1/32")


@pytest.fixture(scope="module")
def kokoro(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> KokoroEngine:
    files = resolve_kokoro(parse_settings(["--data-dir", str(data_dir), "--no-download"]))
    return KokoroEngine(files, threads=1)  # the model itself is never loaded here


def make_context(
    root: Path,
    kokoro: KokoroEngine,
    allow_url_download: bool = False,
    limits: Optional[PromptLimits] = None,
    url_policy: Optional[UrlPolicy] = None,
) -> AdminContext:
    names = {spec.name for spec in kokoro.voices()}
    registry = VoiceRegistry(root / "voices", LANGUAGES, limits, is_reserved=names.__contains__)
    registry.load()
    catalog = VoiceCatalog([kokoro, ZipVoiceEngine(registry)])
    registry.on_change(catalog.refresh)
    return AdminContext(
        registry=registry,
        catalog=catalog,
        guard=Guard(TOKEN),
        url_policy=url_policy or UrlPolicy(extra_allowed=(LOOPBACK_ONE,), timeout_seconds=3),
        url_cache=UrlCache(root / "cache"),
        allow_url_download=allow_url_download,
    )


@pytest.fixture
async def client(tmp_path: Path, kokoro: KokoroEngine) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_app(make_context(tmp_path, kokoro)))) as client:
        yield client


def form(name: str = "grandma", audio: Optional[bytes] = None, **fields: str) -> aiohttp.FormData:
    data = aiohttp.FormData()
    data.add_field("name", name)
    data.add_field("language", fields.pop("language", "en-US"))
    data.add_field("transcript", fields.pop("transcript", "Hello there, this is grandma."))
    for key, value in fields.items():
        data.add_field(key, value)
    if audio is not None:
        data.add_field("audio", audio, filename="grandma.wav", content_type="audio/wav")
    return data


async def error_of(response: aiohttp.ClientResponse, status: int) -> Dict[str, str]:
    body = await response.json()
    assert response.status == status, body
    assert set(body) == {"error", "code"} and body["error"]
    return body


async def clone_names(client: TestClient) -> list:
    response = await client.get("/api/voices")
    return [v["name"] for v in (await response.json())["voices"] if "clone" in v]


async def test_health_and_the_voice_list(client: TestClient) -> None:
    health = await (await client.get("/api/health")).json()
    assert health["status"] == "ok" and health["clones"] == 0
    voices = (await (await client.get("/api/voices")).json())["voices"]
    assert {v["engine"] for v in voices} == {"kokoro"}
    assert "jf_alpha" in {v["name"] for v in voices}


async def test_register_play_and_delete_through_the_api(client: TestClient) -> None:
    response = await client.post(
        "/api/voices", data=form(audio=encode(voice_like(3.0))), headers=AUTH
    )
    assert response.status == 201, await response.text()
    created = await response.json()
    assert created["name"] == "grandma" and created["source"] == "upload:grandma.wav"

    listed = await (await client.get("/api/voices/grandma")).json()
    assert listed["engine"] == "zipvoice" and listed["languages"] == ["en-US"]
    assert listed["installed"] is False  # no ZipVoice model here
    assert listed["clone"]["transcript"] == "Hello there, this is grandma."

    prompt = await client.get(listed["clone"]["prompt_url"])
    assert prompt.status == 200 and prompt.content_type == "audio/wav"
    samples, rate = soundfile.read(io.BytesIO(await prompt.read()))
    assert rate == 24000 and samples.ndim == 1 and len(samples) > 2 * rate

    response = await client.delete("/api/voices/grandma", headers=AUTH)
    assert response.status == 200
    await error_of(await client.get("/api/voices/grandma"), 404)
    await error_of(await client.get("/api/voices/grandma/prompt"), 404)
    await error_of(await client.delete("/api/voices/grandma", headers=AUTH), 404)


async def test_register_from_base64_json(client: TestClient) -> None:
    audio = base64.b64encode(encode(voice_like(2.0))).decode()
    body = {"name": "b64", "transcript": "你好。", "language": "zh", "audio_base64": audio}
    response = await client.post("/api/voices", json=body, headers=AUTH)
    assert response.status == 201, await response.text()
    assert (await response.json())["source"] == "base64"


async def test_every_state_changing_route_needs_the_token(client: TestClient) -> None:
    checked = 0
    for route in client.server.app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if route.method in SAFE_METHODS or route.method == "*" or path in OPEN_ROUTES:
            continue
        url = path.replace("{name}", "grandma")
        for headers in ({}, {"X-Admin-Token": "wrong"}, {"Authorization": "Bearer wrong"}):
            response = await client.request(route.method, url, headers=headers, data=b"{}")
            await error_of(response, 401)
        checked += 1
    assert checked >= 4  # register, delete, clear caches, logout


async def test_requests_from_other_sites_are_refused(client: TestClient) -> None:
    headers = {**AUTH, "Origin": "http://evil.example"}
    response = await client.post(
        "/api/voices", data=form(audio=encode(voice_like(2.0))), headers=headers
    )
    await error_of(response, 403)
    assert await clone_names(client) == []
    # And no CORS header invites them.
    response = await client.get("/api/voices", headers={"Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_the_page_signs_in_with_a_session_cookie(client: TestClient) -> None:
    page = await client.get("/")
    assert page.status == 200 and "Register a voice" in await page.text()
    assert (await (await client.get("/static/app.js")).text()).startswith('"use strict"')
    await error_of(await client.post("/api/login", json={"token": "nope"}), 401)
    assert (await (await client.get("/api/session")).json())["authenticated"] is False

    response = await client.post("/api/login", json={"token": TOKEN})
    assert response.status == 200
    cookie = response.cookies["polytts_session"]
    assert TOKEN not in cookie.value and cookie["httponly"] and cookie["samesite"] == "Strict"
    assert (await (await client.get("/api/session")).json())["authenticated"] is True
    response = await client.post("/api/voices", data=form(audio=encode(voice_like(2.0))))
    assert response.status == 201, await response.text()

    await client.post("/api/logout")
    assert (await (await client.get("/api/session")).json())["authenticated"] is False
    await error_of(await client.delete("/api/voices/grandma"), 401)


@pytest.mark.parametrize(
    ("send", "status", "code"),
    [
        (
            {"data": b"not json", "headers": {"Content-Type": "application/json"}},
            400,
            "bad-request",
        ),
        ({"json": ["a", "list"]}, 400, "bad-request"),
        ({"data": b"name=x", "headers": {"Content-Type": "text/plain"}}, 400, "bad-request"),
        ({"json": {"name": "x", "transcript": "Hi there.", "language": "en-US"}}, 400, "no-audio"),
        (
            {
                "json": {
                    "name": "x",
                    "transcript": "Hi.",
                    "language": "en-US",
                    "audio_base64": "%%%",
                }
            },
            400,
            "bad-request",
        ),
        ({"data": form("Bad Name", encode(voice_like(2.0)))}, 400, "invalid-name"),
        ({"data": form("../../etc", encode(voice_like(2.0)))}, 400, "invalid-name"),
        ({"data": form("jf_alpha", encode(voice_like(2.0)))}, 409, "name-taken"),
        ({"data": form("x", b"GIF89a not audio")}, 400, "not-audio"),
        ({"data": form("x", encode(voice_like(0.4)))}, 400, "too-short"),
        ({"data": form("x", encode(voice_like(2.0)), transcript=" ")}, 400, "bad-transcript"),
        ({"data": form("x", encode(voice_like(2.0)), language="ja")}, 400, "unsupported-language"),
        (
            {
                "json": {
                    "name": "x",
                    "transcript": "Hi.",
                    "language": "en-US",
                    "url": "http://a.b/c",
                }
            },
            400,
            "url-download-off",
        ),
    ],
)
async def test_bad_requests_get_clear_errors_and_change_nothing(
    client: TestClient, send: dict, status: int, code: str
) -> None:
    headers = {**AUTH, **send.pop("headers", {})}
    response = await client.post("/api/voices", headers=headers, **send)
    assert (await error_of(response, status))["code"] == code
    assert await clone_names(client) == []


async def test_bodies_over_the_limit_are_refused(tmp_path: Path, kokoro: KokoroEngine) -> None:
    context = make_context(tmp_path, kokoro, limits=PromptLimits(max_bytes=50_000))
    async with TestClient(TestServer(create_app(context))) as client:
        response = await client.post(
            "/api/voices", data=form(audio=encode(voice_like(9.0))), headers=AUTH
        )
        assert (await error_of(response, 413))["code"] == "too-large"
        assert context.registry.list() == []


# -- URL downloads from a local HTTP server ---------------------------------------------------


@pytest.fixture
async def files_server() -> AsyncIterator[TestServer]:
    """Serves a recording, redirects to forbidden places, and misbehaves on request."""
    wav = encode(voice_like(2.5))

    async def recording(request: web.Request) -> web.Response:
        return web.Response(body=wav, content_type="audio/wav")

    def redirect(target: str):  # noqa: ANN202
        async def handler(request: web.Request) -> web.Response:
            raise web.HTTPFound(target.replace("PORT", str(request.url.port)))

        return handler

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # chunked: no Content-Length to trust
        await response.prepare(request)
        for _ in range(1000):
            await response.write(b"\0" * 65536)
        return response

    async def missing(request: web.Request) -> web.Response:
        return web.Response(status=404)

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(10)
        return web.Response(body=wav)

    app = web.Application()
    app.router.add_get("/voice.wav", recording)
    app.router.add_get("/to-loopback", redirect("http://127.0.0.2:PORT/voice.wav"))
    app.router.add_get("/to-metadata", redirect("http://169.254.169.254/latest/meta-data"))
    app.router.add_get("/to-ipv6-loopback", redirect("http://[::1]:PORT/voice.wav"))
    app.router.add_get("/endless", endless)
    app.router.add_get("/slow", slow)
    app.router.add_get("/missing", missing)
    async with TestServer(app, host="127.0.0.1") as server:
        yield server


async def test_registration_from_a_url_is_cached(
    tmp_path: Path, kokoro: KokoroEngine, files_server: TestServer
) -> None:
    context = make_context(tmp_path, kokoro, allow_url_download=True)
    url = str(files_server.make_url("/voice.wav"))
    async with TestClient(TestServer(create_app(context))) as client:
        body = {"name": "from-url", "transcript": "Hello.", "language": "en-US", "url": url}
        response = await client.post("/api/voices", json=body, headers=AUTH)
        assert response.status == 201, await response.text()
        assert (await response.json())["source"] == f"url:{url}"
        await files_server.close()  # the second registration must come from the cache
        response = await client.post("/api/voices", json={**body, "name": "again"}, headers=AUTH)
        assert response.status == 201, await response.text()
        cleared = await (await client.post("/api/cache/clear", headers=AUTH)).json()
        assert cleared["downloads"] == 1


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/to-loopback", "non-public"),
        ("/to-metadata", "non-public"),
        ("/to-ipv6-loopback", "non-public"),
        ("/endless", "larger than the limit"),
        ("/slow", "longer than"),
        ("/missing", "HTTP 404"),
    ],
)
async def test_forbidden_or_broken_urls_are_refused(
    tmp_path: Path, kokoro: KokoroEngine, files_server: TestServer, path: str, words: str
) -> None:
    policy = UrlPolicy(extra_allowed=(LOOPBACK_ONE,), max_bytes=1_000_000, timeout_seconds=1)
    context = make_context(tmp_path, kokoro, allow_url_download=True, url_policy=policy)
    body = {"name": "x", "transcript": "Hello.", "language": "en-US"}
    async with TestClient(TestServer(create_app(context))) as client:
        url = str(files_server.make_url(path))
        response = await client.post("/api/voices", json={**body, "url": url}, headers=AUTH)
        error = await error_of(response, 400)
        assert error["code"] == "download-failed" and words in error["error"], error
    assert context.registry.list() == []


async def test_private_addresses_are_refused_unless_allowed(
    tmp_path: Path, kokoro: KokoroEngine, files_server: TestServer
) -> None:
    url = str(files_server.make_url("/voice.wav"))
    by_name = url.replace("127.0.0.1", "localhost")  # checked when the name is resolved
    body = {"name": "x", "transcript": "Hello.", "language": "en-US"}
    for policy, status in ((UrlPolicy(), 400), (UrlPolicy(allow_private=True), 201)):
        for index, address in enumerate((url, by_name)):
            context = make_context(tmp_path / f"{status}-{index}", kokoro, True, url_policy=policy)
            async with TestClient(TestServer(create_app(context))) as client:
                response = await client.post(
                    "/api/voices", json={**body, "url": address}, headers=AUTH
                )
                text = await response.text()
                assert response.status == status, text
                assert status == 201 or "non-public" in text
    for bad in ("ftp://127.0.0.1/voice.wav", "file:///etc/passwd", "http://"):
        context = make_context(tmp_path / "bad", kokoro, True)
        async with TestClient(TestServer(create_app(context))) as client:
            response = await client.post("/api/voices", json={**body, "url": bad}, headers=AUTH)
            assert "http://" in (await error_of(response, 400))["error"]


def test_a_generated_token_is_kept_private_and_reused(tmp_path: Path) -> None:
    token = load_or_create_token(tmp_path, None)
    path = tmp_path / TOKEN_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(token) >= 32
    assert load_or_create_token(tmp_path, None) == token
    assert load_or_create_token(tmp_path, "given") == "given"


async def test_a_slow_upload_is_cut_off(tmp_path: Path, kokoro: KokoroEngine) -> None:
    context = make_context(tmp_path, kokoro)
    context.body_seconds = 0.5
    async with TestServer(create_app(context), host="127.0.0.1") as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"POST /api/voices HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Admin-Token: "
            + TOKEN.encode()
            + b'\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"name":'
        )
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), timeout=10)  # never sends the rest
        assert status.startswith(b"HTTP/1.1 408"), status
        writer.close()
    assert context.registry.list() == []


async def test_the_token_never_reaches_the_log(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    await client.post("/api/login", json={"token": TOKEN})
    await client.post("/api/login", json={"token": TOKEN + "x"})
    await client.post("/api/voices", data=form(audio=encode(voice_like(2.0))), headers=AUTH)
    await client.delete("/api/voices/grandma", headers={"X-Admin-Token": TOKEN + "y"})
    await client.delete("/api/voices/grandma", headers=AUTH)
    assert caplog.records  # something was logged
    assert TOKEN not in caplog.text
