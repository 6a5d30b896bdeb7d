"""The admin API over real HTTP on 127.0.0.1: auth, registration, errors, URL downloads."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import io
import ipaddress
import json
import socket
import stat
from pathlib import Path
from typing import AsyncIterator, Dict, Optional

import aiohttp
import pytest
import soundfile
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from wyoming_polytts.__main__ import _share
from wyoming_polytts.background import Supervisor
from wyoming_polytts.engines.kokoro import KokoroEngine
from wyoming_polytts.engines.zipvoice import LANGUAGES, ZipVoiceEngine
from wyoming_polytts.engines.zipvoice.model import find_zipvoice_files
from wyoming_polytts.http.apidoc import AUTH_SPEECH
from wyoming_polytts.http.app import (
    OPEN_ROUTES,
    OPERATIONS,
    SAFE_METHODS,
    AdminContext,
    api_document,
    create_app,
)
from wyoming_polytts.http.auth import TOKEN_FILE, Guard, SecretLimiter, load_or_create_token
from wyoming_polytts.http.download import UrlCache, UrlPolicy
from wyoming_polytts.lexicon import Lexicon
from wyoming_polytts.models import ModelNotFoundError, resolve_kokoro
from wyoming_polytts.presets import PresetStore
from wyoming_polytts.registry import PromptLimits, VoiceRegistry
from wyoming_polytts.voices import VoiceCatalog

from .helpers import encode, voice_like
from .zipvoice_tiny import build_tiny_zipvoice

TOKEN = "correct-horse-battery-staple"
AUTH = {"X-Admin-Token": TOKEN}
LOOPBACK_ONE = ipaddress.ip_network("127.0.0.1/32")


@pytest.fixture(scope="module")
def kokoro(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> KokoroEngine:
    files = resolve_kokoro(data_dir, download=False)
    return KokoroEngine(files, threads=1)  # the model itself is never loaded here


def make_context(
    root: Path,
    kokoro: KokoroEngine,
    allow_url_download: bool = False,
    limits: Optional[PromptLimits] = None,
    url_policy: Optional[UrlPolicy] = None,
    guard: Optional[Guard] = None,
    zipvoice: Optional[Path] = None,
) -> AdminContext:
    names = {spec.name for spec in kokoro.voices()}
    presets = PresetStore(root / "presets.json")
    registry = VoiceRegistry(
        root / "voices",
        LANGUAGES,
        limits,
        is_reserved=lambda name: name in names or name in presets,
        removal_guard=presets.keeping_bases,
        claim_guard=presets.held,
    )
    registry.load()
    clones = ZipVoiceEngine(registry)
    if zipvoice is not None:  # clones can speak (the model is loaded when first used)
        clones.attach(find_zipvoice_files(zipvoice, "test"))
    catalog = VoiceCatalog([kokoro, clones], presets=presets)
    registry.on_change(catalog.refresh)
    return AdminContext(
        registry=registry,
        catalog=catalog,
        guard=guard or Guard(TOKEN),
        url_policy=url_policy or UrlPolicy(extra_allowed=(LOOPBACK_ONE,), timeout_seconds=3),
        url_cache=UrlCache(root / "cache"),
        allow_url_download=allow_url_download,
        lexicon=Lexicon(root / "lexicon.json", LANGUAGES),
        presets=presets,
    )


@pytest.fixture
async def client(tmp_path: Path, kokoro: KokoroEngine) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_app(make_context(tmp_path, kokoro)))) as client:
        yield client


@pytest.fixture
async def patient_client(tmp_path: Path, kokoro: KokoroEngine) -> AsyncIterator[TestClient]:
    """A client whose many wrong secrets never lock it out (the limit has tests of its own)."""
    guard = Guard(TOKEN, limiter=SecretLimiter(attempts=10_000))
    app = create_app(make_context(tmp_path, kokoro, guard=guard))
    async with TestClient(TestServer(app)) as client:
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


class FakeClock:
    """A clock the test moves by hand: wall time for cookies, monotonic for the limiter."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def clone_names(client: TestClient) -> list:
    response = await client.get("/api/voices")
    return [v["name"] for v in (await response.json())["voices"] if "clone" in v]


async def test_health_and_the_voice_list(client: TestClient) -> None:
    health = await (await client.get("/api/health")).json()
    assert health["status"] == "ok" and health["clones"] == 0
    voices = (await (await client.get("/api/voices")).json())["voices"]
    assert {v["engine"] for v in voices} == {"kokoro"}
    assert "jf_alpha" in {v["name"] for v in voices}


async def test_health_says_which_start_up_job_failed_and_why(
    tmp_path: Path, kokoro: KokoroEngine
) -> None:
    context = make_context(tmp_path, kokoro)
    context.jobs = Supervisor()

    async def download() -> None:
        raise ModelNotFoundError("no ZipVoice model in /nowhere")

    context.jobs.start("zipvoice", download())
    await context.jobs.wait()
    async with TestClient(TestServer(create_app(context))) as client:
        health = await (await client.get("/api/health")).json()
    assert health["jobs"]["zipvoice"]["state"] == "failed"
    assert "no ZipVoice model in /nowhere" in health["jobs"]["zipvoice"]["detail"]


async def test_health_says_how_far_the_kokoro_start_is(
    tmp_path: Path, kokoro: KokoroEngine
) -> None:
    context = make_context(tmp_path, kokoro)
    context.jobs = Supervisor()
    loaded = asyncio.Event()
    context.jobs.start("kokoro", loaded.wait(), report=kokoro.start_up_report)
    async with TestClient(TestServer(create_app(context))) as client:
        health = await (await client.get("/api/health")).json()
        loaded.set()
        await context.jobs.wait()
        done = await (await client.get("/api/health")).json()
    assert health["jobs"]["kokoro"] == {
        "state": "starting",
        "speaking": False,
        "progress": "loading the model",
    }
    assert done["jobs"]["kokoro"]["state"] == "ready"


async def test_register_play_and_delete_through_the_api(client: TestClient) -> None:
    response = await client.post(
        "/api/voices", data=form(audio=encode(voice_like(3.0))), headers=AUTH
    )
    assert response.status == 201, await response.text()
    created = await response.json()
    assert created["name"] == "grandma" and created["source"] == "upload:grandma.wav"
    start, end = created["kept"]  # the 3 s of sound in 0.5 s of silence, with 0.1 + 0.2 s
    assert abs(start - 0.4) <= 0.011 and abs(end - 3.7) <= 0.011

    listed = await (await client.get("/api/voices/grandma", headers=AUTH)).json()
    assert listed["engine"] == "zipvoice" and listed["languages"] == ["en-US"]
    assert listed["installed"] is False  # no ZipVoice model here
    assert listed["clone"]["transcript"] == "Hello there, this is grandma."
    assert listed["clone"]["kept"] == [start, end]

    prompt = await client.get(listed["clone"]["prompt_url"], headers=AUTH)
    assert prompt.status == 200 and prompt.content_type == "audio/wav"
    samples, rate = soundfile.read(io.BytesIO(await prompt.read()))
    assert rate == 24000 and samples.ndim == 1 and len(samples) > 2 * rate
    assert abs(len(samples) / rate - (end - start)) < 0.002  # the prompt is the kept part
    schema = api_document()["paths"]["/api/voices"]["post"]["responses"]["201"]
    assert "ClonedVoiceInfo" in json.dumps(schema)

    response = await client.delete("/api/voices/grandma", headers=AUTH)
    assert response.status == 200
    await error_of(await client.get("/api/voices/grandma"), 404)
    await error_of(await client.get("/api/voices/grandma/prompt", headers=AUTH), 404)
    await error_of(await client.delete("/api/voices/grandma", headers=AUTH), 404)


async def test_register_from_base64_json(client: TestClient) -> None:
    audio = base64.b64encode(encode(voice_like(2.0))).decode()
    body = {"name": "b64", "transcript": "你好。", "language": "zh", "audio_base64": audio}
    response = await client.post("/api/voices", json=body, headers=AUTH)
    assert response.status == 201, await response.text()
    assert (await response.json())["source"] == "base64"


async def test_every_state_changing_route_needs_the_token(patient_client: TestClient) -> None:
    """Speech (/v1/.../speech) is open without API keys, like the Wyoming port; see
    test_openai.py for it with keys."""
    client = patient_client
    speech = {op.path for op in client.server.app[OPERATIONS] if op.auth == AUTH_SPEECH}
    checked = 0
    for route in client.server.app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if route.method in SAFE_METHODS or route.method == "*" or path in OPEN_ROUTES | speech:
            continue
        url = (
            path.replace("{name}", "grandma")
            .replace("{language}", "en")
            .replace("{word}", "Zigbee")
        )
        if path == "/api/presets/{name}":
            url = "/api/presets/calm"
        for headers in ({}, {"X-Admin-Token": "wrong"}, {"Authorization": "Bearer wrong"}):
            response = await client.request(route.method, url, headers=headers, data=b"{}")
            if path.startswith("/v1/"):
                assert response.status == 401
                assert (await response.json())["error"]["type"] == "authentication_error"
            else:
                await error_of(response, 401)
        checked += 1
    # /api: voices, preview, caches, transcribe, logout, lexicon, presets (post, put, delete);
    # /v1: register, delete, caches
    assert checked >= 14


PUBLIC_VOICE_FIELDS = {"name", "engine", "languages", "description", "installed"}
PRIVATE_CLONE_FIELDS = {"transcript", "source", "prompt_url"}


async def voice_views(client: TestClient, name: str, headers: Dict[str, str]) -> list:
    """The voice `name` as `GET /api/voices/{name}` and as its entry in `GET /api/voices`."""
    one = await client.get(f"/api/voices/{name}", headers=headers)
    assert one.status == 200, await one.text()
    listed = (await (await client.get("/api/voices", headers=headers)).json())["voices"]
    return [await one.json(), next(voice for voice in listed if voice["name"] == name)]


async def test_a_clone_another_server_just_registered_is_found_at_once(
    tmp_path: Path, kokoro: KokoroEngine
) -> None:
    """Two servers on one data dir: a clone registered through one is at once `GET` by name
    (and its prompt) through the other, before its watcher's next reread."""
    mine, theirs = make_context(tmp_path, kokoro), make_context(tmp_path, kokoro)
    _share(mine.registry, mine.presets, mine.lexicon, mine.catalog)  # not started
    async with (
        TestClient(TestServer(create_app(mine))) as here,
        TestClient(TestServer(create_app(theirs))) as there,
    ):
        registered = await there.post(
            "/api/voices", data=form(audio=encode(voice_like(2.0))), headers=AUTH
        )
        assert registered.status == 201, await registered.text()
        voice = await here.get("/api/voices/grandma", headers=AUTH)
        assert voice.status == 200, await voice.text()
        assert (await voice.json())["name"] == "grandma"
        prompt = await here.get("/api/voices/grandma/prompt", headers=AUTH)
        assert prompt.status == 200 and (await prompt.read())[:4] == b"RIFF"
        await error_of(await here.get("/api/voices/nobody", headers=AUTH), 404)


async def test_clone_prompts_and_transcripts_need_the_token(patient_client: TestClient) -> None:
    client = patient_client
    response = await client.post(
        "/api/voices", data=form(audio=encode(voice_like(2.0))), headers=AUTH
    )
    assert response.status == 201, await response.text()
    strangers = ({}, {"X-Admin-Token": "wrong"}, {"Authorization": "Bearer wrong"})
    for headers in strangers:
        for path in ("/api/voices/grandma/prompt", "/api/voices/nobody/prompt"):
            assert (await error_of(await client.get(path, headers=headers), 401))[
                "code"
            ] == "unauthorized"
            assert (await client.head(path, headers=headers)).status == 401
        for view in await voice_views(client, "grandma", headers):
            assert set(view) >= PUBLIC_VOICE_FIELDS and view["languages"] == ["en-US"]
            assert "clone" in view and not PRIVATE_CLONE_FIELDS & set(view["clone"]), view

    for headers in (AUTH, {"Authorization": f"Bearer {TOKEN}"}):
        for view in await voice_views(client, "grandma", headers):
            assert view["clone"]["transcript"] == "Hello there, this is grandma."
            assert view["clone"]["source"] == "upload:grandma.wav"
            assert view["clone"]["prompt_url"] == "/api/voices/grandma/prompt"
        prompt = await client.get("/api/voices/grandma/prompt", headers=headers)
        assert prompt.status == 200 and prompt.content_type == "audio/wav"

    # The page signs in with its cookie, which an <audio src> sends on same-origin GETs.
    assert (await client.post("/api/login", json={"token": TOKEN})).status == 200
    prompt = await client.get("/api/voices/grandma/prompt")
    assert prompt.status == 200 and prompt.content_type == "audio/wav"
    for view in await voice_views(client, "grandma", {}):
        assert set(view["clone"]) >= PRIVATE_CLONE_FIELDS
    await client.post("/api/logout")
    await error_of(await client.get("/api/voices/grandma/prompt"), 401)


async def test_parallel_login_guesses_from_one_address_are_stopped(
    tmp_path: Path, kokoro: KokoroEngine
) -> None:
    clock = FakeClock()
    context = make_context(tmp_path, kokoro, guard=Guard(TOKEN, clock=clock))
    async with TestClient(TestServer(create_app(context))) as client:
        guesses = [client.post("/api/login", json={"token": f"guess-{n}"}) for n in range(20)]
        responses = await asyncio.gather(*guesses)
        statuses = [response.status for response in responses]
        assert (statuses.count(401), statuses.count(429)) == (5, 15), statuses
        for response in responses:
            if response.status == 429:
                assert (await error_of(response, 429))["code"] == "too-many-attempts"
                assert 1 <= int(response.headers["Retry-After"]) <= 60

        # Locked out: even the right token is refused until the window has passed.
        clock.now += 30
        refused = await client.post("/api/login", json={"token": TOKEN})
        assert (await error_of(refused, 429))["code"] == "too-many-attempts"
        assert 1 <= int(refused.headers["Retry-After"]) <= 30
        assert "polytts_session" not in refused.cookies
        assert (await (await client.get("/api/session")).json())["authenticated"] is False

        clock.now += 31
        response = await client.post("/api/login", json={"token": TOKEN})
        assert response.status == 200, await response.text()
        assert (await (await client.get("/api/session")).json())["authenticated"] is True


SPEECH = {"model": "tts-1", "input": "Hello.", "voice": "jf_alpha"}
# Each way a secret is presented, as a request carrying a wrong one (`guess`).
WRONG_SECRETS = {
    "login form": ("POST", "/api/login", {"json": {"token": "guess"}}),
    "X-Admin-Token": ("POST", "/api/cache/clear", {"headers": {"X-Admin-Token": "guess"}}),
    "Bearer token": ("GET", "/api/voices", {"headers": {"Authorization": "Bearer guess"}}),
    "API key": (
        "POST",
        "/v1/audio/speech",
        {"headers": {"Authorization": "Bearer guess"}, "json": SPEECH},
    ),
    "session cookie": ("GET", "/api/session", {"headers": {"Cookie": "polytts_session=9.guess"}}),
}


def right_secrets(guard: Guard) -> Dict[str, tuple]:
    """Each way of presenting a secret, with the right one, and the status it gets when the
    client is not locked out (this app has no speech pipeline: 503 once speech is let in)."""
    cookie = f"polytts_session={guard.session_value()}"
    return {
        "login form": ("POST", "/api/login", {"json": {"token": TOKEN}}, 200),
        "X-Admin-Token": ("POST", "/api/cache/clear", {"headers": AUTH}, 200),
        "Bearer token": (
            "POST",
            "/api/cache/clear",
            {"headers": {"Authorization": f"Bearer {TOKEN}"}},
            200,
        ),
        "API key": (
            "POST",
            "/v1/audio/speech",
            {"headers": {"Authorization": "Bearer key-1"}, "json": SPEECH},
            503,
        ),
        "session cookie": ("POST", "/api/cache/clear", {"headers": {"Cookie": cookie}}, 200),
    }


@pytest.mark.parametrize("way", list(WRONG_SECRETS))
async def test_every_way_of_presenting_a_secret_shares_one_limit(
    tmp_path: Path, kokoro: KokoroEngine, way: str
) -> None:
    clock = FakeClock()
    guard = Guard(TOKEN, clock=clock, api_keys=["key-1"])
    async with TestClient(
        TestServer(create_app(make_context(tmp_path, kokoro, guard=guard)))
    ) as client:
        method, path, options = WRONG_SECRETS[way]
        # Sent at once: each is counted as it arrives, so only 5 get an answer.
        guesses = [client.request(method, path, **options) for _ in range(8)]
        statuses = [response.status for response in await asyncio.gather(*guesses)]
        assert statuses.count(429) == 3, statuses
        client.session.cookie_jar.clear()

        # Locked out: every request that presents a secret, right or wrong, in any way.
        for name, (method, path, options, _) in right_secrets(guard).items():
            refused = await client.request(method, path, **options)
            assert refused.status == 429, (name, await refused.text())
            assert 1 <= int(refused.headers["Retry-After"]) <= 60
            body = await refused.json()
            code = body["error"]["code"] if path.startswith("/v1/") else body["code"]
            assert code in ("too-many-attempts", "rate_limit_exceeded"), body
        for method, path, options in WRONG_SECRETS.values():
            assert (await client.request(method, path, **options)).status == 429
        # Requests without a secret are not affected.
        assert (await client.get("/api/voices")).status == 200
        assert (await (await client.get("/api/session")).json())["authenticated"] is False
        assert (await client.get("/")).status == 200
        assert (await client.post("/v1/audio/speech", json=SPEECH)).status == 401  # needs a key

        clock.now += 61
        for name, (method, path, options, status) in right_secrets(guard).items():
            response = await client.request(method, path, **options)
            assert response.status == status, (name, await response.text())


async def test_the_trusted_proxy_and_open_routes_never_count_a_secret(
    tmp_path: Path, kokoro: KokoroEngine
) -> None:
    # Without API keys speech is open: an OpenAI client's placeholder key is no guess.
    async with TestClient(TestServer(create_app(make_context(tmp_path, kokoro)))) as client:
        dummy = {"Authorization": "Bearer no-key-needed"}
        for _ in range(10):
            assert (await client.post("/v1/audio/speech", json=SPEECH, headers=dummy)).status == 503
            assert (await client.get("/v1/models", headers=dummy)).status == 200
        assert (await client.post("/api/cache/clear", headers=AUTH)).status == 200
    # Home Assistant's ingress vouches for its users: what they send is not counted.
    guard = Guard(TOKEN, trusted_proxies=["127.0.0.1"])
    async with TestClient(
        TestServer(create_app(make_context(tmp_path / "proxy", kokoro, guard=guard)))
    ) as client:
        for _ in range(10):
            response = await client.post("/api/cache/clear", headers={"X-Admin-Token": "guess"})
            assert response.status == 200
        assert len(guard.limiter) == 0


async def test_a_secret_that_is_not_utf8_is_a_wrong_one(client: TestClient) -> None:
    for header in (b"X-Admin-Token: \xff\xfe", b"Authorization: Bearer \xff"):
        reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
        writer.write(b"POST /api/cache/clear HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n")
        writer.write(header + b"\r\nConnection: close\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
    cookie = b"Cookie: polytts_session=1.\xff"
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(b"GET /api/session HTTP/1.1\r\nHost: test\r\n" + cookie + b"\r\n")
    writer.write(b"Connection: close\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200 ") and b'"authenticated": false' in answer, answer


async def test_a_sign_in_token_with_a_lone_surrogate_is_a_wrong_one(client: TestClient) -> None:
    """JSON may carry a lone surrogate ("\\ud800"), which has no UTF-8 bytes at all."""
    body = b'{"token": "\\ud800"}'
    response = await client.post(
        "/api/login", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status == 401, await response.text()


async def test_a_session_cookie_this_server_did_not_sign_is_dropped(client: TestClient) -> None:
    response = await client.get("/api/session", headers={"Cookie": "polytts_session=9.guess"})
    assert (await response.json())["authenticated"] is False
    dropped = response.cookies["polytts_session"]
    assert dropped.value == "" and dropped["max-age"] == "0"


def test_the_login_limiter_counts_each_address_and_forgets_old_ones() -> None:
    clock = FakeClock(1000.0)
    limiter = SecretLimiter(attempts=3, window_seconds=60, clock=clock, max_clients=100)
    for _ in range(3):
        assert limiter.retry_after("10.0.0.1") == 0
        limiter.failed("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") == 60
    assert limiter.retry_after("10.0.0.2") == 0  # others are not locked out with it
    limiter.failed("10.0.0.2")
    clock.now += 45
    assert limiter.retry_after("10.0.0.1") == 15
    clock.now += 15
    assert limiter.retry_after("10.0.0.1") == 0

    for n in range(1000):  # many addresses: memory stays bounded
        limiter.failed(f"10.1.{n // 256}.{n % 256}")
    assert len(limiter) <= 100
    clock.now += 61
    limiter.failed("10.0.0.3")  # entries whose window has passed are pruned
    assert len(limiter) == 1


def test_after_a_lockout_the_next_failures_start_a_new_window() -> None:
    """Windows are kept in the order they started, whatever other addresses do meanwhile."""
    clock = FakeClock(1000.0)
    limiter = SecretLimiter(attempts=5, window_seconds=60, clock=clock)
    limiter.failed("10.0.0.1")
    clock.now += 10
    limiter.failed("10.0.0.2")  # a window that starts later and so passes later
    clock.now += 10
    for _ in range(4):
        limiter.failed("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") == 40
    clock.now += 45  # the first window has passed, the other one has not
    assert limiter.retry_after("10.0.0.1") == 0
    for _ in range(5):
        limiter.failed("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") == 60


def session_mac(expires: int) -> str:
    return hmac.new(
        TOKEN.encode(), f"polytts-session:{expires}".encode(), hashlib.sha256
    ).hexdigest()


async def signed_in_with(client: TestClient, cookie: str) -> bool:
    client.session.cookie_jar.clear()
    response = await client.get("/api/session", headers={"Cookie": f"polytts_session={cookie}"})
    return bool((await response.json())["authenticated"])


async def test_a_session_cookie_carries_its_expiry(tmp_path: Path, kokoro: KokoroEngine) -> None:
    clock = FakeClock()
    guard = Guard(TOKEN, session_seconds=3600, clock=clock)
    async with TestClient(
        TestServer(create_app(make_context(tmp_path, kokoro, guard=guard)))
    ) as client:
        response = await client.post("/api/login", json={"token": TOKEN})
        cookie = response.cookies["polytts_session"]
        assert cookie["max-age"] == "3600"
        expires, _, mac = cookie.value.partition(".")
        assert int(expires) == int(clock.now) + 3600 and mac
        assert (await (await client.get("/api/session")).json())["authenticated"] is True

        clock.now += 3599
        assert (await (await client.get("/api/session")).json())["authenticated"] is True
        clock.now += 2
        assert (await (await client.get("/api/session")).json())["authenticated"] is False
        await error_of(await client.get("/api/voices/grandma/prompt"), 401)

        later = int(clock.now) + 3600
        assert await signed_in_with(client, f"{later}.{session_mac(later)}") is True
        assert await signed_in_with(client, f"{later + 1}.{session_mac(later)}") is False
        assert await signed_in_with(client, f"{later}.{session_mac(later)[:-1]}0") is False
        assert await signed_in_with(client, f"{later}.{session_mac(later)}.x") is False
        assert await signed_in_with(client, f"{later}") is False
        old_format = hmac.new(TOKEN.encode(), b"polytts-session", hashlib.sha256).hexdigest()
        assert await signed_in_with(client, old_format) is False


async def test_a_session_lasts_a_week_by_default(client: TestClient) -> None:
    response = await client.post("/api/login", json={"token": TOKEN})
    assert response.cookies["polytts_session"]["max-age"] == str(7 * 24 * 3600)


async def test_language_tags_are_matched_case_insensitively(client: TestClient) -> None:
    for name, given, stored in (
        ("lower", "en-us", "en-US"),
        ("upper", "EN-GB", "en-GB"),
        ("underscore", "en_US", "en-US"),
        ("bare", "en", "en-US"),
        ("region", "zh-CN", "zh"),
    ):
        response = await client.post(
            "/api/voices", data=form(name, encode(voice_like(2.0)), language=given), headers=AUTH
        )
        assert response.status == 201, await response.text()
        assert (await response.json())["language"] == stored
        voice = await (await client.get(f"/api/voices/{name}")).json()
        assert voice["languages"] == [stored]
    response = await client.post(
        "/api/voices", data=form("x", encode(voice_like(2.0)), language="ja"), headers=AUTH
    )
    error = await error_of(response, 400)
    assert error["code"] == "unsupported-language" and "en-US, en-GB, zh" in error["error"]


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


# -- lexicon --------------------------------------------------------------------------------


async def lexicon_words(client: TestClient) -> list:
    response = await client.get("/api/lexicon")
    assert response.status == 200
    return [(e["language"], e["word"]) for e in await response.json()]


async def test_lexicon_entries_are_put_listed_and_deleted(client: TestClient) -> None:
    assert await lexicon_words(client) == []
    url = "/api/lexicon/en/Living%20room"
    response = await client.put(url, json={"say": "lounge"}, headers=AUTH)
    assert response.status == 200, await response.text()
    assert await response.json() == {
        "language": "en",
        "word": "Living room",
        "say": "lounge",
        "phonemes": None,
        "case_sensitive": False,
    }
    body = {"phonemes": "ˈeɪtʃvæk", "case_sensitive": True}
    response = await client.put("/api/lexicon/EN-us/HVAC", json=body, headers=AUTH)
    assert (await response.json())["language"] == "en-US"
    assert await lexicon_words(client) == [("en", "Living room"), ("en-US", "HVAC")]
    session = await (await client.get("/api/session")).json()
    assert session["lexicon_languages"] == list(LANGUAGES)

    response = await client.delete(url, headers=AUTH)
    assert response.status == 200
    assert (await response.json())["deleted"]["word"] == "Living room"
    assert await lexicon_words(client) == [("en-US", "HVAC")]
    assert (await error_of(await client.delete(url, headers=AUTH), 404))["code"] == "not-found"


async def test_lexicon_changes_need_the_token(client: TestClient) -> None:
    url = "/api/lexicon/en/Zigbee"
    for headers in ({}, {"X-Admin-Token": "wrong"}):
        response = await client.put(url, json={"say": "zig bee"}, headers=headers)
        assert (await error_of(response, 401))["code"] == "unauthorized"
    await client.put(url, json={"say": "zig bee"}, headers=AUTH)
    assert (await error_of(await client.delete(url), 401))["code"] == "unauthorized"
    assert await lexicon_words(client) == [("en", "Zigbee")]  # reading is public


@pytest.mark.parametrize(
    ("url", "send", "code"),
    [
        ("/api/lexicon/en/Zigbee", {"json": {}}, "bad-request"),
        ("/api/lexicon/en/Zigbee", {"json": {"say": "a", "phonemes": "b"}}, "bad-request"),
        ("/api/lexicon/en/Zigbee", {"json": {"say": 3}}, "bad-say"),
        ("/api/lexicon/en/Zigbee", {"json": {"phonemes": "[zɪɡ]"}}, "bad-phonemes"),
        ("/api/lexicon/en/Zigbee", {"json": {"say": "x", "case_sensitive": "no"}}, "bad-request"),
        ("/api/lexicon/en/Zigbee", {"json": ["say"]}, "bad-request"),
        (
            "/api/lexicon/en/Zigbee",
            {"data": b"{nope", "headers": {"Content-Type": "application/json"}},
            "bad-request",
        ),
        ("/api/lexicon/de/Zigbee", {"json": {"say": "tsig bee"}}, "bad-language"),
        ("/api/lexicon/en/1234", {"json": {"say": "x"}}, "bad-word"),
        ("/api/lexicon/en/Zig_bee", {"json": {"say": "x"}}, "bad-word"),
    ],
)
async def test_bad_lexicon_entries_get_clear_errors(
    client: TestClient, url: str, send: dict, code: str
) -> None:
    headers = {**AUTH, **send.pop("headers", {})}
    response = await client.put(url, headers=headers, **send)
    assert (await error_of(response, 400))["code"] == code
    assert await lexicon_words(client) == []


async def test_lexicon_entries_from_a_form(client: TestClient) -> None:
    data = {"say": "zig bee", "case_sensitive": "true"}
    response = await client.put("/api/lexicon/en/Zigbee", data=data, headers=AUTH)
    assert (await response.json())["case_sensitive"] is True


async def test_without_a_lexicon_the_routes_say_so(tmp_path: Path, kokoro: KokoroEngine) -> None:
    context = make_context(tmp_path, kokoro)
    context.lexicon = None
    async with TestClient(TestServer(create_app(context))) as client:
        assert (await error_of(await client.get("/api/lexicon"), 501))["code"] == "no-lexicon"
        response = await client.put("/api/lexicon/en/Zigbee", json={"say": "x"}, headers=AUTH)
        assert (await error_of(response, 501))["code"] == "no-lexicon"
        session = await (await client.get("/api/session")).json()
        assert session["lexicon"] is False and session["lexicon_languages"] == []


# -- presets --------------------------------------------------------------------------------


async def test_presets_are_created_listed_changed_and_deleted(client: TestClient) -> None:
    body = {"name": "calm", "voice": "jf_alpha", "speed": 0.8, "description": "Calm"}
    response = await client.post("/api/presets", json=body, headers=AUTH)
    assert response.status == 201, await response.text()
    created = await response.json()
    assert created["preset"] == {
        "name": "calm",
        "voice": "jf_alpha",
        "speed": 0.8,
        "description": "Calm",
    }
    assert created["languages"] == ["ja", "en-US"] and created["installed"] is True
    error = await error_of(await client.post("/api/presets", json=body, headers=AUTH), 409)
    assert error["code"] == "name-taken"

    listed = (await (await client.get("/api/presets")).json())["presets"]
    assert [preset["name"] for preset in listed] == ["calm"]
    voices = (await (await client.get("/api/voices")).json())["voices"]
    assert next(v for v in voices if v["name"] == "calm")["preset"]["speed"] == 0.8

    blend = {"voice": "jf_alpha(2)+jm_kumo(1)", "speed": 1.3}
    response = await client.put("/api/presets/calm", json=blend, headers=AUTH)
    assert response.status == 200, await response.text()
    response = await client.get("/api/presets/calm")
    assert (await response.json())["preset"]["voice"] == "jf_alpha(2)+jm_kumo(1)"
    response = await client.put("/api/presets/quick", json={"voice": "jm_kumo"}, headers=AUTH)
    assert response.status == 201 and (await response.json())["preset"]["speed"] == 1.0

    for name in ("calm", "quick"):
        response = await client.delete(f"/api/presets/{name}", headers=AUTH)
        assert response.status == 200
    await error_of(await client.get("/api/presets/calm"), 404)
    await error_of(await client.delete("/api/presets/calm", headers=AUTH), 404)
    assert (await (await client.get("/api/presets")).json())["presets"] == []


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"name": "jm_kumo", "voice": "jf_alpha"}, 409, "name-taken"),
        ({"name": "x", "voice": "af_nobody"}, 400, "unknown-voice"),
        ({"name": "x", "voice": "jf_alpha(1)+af_nobody(1)"}, 400, "unknown-voice"),
        ({"name": "x", "voice": "jf_alpha", "speed": 9}, 400, "bad-speed"),
        ({"name": "x", "voice": "jf_alpha", "speed": "quick"}, 400, "bad-speed"),
        ({"name": "X Y", "voice": "jf_alpha"}, 400, "invalid-name"),
        ({"name": "x"}, 400, "bad-voice"),
    ],
)
async def test_bad_presets_get_clear_errors(
    client: TestClient, body: Dict[str, object], status: int, code: str
) -> None:
    error = await error_of(await client.post("/api/presets", json=body, headers=AUTH), status)
    assert error["code"] == code
    assert (await (await client.get("/api/presets")).json())["presets"] == []


async def test_a_preset_of_a_clone_needs_a_model_and_keeps_the_clone(
    client: TestClient, tmp_path: Path, kokoro: KokoroEngine
) -> None:
    body = {"name": "slow-grandma", "voice": "grandma", "speed": 0.8}
    response = await client.post(
        "/api/voices", data=form(audio=encode(voice_like(2.0))), headers=AUTH
    )
    assert response.status == 201
    # Without a ZipVoice model the clone cannot speak, and neither could the preset.
    error = await error_of(await client.post("/api/presets", json=body, headers=AUTH), 409)
    assert error["code"] == "not-installed" and "ZipVoice" in error["error"]

    model = build_tiny_zipvoice(tmp_path / "zipvoice")
    context = make_context(tmp_path / "with-model", kokoro, zipvoice=model)
    async with TestClient(TestServer(create_app(context))) as client:
        response = await client.post(
            "/api/voices", data=form(audio=encode(voice_like(2.0))), headers=AUTH
        )
        assert response.status == 201
        response = await client.post("/api/presets", json=body, headers=AUTH)
        assert response.status == 201, await response.text()
        assert (await response.json())["languages"] == ["en-US"]

        error = await error_of(await client.delete("/api/voices/grandma", headers=AUTH), 409)
        assert error["code"] == "in-use" and "slow-grandma" in error["error"]
        assert await clone_names(client) == ["grandma"]
        await client.delete("/api/presets/slow-grandma", headers=AUTH)
        assert (await client.delete("/api/voices/grandma", headers=AUTH)).status == 200


# -- behind Home Assistant's ingress ---------------------------------------------------------


async def test_behind_a_proxy_the_page_and_urls_carry_its_path(client: TestClient) -> None:
    ingress = {"X-Ingress-Path": "/api/hassio_ingress/abc123"}
    page = await (await client.get("/", headers=ingress)).text()
    assert '<base href="/api/hassio_ingress/abc123/">' in page
    assert 'href="static/style.css"' in page and 'src="static/app.js"' in page
    assert "<base" not in await (await client.get("/")).text()
    for bad in ("https://evil.example", "//evil.example", "/a/../b", '/a"><script>'):
        page = await (await client.get("/", headers={"X-Ingress-Path": bad})).text()
        assert "<base" not in page and "evil" not in page

    response = await client.post(
        "/api/voices", data=form(audio=encode(voice_like(2.0))), headers=AUTH
    )
    assert response.status == 201
    voice = await (await client.get("/api/voices/grandma", headers={**AUTH, **ingress})).json()
    assert voice["clone"]["prompt_url"] == "/api/hassio_ingress/abc123/api/voices/grandma/prompt"
    response = await client.post("/api/login", json={"token": TOKEN}, headers=ingress)
    assert response.cookies["polytts_session"]["path"] == "/api/hassio_ingress/abc123/"


async def test_only_the_ingress_proxy_counts_as_signed_in(
    tmp_path: Path, kokoro: KokoroEngine
) -> None:
    body = {"name": "calm", "voice": "jf_alpha", "speed": 0.9}
    # Home Assistant's origin is not the add-on's host; its proxy vouches for the request.
    from_ha = {"Origin": "https://homeassistant.example:8123"}
    # The test client connects from 127.0.0.1: trusted as the proxy, or not.
    for trusted, answers in ((["127.0.0.1"], (201, 409)), (["172.30.32.2"], (401, 403))):
        guard = Guard(TOKEN, trusted_proxies=trusted)
        context = make_context(tmp_path / trusted[0], kokoro, guard=guard)
        async with TestClient(TestServer(create_app(context))) as client:
            session = await (await client.get("/api/session")).json()
            assert session["authenticated"] is session["via_proxy"] is (answers[0] == 201)
            for headers, status in zip(({}, from_ha), answers, strict=True):
                response = await client.post("/api/presets", json=body, headers=headers)
                assert response.status == status, await response.text()


@contextlib.asynccontextmanager
async def served_on(app: web.Application, mapped: bool) -> AsyncIterator[str]:
    """`app` on loopback; its peers are seen as 127.0.0.1, or when `mapped` as
    ::ffff:127.0.0.1 (an IPv4 client of a dual-stack socket). Yields its base URL."""
    if mapped:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(("::ffff:127.0.0.1", 0))
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("mapped", [False, True], ids=["peer-v4", "peer-v4-mapped"])
async def test_an_ingress_proxy_matches_however_it_and_the_peer_are_written(
    tmp_path: Path, kokoro: KokoroEngine, mapped: bool
) -> None:
    for configured, trusted in (
        ("127.0.0.1", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:172.30.32.2", False),
    ):
        guard = Guard(TOKEN, trusted_proxies=[configured])
        app = create_app(make_context(tmp_path / configured.replace(":", "_"), kokoro, guard=guard))
        async with served_on(app, mapped) as url, aiohttp.ClientSession() as http:
            async with http.get(f"{url}/api/session") as response:
                session = await response.json()
            assert session["via_proxy"] is session["authenticated"] is trusted, configured
