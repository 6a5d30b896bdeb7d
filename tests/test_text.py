"""Splitting whole and streamed text into sentences and a short first clause."""

from __future__ import annotations

from typing import List

from wyoming_polytts.text import (
    CLAUSE_PAUSE,
    SENTENCE_PAUSE,
    WORD_PAUSE,
    ClausePolicy,
    Piece,
    SentenceStream,
    clean_sentence,
    split_first_clause,
    split_sentences,
    split_text,
)

WHOLE = ClausePolicy(enabled=False)


def _texts(pieces: List[Piece]) -> List[str]:
    return [piece.text for piece in pieces]


def test_whole_text_is_split_into_sentences() -> None:
    text = "It is 21.5 degrees today! Dr. Smith says hi. What?"
    assert split_sentences(text) == ["It is 21.5 degrees today!", "Dr. Smith says hi.", "What?"]


def test_streamed_pieces_give_the_same_sentences() -> None:
    text = "Hello there. It is 21.5 degrees today! Dr. Smith says hi. The end"
    stream = SentenceStream(WHOLE)
    done: List[Piece] = []
    for start in range(0, len(text), 4):
        done += stream.add(text[start : start + 4])
    assert _texts(done) == ["Hello there.", "It is 21.5 degrees today!", "Dr. Smith says hi."]
    assert _texts(stream.finish()) == ["The end"]


def test_a_sentence_is_released_only_once_complete() -> None:
    stream = SentenceStream(WHOLE)
    assert _texts(stream.add("The first sentence. The sec")) == ["The first sentence."]
    assert stream.add("ond one") == []
    assert _texts(stream.finish()) == ["The second one"]


def test_markdown_and_unspeakable_pieces_are_dropped() -> None:
    assert clean_sentence("  **Bold** words. ") == "Bold words."
    assert clean_sentence(" ... ") == ""
    assert split_sentences("") == []
    assert split_sentences("   \n ") == []


def test_japanese_sentences() -> None:
    assert split_sentences("今日は晴れです。明日は雨です。") == [
        "今日は晴れです。",
        "明日は雨です。",
    ]


def test_a_long_first_sentence_starts_with_its_first_clause() -> None:
    text = "Today in Berlin, it will be mostly sunny with a high of 21 degrees. Later, it rains."
    assert split_text(text) == [
        Piece("Today in Berlin,", CLAUSE_PAUSE),
        Piece("it will be mostly sunny with a high of 21 degrees.", SENTENCE_PAUSE),
        Piece("Later, it rains.", SENTENCE_PAUSE),  # only the first sentence is cut
    ]


def test_without_a_comma_the_cut_comes_before_a_conjunction_or_preposition() -> None:
    assert split_first_clause(
        "Today will be sunny with a high of twenty degrees.", ClausePolicy()
    ) == [
        Piece("Today will be sunny", WORD_PAUSE),
        Piece("with a high of twenty degrees.", SENTENCE_PAUSE),
    ]


def test_short_or_uncuttable_sentences_stay_whole() -> None:
    policy = ClausePolicy()
    for sentence in (
        "The living room lights are now off.",  # short
        "Yes, the big red fire truck is parked outside now.",  # clause too short
        "It costs 1,000 dollars per square metre of the finest marble flooring.",  # no break
        "今日は、とても良い天気で、気温は二十一度まで上がるでしょう。",  # no spaces, one word
    ):
        assert split_first_clause(sentence, policy) == [Piece(sentence)]
    assert split_text("Today in Berlin, it will be mostly sunny all day long.", WHOLE) == [
        Piece("Today in Berlin, it will be mostly sunny all day long.")
    ]


def test_a_number_with_a_comma_is_not_a_clause() -> None:
    pieces = split_text("It costs 1,000 dollars, which is a lot of money for a lamp.")
    assert _texts(pieces) == ["It costs 1,000 dollars,", "which is a lot of money for a lamp."]


def test_a_streamed_first_clause_is_released_before_its_sentence_ends() -> None:
    stream = SentenceStream()
    assert stream.add("Today in Berl") == []
    assert stream.add("in, it will") == [Piece("Today in Berlin,", CLAUSE_PAUSE)]
    assert stream.add(" be sunny. Later, it") == [Piece("it will be sunny.")]
    assert stream.add(" rains all day long, they say.") == []
    assert stream.finish() == [Piece("Later, it rains all day long, they say.")]
