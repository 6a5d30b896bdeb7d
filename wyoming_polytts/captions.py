"""Word timings of a whole answer, and captions (WebVTT, SRT) made of them.

The pipeline times each word from the stretch of audio it is handed out with (`SpokenPiece.words`);
`AnswerClock` adds the audio sent before that stretch, so every word is timed from the
answer's first sample, pauses, breaks and trimmed silence all counted as they were sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, AsyncIterator, Dict, Iterable, List, Sequence, Tuple

import numpy as np

from .audio import resample
from .pipeline import SpokenPiece
from .settings import CAPTION_MAX_CHARS, CAPTION_MAX_SECONDS


@dataclass(frozen=True)
class TimedWord:
    """A word of an answer: seconds from its first sample; `opens` marks a sentence's
    first word."""

    word: str
    start_time: float
    end_time: float
    opens: bool = False
    speaker: str = ""  # who says it, in a dialogue

    def to_dict(self) -> dict:
        """Kokoro-FastAPI's `{word, start_time, end_time}`, in milliseconds' precision, and
        the `speaker` where there is one."""
        said: Dict[str, Any] = {
            "word": self.word,
            "start_time": round(self.start_time, 3),
            "end_time": round(self.end_time, 3),
        }
        if self.speaker:
            said["speaker"] = self.speaker
        return said


class AnswerClock:
    """Turns each spoken stretch's words into answer times, stretch after stretch."""

    def __init__(self) -> None:
        self.seconds = 0.0  # audio handed out so far
        self._last_end = 0.0
        self._opening = False  # a piece began and its first word is still to come

    def words(self, spoken: SpokenPiece, speaker: str = "") -> List[TimedWord]:
        """The words handed out with `spoken`, timed from the answer's start (call once per
        stretch, in order). Times never go backwards and words never overlap."""
        timed = []
        self._opening = self._opening or spoken.first
        for word in spoken.words:
            start = max(self.seconds + word.start, self._last_end)
            end = max(self.seconds + word.end, start)
            timed.append(TimedWord(word.word, start, end, self._opening, speaker))
            self._last_end, self._opening = end, False
        self.seconds += spoken.samples.size / spoken.rate
        return timed


async def whole_with_words(
    spoken: AsyncIterator[SpokenPiece], rate: int
) -> Tuple[np.ndarray, List[TimedWord]]:
    """All of an answer's audio at `rate`, and its words (an answer sent whole)."""
    clock, parts, words = AnswerClock(), [], []
    async for piece in spoken:
        words.extend(clock.words(piece))
        parts.append(resample(piece.samples, piece.rate, rate))
    return (np.concatenate(parts) if parts else np.zeros(0, np.float32)), words


@dataclass(frozen=True)
class Cue:
    """One caption: its text, when it shows, and who says it (in a dialogue)."""

    start: float
    end: float
    text: str
    speaker: str = ""


def cues(
    words: Sequence[TimedWord],
    max_chars: int = CAPTION_MAX_CHARS,
    max_seconds: float = CAPTION_MAX_SECONDS,
) -> List[Cue]:
    """`words` grouped into captions: a sentence or another speaker starts a new one, and
    none is longer than `max_chars` characters or `max_seconds` (a single longer word is a
    caption of its own)."""
    made: List[Cue] = []
    group: List[TimedWord] = []

    def close() -> None:
        if group:
            text = " ".join(w.word for w in group)
            made.append(Cue(group[0].start_time, group[-1].end_time, text, group[0].speaker))
            group.clear()

    for word in words:
        if group:
            length = sum(len(w.word) + 1 for w in group) + len(word.word)
            if (
                word.opens
                or word.speaker != group[0].speaker
                or length > max_chars
                or word.end_time - group[0].start_time > max_seconds
            ):
                close()
        group.append(word)
    close()
    return made


def _stamp(seconds: float, separator: str) -> str:
    millis = int(round(max(0.0, seconds) * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole:02d}{separator}{millis:03d}"


def _safe(text: str) -> str:
    """Caption text with the characters that would end or mark up a cue made plain."""
    return " ".join(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").split())


def webvtt(captions: Iterable[Cue]) -> str:
    """A WebVTT document of `captions`."""
    blocks = ["WEBVTT"]
    for cue in captions:
        voice = f"<v {_safe(cue.speaker)}>" if cue.speaker else ""
        stamps = f"{_stamp(cue.start, '.')} --> {_stamp(cue.end, '.')}"
        blocks.append(f"{stamps}\n{voice}{_safe(cue.text)}")
    return "\n\n".join(blocks) + "\n"


def srt(captions: Iterable[Cue]) -> str:
    """A SubRip (SRT) document of `captions`."""
    blocks = []
    for number, cue in enumerate(captions, start=1):
        stamps = f"{_stamp(cue.start, ',')} --> {_stamp(cue.end, ',')}"
        said = " ".join(cue.text.split())
        blocks.append(f"{number}\n{stamps}\n{f'{cue.speaker}: ' if cue.speaker else ''}{said}")
    return "\n\n".join(blocks) + ("\n" if blocks else "")
