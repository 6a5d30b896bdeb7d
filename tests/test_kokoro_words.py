"""Written words matched with the phoneme words that say them, and timed by durations."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from wyoming_polytts.engines.kokoro.words import (
    LEAD_FRAMES,
    match_words,
    timed_words,
    written_words,
)


def said(phonemes: str, words: list) -> list:
    return [(span.word, phonemes[span.start : span.end]) for span in match_words(words, phonemes)]


def test_written_words_leave_out_punctuation_and_split_chinese_and_japanese() -> None:
    assert written_words('"Hello, world!" - it is 21:30.') == [
        "Hello",
        "world",
        "it",
        "is",
        "21:30",
    ]
    assert written_words("打开灯。好的") == ["打", "开", "灯", "好", "的"]
    assert written_words(" ... — ") == []


def test_equal_counts_pair_in_order_without_their_punctuation() -> None:
    phonemes = "həlˈO, wˈɜːld."
    assert said(phonemes, ["Hello", "world"]) == [("Hello", "həlˈO"), ("world", "wˈɜːld")]


def test_phoneme_words_the_g2p_joined_are_shared_by_their_written_words() -> None:
    # espeak-ng says "in the" as one word; every word after it keeps its own phonemes
    phonemes = "I tˈɜːnd ˈɔf ðə lˈIts ɪnðə kˈɪʧən ænd ðə hˈɔːlwA,"
    text = "I turned off the lights in the kitchen and the hallway,"
    matched = said(phonemes, written_words(text))
    assert matched[5:8] == [("in", "ɪn"), ("the", "ðə"), ("kitchen", "kˈɪʧən")]
    assert matched[-1] == ("hallway", "hˈɔːlwA")


def test_a_written_word_said_as_two_phoneme_words_gets_both() -> None:
    matched = said("twˈɛnti wˈʌn dɪɡɹˈiz", ["twenty-one", "degrees"])
    assert matched == [("twenty-one", "twˈɛnti wˈʌn"), ("degrees", "dɪɡɹˈiz")]


@given(
    st.lists(st.text("abcdefgh", min_size=1, max_size=9), min_size=1, max_size=20),
    st.lists(st.text("xyzˈː,.", min_size=1, max_size=9), min_size=1, max_size=20),
)
def test_spans_are_in_order_inside_the_phonemes_and_never_overlap(words: list, parts: list) -> None:
    phonemes = " ".join(parts)
    spans = match_words(words, phonemes, offset=7)
    if not spans:  # only punctuation: nothing is said
        assert all(set(part) <= set(",.") for part in parts)
        return
    assert [span.word for span in spans] == words
    end = 7
    for span in spans:
        assert 7 <= span.start <= span.end <= 7 + len(phonemes)
        assert span.start >= end or span.start == span.end or span.start == end - 1 == span.end - 1
        end = max(end, span.end)


def test_words_are_timed_by_the_durations_of_their_phonemes() -> None:
    phonemes = "ab cd."
    spans = match_words(["AB", "CD"], phonemes)
    # frames: leading pad 6, a 2, b 2, space 1, c 3, d 3, '.' 2, trailing pad 4
    durations = np.array([6, 2, 2, 1, 3, 3, 2, 4], dtype=np.float32)
    words = timed_words(spans, 0, len(phonemes), durations, 0, 600)
    lead = LEAD_FRAMES
    assert [(w.word, w.start, w.end) for w in words] == [
        ("AB", (6 - lead) * 600, (10 - lead) * 600),
        ("CD", (11 - lead) * 600, (17 - lead) * 600),
    ]
    # audio that begins 4 frames in, and a call that speaks only the second word
    later = timed_words(spans, 3, 3, np.array([5, 3, 3, 2, 4], np.float32), 4 * 600, 600)
    assert [(w.word, w.start, w.end) for w in later] == [
        ("CD", max(0, (5 - lead) * 600 - 2400), (11 - lead) * 600 - 2400)
    ]
