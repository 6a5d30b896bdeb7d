"""The OpenAI-compatible speech API and the ZipVoice routes of the origin document.

`POST /v1/audio/speech` takes OpenAI's request (plus Kokoro-FastAPI's `stream`) and speaks it
through the one speech pipeline and scheduler that the Wyoming port uses, so the answers of
both doors are served earliest deadline first. A streamed answer starts when the first piece
of audio exists and sends each piece as soon as it is encoded; errors found before that are
JSON errors in OpenAI's shape. The `/v1/zipvoice/...` routes share the registry, its
validation and the URL guard with the admin API; prompts given as `url+...` or `base64+...`
are kept in a bounded cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial
from typing import (
    Any,
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Dict,
    Iterator,
    List,
    Optional,
    Tuple,
    Type,
    TypeVar,
)

import numpy as np
from aiohttp import web
from pydantic import BaseModel, ValidationError

from ..audio import resample, silent_answer
from ..connection import reset
from ..engines.base import SynthesisError
from ..engines.clones import CloneSettings, PromptAudio
from ..metrics import AnswerWatch
from ..pipeline import SpokenPiece
from ..registry import ClonedVoice
from ..scheduler import SchedulerBusy
from ..settings import ENCODE_SLICE_SECONDS, MAX_WHOLE_ANSWER_CHARS
from ..speech.pieces import client_text, resolve_voices, text_pieces
from ..speech.ssml import SsmlError
from ..text import Piece
from ..textwork import off_loop
from ..voices import Voice, VoiceNotFoundError
from . import schemas as s
from .apidoc import AUTH_KEY, AUTH_SPEECH, Operation
from .context import (
    CONTEXT,
    METRICS,
    AdminContext,
    ApiError,
    clear_caches,
    decode_base64,
    download,
    hear,
    may_see_private,
    read_fields,
    register,
)
from .encoder import FORMATS, AudioEncoder

_LOGGER = logging.getLogger(__name__)

MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts", "kokoro", "zipvoice")
ENGINE_OF_MODEL = {"kokoro": "kokoro", "zipvoice": "zipvoice"}  # else the voice's own engine
# OpenAI's voice names: the Kokoro voice of that name when installed, else the default voice.
OPENAI_VOICES = {
    "alloy": "af_alloy",
    "ash": "am_adam",
    "ballad": "bm_george",
    "coral": "af_heart",
    "echo": "am_echo",
    "fable": "bm_fable",
    "nova": "af_nova",
    "onyx": "am_onyx",
    "sage": "af_sarah",
    "shimmer": "af_sky",
    "verse": "am_michael",
}
PROMPT_SOURCES = ("url+", "base64+")
Model = TypeVar("Model", bound=BaseModel)


def operations() -> List[Operation]:
    """The /v1 routes, for the app's route table and its OpenAPI document."""
    audio = {200: tuple(dict.fromkeys(kind.content_type for kind in FORMATS.values()))}
    zipvoice = "zipvoice"
    return [
        Operation(
            "POST",
            "/v1/audio/speech",
            speech,
            "Speak a text (OpenAI's speech API)",
            "openai",
            body=s.SpeechRequest,
            responses=audio,
            auth=AUTH_SPEECH,
        ),
        Operation(
            "GET",
            "/v1/audio/voices",
            audio_voices,
            "The voices that can speak",
            "openai",
            responses={200: s.VoiceNames},
        ),
        Operation(
            "GET",
            "/v1/models",
            models,
            "The models a request may name",
            "openai",
            responses={200: s.ModelList},
        ),
        Operation(
            "POST",
            "/v1/zipvoice/audio/speech",
            zipvoice_speech,
            "Speak with a cloned voice",
            zipvoice,
            body=s.ZipVoiceSpeechRequest,
            responses=audio,
            auth=AUTH_SPEECH,
        ),
        Operation(
            "POST",
            "/v1/zipvoice/voices/register",
            zipvoice_register,
            "Register a reusable voice",
            zipvoice,
            body=s.VoiceRegistration,
            form=True,
            responses={201: s.ZipVoiceInfo},
            auth=AUTH_KEY,
        ),
        Operation(
            "GET",
            "/v1/zipvoice/voices",
            zipvoice_voices,
            "List registered voices",
            zipvoice,
            responses={200: s.ZipVoiceList},
        ),
        Operation(
            "GET",
            "/v1/zipvoice/voices/{name}",
            zipvoice_voice,
            "A registered voice",
            zipvoice,
            responses={200: s.ZipVoiceInfo},
        ),
        Operation(
            "DELETE",
            "/v1/zipvoice/voices/{name}",
            zipvoice_delete,
            "Delete a registered voice",
            zipvoice,
            responses={200: s.Deleted},
            auth=AUTH_KEY,
        ),
        Operation(
            "POST",
            "/v1/zipvoice/voices/cache/clear",
            zipvoice_clear_cache,
            "Clear the prompt caches",
            zipvoice,
            body_required=False,
            responses={200: s.CacheCleared},
            auth=AUTH_KEY,
        ),
    ]


# -- speech ---------------------------------------------------------------------------------


async def speech(request: web.Request) -> web.StreamResponse:
    context = request.app[CONTEXT]
    body = await _body(request, s.SpeechRequest)
    voice = _voice(context, body.voice, body.model)
    return await _speak(request, context, voice, body)


async def zipvoice_speech(request: web.Request) -> web.StreamResponse:
    """Speech in a registered clone, or in the voice of a prompt sent with the request.

    Everything cheap to check (the body, the model, the input and its SSML, the prompt's
    transcript) is checked before a prompt is fetched, decoded or transcribed.
    """
    context = request.app[CONTEXT]
    body = await _body(request, s.ZipVoiceSpeechRequest)
    _check_model(body.model, "zipvoice")
    clones = context.clones
    if clones is None or not clones.installed:
        reason = "ZipVoice is off" if clones is None else "the ZipVoice model is not ready"
        raise ApiError(400, f"Voice clones cannot speak: {reason}", "voice_not_installed", "voice")
    said = await _pieces(context, body.input, body.stream)
    settings = CloneSettings(body.num_steps, body.guidance_scale, body.remove_long_silence)
    if body.voice.startswith(PROMPT_SOURCES):
        prompt = await _prompt(context, body.voice, body.prompt_text)
        kind = body.voice.partition("+")[0]
        spec = clones.prompt_spec(kind)
        voice = Voice(spec, clones.tuned(settings, prompt))
    else:
        registered = _voice(context, body.voice, "zipvoice")  # a clone, or a preset of one
        voice = Voice(registered.spec, clones.tuned(settings), registered.preset)
    return await _speak(request, context, voice, body, body.max_duration, said)


async def _speak(
    request: web.Request,
    context: AdminContext,
    voice: Voice,
    body: s.SpeechRequest,
    max_seconds: Optional[float] = None,
    said: Optional[Tuple[List[Piece], Dict[str, Voice]]] = None,
) -> web.StreamResponse:
    """Speak `body.input` (or its pieces `said`, when already cut) with `voice`, encoded as
    `body.response_format`, streamed or whole; watched by the server's metrics."""
    with request.app[METRICS].answer("http", voice.engine.name) as watch:
        return await _speak_watched(request, context, voice, body, watch, max_seconds, said)


async def _speak_watched(
    request: web.Request,
    context: AdminContext,
    voice: Voice,
    body: s.SpeechRequest,
    watch: AnswerWatch,
    max_seconds: Optional[float],
    said: Optional[Tuple[List[Piece], Dict[str, Voice]]],
) -> web.StreamResponse:
    if context.pipeline is None:
        raise ApiError(503, "This server does not speak over HTTP", "unavailable")
    pieces, voices = said or await _pieces(context, body.input, body.stream)
    spoken = context.pipeline.speak(voice, pieces, client=object(), speed=body.speed, voices=voices)
    rate = voice.engine.sample_rate
    return await send_speech(
        request, context, spoken, rate, body.response_format, body.stream, max_seconds, watch=watch
    )


# What a door makes of each part's samples (at the answer's rate) before they are encoded:
# e.g. a dialogue's stereo placement of its turns.
Mix = Callable[[SpokenPiece, np.ndarray], np.ndarray]


async def send_speech(
    request: web.Request,
    context: AdminContext,
    spoken: AsyncGenerator[SpokenPiece, None],
    rate: int,
    response_format: str,
    stream: bool,
    max_seconds: Optional[float] = None,
    channels: int = 1,
    mix: Optional[Mix] = None,
    watch: Optional[AnswerWatch] = None,
) -> web.StreamResponse:
    """Encode the audio of `spoken` at `rate` as `response_format` (`channels` of it, made
    by `mix`) and send it, streamed or whole, told to `watch` (the server's metrics);
    errors before the first audio are JSON."""
    limit = None if max_seconds is None else int(max_seconds * rate)
    encoder = AudioEncoder(response_format, rate, streaming=stream, channels=channels)
    costly = encoder.format.costly
    # a lossy stream is encoded and sent a slice at a time, so that its first bytes need not
    # wait for a whole stretch (a sentence decoded whole) to be encoded
    step = int(ENCODE_SLICE_SECONDS * rate) if stream and costly else None
    response: Optional[web.StreamResponse] = None
    whole: List[bytes] = []
    produced = 0
    try:
        parts = contextlib.aclosing(_or_silence(spoken, rate, mix))
        async with contextlib.aclosing(spoken), parts as audio:
            async for samples in audio:
                if limit is not None:
                    samples = samples[: limit - produced]
                produced += len(samples)
                for part in _slices(samples, step):
                    if costly:
                        data = await asyncio.to_thread(encoder.encode, part)
                    else:
                        data = encoder.encode(part)
                    if stream:
                        if response is None:  # the headers leave with the first audio
                            response = await _start(request, response_format)
                        if watch is not None:
                            watch.sent(len(part) / rate)
                        await _send(request, response, data, context.write_seconds)
                    else:
                        whole.append(data)
                if (limit is not None and produced >= limit) or _gone(request):
                    break
    except (SynthesisError, SchedulerBusy) as err:
        return _failed(request, response, err)
    except ConnectionError:
        _LOGGER.debug("The client of %s went away", request.path)
        return response or web.Response(status=499)
    tail = await asyncio.to_thread(encoder.finish)
    if not stream:
        if watch is not None:
            watch.sent(produced / rate)
        content_type = FORMATS[response_format].content_type
        return web.Response(body=b"".join(whole) + tail, headers={"Content-Type": content_type})
    if response is None:  # not one part was sent (the client left at once)
        response = await _start(request, response_format)
    with contextlib.suppress(ConnectionError):
        await _send(request, response, tail, context.write_seconds)
        await response.write_eof()
    return response


async def _or_silence(
    spoken: AsyncIterator[SpokenPiece], rate: int, mix: Optional[Mix] = None
) -> AsyncGenerator[np.ndarray, None]:
    """The samples of each part at `rate` (made by `mix`); a moment of silence when there is
    nothing to say (only spaces, dots, symbols or emoji), so the answer is a file every
    decoder plays."""
    parts = 0
    async for part in spoken:
        parts += 1
        samples = resample(part.samples, part.rate, rate)
        yield samples if mix is None else mix(part, samples)
    if not parts:
        yield silent_answer(rate)


def _slices(samples: np.ndarray, step: Optional[int]) -> Iterator[np.ndarray]:
    """`samples` in slices of at most `step` (None: whole)."""
    if step is None or len(samples) <= step:
        yield samples
        return
    for start in range(0, len(samples), step):
        yield samples[start : start + step]


async def _send(
    request: web.Request, response: web.StreamResponse, data: bytes, seconds: float
) -> None:
    """Write `data`; a client that stops reading for `seconds` is dropped."""
    if not data:
        return
    try:
        await asyncio.wait_for(response.write(data), seconds)
    except asyncio.TimeoutError:
        _LOGGER.info("Dropping an HTTP speech client that stopped reading for %s s", seconds)
        if request.transport is not None:
            reset(request.transport)  # the kernel drops what it still holds for the client
        raise ConnectionResetError("the client stopped reading") from None


async def _start(request: web.Request, response_format: str) -> web.StreamResponse:
    """Send the headers of a streamed answer."""
    response = web.StreamResponse(
        headers={
            "Content-Type": FORMATS[response_format].content_type,
            "Cache-Control": "no-store",
        }
    )
    response.enable_chunked_encoding()
    await response.prepare(request)
    return response


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _failed(
    request: web.Request, response: Optional[web.StreamResponse], error: Exception
) -> web.StreamResponse:
    """An engine error or a full queue: a JSON error while nothing was sent (raised as
    `ApiError`), else the answer cut off (`_cut_off`)."""
    if response is None:
        busy = isinstance(error, SchedulerBusy)
        status, code = (503, "busy") if busy else (422, "synthesis_failed")
        raise ApiError(status, str(error), code) from error
    return _cut_off(request, response, error)


def _cut_off(
    request: web.Request, response: web.StreamResponse, error: Exception
) -> web.StreamResponse:
    """A failure after the answer began: the connection is dropped before the end of the
    chunked body, so the client sees an incomplete answer, never a short one that looks whole."""
    _LOGGER.warning("Speech over HTTP stopped: %s", error)
    code = "busy" if isinstance(error, SchedulerBusy) else "synthesis_failed"
    request.app[METRICS].error("http", code, str(error))
    if request.transport is not None:  # not a reset: the client keeps the audio it was sent
        request.transport.abort()
    return response


async def _pieces(
    context: AdminContext, text: str, streamed: bool
) -> Tuple[List[Piece], Dict[str, Voice]]:
    """The pieces of the input (plain or SSML), cut in a thread so that a long input never
    holds the event loop, and the voices its SSML names."""
    text = client_text(text)
    limit = context.max_text if streamed else min(context.max_text, MAX_WHOLE_ANSWER_CHARS)
    if len(text) > limit:
        message = f"The input is {len(text)} characters long; at most {limit} are spoken"
        if limit < context.max_text:  # an answer sent whole is held in memory to its end
            message += f" in an answer sent whole (stream: false), {context.max_text} streamed"
        raise ApiError(400, message, "input_too_long", "input")
    voices: Dict[str, Voice] = {}
    try:
        pieces = await off_loop(text_pieces, text, None, context.clause_policy)
    except SsmlError as err:
        raise ApiError(400, str(err), "invalid_ssml", "input") from None
    resolve_voices(pieces, partial(_voice, context, model="tts-1"), voices)
    return pieces, voices  # none (nothing to say): the answer is a moment of silence


def _check_model(model: str, engine: Optional[str] = None) -> None:
    if model not in MODELS:
        raise ApiError(
            400,
            f"Unknown model {model!r}; use one of: {', '.join(MODELS)}",
            "model_not_found",
            "model",
        )
    wanted = ENGINE_OF_MODEL.get(model)
    if engine is not None and wanted is not None and wanted != engine:
        raise ApiError(
            400, f"This route speaks with {engine}, not {model}", "model_mismatch", "model"
        )


def _voice(context: AdminContext, name: Optional[str], model: str) -> Voice:
    """The voice a request names (a name, blend, clone or OpenAI voice), checked against
    its model and whether it can speak."""
    _check_model(model)
    catalog = context.catalog
    try:
        if not name:
            voice = catalog.default()
        elif name.lower() in OPENAI_VOICES and name not in catalog.names():
            kokoro = OPENAI_VOICES[name.lower()]
            voice = catalog.resolve(kokoro) if kokoro in catalog.names() else catalog.default()
        else:
            voice = catalog.resolve(name)
    except VoiceNotFoundError as err:
        raise ApiError(400, str(err), "voice_not_found", "voice") from None
    wanted = ENGINE_OF_MODEL.get(model)
    if wanted is not None and voice.engine.name != wanted:
        raise ApiError(
            400,
            f"Voice {voice.name!r} is spoken by {voice.engine.name}, not by {model}",
            "model_mismatch",
            "voice",
        )
    if not voice.spec.installed:
        raise ApiError(
            400,
            f"Voice {voice.name!r} cannot speak: {voice.spec.description}",
            "voice_not_installed",
            "voice",
        )
    return voice


async def _prompt(context: AdminContext, source: str, transcript: Optional[str]) -> PromptAudio:
    """The prompt of a `url+...` or `base64+...` voice: from the cache, else fetched or
    decoded, validated like a registration, and transcribed when no text is given."""
    key = f"{source}\n{transcript or ''}"
    cached = context.prompt_cache.get(key)
    if cached is not None:
        return cached
    given = bool(transcript and transcript.strip())
    text = context.registry.check_transcript(transcript) if given else None
    kind, _, data = source.partition("+")
    if kind == "url":
        audio = await download(context, data)
    else:
        audio = decode_base64(context, data)
    samples = await asyncio.to_thread(context.registry.prepare, audio)
    if text is None:
        text = (await hear(context, samples)).text
    prompt = PromptAudio(samples, text)
    context.prompt_cache.put(key, prompt)
    return prompt


async def _body(request: web.Request, model: Type[Model]) -> Model:
    """The request's body, validated by `model`; a 400 in OpenAI's shape when it is not."""
    return _validated(model, await read_fields(request))


def _validated(model: Type[Model], fields: Dict[str, Any]) -> Model:
    try:
        return model.model_validate(fields)
    except ValidationError as err:
        first = err.errors()[0]
        param = ".".join(str(part) for part in first["loc"]) or None
        raise ApiError(400, f"{param}: {first['msg']}", "invalid_value", param) from None


# -- lists ----------------------------------------------------------------------------------


async def audio_voices(request: web.Request) -> web.Response:
    catalog = request.app[CONTEXT].catalog
    names = [voice.name for voice in catalog.voices() if voice.spec.installed]
    return web.json_response(s.VoiceNames(voices=names).model_dump())


async def models(request: web.Request) -> web.Response:
    listed = s.ModelList(data=[s.ModelInfo(id=name) for name in MODELS])
    return web.json_response(listed.model_dump())


# -- registered voices ----------------------------------------------------------------------


def _clone_info(context: AdminContext, clone: ClonedVoice, private: bool) -> s.ZipVoiceInfo:
    listed = next((v for v in context.catalog.voices() if v.name == clone.name), None)
    return s.ZipVoiceInfo(
        name=clone.name,
        language=clone.language,
        duration=clone.duration,
        sample_rate=clone.sample_rate,
        created=clone.created,
        installed=bool(listed and listed.spec.installed),
        transcription=clone.transcript if private else None,
    )


async def zipvoice_register(request: web.Request) -> web.Response:
    """The origin's form (`name`, `transcription`, `audio_file`), or base64 or a URL."""
    context = request.app[CONTEXT]
    fields = await read_fields(request)
    upload = fields.get("audio_file")
    form = _validated(
        s.VoiceRegistration,
        {**fields, "audio_file": upload[1] if isinstance(upload, tuple) else upload},
    )
    transcript = form.transcription
    clone = await register(
        context,
        {
            "name": form.name,
            "transcript": transcript,
            "language": form.language or ("en-US" if transcript else None),
            "audio": (upload[0] if isinstance(upload, tuple) else "audio_file", form.audio_file)
            if form.audio_file is not None
            else None,
            "audio_base64": form.audio_base64,
            "url": form.url,
        },
    )
    info = _clone_info(context, clone, private=True)
    return web.json_response(info.model_dump(), status=201)


async def zipvoice_voices(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    private = may_see_private(request)
    infos = [_clone_info(context, clone, private) for clone in context.registry.list()]
    return web.json_response(s.ZipVoiceList(voices=infos, total=len(infos)).model_dump())


async def zipvoice_voice(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    clone = context.registry.get(request.match_info["name"])
    return web.json_response(_clone_info(context, clone, may_see_private(request)).model_dump())


async def zipvoice_delete(request: web.Request) -> web.Response:
    registry = request.app[CONTEXT].registry
    name = request.match_info["name"]
    await asyncio.to_thread(registry.delete, name)
    return web.json_response(s.Deleted(deleted=name).model_dump())


async def zipvoice_clear_cache(request: web.Request) -> web.Response:
    return web.json_response(await clear_caches(request.app[CONTEXT]))
