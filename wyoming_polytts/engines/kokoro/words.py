"""Where each word of a text is spoken: its written words matched with the words of its
phonemes, then timed by the durations the front predicts for each phoneme.

The G2P keeps the text's word breaks as spaces between phoneme words. Where a run of text has
as many written words as phoneme words, they are paired in order. Where the counts differ
(espeak-ng says "in the" as one word; Chinese and Japanese text has no spaces), they are
aligned by their lengths, and written words that share one phoneme word share its letters:
their times are then an estimate within that phoneme word, never outside it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..base import WordTiming

# A word is heard this many frames before the frames its phonemes are given: the decoder's
# audio leads its alignment (Kokoro's own timestamps take 3 frames off as well). Against
# Whisper's word timestamps on the benchmark texts, starts moved from a median of 115 ms late
# to 45 ms (script/benchmark_captions.py).
LEAD_FRAMES = 3
# Kokoro's punctuation symbols: they make pauses, not words.
PUNCTUATION = frozenset(";:,.!?¡¿—…\"«»“”()[]{}-'")
_CJK = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_TEXT_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class PhonemeSpan:
    """A written word and the phoneme symbols that say it: [start, end) in the phoneme
    string the engine is given."""

    word: str
    start: int
    end: int


def written_words(text: str) -> List[str]:
    """The words of `text` as a caption shows them: split at spaces, with the punctuation
    around each word removed; a CJK character is a word of its own."""
    words: List[str] = []
    for match in _TEXT_WORD.finditer(text):
        word = match.group().strip("".join(PUNCTUATION) + "、。，！？：；「」『』（）")
        if not word:
            continue
        if _CJK.search(word):
            words.extend(char for char in word if _CJK.match(char) or char.isalnum())
        else:
            words.append(word)
    return words


def _letters(phonemes: str) -> List[Tuple[int, int]]:
    """[start, end) of each phoneme word in `phonemes`, its punctuation left out."""
    spans = []
    for match in _TEXT_WORD.finditer(phonemes):
        positions = [
            match.start() + index
            for index, symbol in enumerate(match.group())
            if symbol not in PUNCTUATION
        ]
        if positions:
            spans.append((positions[0], positions[-1] + 1))
    return spans


def match_words(written: Sequence[str], phonemes: str, offset: int = 0) -> List[PhonemeSpan]:
    """Each written word with the phonemes that say it, `offset` added to their places.

    Counts that agree pair words in order. Otherwise the words are aligned in order, each
    group of up to `GROUP` written words with up to `GROUP` phoneme words, at the least cost
    in how far their lengths disagree (`_align`); within a group the written words share its
    phoneme letters in proportion to their lengths. Spans are in order and never overlap.
    """
    spans = _letters(phonemes)
    if not written or not spans:
        return []
    if len(written) == len(spans):
        return [
            PhonemeSpan(word, offset + start, offset + end)
            for word, (start, end) in zip(written, spans, strict=True)
        ]
    groups = _align(written, spans)
    if groups is None:  # far more words on one side than steps can pair: share them all
        groups = [((0, len(written)), (0, len(spans)))]
    matched: List[PhonemeSpan] = []
    for (first, last), (low, high) in groups:
        letters = [position for start, end in spans[low:high] for position in range(start, end)]
        matched.extend(_share(written[first:last], letters, offset))
    return matched


GROUP = 3  # the most words on either side of one step of the alignment
_UNEQUAL = 0.35  # the cost of a step that is not one word for one


def _align(
    written: Sequence[str], spans: Sequence[Tuple[int, int]]
) -> Optional[List[Tuple[Tuple[int, int], Tuple[int, int]]]]:
    """Written words and phoneme words in matching groups, in order: ((first, last) written,
    (low, high) phoneme words) each, by dynamic programming over their lengths; None when
    one side has more than `GROUP` times the words of the other."""
    lengths = [max(1, len(word)) for word in written]
    sizes = [end - start for start, end in spans]
    ratio = sum(sizes) / sum(lengths)  # phoneme symbols per letter in this run
    n, m = len(written), len(spans)
    cost = np.full((n + 1, m + 1), np.inf)
    step = np.zeros((n + 1, m + 1, 2), dtype=np.int64)
    cost[0, 0] = 0.0
    for i in range(n + 1):
        for j in range(m + 1):
            if not np.isfinite(cost[i, j]):
                continue
            for a in range(1, GROUP + 1):
                for b in range(1, GROUP + 1):
                    if (a > 1 and b > 1) or i + a > n or j + b > m:
                        continue
                    said = sum(sizes[j : j + b]) / (ratio * sum(lengths[i : i + a]))
                    total = cost[i, j] + abs(np.log(said)) + (_UNEQUAL if a + b > 2 else 0.0)
                    if total < cost[i + a, j + b]:
                        cost[i + a, j + b] = total
                        step[i + a, j + b] = (a, b)
    if not np.isfinite(cost[n, m]):
        return None
    groups = []
    i, j = n, m
    while i or j:
        a, b = (int(value) for value in step[i, j])
        groups.append(((i - a, i), (j - b, j)))
        i, j = i - a, j - b
    return groups[::-1]


def _share(words: Sequence[str], letters: Sequence[int], offset: int) -> List[PhonemeSpan]:
    """`words` said by the phoneme `letters` (their places, in order), shared in proportion
    to the words' lengths, each getting at least one letter while there are enough."""
    lengths = np.array([max(1, len(word)) for word in words], dtype=np.float64)
    bounds = np.concatenate([[0.0], np.cumsum(lengths) / lengths.sum()]) * len(letters)
    shared: List[PhonemeSpan] = []
    first = 0
    for index, word in enumerate(words):
        if index == len(words) - 1:
            last = len(letters)
        else:
            wanting = len(words) - index - 1  # later words, each wanting a letter
            last = min(max(int(round(bounds[index + 1])), first + 1), len(letters) - wanting)
            last = max(last, first)
        if last > first:
            start, end = letters[first], letters[last - 1] + 1
        else:  # more words than letters: this word shares its neighbour's place
            start = end = letters[min(first, len(letters) - 1)]
        shared.append(PhonemeSpan(word, offset + start, offset + end))
        first = last
    return shared


def timed_words(
    spans: Sequence[PhonemeSpan],
    piece_start: int,
    piece_length: int,
    durations: np.ndarray,
    first_sample: int,
    samples_per_frame: int,
) -> List[WordTiming]:
    """The words of one model call, in samples of its audio.

    The call spoke the phoneme symbols [piece_start, piece_start + piece_length); `durations`
    are the front's frames for each of them with the padding at both ends; its audio began
    at `first_sample` of the frames' timeline (the stream's first sample, made negative when
    the stream leaves out part of the leading padding).
    """
    frames = np.concatenate([[0.0], np.cumsum(np.asarray(durations, dtype=np.float64))])
    words = []
    for span in spans:
        start, end = span.start - piece_start, span.end - piece_start
        if not 0 <= start < piece_length:
            continue  # said by another call (each word belongs to the call it starts in)
        end = min(end, piece_length)
        # symbol k is the call's token k + 1 (after the leading pad)
        begin = int(frames[start + 1] - LEAD_FRAMES) * samples_per_frame - first_sample
        finish = int(frames[end + 1] - LEAD_FRAMES) * samples_per_frame - first_sample
        words.append(WordTiming(span.word, max(0, begin), max(0, finish)))
    return words
