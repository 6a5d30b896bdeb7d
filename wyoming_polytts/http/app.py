"""The web app: the admin page and its JSON API under /api (voices, presets, lexicon), the
OpenAI-style speech API under /v1 (`openai.py`), and the OpenAPI document of every route
with its docs page.

The pages work behind a reverse proxy that serves them under a path prefix (Home Assistant's
ingress): every link in them is relative, and the prefix the proxy names in `X-Ingress-Path`
goes into the page's base and into the URLs the API hands out.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import html
import importlib.resources
import logging
import re
from pathlib import Path
from typing import Any, AsyncIterator, Dict, List, Optional

from aiohttp import web

from .. import __version__
from ..audio import wav_bytes
from ..captions import whole_with_words
from ..engines.base import SynthesisError
from ..fileio import LockTimeout
from ..lexicon import Lexicon, LexiconError
from ..metrics import Metrics
from ..presets import PresetError, PresetStore, check_speed
from ..registry import ClonedVoice, RegistryError, VoiceNotFound
from ..scheduler import SchedulerBusy
from ..text import ClausePolicy, split_text
from ..voices import Voice, VoiceNotFoundError
from . import captions, dialogue, encoder, openai, status
from . import schemas as s
from .apidoc import (
    AUTH_ADMIN,
    AUTH_KEY,
    AUTH_SPEECH,
    DOCS_PAGE,
    Answer,
    Handler,
    Operation,
    openapi_document,
    swagger_ui_folder,
)
from .auth import ACCESS, SESSION_COOKIE, TooManyAttempts
from .context import (
    CONTEXT,
    METRICS,
    OPENAI_PATHS,
    AdminContext,
    ApiError,
    access,
    audio_source,
    clear_caches,
    clone_language,
    error_response,
    may_see_private,
    read_fields,
    register,
    too_many_attempts,
)
from .context import (
    transcribe as transcribe_audio,
)
from .download import DownloadError

__all__ = ["CONTEXT", "AdminContext", "create_app"]

_LOGGER = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OPEN_ROUTES = frozenset({"/api/login"})  # state-changing routes that need no token
PRIVATE_READS = frozenset({"/api/voices/{name}/prompt"})  # safe routes that are private
PRIVATE_CLONE_FIELDS = ("transcript", "source", "prompt_url")  # shown as private reads are
_STATUS_BY_CODE = {
    "not-found": 404,
    "name-taken": 409,
    "in-use": 409,
    "not-installed": 409,
    "too-large": 413,
    "no-lexicon": 501,
    "no-transcriber": 501,
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
OPERATIONS = web.AppKey("operations", list)
DOCUMENT = web.AppKey("openapi", dict)


def create_app(context: AdminContext) -> web.Application:
    """The aiohttp application: every route of `operations()`, the page and its files."""
    max_body = context.registry.limits.max_bytes * 4 // 3 + 64 * 1024  # base64 and form fields
    app = web.Application(
        middlewares=[_drop_foreign_session, _errors_as_json, _require_token],
        client_max_size=max_body,
    )
    app[CONTEXT] = context
    app[METRICS] = _metrics(context)
    app.cleanup_ctx.append(_load_encoder)
    table = operations()
    app[OPERATIONS] = table
    app[DOCUMENT] = api_document(table)
    for operation in table:
        if operation.method == "GET":  # and HEAD
            app.router.add_get(operation.path, operation.handler)
        else:
            app.router.add_route(operation.method, operation.path, operation.handler)
    static = Path(str(importlib.resources.files("wyoming_polytts.http") / "static"))
    app.router.add_static("/static/", static)
    swagger = swagger_ui_folder()
    if swagger is not None:
        app.router.add_static("/docs/static/", swagger)
    return app


def _metrics(context: AdminContext) -> Metrics:
    """The server's metrics (those of the scheduler it speaks through), reading readiness
    where /api/health reads it."""
    metrics = Metrics.of(context.pipeline.scheduler) if context.pipeline else Metrics()
    metrics.follow_readiness(lambda: context.jobs.status() if context.jobs else {})
    return metrics


async def _load_encoder(app: web.Application) -> AsyncIterator[None]:
    """PyAV is imported in a thread while the app starts serving (`encoder.load`)."""
    loading = asyncio.ensure_future(asyncio.to_thread(encoder.load))
    yield
    await loading


def operations() -> List[Operation]:
    """Every route of the app, as the OpenAPI document describes it."""
    admin, json_list = "admin", s.json_object_list()
    return [
        Operation("GET", "/", page, "The admin page", admin, responses={200: "text/html"}),
        Operation(
            "GET",
            "/api/health",
            health,
            "Health and start-up jobs",
            admin,
            responses={200: s.JsonObject},
        ),
        Operation(
            "GET",
            "/api/session",
            session,
            "What the page may show and do",
            admin,
            responses={200: s.JsonObject},
        ),
        Operation(
            "POST",
            "/api/login",
            login,
            "Sign in with the admin token (sets a cookie)",
            admin,
            body=s.Login,
            form=True,
            responses={200: s.Authenticated},
        ),
        Operation(
            "POST",
            "/api/logout",
            logout,
            "Sign out",
            admin,
            body_required=False,
            responses={200: s.Authenticated},
            auth=AUTH_ADMIN,
        ),
        Operation(
            "GET",
            "/api/voices",
            list_voices,
            "Every voice, clones included",
            admin,
            responses={200: s.JsonObject},
        ),
        Operation(
            "POST",
            "/api/voices",
            register_voice,
            "Register a voice clone",
            admin,
            body=s.AdminVoiceForm,
            form=True,
            responses={201: s.ClonedVoiceInfo},
            auth=AUTH_ADMIN,
        ),
        Operation(
            "GET",
            "/api/voices/{name}",
            get_voice,
            "One voice",
            admin,
            responses={200: s.JsonObject},
        ),
        Operation(
            "DELETE",
            "/api/voices/{name}",
            delete_voice,
            "Delete a voice clone",
            admin,
            responses={200: s.Deleted},
            auth=AUTH_ADMIN,
        ),
        Operation(
            "GET",
            "/api/voices/{name}/prompt",
            get_prompt,
            "A clone's prompt recording",
            admin,
            responses={200: "audio/wav"},
            auth=AUTH_ADMIN,
        ),
        Operation(
            "POST",
            "/api/voices/{name}/preview",
            preview_voice,
            "A test sentence in a voice, preset or blend",
            admin,
            body=s.Preview,
            body_required=False,
            responses={200: "audio/wav"},
            auth=AUTH_ADMIN,
            description="With words: true, JSON as /dev/captioned_speech answers (the WAV in "
            "base64, and when each word is said).",
        ),
        Operation(
            "POST",
            "/api/cache/clear",
            clear_cache,
            "Forget prepared prompts and downloads",
            admin,
            body_required=False,
            responses={200: s.CacheCleared},
            auth=AUTH_ADMIN,
        ),
        Operation(
            "POST",
            "/api/transcribe",
            transcribe,
            "What is said in a recording",
            admin,
            body=s.AdminVoiceForm,
            form=True,
            responses={200: s.JsonObject},
            auth=AUTH_ADMIN,
        ),
        Operation(
            "GET",
            "/api/lexicon",
            list_lexicon,
            "The pronunciation lexicon",
            admin,
            responses={200: json_list},
        ),
        Operation(
            "PUT",
            "/api/lexicon/{language}/{word}",
            put_lexicon_entry,
            "Say a word this way",
            admin,
            body=s.LexiconChange,
            responses={200: s.JsonObject},
            auth=AUTH_ADMIN,
        ),
        Operation(
            "DELETE",
            "/api/lexicon/{language}/{word}",
            delete_lexicon_entry,
            "Forget how a word is said",
            admin,
            responses={200: s.JsonObject},
            auth=AUTH_ADMIN,
        ),
        Operation(
            "GET",
            "/api/presets",
            list_presets,
            "Every voice preset",
            admin,
            responses={200: s.JsonObject},
        ),
        Operation(
            "POST",
            "/api/presets",
            create_preset,
            "Save a new voice preset",
            admin,
            body=s.NewPreset,
            responses={201: s.JsonObject},
            auth=AUTH_ADMIN,
        ),
        Operation(
            "GET",
            "/api/presets/{name}",
            get_preset,
            "One voice preset",
            admin,
            responses={200: s.JsonObject},
        ),
        Operation(
            "PUT",
            "/api/presets/{name}",
            put_preset,
            "Save a voice preset, new or replacing one",
            admin,
            body=s.PresetChange,
            responses={200: s.JsonObject, 201: s.JsonObject},
            auth=AUTH_ADMIN,
        ),
        Operation(
            "DELETE",
            "/api/presets/{name}",
            delete_preset,
            "Delete a voice preset",
            admin,
            responses={200: s.Deleted},
            auth=AUTH_ADMIN,
        ),
        *openai.operations(),
        *captions.operations(),
        *status.operations(),
        *dialogue.operations(),
        Operation(
            "GET",
            "/openapi.json",
            openapi_json,
            "This document",
            "docs",
            responses={200: s.JsonObject},
        ),
        Operation(
            "GET",
            "/docs",
            docs_page,
            "The API's docs page (Swagger UI)",
            "docs",
            responses={200: "text/html"},
        ),
    ]


_ERRORS: Dict[str, Answer] = {"/v1/": s.OpenAIError, "/dev/": s.OpenAIError, "/api/": s.AdminError}


def api_document(table: Optional[List[Operation]] = None) -> Dict[str, Any]:
    """The OpenAPI document of the app's routes."""
    return openapi_document(table or operations(), "wyoming-polytts", __version__, _ERRORS)


@web.middleware
async def _drop_foreign_session(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A session cookie this server did not sign (a guess, or one from before the token
    changed) is deleted by the answer that found it, so a browser presents it once, not
    with every request: each presentation counts as a wrong secret."""
    response = await handler(request)
    checked = request.get(ACCESS)
    if (
        checked is not None
        and checked.foreign_session
        and not response.prepared
        and SESSION_COOKIE not in response.cookies
    ):
        response.del_cookie(SESSION_COOKIE, path=f"{ingress_path(request)}/")
    return response


@web.middleware
async def _errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes a JSON error with a fitting status: `{"error": ..., "code": ...}`
    under /api, OpenAI's `{"error": {"message": ..., "type": ..., ...}}` under /v1."""
    try:
        return await handler(request)
    except TooManyAttempts as err:
        return too_many_attempts(request, err)
    except ApiError as err:
        return error_response(request, err.status, err.message, err.code, err.param)
    except (RegistryError, LexiconError, PresetError) as err:
        return error_response(request, _STATUS_BY_CODE.get(err.code, 400), str(err), err.code)
    except DownloadError as err:
        return error_response(request, 400, str(err), "download-failed")
    except (SchedulerBusy, LockTimeout) as err:  # a shared file another server holds locked
        return error_response(request, 503, str(err), "busy")
    except web.HTTPRequestEntityTooLarge:
        return error_response(request, 413, "The request is too large", "too-large")
    except web.HTTPException as err:
        if err.status < 400:
            raise
        return error_response(request, err.status, err.reason, "http-error")
    except Exception:  # noqa: BLE001 - the server outlives one bad request
        _LOGGER.exception("Request %s %s failed", request.method, request.path)
        return error_response(request, 500, "Internal error; see the server log", "internal")


@web.middleware
async def _require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Changes and private reads need a secret; changes may not come from elsewhere.

    Which routes are open or private is data: `SAFE_METHODS`, `OPEN_ROUTES`, `PRIVATE_READS`
    (and `status.ROUTES` with `--metrics-private`), and the `auth` of the /v1 operations:
    speech needs an API key only when the server has keys; changes through /v1 take an API
    key as well as the admin token; private reads (`may_see_private`) take either. Secrets
    are checked only where a rule asks for one, so a request to an open route is never
    counted nor refused by the limiter.
    """
    route = _route_of(request)
    auth = _auth_of(request, route)
    guard = request.app[CONTEXT].guard
    if auth == AUTH_SPEECH:
        proven = access(request) if guard.has_api_keys else None
        if proven is not None and not (proven.api_key or proven.admin):
            return _unauthorized(request, "This needs an API key: Authorization: Bearer KEY")
        return await handler(request)
    if request.method in SAFE_METHODS:
        private = route in PRIVATE_READS or (
            route in status.ROUTES and request.app[CONTEXT].metrics_private
        )
        if private and not may_see_private(request):
            return _unauthorized(request, "This needs the admin token or an API key")
        return await handler(request)
    if route in OPEN_ROUTES:
        return await handler(request)
    if guard.via_trusted_proxy(request):
        # Home Assistant checked its user; its proxy forwards another origin than its host.
        return await handler(request)
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        return error_response(
            request, 403, "Requests from other sites are not accepted", "cross-origin"
        )
    proven = access(request)
    if not (proven.admin or (auth == AUTH_KEY and proven.api_key)):
        needed = "the admin token or an API key" if auth == AUTH_KEY else "the admin token"
        return _unauthorized(request, f"This needs {needed}")
    return await handler(request)


def _unauthorized(request: web.Request, message: str) -> web.Response:
    code = "invalid_api_key" if request.path.startswith(OPENAI_PATHS) else "unauthorized"
    return error_response(request, 401, message, code)


def _auth_of(request: web.Request, route: str) -> Optional[str]:
    """The `auth` of the operation serving `route`, if the table knows it."""
    for operation in request.app[OPERATIONS]:
        if operation.path == route and operation.method == request.method:
            return operation.auth
    return None


def _route_of(request: web.Request) -> str:
    """The route's pattern (`/api/voices/{name}`), so rules name routes, not paths."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else request.path


def ingress_path(request: web.Request) -> str:
    """The path prefix a proxy serves the app under (`X-Ingress-Path`), '' when none; a
    value that is not a plain absolute path is ignored, so it can only point at this site."""
    value = request.headers.get(INGRESS_HEADER, "").rstrip("/")
    if not _INGRESS_PATH.fullmatch(value) or {".", ".."} & set(value.split("/")):
        return ""
    return value


@functools.cache
def _page_template() -> str:
    path = importlib.resources.files("wyoming_polytts.http") / "static" / "index.html"
    return path.read_text(encoding="utf-8")


async def page(request: web.Request) -> web.StreamResponse:
    """The page; behind a proxy its relative links resolve under the proxy's prefix."""
    prefix = ingress_path(request)
    base = f'<base href="{html.escape(prefix)}/">' if prefix else ""
    return web.Response(
        text=_page_template().replace(BASE_MARK, base),
        content_type="text/html",
        headers={"Cache-Control": "no-store"},
    )


async def openapi_json(request: web.Request) -> web.Response:
    """The document; behind a proxy, its routes are served under the proxy's prefix."""
    prefix = ingress_path(request)
    document = request.app[DOCUMENT]
    return web.json_response({**document, "servers": [{"url": prefix}]} if prefix else document)


async def docs_page(request: web.Request) -> web.Response:
    if swagger_ui_folder() is None:
        return error_response(
            request, 501, "The docs page needs the swagger-ui-bundle package", "no-docs"
        )
    text = DOCS_PAGE.format(title="wyoming-polytts", prefix=html.escape(ingress_path(request)))
    return web.Response(text=text, content_type="text/html")


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
    proven = access(request)
    return web.json_response(
        {
            "authenticated": proven.admin,
            "via_proxy": proven.via_proxy,  # no sign-in or -out
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
    fields = await read_fields(request)
    if not guard.sign_in(request, fields.get("token")):  # 429 when locked out
        return error_response(request, 401, "That is not the admin token", "unauthorized")
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
    private = may_see_private(request)
    voices = [
        _voice_json(request, voice, None if voice.preset else clones.get(voice.name), private)
        for voice in context.catalog.voices()
    ]
    return web.json_response({"voices": voices})


def _listed(context: AdminContext, name: str) -> Optional[Voice]:
    """The voice `name` of the list; where it is not there, after the data dir is read again
    (another server sharing it may have saved it a moment ago)."""
    voice = next((v for v in context.catalog.voices() if v.name == name), None)
    if voice is None and context.catalog.reread():
        voice = next((v for v in context.catalog.voices() if v.name == name), None)
    return voice


async def get_voice(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    name = request.match_info["name"]
    voice = _listed(context, name)
    if voice is None:
        return error_response(request, 404, f"No voice is called {name!r}", "not-found")
    clone = None
    if voice.preset is None:
        clone = next((c for c in context.registry.list() if c.name == name), None)
    return web.json_response(_voice_json(request, voice, clone, may_see_private(request)))


async def get_prompt(request: web.Request) -> web.StreamResponse:
    context, name = request.app[CONTEXT], request.match_info["name"]
    try:
        path = context.registry.prompt_path(name)
    except VoiceNotFound:
        if not context.catalog.reread():  # another server's clone of a moment ago?
            raise
        path = context.registry.prompt_path(name)
    return web.FileResponse(path, headers={"Content-Type": "audio/wav"})


async def register_voice(request: web.Request) -> web.Response:
    voice = await register(request.app[CONTEXT], await read_fields(request))
    return web.json_response(voice.to_dict(), status=201)


async def transcribe(request: web.Request) -> web.Response:
    """What is said in a recording, and the clone language that fits what Whisper heard."""
    context = request.app[CONTEXT]
    if context.transcriber is None:
        return error_response(
            request, 501, f"Cannot transcribe: {context.transcriber_missing}", "no-transcriber"
        )
    audio, _ = await audio_source(context, await read_fields(request))
    heard = await transcribe_audio(context, audio)
    return web.json_response(
        {
            "text": heard.text,
            "detected_language": heard.language,
            "language": clone_language(context, heard),
        }
    )


async def delete_voice(request: web.Request) -> web.Response:
    registry = request.app[CONTEXT].registry
    await asyncio.to_thread(registry.delete, request.match_info["name"])
    return web.json_response({"deleted": request.match_info["name"]})


async def preview_voice(request: web.Request) -> web.Response:
    """A test sentence (or the `text` given) in a voice, preset or blend, as WAV, by the
    Wyoming path; JSON `{"text"?, "speed"?, "words"?}`, the speed times the voice's own.
    With `"words": true`, the answer is `/dev/captioned_speech`'s JSON: the WAV in base64
    and each word's times."""
    context = request.app[CONTEXT]
    name = request.match_info["name"]
    try:
        voice = context.catalog.resolve(name)
    except VoiceNotFoundError as err:
        return error_response(request, 404, str(err), "not-found")
    if not voice.spec.installed or context.pipeline is None:
        return error_response(
            request, 409, f"Voice {name!r} cannot speak: {voice.spec.description}", "not-installed"
        )
    fields = await read_fields(request) if request.can_read_body else {}
    try:
        speed = check_speed(fields.get("speed", 1.0))
    except PresetError as err:
        return error_response(request, 400, str(err), err.code)
    language = voice.spec.languages[0] if voice.spec.languages else ""
    text = fields.get("text") or PREVIEW_TEXT.get(language.split("-")[0], PREVIEW_TEXT[""])
    if not isinstance(text, str) or len(text) > MAX_PREVIEW_CHARS:
        return error_response(
            request,
            400,
            f"text must be a string of at most {MAX_PREVIEW_CHARS} characters",
            "bad-request",
        )
    pieces = split_text(text, ClausePolicy(enabled=False))
    if not pieces:
        return error_response(request, 400, "Nothing to say: the text has no words", "empty-text")
    rate = voice.engine.sample_rate
    spoken = context.pipeline.speak(
        voice, pieces, client="admin", speed=context.pipeline.speed * speed
    )
    try:
        with request.app[METRICS].answer("preview", voice.engine.name) as watch:
            async with contextlib.aclosing(spoken):
                samples, words = await whole_with_words(spoken, rate)
            watch.sent(samples.size / rate)
    except SynthesisError as err:
        return error_response(request, 422, str(err), "synthesis-failed")
    wav = await asyncio.to_thread(wav_bytes, samples, rate)
    if fields.get("words") is True:  # the page's Listen: the words, to show as they are said
        return web.json_response(
            {
                "audio": base64.b64encode(wav).decode("ascii"),
                "audio_format": "audio/wav",
                "timestamps": [word.to_dict() for word in words],
            }
        )
    return web.Response(body=wav, content_type="audio/wav")


async def clear_cache(request: web.Request) -> web.Response:
    return web.json_response(await clear_caches(request.app[CONTEXT]))


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
    fields = await read_fields(request)
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
    fields = await read_fields(request)
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
    fields = await read_fields(request)
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
