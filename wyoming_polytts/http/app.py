"""The admin web app: a JSON API over the voices, presets and lexicon, and the page using it.

The page works behind a reverse proxy that serves it under a path prefix (Home Assistant's
ingress): every link in it is relative, and the prefix the proxy names in `X-Ingress-Path`
goes into the page's base and into the URLs the API hands out.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import html
import importlib.resources
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Optional, Tuple

from aiohttp import web

from .. import __version__
from ..audio import wav_bytes
from ..background import Supervisor
from ..engines.base import SynthesisError
from ..lexicon import Lexicon, LexiconError
from ..pipeline import SpeechPipeline
from ..presets import PresetError, PresetStore, check_speed
from ..registry import PROMPT_RATE, ClonedVoice, RegistryError, VoiceRegistry
from ..scheduler import SchedulerBusy
from ..text import ClausePolicy, split_text
from ..transcriber import Transcriber, Transcript
from ..voices import Voice, VoiceCatalog, VoiceNotFoundError
from .auth import SESSION_COOKIE, Guard
from .download import DownloadError, UrlCache, UrlPolicy, fetch

_LOGGER = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OPEN_ROUTES = frozenset({"/api/login"})  # state-changing routes that need no token
PRIVATE_READS = frozenset({"/api/voices/{name}/prompt"})  # safe routes that need the token
PRIVATE_CLONE_FIELDS = ("transcript", "source", "prompt_url")  # shown to the admin only
_STATUS_BY_CODE = {
    "not-found": 404,
    "name-taken": 409,
    "in-use": 409,
    "not-installed": 409,
    "too-large": 413,
    "no-lexicon": 501,
    "no-presets": 501,
}
INGRESS_HEADER = "X-Ingress-Path"
_INGRESS_PATH = re.compile(r"(/[A-Za-z0-9._~%-]+)*")
BASE_MARK = "<!-- base -->"  # where the page gets its <base href> behind a proxy
PREVIEW_TEXT = {
    "zh": "你好！这是我作为克隆声音的样子。",
    "": "Hello! This is how I sound as a voice clone. Does it sound like me?",
}
MAX_PREVIEW_CHARS = 300
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class AdminContext:
    """What the web app works with."""

    registry: VoiceRegistry
    catalog: VoiceCatalog
    guard: Guard
    url_policy: UrlPolicy
    url_cache: UrlCache
    allow_url_download: bool
    pipeline: Optional[SpeechPipeline] = None  # speaks previews, as it speaks Wyoming requests
    jobs: Optional[Supervisor] = None  # the background start-up work, for /api/health
    transcriber: Optional[Transcriber] = None
    lexicon: Optional[Lexicon] = None  # pronunciations, for /api/lexicon
    presets: Optional[PresetStore] = None  # named voices at a speed, for /api/presets
    transcriber_missing: str = "speech recognition is not installed (the [asr] extra)"
    body_seconds: float = 30.0  # a request body must arrive within this (slow uploads)


CONTEXT = web.AppKey("polytts", AdminContext)


def create_app(context: AdminContext) -> web.Application:
    """The aiohttp application: API under /api, the page at /."""
    max_body = context.registry.limits.max_bytes * 4 // 3 + 64 * 1024  # base64 and form fields
    app = web.Application(middlewares=[_errors_as_json, _require_token], client_max_size=max_body)
    app[CONTEXT] = context
    static = Path(str(importlib.resources.files("wyoming_polytts.http") / "static"))
    app.router.add_get("/", _page((static / "index.html").read_text(encoding="utf-8")))
    app.router.add_static("/static/", static)
    app.router.add_get("/api/health", health)
    app.router.add_get("/api/session", session)
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/logout", logout)
    app.router.add_get("/api/voices", list_voices)
    app.router.add_post("/api/voices", register_voice)
    app.router.add_get("/api/voices/{name}", get_voice)
    app.router.add_delete("/api/voices/{name}", delete_voice)
    app.router.add_get("/api/voices/{name}/prompt", get_prompt)
    app.router.add_post("/api/voices/{name}/preview", preview_voice)
    app.router.add_post("/api/cache/clear", clear_cache)
    app.router.add_post("/api/transcribe", transcribe)
    app.router.add_get("/api/lexicon", list_lexicon)
    app.router.add_put("/api/lexicon/{language}/{word}", put_lexicon_entry)
    app.router.add_delete("/api/lexicon/{language}/{word}", delete_lexicon_entry)
    app.router.add_get("/api/presets", list_presets)
    app.router.add_post("/api/presets", create_preset)
    app.router.add_get("/api/presets/{name}", get_preset)
    app.router.add_put("/api/presets/{name}", put_preset)
    app.router.add_delete("/api/presets/{name}", delete_preset)
    return app


def _error(status: int, message: str, code: str) -> web.Response:
    return web.json_response({"error": message, "code": code}, status=status)


@web.middleware
async def _errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes `{"error": ..., "code": ...}` with a fitting status."""
    try:
        return await handler(request)
    except (RegistryError, LexiconError, PresetError) as err:
        return _error(_STATUS_BY_CODE.get(err.code, 400), str(err), err.code)
    except DownloadError as err:
        return _error(400, str(err), "download-failed")
    except SchedulerBusy as err:
        return _error(503, str(err), "busy")
    except web.HTTPRequestEntityTooLarge:
        return _error(413, "The request is too large", "too-large")
    except web.HTTPException as err:
        if err.status < 400:
            raise
        return _error(err.status, err.reason, "http-error")
    except Exception:  # noqa: BLE001 - the server outlives one bad request
        _LOGGER.exception("Request %s %s failed", request.method, request.path)
        return _error(500, "Internal error; see the server log", "internal")


@web.middleware
async def _require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Changes and private reads need the admin token; changes may not come from elsewhere.

    Which routes are open or private is data: `SAFE_METHODS`, `OPEN_ROUTES`, `PRIVATE_READS`.
    """
    route = _route_of(request)
    if request.method in SAFE_METHODS:
        if route in PRIVATE_READS and not _is_admin(request):
            return _error(401, "This needs the admin token", "unauthorized")
        return await handler(request)
    if route in OPEN_ROUTES:
        return await handler(request)
    if request.app[CONTEXT].guard.via_trusted_proxy(request):
        # Home Assistant checked its user; its proxy forwards another origin than its host.
        return await handler(request)
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        return _error(403, "Requests from other sites are not accepted", "cross-origin")
    if not _is_admin(request):
        return _error(401, "This needs the admin token", "unauthorized")
    return await handler(request)


def _route_of(request: web.Request) -> str:
    """The route's pattern (`/api/voices/{name}`), so rules name routes, not paths."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else request.path


def _is_admin(request: web.Request) -> bool:
    """Whether the request holds the admin token (header, Bearer or session cookie); this
    also decides whether private fields (`PRIVATE_CLONE_FIELDS`) are shown."""
    return request.app[CONTEXT].guard.allows(request)


def ingress_path(request: web.Request) -> str:
    """The path prefix a proxy serves the app under (`X-Ingress-Path`), '' when none; a
    value that is not a plain absolute path is ignored, so it can only point at this site."""
    value = request.headers.get(INGRESS_HEADER, "").rstrip("/")
    if not _INGRESS_PATH.fullmatch(value) or {".", ".."} & set(value.split("/")):
        return ""
    return value


def _page(template: str) -> Handler:
    """The page; behind a proxy its relative links resolve under the proxy's prefix."""

    async def handler(request: web.Request) -> web.StreamResponse:
        prefix = ingress_path(request)
        base = f'<base href="{html.escape(prefix)}/">' if prefix else ""
        return web.Response(
            text=template.replace(BASE_MARK, base),
            content_type="text/html",
            headers={"Cache-Control": "no-store"},
        )

    return handler


# -- session --------------------------------------------------------------------------------


async def health(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    return web.json_response(
        {
            "status": "ok",
            "version": __version__,
            "voices": len(context.catalog.voices()),
            "clones": len(context.registry.list()),
            "jobs": context.jobs.status() if context.jobs else {},
        }
    )


async def session(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    return web.json_response(
        {
            "authenticated": _is_admin(request),
            "via_proxy": context.guard.via_trusted_proxy(request),  # no sign-in or -out
            "url_download": context.allow_url_download,
            "languages": list(context.registry.languages),
            "max_prompt_seconds": context.registry.limits.max_seconds,
            "transcriber": context.transcriber is not None,
            "transcriber_missing": context.transcriber_missing,
            "min_prompt_seconds": context.registry.limits.min_seconds,
            "lexicon": context.lexicon is not None,
            "lexicon_languages": list(context.lexicon.languages) if context.lexicon else [],
            "presets": context.presets is not None,
        }
    )


async def login(request: web.Request) -> web.Response:
    guard = request.app[CONTEXT].guard
    fields = await _fields(request)
    # No await from here on: the limit is checked and the failure counted in one step, so
    # guesses sent in parallel from one address cannot all slip past the limit.
    client = request.remote or ""
    wait = guard.login_retry_after(client)
    if wait > 0:
        response = _error(429, f"Too many wrong tokens; try again in {wait} s", "too-many-attempts")
        response.headers["Retry-After"] = str(wait)
        return response
    token = fields.get("token")
    if not isinstance(token, str) or not guard.token_matches(token):
        guard.limiter.failed(client)
        return _error(401, "That is not the admin token", "unauthorized")
    response = web.json_response({"authenticated": True})
    response.set_cookie(
        SESSION_COOKIE,
        guard.session_value(),
        max_age=guard.session_seconds,
        httponly=True,
        samesite="Strict",
        path=f"{ingress_path(request)}/",
        secure=request.secure,
    )
    return response


async def logout(request: web.Request) -> web.Response:
    response = web.json_response({"authenticated": False})
    response.del_cookie(SESSION_COOKIE, path=f"{ingress_path(request)}/")
    return response


# -- voices ---------------------------------------------------------------------------------


def _voice_json(
    request: web.Request, voice: Voice, clone: Optional[ClonedVoice], private: bool
) -> Dict[str, Any]:
    """A voice as the API shows it; a clone's `PRIVATE_CLONE_FIELDS` only when `private`."""
    data: Dict[str, Any] = {
        "name": voice.name,
        "engine": voice.engine.name,
        "languages": list(voice.spec.languages),
        "description": voice.spec.description,
        "installed": voice.spec.installed,
    }
    if voice.preset is not None:
        data["preset"] = voice.preset.to_dict()
    if clone is not None:
        prompt_url = f"{ingress_path(request)}/api/voices/{clone.name}/prompt"
        details = {**clone.to_dict(), "prompt_url": prompt_url}
        if not private:
            for field in PRIVATE_CLONE_FIELDS:
                details.pop(field, None)
        data["clone"] = details
    return data


async def list_voices(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    clones = {clone.name: clone for clone in context.registry.list()}
    private = _is_admin(request)
    voices = [
        _voice_json(request, voice, None if voice.preset else clones.get(voice.name), private)
        for voice in context.catalog.voices()
    ]
    return web.json_response({"voices": voices})


async def get_voice(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    name = request.match_info["name"]
    voice = next((v for v in context.catalog.voices() if v.name == name), None)
    if voice is None:
        return _error(404, f"No voice is called {name!r}", "not-found")
    clone = None
    if voice.preset is None:
        clone = next((c for c in context.registry.list() if c.name == name), None)
    return web.json_response(_voice_json(request, voice, clone, _is_admin(request)))


async def get_prompt(request: web.Request) -> web.StreamResponse:
    path = request.app[CONTEXT].registry.prompt_path(request.match_info["name"])
    return web.FileResponse(path, headers={"Content-Type": "audio/wav"})


async def register_voice(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    fields = await _fields(request)
    audio, source = await _audio_source(context, fields)
    transcript, language = fields.get("transcript"), fields.get("language")
    if not (isinstance(transcript, str) and transcript.strip()) and context.transcriber:
        heard = await _transcribe(context, audio)
        transcript, language = heard.text, language or _clone_language(context, heard)
    voice = await asyncio.to_thread(
        context.registry.register, fields.get("name"), transcript, language, audio, source
    )
    return web.json_response(voice.to_dict(), status=201)


async def transcribe(request: web.Request) -> web.Response:
    """What is said in a recording, and the clone language that fits what Whisper heard."""
    context = request.app[CONTEXT]
    if context.transcriber is None:
        return _error(501, f"Cannot transcribe: {context.transcriber_missing}", "no-transcriber")
    audio, _ = await _audio_source(context, await _fields(request))
    heard = await _transcribe(context, audio)
    return web.json_response(
        {
            "text": heard.text,
            "detected_language": heard.language,
            "language": _clone_language(context, heard),
        }
    )


async def _transcribe(context: AdminContext, audio: bytes) -> Transcript:
    assert context.transcriber is not None
    samples = await asyncio.to_thread(context.registry.prepare, audio)
    if context.pipeline is not None:  # the one pool that decides what runs when
        heard = await context.pipeline.scheduler.run(
            context.transcriber.transcribe, samples, PROMPT_RATE, client="admin"
        )
    else:
        heard = await asyncio.to_thread(context.transcriber.transcribe, samples, PROMPT_RATE)
    if not heard.text:
        raise RegistryError("No speech was recognized in the recording", "no-speech")
    return heard


def _clone_language(context: AdminContext, heard: Transcript) -> Optional[str]:
    """The first clone language of the detected one (`en` -> `en-US`), if clones speak it."""
    return context.registry.match_language(heard.language)


async def delete_voice(request: web.Request) -> web.Response:
    registry = request.app[CONTEXT].registry
    await asyncio.to_thread(registry.delete, request.match_info["name"])
    return web.json_response({"deleted": request.match_info["name"]})


async def preview_voice(request: web.Request) -> web.Response:
    """A test sentence (or the `text` given) in a voice, preset or blend, as WAV, by the
    Wyoming path; JSON `{"text"?, "speed"?}`, the speed times the voice's own."""
    context = request.app[CONTEXT]
    name = request.match_info["name"]
    try:
        voice = context.catalog.resolve(name)
    except VoiceNotFoundError as err:
        return _error(404, str(err), "not-found")
    if not voice.spec.installed or context.pipeline is None:
        return _error(
            409, f"Voice {name!r} cannot speak: {voice.spec.description}", "not-installed"
        )
    fields = await _fields(request) if request.can_read_body else {}
    try:
        speed = check_speed(fields.get("speed", 1.0))
    except PresetError as err:
        return _error(400, str(err), err.code)
    language = voice.spec.languages[0] if voice.spec.languages else ""
    text = fields.get("text") or PREVIEW_TEXT.get(language.split("-")[0], PREVIEW_TEXT[""])
    if not isinstance(text, str) or len(text) > MAX_PREVIEW_CHARS:
        return _error(
            400, f"text must be a string of at most {MAX_PREVIEW_CHARS} characters", "bad-request"
        )
    pieces = split_text(text, ClausePolicy(enabled=False))
    if not pieces:
        return _error(400, "Nothing to say: the text has no words", "empty-text")
    try:
        samples = await context.pipeline.speak_all(
            voice, pieces, client="admin", speed=context.pipeline.speed * speed
        )
    except SynthesisError as err:
        return _error(422, str(err), "synthesis-failed")
    wav = await asyncio.to_thread(wav_bytes, samples, voice.engine.sample_rate)
    return web.Response(body=wav, content_type="audio/wav")


async def clear_cache(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    prepared = context.registry.clear_caches()
    downloads = await asyncio.to_thread(context.url_cache.clear)
    return web.json_response({"prepared_prompts": prepared, "downloads": downloads})


# -- lexicon --------------------------------------------------------------------------------


def _lexicon(request: web.Request) -> Lexicon:
    lexicon = request.app[CONTEXT].lexicon
    if lexicon is None:
        raise LexiconError("This server has no pronunciation lexicon", "no-lexicon")
    return lexicon


async def list_lexicon(request: web.Request) -> web.Response:
    entries = _lexicon(request).entries()
    return web.json_response([entry.to_dict() for entry in entries])


async def put_lexicon_entry(request: web.Request) -> web.Response:
    """Add or replace how a word is said: `{"say": ...}` or `{"phonemes": ...}`."""
    lexicon = _lexicon(request)
    fields = await _fields(request)
    case_sensitive = fields.get("case_sensitive", False)
    if isinstance(case_sensitive, str):  # from a form
        case_sensitive = {"true": True, "on": True, "false": False, "": False}.get(
            case_sensitive.lower(), case_sensitive
        )
    entry = await asyncio.to_thread(
        lexicon.put,
        request.match_info["language"],
        request.match_info["word"],
        say=fields.get("say"),
        phonemes=fields.get("phonemes"),
        case_sensitive=case_sensitive,
    )
    return web.json_response(entry.to_dict())


async def delete_lexicon_entry(request: web.Request) -> web.Response:
    lexicon = _lexicon(request)
    entry = await asyncio.to_thread(
        lexicon.delete, request.match_info["language"], request.match_info["word"]
    )
    return web.json_response({"deleted": entry.to_dict()})


# -- presets --------------------------------------------------------------------------------


def _presets(request: web.Request) -> PresetStore:
    presets = request.app[CONTEXT].presets
    if presets is None:
        raise PresetError("This server keeps no voice presets", "no-presets")
    return presets


def _preset_json(request: web.Request, name: str) -> Dict[str, Any]:
    """A preset with what the voice list says of it (languages, whether it speaks)."""
    voice = request.app[CONTEXT].catalog.resolve(name)
    return _voice_json(request, voice, None, private=False)


async def list_presets(request: web.Request) -> web.Response:
    presets = _presets(request).list()
    return web.json_response({"presets": [_preset_json(request, p.name) for p in presets]})


async def get_preset(request: web.Request) -> web.Response:
    preset = _presets(request).get(request.match_info["name"])
    return web.json_response(_preset_json(request, preset.name))


async def create_preset(request: web.Request) -> web.Response:
    """A new preset: JSON `{"name", "voice", "speed"?, "description"?}`; 409 if it exists."""
    fields = await _fields(request)
    preset, _ = await asyncio.to_thread(
        _presets(request).put,
        fields.get("name"),
        fields.get("voice"),
        fields.get("speed"),
        fields.get("description"),
        replace=False,
    )
    return web.json_response(_preset_json(request, preset.name), status=201)


async def put_preset(request: web.Request) -> web.Response:
    """Create or replace the preset NAME: JSON `{"voice", "speed"?, "description"?}`."""
    fields = await _fields(request)
    preset, created = await asyncio.to_thread(
        _presets(request).put,
        request.match_info["name"],
        fields.get("voice"),
        fields.get("speed"),
        fields.get("description"),
    )
    return web.json_response(_preset_json(request, preset.name), status=201 if created else 200)


async def delete_preset(request: web.Request) -> web.Response:
    preset = await asyncio.to_thread(_presets(request).delete, request.match_info["name"])
    return web.json_response({"deleted": preset.name})


# -- request bodies -------------------------------------------------------------------------


async def _fields(request: web.Request) -> Dict[str, Any]:
    """Fields of the body, which must arrive within the context's `body_seconds`."""
    seconds = request.app[CONTEXT].body_seconds
    try:
        return await asyncio.wait_for(_read_fields(request), seconds)
    except asyncio.TimeoutError:
        raise web.HTTPRequestTimeout(
            reason=f"The request body took longer than {seconds:g} s"
        ) from None


async def _read_fields(request: web.Request) -> Dict[str, Any]:
    """Fields of a JSON body, a multipart form or a urlencoded form."""
    if request.content_type == "application/json":
        try:
            data = await request.json()
        except ValueError:
            raise RegistryError("The body is not valid JSON", "bad-request") from None
        if not isinstance(data, dict):
            raise RegistryError("The JSON body must be an object", "bad-request")
        return data
    if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.post()
        fields: Dict[str, Any] = {}
        for key, value in form.items():
            if isinstance(value, web.FileField):
                fields[key] = (value.filename, value.file.read())
            else:
                fields[key] = value
        return fields
    raise RegistryError("Send JSON or a form (multipart/form-data)", "bad-request")


async def _audio_source(context: AdminContext, fields: Dict[str, Any]) -> Tuple[bytes, str]:
    """The recording's bytes and where they came from: upload, base64 or URL."""
    upload = fields.get("audio")
    if isinstance(upload, tuple):
        filename, body = upload
        return body, f"upload:{filename or 'recording'}"
    encoded = fields.get("audio_base64")
    if isinstance(encoded, str) and encoded:
        if len(encoded) > context.registry.limits.max_bytes * 4 // 3 + 4:
            raise RegistryError("The audio is larger than the upload limit", "too-large")
        try:
            return base64.b64decode(encoded, validate=True), "base64"
        except (binascii.Error, ValueError):
            raise RegistryError("audio_base64 is not valid base64", "bad-request") from None
    url = fields.get("url")
    if isinstance(url, str) and url:
        if not context.allow_url_download:
            raise RegistryError(
                "Downloading from a URL is off; start the server with --allow-url-download",
                "url-download-off",
            )
        cached = await asyncio.to_thread(context.url_cache.get, url)
        if cached is None:
            cached = await fetch(url, context.url_policy)
            await asyncio.to_thread(context.url_cache.put, url, cached)
        return cached, f"url:{url}"
    raise RegistryError(
        "No recording: send a file as 'audio', base64 as 'audio_base64', or a 'url'",
        "no-audio",
    )
