"""Word error rate between what was meant and what a recognizer heard.

Both sides are normalized the same way before comparing: lowercase, numbers, ordinals and
times read as words ("21" -> "twenty one", "3rd" -> "third", "10:30" and "10.30" -> "ten
thirty"; a number with exactly two decimals below 24 is read as a time),
hyphens as spaces, punctuation dropped.
"""

from __future__ import annotations

import re

_TIME = re.compile(r"\b([01]?\d|2[0-3])[:.]([0-5]\d)\b")  # 10:30, and 10.30 as Whisper writes it
# "at 1030": Whisper also writes a time after "at" without its colon
_CLOCK_AT = re.compile(r"\bat ([01]?\d|2[0-3])([0-5]\d)\b")
_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b")
_NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")
_NOT_WORD = re.compile(r"[^a-z' ]+")


def _words(number: str, to: str = "cardinal") -> str:
    from num2words import num2words

    return str(num2words(float(number) if "." in number else int(number), to=to))


def _time(match: re.Match[str]) -> str:
    hours, minutes = match.group(1), match.group(2)
    if minutes == "00":
        return f"{_words(hours)} o'clock"
    if minutes.startswith("0"):
        return f"{_words(hours)} oh {_words(minutes[1])}"
    return f"{_words(hours)} {_words(minutes)}"


def clock_times(text: str) -> str:
    """Whisper's "14.45" and "6.30 a.m." as clock times ("14:45"), the way they were meant."""
    return _TIME.sub(lambda match: f"{match.group(1)}:{match.group(2)}", text)


def normalize_words(text: str) -> str:
    """Text as the words a listener hears, for comparison."""
    text = text.lower().replace(",", "")  # "1,000" -> "1000"; commas are not words anyway
    text = _CLOCK_AT.sub(lambda match: f"at {match.group(1)}:{match.group(2)}", text)
    text = _TIME.sub(_time, text)
    text = _ORDINAL.sub(lambda match: _words(match.group(1), "ordinal"), text)
    text = _NUMBER.sub(lambda match: _words(match.group()), text)
    text = text.replace("-", " ").replace("’", "'")
    return " ".join(_NOT_WORD.sub(" ", text).split())


def word_error_rate(reference: str, heard: str) -> float:
    """WER of `heard` against `reference`, both normalized (jiwer does the alignment)."""
    import jiwer

    expected = normalize_words(reference)
    if not expected:
        raise ValueError("the reference has no words")
    return float(jiwer.wer(expected, normalize_words(heard) or "<nothing>"))
