"""Text into speech pieces: sentences (as Home Assistant splits them, with `sentence-stream`),
a short first clause so speech starts early, and clean-up.

No piece is longer than `MAX_PIECE_CHARS`: a longer sentence is cut at its best break before
that length (`cap_text`), so no engine call is long and a sentence without an end is spoken
as it arrives.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, replace
from typing import Iterable, List, Optional, Tuple

from sentence_stream import SentenceBoundaryDetector
from sentence_stream.util import remove_asterisks

from .engines.base import PHONEMES_END, PHONEMES_START, PHONEMES_WRITTEN
from .settings import MAX_PIECE_CHARS

_SPEAKABLE = re.compile(r"\w", re.UNICODE)
_WORD = re.compile(r"\S+")
# A clause ends at a comma-like mark followed by a space (so "1,000" and "3:30" stay whole),
# or at an ideographic comma.
_CLAUSE_END = re.compile(r"[,;:—–](?=\s)|[、，；：]")
# Where a piece that is too long is cut, best first: after a sentence end (even one that
# `sentence-stream` took for an abbreviation) or a line break, after a clause mark, at a space.
_SENTENCE_END = re.compile(r"[.!?…]+['\")\]}’”»]*(?=\s)|[。！？]+[”’」』）》】〕〉]*|\n")
_SPACE = re.compile(r"\s+")
_PHONEME_RUN = re.compile(f"{PHONEMES_START}[^{PHONEMES_END}]*{PHONEMES_END}")
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
WORD_PAUSE = 0.03  # after a cut between two words (or inside a word longer than a piece)


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
    a pause of `silence` seconds with no text. In a dialogue, `turn` is the index of the turn
    the piece belongs to (its speaker and place), carried through to its `SpokenPiece`.
    """

    text: str
    pause: float = SENTENCE_PAUSE
    voice: Optional[str] = None
    rate: float = 1.0
    silence: float = 0.0
    turn: Optional[int] = None


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


def cap_text(text: str, limit: int = MAX_PIECE_CHARS) -> List[Tuple[str, float]]:
    """`text` in consecutive parts of at most `limit` characters (not counting the spaces
    around them), each with the pause its cut takes (the last part's is `SENTENCE_PAUSE`);
    joined, the parts are `text` again (but for the phoneme runs split as said below).

    Each cut is the last sentence end before the limit, else the last clause mark, else the
    last space, else the limit itself (a word longer than a piece). Phonemes marked for the
    engine are never cut, but a run longer than a piece is first split into several runs.
    """
    if len(text) <= limit:
        return [(text, SENTENCE_PAUSE)]
    text = _split_long_runs(text, limit)
    runs = [(match.start(), match.end()) for match in _PHONEME_RUN.finditer(text)]
    parts: List[Tuple[str, float]] = []
    position = 0
    while True:
        spaces = _SPACE.match(text, position)
        begin = spaces.end() if spaces else position
        if len(text) - begin <= limit:
            break
        cut, pause = _best_cut(text, begin, limit, runs)
        parts.append((text[position:cut], pause))
        position = cut
    parts.append((text[position:], SENTENCE_PAUSE))
    return parts


def cap_piece(piece: Piece, limit: int = MAX_PIECE_CHARS) -> List[Piece]:
    """`piece`, or the parts of its text (see `cap_text`) when it is longer than `limit`; the
    last part keeps the piece's own pause."""
    if len(piece.text) <= limit:
        return [piece]
    parts = [(clean_sentence(text), pause) for text, pause in cap_text(piece.text, limit)]
    parts = [(text, pause) for text, pause in parts if text]
    return [
        replace(piece, text=text, pause=piece.pause if index == len(parts) - 1 else pause)
        for index, (text, pause) in enumerate(parts)
    ]


def _best_cut(text: str, start: int, limit: int, runs: List[Tuple[int, int]]) -> Tuple[int, float]:
    """Where the part of `text` from `start` ends (within `limit`), and the pause it takes."""
    end = start + limit
    for pattern, pause, at_end in (
        (_SENTENCE_END, SENTENCE_PAUSE, True),
        (_CLAUSE_END, CLAUSE_PAUSE, True),
        (_SPACE, WORD_PAUSE, False),
    ):
        cuts = [
            match.end() if at_end else match.start()
            for match in pattern.finditer(text, start, end + 1)
        ]
        cuts = [cut for cut in cuts if start < cut <= end and not _inside(cut, runs)]
        if cuts:
            return cuts[-1], pause
    index = bisect.bisect_right(runs, (end, len(text))) - 1  # the run that may hold `end`
    if index >= 0 and runs[index][0] < end < runs[index][1]:  # never inside phonemes
        run_start, run_end = runs[index]
        return (run_start if run_start > start else run_end), WORD_PAUSE
    return end, WORD_PAUSE


def _inside(position: int, runs: List[Tuple[int, int]]) -> bool:
    """Whether `position` falls strictly inside one of the (sorted) phoneme `runs`."""
    index = bisect.bisect_right(runs, (position, position)) - 1
    return index >= 0 and runs[index][0] < position < runs[index][1]


def _split_long_runs(text: str, limit: int) -> str:
    """`text` with every phoneme run longer than `limit` (marks included) split into
    adjacent runs that are not, at spaces where it has them."""
    if PHONEMES_START not in text:
        return text
    room = max(1, limit - 3)  # the two marks and the space between two runs

    def split(match: re.Match[str]) -> str:
        if len(match.group()) <= limit:
            return match.group()
        inner = match.group()[1:-1].partition(PHONEMES_WRITTEN)[0]  # the words: too long
        return " ".join(
            f"{PHONEMES_START}{part.strip()}{PHONEMES_END}"
            for part, _ in cap_text(inner, room)
            if part.strip()
        )

    return _PHONEME_RUN.sub(split, text)


class SentenceStream:
    """Turns text arriving in arbitrary pieces into speech pieces of at most `limit`
    characters.

    The first sentence may be released as a clause before the sentence is complete (as soon
    as a comma arrives), so speech starts while a language model is still writing. Text is
    read `limit` characters at a time, and text that has no sentence end after `limit`
    characters is cut (`cap_text`) and released, so the boundary detector never holds more
    than about two pieces: the work is linear in the text's length, whatever the text.
    """

    def __init__(self, policy: Optional[ClausePolicy] = None, limit: int = MAX_PIECE_CHARS):
        self._detector = SentenceBoundaryDetector()
        self._policy = policy or ClausePolicy()
        self._limit = limit
        self._first = True

    def add(self, chunk: str) -> List[Piece]:
        """Pieces completed by `chunk`."""
        pieces: List[Piece] = []
        for start in range(0, len(chunk), self._limit):
            pieces += self._add(chunk[start : start + self._limit])
        return pieces

    def finish(self) -> List[Piece]:
        """Whatever text is left once the stream ends."""
        return self._pieces([self._detector.finish()])

    def _add(self, text: str) -> List[Piece]:
        pieces = self._pieces(self._detector.add_chunk(text))
        if self._first and self._policy.enabled:
            pieces += self._early_clause()
        return pieces + self._overflow()

    def _pieces(self, sentences: Iterable[str], pause: float = SENTENCE_PAUSE) -> List[Piece]:
        pieces: List[Piece] = []
        for sentence in sentences:
            clean = clean_sentence(sentence)
            if not clean:
                continue
            if self._first:
                self._first = False
                found = split_first_clause(clean, self._policy)
                found[-1] = replace(found[-1], pause=pause)
            else:
                found = [Piece(clean, pause)]
            pieces += [part for piece in found for part in cap_piece(piece, self._limit)]
        return pieces

    def _overflow(self) -> List[Piece]:
        """Pieces cut from the front of the pending text once it is longer than a piece."""
        detector = self._detector
        pending = detector.current_sentence + detector.remaining_text
        if len(pending) <= self._limit:
            return []
        *parts, (rest, _) = cap_text(pending, self._limit)
        detector.current_sentence, detector.remaining_text = "", rest
        pieces: List[Piece] = []
        for text, pause in parts:
            pieces += self._pieces([text], pause)
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
        return cap_piece(Piece(clause, cut[1]), self._limit)


def split_text(text: str, policy: Optional[ClausePolicy] = None) -> List[Piece]:
    """All speech pieces of a whole text."""
    stream = SentenceStream(policy)
    return stream.add(text) + stream.finish()


def split_sentences(text: str) -> List[str]:
    """All sentences of a whole text, none cut into clauses."""
    return [piece.text for piece in split_text(text, ClausePolicy(enabled=False))]
