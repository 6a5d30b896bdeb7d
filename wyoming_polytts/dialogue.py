"""Dialogues: turns of several voices as the pieces of one answer, and where each is heard.

A dialogue is a list of turns, each a voice and a text (plain, or SSML starting with
`<speak>`). Its pieces are every turn's pieces in order, each naming the turn's voice (a
piece inside an SSML `<voice>` keeps its own) and the index of its turn (`Piece.turn`, so
that its speaker and place are known when its audio comes back), with a silence piece of the
asked pause between two turns. They go to the speech pipeline as one answer: the first turn
starts as soon as its first piece is spoken, later turns are made ahead.

In stereo each turn's mono audio is panned by constant power: a pan of -1 is the left
channel only, +1 the right only, 0 both at -3 dB, and the sum of both channels' power is the
same wherever the voice stands.

Pure: no engine, event loop or HTTP here (the doors resolve voices and send the audio).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .settings import DIALOGUE_PAUSE_SECONDS
from .speech.pieces import LEAD_SECONDS, text_pieces
from .speech.ssml import SsmlError
from .text import ClausePolicy, Piece

PLACES: Mapping[str, float] = {"left": -1.0, "center": 0.0, "right": 1.0}
Place = Union[str, float]  # a name of PLACES, or a pan in [-1, 1]


@dataclass(frozen=True)
class Turn:
    """One turn of a dialogue: who speaks (`voice`, the key of its voice in the pipeline's
    `voices` mapping), what is said, where it is heard, and the silence after it."""

    voice: str
    text: str
    pan: float = 0.0
    pause: float = DIALOGUE_PAUSE_SECONDS


class TurnError(ValueError):
    """A turn whose text cannot be read (SSML that is not SSML); `index` is the turn's."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


def pan_of(place: Optional[Place]) -> float:
    """The pan of a place: `left`, `center`, `right` or a number in [-1, 1]; None is center."""
    if place is None:
        return 0.0
    if isinstance(place, str):
        try:
            return PLACES[place.strip().lower()]
        except KeyError:
            raise ValueError(
                f"unknown place {place!r}; use left, center, right or -1 to 1"
            ) from None
    pan = float(place)
    if not -1.0 <= pan <= 1.0:  # NaN fails too
        raise ValueError(f"a pan is between -1 (left) and 1 (right), not {place!r}")
    return pan


def gains(pan: float) -> Tuple[float, float]:
    """The left and right gains of constant-power panning (cos and sin of a quarter turn)."""
    angle = (min(1.0, max(-1.0, pan)) + 1.0) * math.pi / 4
    left, right = math.cos(angle), math.sin(angle)
    # exact zeros at the sides, so a voice placed hard left is silent on the right
    return (0.0 if pan >= 1.0 else left), (0.0 if pan <= -1.0 else right)


def placed(samples: np.ndarray, pan: float) -> np.ndarray:
    """Mono `samples` as (frames, 2) stereo, heard at `pan`."""
    left, right = gains(pan)
    mono = np.asarray(samples, dtype=np.float32)
    return np.stack([mono * np.float32(left), mono * np.float32(right)], axis=1)


def turn_pieces(turn: Turn, index: int, policy: ClausePolicy) -> List[Piece]:
    """The pieces of one turn, each naming its voice and turn. Raises `TurnError`."""
    try:
        pieces = text_pieces(turn.text, None, policy)
    except SsmlError as err:
        raise TurnError(index, str(err)) from None
    return [replace(piece, voice=piece.voice or turn.voice, turn=index) for piece in pieces]


def dialogue_pieces(turns: Sequence[Turn], policy: ClausePolicy) -> List[Piece]:
    """The pieces of a whole dialogue, with each turn's pause before the next turn.

    The first turn is cut by `policy` (a short first clause starts the answer early); later
    turns are whole sentences, for their prosody. A pause takes the place of the last
    sentence's own trailing silence and of the next turn's kept lead (`LEAD_SECONDS`), so the
    silence heard between two turns is the pause asked for. A turn with nothing to say
    leaves no pause behind. Pure and linear in the texts' length: run it in a thread.
    """
    pieces: List[Piece] = []
    pause: Optional[Tuple[float, int]] = None  # the silence owed before the next turn
    for index, turn in enumerate(turns):
        own = turn_pieces(turn, index, policy if index == 0 else ClausePolicy(enabled=False))
        if not own:
            continue
        if pause is not None:
            seconds, after = pause
            pieces[-1] = replace(pieces[-1], pause=0.0)
            silence = max(0.0, seconds - LEAD_SECONDS)
            if silence > 0:
                pieces.append(Piece("", pause=0.0, silence=silence, turn=after))
        pieces += own
        pause = (turn.pause, index)
    return pieces


def total_pause(turns: Sequence[Turn]) -> float:
    """The seconds of pauses between the turns (none after the last)."""
    return sum(turn.pause for turn in turns[:-1])
