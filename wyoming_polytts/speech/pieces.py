"""A request's text as speech pieces, the same for every door (Wyoming, HTTP): plain text cut
into sentences, or SSML read into pieces with their voices, rates and pauses."""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Dict, List, Optional

from ..engines.base import PHONEMES_END, PHONEMES_START, PHONEMES_WRITTEN
from ..text import ClausePolicy, Piece, split_text
from ..voices import Voice
from .ssml import parse_ssml

SSML_ROOT = "<speak"
LEAD_SECONDS = 0.05  # model silence kept before each piece (audio.trim_silence)
Resolve = Callable[[str], Voice]  # a voice by name; raises the door's own error


def is_ssml(text_format: object, text: Optional[str] = None) -> Optional[bool]:
    """Whether a request's text is SSML: as its `text_format` says, else (for clients such as
    Home Assistant's `tts.speak`, which send none) whether it starts with `<speak`; None when
    neither tells yet."""
    if text_format is not None:
        return str(getattr(text_format, "value", text_format)).lower() == "ssml"
    if text is None:
        return None
    return text.lstrip().startswith(SSML_ROOT)


def client_text(value: object) -> str:
    """A client's text; the marks that hand phonemes to engines are ours alone."""
    if not isinstance(value, str):
        raise TypeError(f"text must be a string, not {type(value).__name__}")
    for mark in (PHONEMES_START, PHONEMES_END, PHONEMES_WRITTEN):
        value = value.replace(mark, "")
    return value


def ssml_pieces(document: str) -> List[Piece]:
    """The pieces of an SSML answer, each no longer than a piece may be (`text.cap_text`).

    Pure (no voice is resolved here, see `resolve_voices`), so it may run in a thread.
    Raises `SsmlError` for a document that is not SSML.
    """
    pieces: List[Piece] = []
    for span in parse_ssml(document):
        if span.pause:
            if pieces:  # the break takes the place of the sentence pause
                pieces[-1] = replace(pieces[-1], pause=0.0)
            pieces.append(Piece("", pause=0.0, silence=max(0.0, span.pause - LEAD_SECONDS)))
            continue
        pieces += [
            replace(piece, voice=span.voice, rate=span.rate)
            for piece in split_text(span.text, ClausePolicy(enabled=False))
        ]
    return pieces


def resolve_voices(pieces: List[Piece], resolve: Resolve, voices: Dict[str, Voice]) -> None:
    """Resolve the voices that `pieces` name (SSML `voice`) into `voices`, in order; raises
    the door's own error for the first that cannot speak."""
    for piece in pieces:
        if piece.voice and piece.voice not in voices:
            voices[piece.voice] = resolve(piece.voice)


def text_pieces(text: str, text_format: object, policy: ClausePolicy) -> List[Piece]:
    """The pieces of a whole text: SSML (see `is_ssml`) or plain text cut by `policy`.

    Linear in the text's length, but a long text still takes a while (about 0.3 s for
    100,000 characters): the doors call it in a thread, never on the event loop.
    """
    if is_ssml(text_format, text):
        return ssml_pieces(text)
    return split_text(text, policy)
