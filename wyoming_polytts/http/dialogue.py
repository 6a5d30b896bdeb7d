"""`POST /v1/audio/dialogue`: turns of several voices spoken as one answer, mono or stereo.

Everything cheap is checked before anything is spoken: the body (`schemas.DialogueRequest`),
the model and every turn's voice (as `/v1/audio/speech` checks its one voice), the length of
all texts together, the pauses, and every turn's SSML. Then the whole dialogue is one answer
of the speech pipeline (`dialogue.dialogue_pieces`): the first turn streams as soon as its
first audio exists, later turns are made ahead, and each part's turn (`Piece.turn`) says where
its audio is placed. Encoding, streaming, limits and errors are `/v1/audio/speech`'s own
(`openai.send_speech`).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Dict, List

import numpy as np
from aiohttp import web

from ..dialogue import Turn, TurnError, dialogue_pieces, pan_of, placed, total_pause
from ..pipeline import SpokenPiece
from ..settings import DIALOGUE_MAX_TOTAL_PAUSE_SECONDS, MAX_WHOLE_ANSWER_CHARS
from ..speech.pieces import client_text, resolve_voices
from ..textwork import off_loop
from ..voices import Voice
from . import schemas as s
from .apidoc import AUTH_SPEECH, Operation
from .captions import CAPTION_TYPES, send_captioned
from .context import CONTEXT, METRICS, AdminContext, ApiError
from .encoder import FORMATS
from .openai import _body, _check_model, _voice, send_speech

_LOGGER = logging.getLogger(__name__)


def operations() -> List[Operation]:
    """The dialogue route, for the app's route table and its OpenAPI document."""
    audio = {200: tuple(dict.fromkeys(kind.content_type for kind in FORMATS.values()))}
    return [
        Operation(
            "POST",
            "/v1/audio/dialogue",
            speak_dialogue,
            "Speak a dialogue of several voices, placed left and right",
            "openai",
            body=s.DialogueRequest,
            responses=audio,
            auth=AUTH_SPEECH,
            description="Turns of any voices (Kokoro, blends, presets, clones; SSML allowed), "
            "with pauses between them, as one answer in every format of /v1/audio/speech, "
            "streamed turn by turn. With `channels: 2` each turn is heard at its place.",
        )
    ]


async def speak_dialogue(request: web.Request) -> web.StreamResponse:
    context = request.app[CONTEXT]
    body = await _body(request, s.DialogueRequest)
    if context.pipeline is None:
        raise ApiError(503, "This server does not speak over HTTP", "unavailable")
    _check_model(body.model)
    voices: Dict[str, Voice] = {}
    turns = [_turn(context, body, index, voices) for index in range(len(body.turns))]
    _check_lengths(context, body, turns)
    try:
        pieces = await off_loop(dialogue_pieces, turns, context.clause_policy)
    except TurnError as err:
        raise ApiError(400, str(err), "invalid_ssml", f"turns.{err.index}.text") from None
    resolve_voices(pieces, partial(_voice, context, model="tts-1"), voices)  # SSML <voice>
    first = voices[turns[0].voice]
    placed_anywhere = bool(body.places) or any(turn.place is not None for turn in body.turns)
    channels = body.channels or (2 if placed_anywhere else 1)
    _LOGGER.debug(
        "A dialogue of %d turns, %d pieces, %d channels", len(turns), len(pieces), channels
    )
    pans = [turn.pan for turn in turns]

    def mix(part: SpokenPiece, samples: np.ndarray) -> np.ndarray:
        """A part at its turn's place (a part of no turn, e.g. silence, in the middle)."""
        turn = part.piece.turn
        return placed(samples, pans[turn] if turn is not None else 0.0)

    spoken = context.pipeline.speak(first, pieces, client=object(), speed=body.speed, voices=voices)
    names = [voices[turn.voice].name for turn in turns]

    def speaker(part: SpokenPiece) -> str:
        """The voice of a part's turn (SSML <voice> inside a turn: still that turn's)."""
        turn = part.piece.turn
        return names[turn] if turn is not None else names[0]

    with request.app[METRICS].answer("http", first.engine.name) as watch:
        if body.return_timestamps or body.response_format in CAPTION_TYPES:
            return await send_captioned(
                request,
                spoken,
                first.engine.sample_rate,
                body.response_format,
                body.stream,
                channels=channels,
                mix=mix if channels == 2 else None,
                speaker=speaker,
                watch=watch,
            )
        return await send_speech(
            request,
            context,
            spoken,
            first.engine.sample_rate,
            body.response_format,
            body.stream,
            channels=channels,
            mix=mix if channels == 2 else None,
            watch=watch,
        )


def _turn(
    context: AdminContext, body: s.DialogueRequest, index: int, voices: Dict[str, Voice]
) -> Turn:
    """Turn `index` of the request, its voice resolved into `voices` (keyed by the name the
    request gave, or the default voice's name) and its place turned into a pan."""
    asked = body.turns[index]
    try:
        voice = _voice(context, asked.voice, body.model)
    except ApiError as err:
        err.param = f"turns.{index}.voice"
        raise
    key = asked.voice or voice.name
    voices.setdefault(key, voice)
    place = asked.place
    if place is None:
        place = body.places.get(key, body.places.get(voice.name))
    pause = body.pause if asked.pause is None else asked.pause
    return Turn(key, client_text(asked.text), pan_of(place), pause)


def _check_lengths(context: AdminContext, body: s.DialogueRequest, turns: List[Turn]) -> None:
    """The texts together within the input limit of /v1/audio/speech, the pauses within
    theirs."""
    chars = sum(len(turn.text) for turn in turns)
    limit = context.max_text if body.stream else min(context.max_text, MAX_WHOLE_ANSWER_CHARS)
    if chars > limit:
        message = f"The turns are {chars} characters long together; at most {limit} are spoken"
        if limit < context.max_text:
            message += f" in an answer sent whole (stream: false), {context.max_text} streamed"
        raise ApiError(400, message, "input_too_long", "turns")
    pauses = total_pause(turns)
    if pauses > DIALOGUE_MAX_TOTAL_PAUSE_SECONDS:
        raise ApiError(
            400,
            f"The pauses are {pauses:.1f} s together; at most "
            f"{DIALOGUE_MAX_TOTAL_PAUSE_SECONDS:.0f} s",
            "invalid_value",
            "pause",
        )
