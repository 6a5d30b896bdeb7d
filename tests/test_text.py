"""Sentence splitting of whole and streamed text."""

from __future__ import annotations

from wyoming_polytts.text import SentenceStream, clean_sentence, split_sentences


def test_whole_text_is_split_into_sentences() -> None:
    text = "It is 21.5 degrees today! Dr. Smith says hi. What?"
    assert split_sentences(text) == ["It is 21.5 degrees today!", "Dr. Smith says hi.", "What?"]


def test_streamed_pieces_give_the_same_sentences() -> None:
    text = "Hello there. It is 21.5 degrees today! Dr. Smith says hi. The end"
    stream = SentenceStream()
    done = []
    for start in range(0, len(text), 4):
        done += stream.add(text[start : start + 4])
    assert done == ["Hello there.", "It is 21.5 degrees today!", "Dr. Smith says hi."]
    assert stream.finish() == ["The end"]


def test_a_sentence_is_released_only_once_complete() -> None:
    stream = SentenceStream()
    assert stream.add("The first sentence. The sec") == ["The first sentence."]
    assert stream.add("ond one") == []
    assert stream.finish() == ["The second one"]


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
