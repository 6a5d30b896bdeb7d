"""The contract every engine fulfils."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Protocol, Sequence, Tuple, runtime_checkable

import numpy as np

# Text handed to an engine may hold phonemes (IPA) between these two private-use marks, from
# the pronunciation lexicon or SSML `<phoneme>`: engines read them as phonemes, not letters.
# The word they say may follow the phonemes after `PHONEMES_WRITTEN`, for captions.
PHONEMES_START = "\ue000"
PHONEMES_END = "\ue001"
PHONEMES_WRITTEN = "\ue002"
_PHONEME_RUN = re.compile(f"{PHONEMES_START}([^{PHONEMES_END}]*){PHONEMES_END}")


def mark_phonemes(ipa: str, written: str = "") -> str:
    """`ipa` marked as phonemes inside a text, with the words it says when given."""
    words = " ".join(written.replace(PHONEMES_WRITTEN, "").split())
    return f"{PHONEMES_START}{ipa}{PHONEMES_WRITTEN + words if words else ''}{PHONEMES_END}"


def split_phonemes_runs(text: str) -> List[Tuple[bool, str]]:
    """`text` as (is_phonemes, part) runs, in order; empty parts are left out."""
    return [(is_phonemes, part) for is_phonemes, part, _ in written_phonemes_runs(text)]


def written_phonemes_runs(text: str) -> List[Tuple[bool, str, str]]:
    """`text` as (is_phonemes, part, written) runs, in order: a phoneme run with the words
    it says (empty when not given), a text run with itself; empty parts are left out."""
    runs: List[Tuple[bool, str, str]] = []
    position = 0
    for match in _PHONEME_RUN.finditer(text):
        if match.start() > position:
            part = text[position : match.start()]
            runs.append((False, part, part))
        ipa, _, written = match.group(1).partition(PHONEMES_WRITTEN)
        if ipa:
            runs.append((True, ipa, written))
        position = match.end()
    if position < len(text):
        runs.append((False, text[position:], text[position:]))
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


@runtime_checkable
class LearnsVoices(Protocol):
    """An engine that learns each voice, in the background (Kokoro's statistics offsets)."""

    on_unlearnt: Callable[[str], None]  # told of a voice spoken before it was learnt

    def learn_voice(self, voice: str) -> bool:
        """One step of learning `voice` (blocking); False when there is nothing to learn."""

    def recent_voices(self) -> List[str]:
        """The voices spoken lately (kept across restarts)."""


class AudioStream(Protocol):
    """One sentence's audio in stretches: call `next_chunk` (blocking) until `finished`."""

    @property
    def finished(self) -> bool:
        """Whether the last stretch has been returned (or is being made)."""

    @property
    def next_is_last(self) -> bool:
        """Whether the next `next_chunk` call makes the last stretch (False if unknown)."""

    def next_chunk(self) -> np.ndarray:
        """The next stretch of samples, as soon as it is made."""


@dataclass(frozen=True)
class WordTiming:
    """A written word of a stream's text and where it is spoken: [start, end) in samples
    from the stream's first sample."""

    word: str
    start: int
    end: int


def stream_words(stream: AudioStream) -> Sequence[WordTiming]:
    """The words of `stream` timed so far, in order (an engine that times its words gives
    them a `words` list, growing as it speaks: Kokoro; others give none). Read it between
    `next_chunk` calls, never during one."""
    return getattr(stream, "words", ())


class WholeAudio:
    """An `AudioStream` of one stretch: the whole result of `synthesize`."""

    def __init__(self, synthesize: Callable[[], np.ndarray]) -> None:
        self._synthesize = synthesize
        self.finished = False
        self.next_is_last = True

    def next_chunk(self) -> np.ndarray:
        self.finished = True
        return self._synthesize()


class Playback:
    """How far the audio sent to a listener runs ahead of its playing.

    The streams of one answer share one, so a sentence's windows can be as large as the
    audio of the sentences before it allows, not only its own. Streams report the audio they
    make as they make it (`made`, in the worker): the next call, which a worker may start
    before the caller has sent that audio, plans with it.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started: Optional[float] = None
        self._sent = 0.0
        self._pending = 0.0  # made and not yet sent
        self._lock = threading.Lock()

    def sent(self, seconds: float, made: Optional[float] = None) -> None:
        """Audio of `seconds` was handed out (playing starts with the first): what a stream
        made of `made` seconds (before its silence was trimmed; default: `seconds`)."""
        with self._lock:
            if self._started is None:
                self._started = self._clock()
            self._sent += seconds
            self._pending = max(0.0, self._pending - (seconds if made is None else made))

    def made(self, seconds: float) -> None:
        """Audio of `seconds` was made, to be handed out next."""
        with self._lock:
            self._pending += seconds

    def runs_out(self) -> float:
        """When the listener has played everything handed out (on the clock); now, before
        anything was: the deadline of the answer's next call (`scheduler`)."""
        with self._lock:
            if self._started is None:
                return self._clock()
            return self._started + self._sent

    def buffered(self) -> float:
        """Seconds of audio made or handed out and not yet played."""
        with self._lock:
            ahead = self._sent + self._pending
            if self._started is None:
                return ahead
            return max(0.0, ahead - (self._clock() - self._started))


def audio_stream(
    engine: Engine, text: str, voice: str, speed: float, playback: Optional[Playback] = None
) -> AudioStream:
    """`engine`'s stream of `text` where it streams (a `stream` method), else one stretch."""
    stream = getattr(engine, "stream", None)
    if stream is not None:
        return stream(text, voice, speed, playback=playback)
    return WholeAudio(lambda: engine.synthesize(text, voice, speed))
