"""Text into speech pieces: sentences (as Home Assistant splits them, with `sentence-stream`),
a short first clause so speech starts early, and clean-up."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

from sentence_stream import SentenceBoundaryDetector
from sentence_stream.util import remove_asterisks

_SPEAKABLE = re.compile(r"\w", re.UNICODE)
_WORD = re.compile(r"\S+")
# A clause ends at a comma-like mark followed by a space (so "1,000" and "3:30" stay whole),
# or at an ideographic comma.
_CLAUSE_END = re.compile(r"[,;:—–](?=\s)|[、，；：]")
# Words before which an English sentence without commas can be cut without harm to prosody.
_BREAK_BEFORE = frozenset(
    {
        "and",
        "but",
        "or",
        "so",
        "because",
        "while",
        "when",
        "where",
        "which",
        "who",
        "that",
        "with",
        "without",
        "in",
        "on",
        "at",
        "for",
        "from",
        "to",
        "until",
        "after",
        "before",
        "since",
        "if",
        "than",
    }
)

SENTENCE_PAUSE = 0.25  # seconds of model silence kept after a sentence
CLAUSE_PAUSE = 0.12  # after a clause ending in a comma-like mark
WORD_PAUSE = 0.03  # after a cut between two words


@dataclass(frozen=True)
class ClausePolicy:
    """When the first sentence of an answer is cut to start speaking early.

    A sentence of at least `min_words` words is cut at its first comma-like mark that has
    `min_clause_words` to `max_clause_words` words before it; failing that, before a
    conjunction or preposition in the same range. Later sentences stay whole, for prosody.
    """

    enabled: bool = True
    min_words: int = 8
    min_clause_words: int = 3
    max_clause_words: int = 8


@dataclass(frozen=True)
class Piece:
    """One unit of synthesis and how much of the model's trailing silence to keep.

    From SSML, a piece may name its own voice and a rate (times the request's speed), or be
    a pause of `silence` seconds with no text.
    """

    text: str
    pause: float = SENTENCE_PAUSE
    voice: Optional[str] = None
    rate: float = 1.0
    silence: float = 0.0


def clean_sentence(sentence: str) -> str:
    """Drop markdown emphasis and outer whitespace; empty when nothing is speakable."""
    sentence = remove_asterisks(sentence).strip()
    return sentence if speakable(sentence) else ""


def speakable(text: str) -> bool:
    """Whether `text` has anything to say (a letter or digit of any script)."""
    return _SPEAKABLE.search(text) is not None


def split_first_clause(sentence: str, policy: ClausePolicy) -> List[Piece]:
    """The sentence as one piece, or as a short clause followed by the rest."""
    words = list(_WORD.finditer(sentence))
    if not policy.enabled or len(words) < policy.min_words:
        return [Piece(sentence)]
    cut = _clause_cut(sentence, policy)
    if cut is None:
        cut = _word_cut(sentence, words, policy)
    if cut is None:
        return [Piece(sentence)]
    head, pause = cut
    first, rest = clean_sentence(sentence[:head]), clean_sentence(sentence[head:])
    if not first or not rest:
        return [Piece(sentence)]
    return [Piece(first, pause), Piece(rest)]


def _clause_cut(text: str, policy: ClausePolicy) -> Optional[Tuple[int, float]]:
    for match in _CLAUSE_END.finditer(text):
        before = len(_WORD.findall(text[: match.start()]))
        if before > policy.max_clause_words:
            return None
        if before >= policy.min_clause_words:
            return match.end(), CLAUSE_PAUSE
    return None


def _word_cut(
    text: str, words: List[re.Match[str]], policy: ClausePolicy
) -> Optional[Tuple[int, float]]:
    last = min(policy.max_clause_words, len(words) - policy.min_clause_words)
    for index in range(policy.min_clause_words, last + 1):
        if words[index].group().lower() in _BREAK_BEFORE:
            return words[index].start(), WORD_PAUSE
    return None


class SentenceStream:
    """Turns text arriving in arbitrary pieces into speech pieces.

    The first sentence may be released as a clause before the sentence is complete (as soon
    as a comma arrives), so speech starts while a language model is still writing.
    """

    def __init__(self, policy: Optional[ClausePolicy] = None) -> None:
        self._detector = SentenceBoundaryDetector()
        self._policy = policy or ClausePolicy()
        self._first = True
        self.received_text = False

    def add(self, chunk: str) -> List[Piece]:
        """Pieces completed by `chunk`."""
        if chunk:
            self.received_text = True
        pieces = self._pieces(self._detector.add_chunk(chunk))
        if self._first and self._policy.enabled:
            pieces += self._early_clause()
        return pieces

    def finish(self) -> List[Piece]:
        """Whatever text is left once the stream ends."""
        return self._pieces([self._detector.finish()])

    def _pieces(self, sentences: object) -> List[Piece]:
        pieces: List[Piece] = []
        for sentence in sentences:  # type: ignore[attr-defined]
            clean = clean_sentence(sentence)
            if not clean:
                continue
            if self._first:
                self._first = False
                pieces += split_first_clause(clean, self._policy)
            else:
                pieces.append(Piece(clean))
        return pieces

    def _early_clause(self) -> List[Piece]:
        """A clause of the unfinished first sentence, once a comma shows it is complete."""
        detector = self._detector
        if detector.current_sentence:  # an abbreviation is pending; leave it be
            return []
        pending = detector.remaining_text
        cut = _clause_cut(pending, self._policy)
        if cut is None:
            return []
        clause = clean_sentence(pending[: cut[0]])
        if not clause:
            return []
        detector.remaining_text = pending[cut[0] :]
        self._first = False
        return [Piece(clause, cut[1])]


def split_text(text: str, policy: Optional[ClausePolicy] = None) -> List[Piece]:
    """All speech pieces of a whole text."""
    stream = SentenceStream(policy)
    return stream.add(text) + stream.finish()


def split_sentences(text: str) -> List[str]:
    """All sentences of a whole text, none cut into clauses."""
    return [piece.text for piece in split_text(text, ClausePolicy(enabled=False))]
