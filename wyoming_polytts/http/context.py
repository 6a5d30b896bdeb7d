"""What every route of the web app shares: its context, error answers, and reading bodies
and recordings (upload, base64 or URL) the same way for the admin API and the /v1 routes."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

import numpy as np
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ..background import Supervisor
from ..engines.clones import Cloner
from ..lexicon import Lexicon
from ..metrics import Metrics
from ..pipeline import SpeechPipeline
from ..presets import PresetStore
from ..registry import PROMPT_RATE, ClonedVoice, RegistryError, VoiceRegistry
from ..settings import MAX_TEXT_CHARS
from ..text import ClausePolicy
from ..transcriber import Transcriber, Transcript
from ..voices import VoiceCatalog
from .auth import Access, Guard, TooManyAttempts
from .download import UrlCache, UrlPolicy, fetch
from .prompts import PromptCache

_LOGGER = logging.getLogger(__name__)


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
    clones: Optional[Cloner] = None  # speaks URL and base64 prompts (/v1/zipvoice)
    prompt_cache: PromptCache = field(default_factory=PromptCache)  # those prompts, prepared
    clause_policy: ClausePolicy = field(default_factory=ClausePolicy)  # as on the Wyoming port
    max_text: int = MAX_TEXT_CHARS  # longest text of one speech request (--max-text)
    write_seconds: float = 30.0  # a speech client that stops reading this long is dropped
    metrics_private: bool = False  # /metrics and /api/status need a secret (--metrics-private)


OPENAI_PATHS = ("/v1/", "/dev/")  # routes whose errors take OpenAI's shape
CONTEXT = web.AppKey("polytts", AdminContext)
METRICS = web.AppKey("metrics", Metrics)  # the server's metrics (`metrics.Metrics.of`)


class ApiError(Exception):
    """A request a route refuses: HTTP status, message, stable code, and the field at fault."""

    def __init__(self, status: int, message: str, code: str, param: Optional[str] = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param


_OPENAI_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


def error_response(
    request: web.Request, status: int, message: str, code: str, param: Optional[str] = None
) -> web.Response:
    """An error as its route family writes errors: OpenAI's shape under /v1, else ours;
    counted in the server's metrics when the request found a route (not a browser's
    favicon or a scanner's guess)."""
    metrics = request.app.get(METRICS)
    if metrics is not None and request.match_info.route.resource is not None:
        metrics.error(error_door(request.path), code, message, status)
    if request.path.startswith(OPENAI_PATHS):
        kind = _OPENAI_TYPES.get(status, "server_error" if status >= 500 else "")
        body: Dict[str, Any] = {
            "error": {
                "message": message,
                "type": kind or "invalid_request_error",
                "param": param,
                "code": code,
            }
        }
        return web.json_response(body, status=status)
    return web.json_response({"error": message, "code": code}, status=status)


def error_door(path: str) -> str:
    """Which door an HTTP error is counted at: `http` (/v1, /dev), `preview`, else `admin`."""
    if path.startswith(OPENAI_PATHS):
        return "http"
    if path.startswith("/api/voices/") and path.endswith("/preview"):
        return "preview"
    return "admin"


def too_many_attempts(request: web.Request, refusal: TooManyAttempts) -> web.Response:
    """429 with `Retry-After`, for an address locked out after too many wrong secrets."""
    code = "rate_limit_exceeded" if request.path.startswith(OPENAI_PATHS) else "too-many-attempts"
    response = error_response(request, 429, str(refusal), code)
    response.headers["Retry-After"] = str(refusal.retry_after)
    return response


def access(request: web.Request) -> Access:
    """What the request's secrets prove (checked once per request, see `Guard.access`);
    raises `TooManyAttempts` for a locked-out address that presents a secret."""
    return request.app[CONTEXT].guard.access(request)


def may_see_private(request: web.Request) -> bool:
    """The one rule for private reads under /api and /v1 (a clone's transcript, source and
    prompt recording): the admin token, the trusted proxy, or an API key."""
    return access(request).private


# -- request bodies -------------------------------------------------------------------------


async def read_fields(request: web.Request) -> Dict[str, Any]:
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
        try:
            form = await request.post()
        except (HttpProcessingError, ValueError) as err:  # a malformed form
            raise RegistryError(f"The form cannot be read: {err}", "bad-request") from None
        fields: Dict[str, Any] = {}
        for key, value in form.items():
            if isinstance(value, web.FileField):
                fields[key] = (value.filename, value.file.read())
            else:
                fields[key] = value
        return fields
    raise RegistryError("Send JSON or a form (multipart/form-data)", "bad-request")


async def audio_source(context: AdminContext, fields: Dict[str, Any]) -> Tuple[bytes, str]:
    """The recording's bytes and where they came from: upload, base64 or URL."""
    upload = fields.get("audio")
    if isinstance(upload, tuple):
        filename, body = upload
        return body, f"upload:{filename or 'recording'}"
    encoded = fields.get("audio_base64")
    if isinstance(encoded, str) and encoded:
        return decode_base64(context, encoded), "base64"
    url = fields.get("url")
    if isinstance(url, str) and url:
        return await download(context, url), f"url:{url}"
    raise RegistryError(
        "No recording: send a file as 'audio', base64 as 'audio_base64', or a 'url'",
        "no-audio",
    )


def decode_base64(context: AdminContext, encoded: str) -> bytes:
    """Base64 audio, within the upload limit."""
    if len(encoded) > context.registry.limits.max_bytes * 4 // 3 + 4:
        raise RegistryError("The audio is larger than the upload limit", "too-large")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise RegistryError("The audio is not valid base64", "bad-request") from None


async def download(context: AdminContext, url: str) -> bytes:
    """A recording from a URL (the download cache first), if downloads are allowed."""
    if not context.allow_url_download:
        raise RegistryError(
            "Downloading from a URL is off; start the server with --allow-url-download",
            "url-download-off",
        )
    cached = await asyncio.to_thread(context.url_cache.get, url)
    if cached is None:
        cached = await fetch(url, context.url_policy)
        await asyncio.to_thread(context.url_cache.put, url, cached)
    return cached


async def transcribe(context: AdminContext, audio: bytes) -> Transcript:
    """What Whisper hears in a recording, run by the shared scheduler."""
    return await hear(context, await asyncio.to_thread(context.registry.prepare, audio))


async def hear(context: AdminContext, samples: np.ndarray) -> Transcript:
    """What Whisper hears in prepared prompt samples (`PROMPT_RATE`)."""
    if context.transcriber is None:
        raise RegistryError(
            f"Cannot transcribe: {context.transcriber_missing}; send the transcript",
            "no-transcriber",
        )
    if context.pipeline is not None:  # the one pool that decides what runs when
        heard = await context.pipeline.scheduler.run(
            context.transcriber.transcribe, samples, PROMPT_RATE, client="admin"
        )
    else:
        heard = await asyncio.to_thread(context.transcriber.transcribe, samples, PROMPT_RATE)
    if not heard.text:
        raise RegistryError("No speech was recognized in the recording", "no-speech")
    return heard


def clone_language(context: AdminContext, heard: Transcript) -> Optional[str]:
    """The first clone language of the detected one (`en` -> `en-US`), if clones speak it."""
    return context.registry.match_language(heard.language)


async def register(context: AdminContext, fields: Dict[str, Any]) -> ClonedVoice:
    """Register a clone from a body's fields (`name`, `transcript`, `language`, a recording);
    without a transcript, Whisper writes it when it is there."""
    audio, source = await audio_source(context, fields)
    transcript, language = fields.get("transcript"), fields.get("language")
    if not (isinstance(transcript, str) and transcript.strip()) and context.transcriber:
        heard = await transcribe(context, audio)
        transcript, language = heard.text, language or clone_language(context, heard)
    return await asyncio.to_thread(
        context.registry.register, fields.get("name"), transcript, language, audio, source
    )


async def clear_caches(context: AdminContext) -> Dict[str, int]:
    """Forget every prepared prompt and downloaded recording; how many of each."""
    downloads = await asyncio.to_thread(context.url_cache.clear)
    return {
        "prepared_prompts": context.registry.clear_caches(),
        "downloads": downloads,
        "url_and_base64_prompts": context.prompt_cache.clear(),
    }
