"""The contract every engine fulfils."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, List, Optional, Protocol, Sequence, Tuple

import numpy as np

# Text handed to an engine may hold phonemes (IPA) between these two private-use marks, from
# the pronunciation lexicon or SSML `<phoneme>`: engines read them as phonemes, not letters.
PHONEMES_START = "\ue000"
PHONEMES_END = "\ue001"
_PHONEME_RUN = re.compile(f"{PHONEMES_START}([^{PHONEMES_END}]*){PHONEMES_END}")


def mark_phonemes(ipa: str) -> str:
    """`ipa` marked as phonemes inside a text."""
    return f"{PHONEMES_START}{ipa}{PHONEMES_END}"


def split_phonemes_runs(text: str) -> List[Tuple[bool, str]]:
    """`text` as (is_phonemes, part) runs, in order; empty parts are left out."""
    runs: List[Tuple[bool, str]] = []
    position = 0
    for match in _PHONEME_RUN.finditer(text):
        if match.start() > position:
            runs.append((False, text[position : match.start()]))
        if match.group(1):
            runs.append((True, match.group(1)))
        position = match.end()
    if position < len(text):
        runs.append((False, text[position:]))
    return runs


@dataclass(frozen=True)
class VoiceSpec:
    """One voice as an engine offers it."""

    name: str
    languages: Sequence[str]
    description: str
    installed: bool
    attribution_name: str
    attribution_url: str


class SynthesisError(Exception):
    """Text that an engine cannot speak, with a message a person can act on."""


class Engine(Protocol):
    """Turns text into float32 mono samples at `sample_rate`; never touches the event loop."""

    name: str
    sample_rate: int

    def voices(self) -> Sequence[VoiceSpec]:
        """The voices this engine offers (cheap; no model load needed)."""

    def custom_voice(self, name: str) -> Optional[VoiceSpec]:
        """A voice made on request from `name` (e.g. a blend), None if `name` is not one.

        Raises `SynthesisError` when `name` is meant as such a voice but is not valid.
        """

    def load(self) -> None:
        """Load the model (slow, once)."""

    def synthesize(self, text: str, voice: str, speed: float) -> np.ndarray:
        """Speak one sentence (which may hold marked phonemes); float32 samples in [-1, 1]."""


class AudioStream(Protocol):
    """One sentence's audio in stretches: call `next_chunk` (blocking) until `finished`."""

    @property
    def finished(self) -> bool:
        """Whether the last stretch has been returned."""

    def next_chunk(self) -> np.ndarray:
        """The next stretch of samples, as soon as it is made."""


class WholeAudio:
    """An `AudioStream` of one stretch: the whole result of `synthesize`."""

    def __init__(self, synthesize: Callable[[], np.ndarray]) -> None:
        self._synthesize = synthesize
        self.finished = False

    def next_chunk(self) -> np.ndarray:
        self.finished = True
        return self._synthesize()


def audio_stream(engine: Engine, text: str, voice: str, speed: float) -> AudioStream:
    """`engine`'s stream of `text` where it streams (a `stream` method), else one stretch."""
    stream = getattr(engine, "stream", None)
    if stream is not None:
        return stream(text, voice, speed)
    return WholeAudio(lambda: engine.synthesize(text, voice, speed))
