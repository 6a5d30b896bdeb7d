"""Sentence splitting (as Home Assistant does it, with `sentence-stream`) and clean-up."""

from __future__ import annotations

import re
from typing import List

from sentence_stream import SentenceBoundaryDetector
from sentence_stream.util import remove_asterisks

_SPEAKABLE = re.compile(r"\w", re.UNICODE)


def clean_sentence(sentence: str) -> str:
    """Drop markdown emphasis and outer whitespace; empty when nothing is speakable."""
    sentence = remove_asterisks(sentence).strip()
    return sentence if _SPEAKABLE.search(sentence) else ""


class SentenceStream:
    """Turns text arriving in arbitrary pieces into complete, cleaned sentences."""

    def __init__(self) -> None:
        self._detector = SentenceBoundaryDetector()
        self.received_text = False

    def add(self, chunk: str) -> List[str]:
        """Sentences completed by `chunk`."""
        if chunk:
            self.received_text = True
        return _cleaned(self._detector.add_chunk(chunk))

    def finish(self) -> List[str]:
        """Whatever text is left once the stream ends."""
        return _cleaned([self._detector.finish()])


def split_sentences(text: str) -> List[str]:
    """All sentences of a whole text."""
    stream = SentenceStream()
    return stream.add(text) + stream.finish()


def _cleaned(sentences: object) -> List[str]:
    return [clean for clean in map(clean_sentence, sentences) if clean]  # type: ignore[call-overload]
