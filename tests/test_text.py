"""Splitting whole and streamed text into sentences and a short first clause."""

from __future__ import annotations

from typing import List

from wyoming_polytts.engines.base import mark_phonemes, split_phonemes_runs
from wyoming_polytts.settings import MAX_PIECE_CHARS
from wyoming_polytts.text import (
    CLAUSE_PAUSE,
    SENTENCE_PAUSE,
    WORD_PAUSE,
    ClausePolicy,
    Piece,
    SentenceStream,
    cap_text,
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


# -- no piece is longer than MAX_PIECE_CHARS -----------------------------------------------


def _words(pieces: List[Piece]) -> List[str]:
    return " ".join(_texts(pieces)).split()


def test_a_long_sentence_is_cut_at_its_last_clause_mark_before_the_cap() -> None:
    clause = "the lights in the hall are on, "  # 31 characters
    text = clause * 20 + "and that is all."
    pieces = split_text(text, WHOLE)
    assert all(len(piece.text) <= MAX_PIECE_CHARS for piece in pieces)
    assert _words(pieces) == text.split()
    cuts = pieces[:-1]
    assert [len(piece.text) for piece in cuts] == [30 + 31 * 10] * len(cuts)  # 11 clauses
    assert all(piece.text.endswith("on,") and piece.pause == CLAUSE_PAUSE for piece in cuts)
    assert pieces[-1].pause == SENTENCE_PAUSE


def test_a_long_sentence_without_clauses_is_cut_at_its_last_space() -> None:
    text = "word " * 200 + "end."
    pieces = split_text(text, WHOLE)
    assert [len(piece.text) for piece in pieces] == [
        349,
        349,
        304,
    ]  # 70 + 70 + 60 words and the end
    assert [piece.pause for piece in pieces] == [WORD_PAUSE, WORD_PAUSE, SENTENCE_PAUSE]
    assert _words(pieces) == text.split()


def test_a_word_longer_than_the_cap_is_cut_where_it_reaches_it() -> None:
    word = "x" * (2 * MAX_PIECE_CHARS + 10)
    pieces = split_text(f"Say {word} now.", WHOLE)
    assert _texts(pieces) == [
        "Say",
        word[:MAX_PIECE_CHARS],
        word[MAX_PIECE_CHARS : 2 * MAX_PIECE_CHARS],
        word[2 * MAX_PIECE_CHARS :] + " now.",
    ]


def test_abbreviations_without_end_become_short_pieces_and_lose_no_word() -> None:
    """`sentence-stream` reads every "Dr." as an abbreviation: one sentence of 10,000
    characters, which was one engine call of about 30 s."""
    text = "Dr. " * 2500
    for pieces in (split_text(text), split_text(text, WHOLE)):
        assert len(pieces) > 10_000 // MAX_PIECE_CHARS
        assert all(len(piece.text) <= MAX_PIECE_CHARS for piece in pieces)
        assert _words(pieces) == text.split()


def test_a_streamed_sentence_without_end_is_released_as_it_grows() -> None:
    """A stream is spoken as it comes even if it has no sentence end (and the text the
    sentence detector holds stays small, whatever the length of the stream)."""
    stream = SentenceStream(WHOLE)
    released: List[Piece] = []
    for _ in range(300):
        released += stream.add("and then ")
    assert len(released) >= 300 * 9 // MAX_PIECE_CHARS - 1
    assert all(len(piece.text) <= MAX_PIECE_CHARS for piece in released)
    assert _words(released + stream.finish()) == ("and then " * 300).split()


def test_one_huge_chunk_is_cut_like_the_same_text_in_small_ones() -> None:
    text = "Fine. " + "Dr. " * 500 + "The end, said the doctor. " * 30
    whole = SentenceStream(WHOLE)
    pieces = whole.add(text) + whole.finish()
    assert all(len(piece.text) <= MAX_PIECE_CHARS for piece in pieces)
    assert _words(pieces) == text.split()
    assert pieces[0] == Piece("Fine.")


def test_phonemes_are_never_cut_and_a_long_run_stays_phonemes() -> None:
    ipa = mark_phonemes("ˈzɪɡ.biː")  # IPA has dots, which are no sentence ends
    text = " ".join([ipa] * 80)
    parts = [part for part, _ in cap_text(text, 100)]
    assert all(len(part.strip()) <= 100 for part in parts)
    assert "".join(parts) == text
    assert all(
        run == (True, "ˈzɪɡ.biː") for part in parts for run in split_phonemes_runs(part) if run[0]
    )
    long_run = mark_phonemes("ə" * 250)
    parts = [part for part, _ in cap_text(f"say {long_run} now", 100)]
    assert all(len(part.strip()) <= 100 for part in parts)
    runs = [run for part in parts for run in split_phonemes_runs(part)]
    assert "".join(phonemes for is_ipa, phonemes in runs if is_ipa) == "ə" * 250
    assert "".join(part for is_ipa, part in runs if not is_ipa).split() == ["say", "now"]
