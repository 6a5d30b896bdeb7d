"""SSML in, spans of speech out: text with its voice and rate, and the pauses between.

Parsed with defusedxml, so entity expansion, external entities and DTDs are refused.
Supported: `speak`, `p`, `s`, `break` (time, strength), `say-as` (characters, spell-out,
cardinal, ordinal, digits, date, time, telephone), `sub` (alias), `phoneme` (IPA), `prosody`
(rate), `emphasis` (a slower rate) and `voice` (name). Unknown elements keep their text.

What a document may ask for is bounded: nested rates multiply within the engines' speeds
(`MIN_SPEED`...`MAX_SPEED`), pauses and nesting depth are held to the `SSML_*` limits in
`settings`, a `say-as` number longer than `MAX_NUMBER_DIGITS` is read digit by digit, and every
failure to read a document is an `SsmlError`.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, replace
from typing import Iterator, List, Optional

import defusedxml.ElementTree as SafeElementTree
from defusedxml import DefusedXmlException

from ..engines.base import mark_phonemes
from ..presets import clamp_speed
from ..settings import (
    MAX_NUMBER_DIGITS,
    SSML_MAX_DEPTH,
    SSML_MAX_PAUSE_SECONDS,
    SSML_MAX_TOTAL_PAUSE_SECONDS,
)

BREAK_STRENGTHS = {
    "none": 0.0,
    "x-weak": 0.1,
    "weak": 0.2,
    "medium": 0.4,
    "strong": 0.7,
    "x-strong": 1.2,
}
RATES = {"x-slow": 0.6, "slow": 0.8, "medium": 1.0, "default": 1.0, "fast": 1.25, "x-fast": 1.5}
EMPHASIS_RATES = {"strong": 0.85, "moderate": 0.92, "none": 1.0, "reduced": 1.08}
_TIME = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*$")
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_DOCUMENT = re.compile(r"^\s*<(?:\?xml|!|speak[\s>/])")  # else a bare text, wrapped


class SsmlError(ValueError):
    """A document that cannot be read as SSML, with what is wrong."""


@dataclass(frozen=True)
class Span:
    """Text said with one voice and rate, or a pause (`pause` seconds, no text)."""

    text: str = ""
    voice: Optional[str] = None  # None: the request's voice
    rate: float = 1.0
    pause: float = 0.0


@dataclass(frozen=True)
class _Style:
    voice: Optional[str] = None
    rate: float = 1.0


def parse_ssml(document: str) -> List[Span]:
    """The spans of an SSML document (a bare text without `<speak>` is wrapped in one).

    Raises `SsmlError` for any document that cannot be read, whatever failed inside.
    """
    try:
        return _parse(document)
    except SsmlError:
        raise
    except Exception as err:  # noqa: BLE001 - a client's document must never break a request
        raise SsmlError(f"The SSML cannot be read: {type(err).__name__}: {err}"[:300]) from err


def _parse(document: str) -> List[Span]:
    if not _DOCUMENT.match(document):
        document = f"<speak>{document}</speak>"
    try:
        root = SafeElementTree.fromstring(document)
    except DefusedXmlException as err:
        raise SsmlError(f"SSML refused: {type(err).__name__} (no DTDs or entities)") from None
    except ElementTree.ParseError as err:
        raise SsmlError(f"The SSML is not well-formed XML: {err}") from None
    if _name(root) != "speak":
        raise SsmlError(f"SSML must have <speak> as its root, not <{_name(root)}>")
    _check_depth(root)
    return _bounded_pauses(_merge(list(_walk(root, _Style()))))


def _check_depth(root: ElementTree.Element) -> None:
    """Refuse elements nested deeper than `SSML_MAX_DEPTH` (the walk recurses per level)."""
    level = [root]
    for _ in range(SSML_MAX_DEPTH):
        level = [child for element in level for child in element]
        if not level:
            return
    raise SsmlError(f"SSML elements are nested more than {SSML_MAX_DEPTH} deep")


def _name(element: ElementTree.Element) -> str:
    return str(element.tag).rsplit("}", 1)[-1].lower()


def _walk(element: ElementTree.Element, style: _Style) -> Iterator[Span]:
    """Spans of `element`'s content (its tail belongs to the parent)."""
    name = _name(element)
    if name == "break":
        yield Span(pause=_break_seconds(element))
        return
    said = _said(element, name)
    if said is not None:
        yield Span(said, style.voice, style.rate)
        return
    style = _styled(element, name, style)
    if element.text:
        yield Span(element.text, style.voice, style.rate)
    for child in element:
        yield from _walk(child, style)
        if child.tail:
            yield Span(child.tail, style.voice, style.rate)
    if name in ("p", "s"):
        yield Span(pause=BREAK_STRENGTHS["medium"] if name == "p" else 0.0)


def _said(element: ElementTree.Element, name: str) -> Optional[str]:
    """What `sub`, `phoneme` and `say-as` say instead of their text; None for others."""
    text = "".join(element.itertext())
    if name == "sub":
        return element.get("alias", text)
    if name == "phoneme":
        ipa = element.get("ph", "")
        alphabet = element.get("alphabet", "ipa").lower()
        return f" {mark_phonemes(ipa, text)} " if ipa and alphabet == "ipa" else text
    if name == "say-as":
        return _say_as(element.get("interpret-as", "").lower(), text)
    return None


def _say_as(kind: str, text: str) -> str:
    if kind in ("characters", "spell-out", "letters"):
        return " ".join(char for char in text if not char.isspace())
    if kind == "digits":
        return " ".join(char for char in text if char.isdigit())
    number = text.strip()
    if kind in ("ordinal", "cardinal") and number.isdecimal() and len(number) > MAX_NUMBER_DIGITS:
        return " ".join(number)  # too long to be read as a number: digit by digit
    if kind == "ordinal" and number.isdecimal():
        from num2words import num2words

        return str(num2words(int(number), to="ordinal"))
    return text  # cardinal, date, time, telephone: what the normalizer reads them as


def _styled(element: ElementTree.Element, name: str, style: _Style) -> _Style:
    if name == "voice" and element.get("name"):
        return replace(style, voice=element.get("name"))
    if name == "prosody" and element.get("rate"):
        return replace(style, rate=clamp_speed(style.rate * _rate(str(element.get("rate")))))
    if name == "emphasis":
        level = element.get("level", "moderate").lower()
        return replace(style, rate=clamp_speed(style.rate * EMPHASIS_RATES.get(level, 1.0)))
    return style


def _rate(value: str) -> float:
    value = value.strip().lower()
    if value in RATES:
        return RATES[value]
    percent = _PERCENT.match(value)
    try:
        rate = float(percent.group(1)) / 100 if percent else float(value)
        if not math.isfinite(rate):
            raise ValueError(value)
    except ValueError:
        raise SsmlError(
            f"prosody rate {value!r} is not a rate (x-slow ... x-fast, 80%, 1.2)"
        ) from None
    return min(max(rate, 0.5), 2.0)


def _break_seconds(element: ElementTree.Element) -> float:
    time = element.get("time")
    if time is not None:
        match = _TIME.match(time)
        if match is None:
            raise SsmlError(f"break time {time!r} is not a time such as 500ms or 1.5s")
        seconds = float(match.group(1)) / (1000 if match.group(2) == "ms" else 1)
        return min(seconds, SSML_MAX_PAUSE_SECONDS)
    strength = element.get("strength", "medium").lower()
    if strength not in BREAK_STRENGTHS:
        raise SsmlError(f"break strength {strength!r} is not one of {', '.join(BREAK_STRENGTHS)}")
    return BREAK_STRENGTHS[strength]


def _merge(spans: List[Span]) -> List[Span]:
    """Neighbouring text of one voice and rate joined; pauses added up; nothing empty."""
    merged: List[Span] = []
    for span in spans:
        if not span.pause and not span.text.strip():
            if merged and not merged[-1].pause and span.text:
                merged[-1] = replace(merged[-1], text=merged[-1].text + span.text)
            continue
        last = merged[-1] if merged else None
        if last is not None and span.pause and last.pause:
            merged[-1] = replace(last, pause=last.pause + span.pause)
        elif (
            last is not None
            and not span.pause
            and not last.pause
            and (last.voice, last.rate) == (span.voice, span.rate)
        ):
            merged[-1] = replace(last, text=last.text + span.text)
        else:
            merged.append(span)
    return [
        replace(span, text=" ".join(span.text.split())) if not span.pause else span
        for span in merged
        if span.pause or span.text.strip()
    ]


def _bounded_pauses(spans: List[Span]) -> List[Span]:
    """Each pause held to `SSML_MAX_PAUSE_SECONDS`, all of them together to
    `SSML_MAX_TOTAL_PAUSE_SECONDS`: pauses past that total are shortened or left out."""
    left = SSML_MAX_TOTAL_PAUSE_SECONDS
    bounded: List[Span] = []
    for span in spans:
        if span.pause:
            pause = min(span.pause, SSML_MAX_PAUSE_SECONDS, left)
            left -= pause
            if pause <= 0:
                continue
            span = replace(span, pause=pause)
        bounded.append(span)
    return bounded
