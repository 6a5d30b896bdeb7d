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
from typing import List, Optional

import numpy as np
from aiohttp import web

from ..audio import resample, silent_answer
from ..captions import AnswerClock, TimedWord, cues, srt, webvtt
from ..engines.base import SynthesisError
from ..pipeline import SpokenPiece
from ..scheduler import SchedulerBusy
from . import schemas as s
from .apidoc import AUTH_SPEECH, Operation
from .context import CONTEXT, ApiError
from .encoder import FORMATS, AudioEncoder
from .openai import _body, _cut_off, _gone, _pieces, _send, _voice

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
    streamed = body.stream and not captions
    pieces, voices = await _pieces(context, body.input, streamed)
    rate = voice.engine.sample_rate
    audio_format = "wav" if captions else body.response_format
    encoder = AudioEncoder(audio_format, rate, streaming=streamed)
    content_type = FORMATS[audio_format].content_type
    spoken = context.pipeline.speak(voice, pieces, client=object(), speed=body.speed, voices=voices)
    clock = AnswerClock()
    words: List[TimedWord] = []  # timed, not sent yet (all of them for an answer sent whole)
    whole: List[bytes] = []
    response: Optional[web.StreamResponse] = None
    try:
        async with contextlib.aclosing(spoken):
            async for piece in spoken:
                words.extend(clock.words(piece))
                if captions:
                    continue
                data = await asyncio.to_thread(encoder.encode, _samples(piece, rate))
                if not streamed:
                    whole.append(data)
                    continue
                if not data:
                    continue  # its words go with the next audio, as Kokoro-FastAPI's do
                if response is None:
                    response = await _start(request)
                line = _line(data, content_type, words, body.return_timestamps)
                words = []
                await _send(request, response, line, context.write_seconds)
                if _gone(request):
                    break
    except (SynthesisError, SchedulerBusy) as err:
        if response is None:
            busy = isinstance(err, SchedulerBusy)
            status, code = (503, "busy") if busy else (422, "synthesis_failed")
            raise ApiError(status, str(err), code) from err
        return _cut_off(request, response, err)
    except ConnectionError:
        _LOGGER.debug("The client of %s went away", request.path)
        return response or web.Response(status=499)
    if captions:
        made = cues(words)
        text = webvtt(made) if body.response_format == "vtt" else srt(made)
        return web.Response(
            text=text, headers={"Content-Type": CAPTION_TYPES[body.response_format]}
        )
    if clock.seconds == 0:  # nothing to say: a moment of silence, so the audio plays
        silence = await asyncio.to_thread(encoder.encode, silent_answer(rate))
        whole.append(silence)
        if streamed and silence:
            response = response or await _start(request)
            line = _line(silence, content_type, [], body.return_timestamps)
            await _send(request, response, line, context.write_seconds)
    tail = await asyncio.to_thread(encoder.finish)
    if not streamed:
        answer = _answer(b"".join(whole) + tail, content_type, words, body.return_timestamps)
        return web.json_response(answer)
    response = response or await _start(request)
    with contextlib.suppress(ConnectionError):
        if tail or words:
            line = _line(tail, content_type, words, body.return_timestamps)
            await _send(request, response, line, context.write_seconds)
        await response.write_eof()
    return response


def _samples(piece: SpokenPiece, rate: int) -> np.ndarray:
    return resample(piece.samples, piece.rate, rate)


def _answer(audio: bytes, content_type: str, words: List[TimedWord], timestamps: bool) -> dict:
    return {
        "audio": base64.b64encode(audio).decode("ascii"),
        "audio_format": content_type,
        "timestamps": [word.to_dict() for word in words] if timestamps else None,
    }


def _line(audio: bytes, content_type: str, words: List[TimedWord], timestamps: bool) -> bytes:
    answer = _answer(audio, content_type, words, timestamps)
    return json.dumps(answer, ensure_ascii=False).encode() + b"\n"


async def _start(request: web.Request) -> web.StreamResponse:
    """Send the headers of a streamed answer: one JSON object per line."""
    response = web.StreamResponse(headers={"Content-Type": NDJSON, "Cache-Control": "no-store"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    return response
