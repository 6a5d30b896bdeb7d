"""Speech with word timings: Kokoro-FastAPI's `POST /dev/captioned_speech`, and captions.

The request is `/v1/audio/speech`'s (Kokoro-FastAPI's fields it does not know are ignored).
The answer is Kokoro-FastAPI's: `{audio, audio_format, timestamps: [{word, start_time,
end_time}]}` with the audio as base64. Streamed (`stream`, its default), it is one such JSON
object per line (NDJSON) as the audio is made, each with the encoded audio of that stretch and
the words whose audio ends in it: the decoded audio of all lines joined is the whole file. A
`response_format` of `vtt` or `srt` answers the captions alone, as a file.

Kokoro voices time every word from the durations the model predicts; voice clones (ZipVoice)
predict none, so their words have no timings and are left out.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from typing import AsyncGenerator, Callable, List, Optional

import numpy as np
from aiohttp import web

from ..audio import resample, silent_answer
from ..captions import AnswerClock, TimedWord, cues, srt, webvtt
from ..engines.base import SynthesisError
from ..metrics import AnswerWatch
from ..pipeline import SpokenPiece
from ..scheduler import SchedulerBusy
from . import schemas as s
from .apidoc import AUTH_SPEECH, Operation
from .context import CONTEXT, METRICS, ApiError
from .encoder import FORMATS, AudioEncoder
from .openai import Mix, _body, _failed, _gone, _pieces, _send, _voice

_LOGGER = logging.getLogger(__name__)

CAPTION_TYPES = {"vtt": "text/vtt; charset=utf-8", "srt": "application/x-subrip; charset=utf-8"}
NDJSON = "application/x-ndjson"


def operations() -> List[Operation]:
    """The /dev routes, for the app's route table and its OpenAPI document."""
    return [
        Operation(
            "POST",
            "/dev/captioned_speech",
            captioned_speech,
            "Speak a text with the time of each word (Kokoro-FastAPI's route)",
            "openai",
            body=s.CaptionedSpeechRequest,
            responses={200: s.CaptionedSpeech},
            auth=AUTH_SPEECH,
            description="Streamed (the default): one JSON object per line "
            "(application/x-ndjson). response_format vtt or srt: the captions as a file.",
        )
    ]


async def captioned_speech(request: web.Request) -> web.StreamResponse:
    """Speak a text and tell when each word is spoken (Kokoro-FastAPI's route)."""
    context = request.app[CONTEXT]
    if context.pipeline is None:
        raise ApiError(503, "This server does not speak over HTTP", "unavailable")
    body = await _body(request, s.CaptionedSpeechRequest)
    voice = _voice(context, body.voice, body.model)
    captions = body.response_format in CAPTION_TYPES
    pieces, voices = await _pieces(context, body.input, body.stream and not captions)
    spoken = context.pipeline.speak(voice, pieces, client=object(), speed=body.speed, voices=voices)
    with request.app[METRICS].answer("http", voice.engine.name) as watch:
        return await send_captioned(
            request,
            spoken,
            voice.engine.sample_rate,
            body.response_format,
            body.stream,
            body.return_timestamps,
            watch=watch,
        )


async def send_captioned(
    request: web.Request,
    spoken: AsyncGenerator[SpokenPiece, None],
    rate: int,
    response_format: str,
    stream: bool,
    timestamps: bool = True,
    channels: int = 1,
    mix: Optional[Mix] = None,
    speaker: Optional[Callable[[SpokenPiece], str]] = None,
    watch: Optional[AnswerWatch] = None,
) -> web.StreamResponse:
    """Send `spoken` at `rate` as Kokoro-FastAPI's captioned answer: JSON with the audio in
    `response_format` (`channels` of it, made by `mix`) as base64 and the words (each with
    its `speaker`, where given), one object per line when `stream`; or, for `vtt` and `srt`,
    the captions alone. Errors before the first line are JSON errors."""
    context = request.app[CONTEXT]
    captions = response_format in CAPTION_TYPES
    streamed = stream and not captions
    audio_format = "wav" if captions else response_format
    encoder = AudioEncoder(audio_format, rate, streaming=streamed, channels=channels)
    content_type = FORMATS[audio_format].content_type
    clock = AnswerClock()
    words: List[dict] = []  # timed, not sent yet (all of them for an answer sent whole)
    timed: List[TimedWord] = []  # every word, for captions
    whole: List[bytes] = []
    response: Optional[web.StreamResponse] = None
    try:
        async with contextlib.aclosing(spoken):
            async for piece in spoken:
                told = clock.words(piece, speaker(piece) if speaker is not None else "")
                timed.extend(told)
                words.extend(word.to_dict() for word in told)
                if captions:
                    continue
                samples = resample(piece.samples, piece.rate, rate)
                if mix is not None:
                    samples = mix(piece, samples)
                data = await asyncio.to_thread(encoder.encode, samples)
                if watch is not None and streamed:
                    watch.sent(len(samples) / rate)
                if not streamed:
                    whole.append(data)
                    continue
                if not data:
                    continue  # its words go with the next audio, as Kokoro-FastAPI's do
                if response is None:
                    response = await _start(request)
                line = _line(data, content_type, words, timestamps)
                words = []
                await _send(request, response, line, context.write_seconds)
                if _gone(request):
                    break
    except (SynthesisError, SchedulerBusy) as err:
        return _failed(request, response, err)
    except ConnectionError:
        _LOGGER.debug("The client of %s went away", request.path)
        return response or web.Response(status=499)
    if watch is not None and not streamed:
        watch.sent(clock.seconds)
    if captions:
        made = cues(timed)
        text = webvtt(made) if response_format == "vtt" else srt(made)
        return web.Response(text=text, headers={"Content-Type": CAPTION_TYPES[response_format]})
    if clock.seconds == 0:  # nothing to say: a moment of silence, so the audio plays
        silence = silent_answer(rate)
        if channels == 2:
            silence = np.stack([silence, silence], axis=1)
        data = await asyncio.to_thread(encoder.encode, silence)
        whole.append(data)
        if streamed and data:
            response = response or await _start(request)
            line = _line(data, content_type, [], timestamps)
            await _send(request, response, line, context.write_seconds)
    tail = await asyncio.to_thread(encoder.finish)
    if not streamed:
        answer = _answer(b"".join(whole) + tail, content_type, words, timestamps)
        return web.json_response(answer)
    response = response or await _start(request)
    with contextlib.suppress(ConnectionError):
        if tail or words:
            line = _line(tail, content_type, words, timestamps)
            await _send(request, response, line, context.write_seconds)
        await response.write_eof()
    return response


def _answer(audio: bytes, content_type: str, words: List[dict], timestamps: bool) -> dict:
    return {
        "audio": base64.b64encode(audio).decode("ascii"),
        "audio_format": content_type,
        "timestamps": words if timestamps else None,
    }


def _line(audio: bytes, content_type: str, words: List[dict], timestamps: bool) -> bytes:
    answer = _answer(audio, content_type, words, timestamps)
    return json.dumps(answer, ensure_ascii=False).encode() + b"\n"


async def _start(request: web.Request) -> web.StreamResponse:
    """Send the headers of a streamed answer: one JSON object per line."""
    response = web.StreamResponse(headers={"Content-Type": NDJSON, "Cache-Control": "no-store"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    return response
