"""SSML: parsed safely into spans of speech (text, voice, rate) and pauses."""

from __future__ import annotations

import pytest

from wyoming_polytts.engines.base import mark_phonemes
from wyoming_polytts.presets import MAX_SPEED, MIN_SPEED
from wyoming_polytts.settings import (
    MAX_NUMBER_DIGITS,
    SSML_MAX_DEPTH,
    SSML_MAX_PAUSE_SECONDS,
    SSML_MAX_TOTAL_PAUSE_SECONDS,
)
from wyoming_polytts.speech import ssml
from wyoming_polytts.speech.ssml import Span, SsmlError, parse_ssml


@pytest.mark.parametrize(
    ("document", "spans"),
    [
        ("Hello there.", [Span("Hello there.")]),
        (
            "<speak>Hi <break time='900ms'/> you.</speak>",
            [Span("Hi"), Span(pause=0.9), Span("you.")],
        ),
        ("<speak>A<break time='1.5s'/>B</speak>", [Span("A"), Span(pause=1.5), Span("B")]),
        ("<speak>A<break strength='strong'/>B</speak>", [Span("A"), Span(pause=0.7), Span("B")]),
        ("<speak>A<break/>B</speak>", [Span("A"), Span(pause=0.4), Span("B")]),
        ("<speak>A<break time='99s'/>B</speak>", [Span("A"), Span(pause=10.0), Span("B")]),
        (
            "<speak><say-as interpret-as='characters'>HVAC</say-as> on</speak>",
            [Span("H V A C on")],
        ),
        ("<speak>Code <say-as interpret-as='digits'>1234</say-as></speak>", [Span("Code 1 2 3 4")]),
        (
            "<speak>The <say-as interpret-as='ordinal'>3</say-as> floor</speak>",
            [Span("The third floor")],
        ),
        ("<speak>At <say-as interpret-as='time'>14:45</say-as></speak>", [Span("At 14:45")]),
        ("<speak><sub alias='World Wide Web'>WWW</sub></speak>", [Span("World Wide Web")]),
        (
            "<speak>Hi <phoneme alphabet='ipa' ph='ʃɪvˈɔːn'>Siobhan</phoneme>.</speak>",
            [Span(f"Hi {mark_phonemes('ʃɪvˈɔːn', 'Siobhan')} .")],  # its word, for captions
        ),
        ("<speak><phoneme alphabet='x-sampa' ph='S'>Sh</phoneme></speak>", [Span("Sh")]),
        (
            "<speak><prosody rate='slow'>Slowly</prosody> now</speak>",
            [Span("Slowly", rate=0.8), Span("now")],
        ),
        ("<speak><prosody rate='150%'>Fast</prosody></speak>", [Span("Fast", rate=1.5)]),
        ("<speak><emphasis level='strong'>Stop</emphasis></speak>", [Span("Stop", rate=0.85)]),
        (
            "<speak><voice name='af_heart'>Hello.</voice><voice name='am_adam'>Hi!</voice></speak>",
            [Span("Hello.", voice="af_heart"), Span("Hi!", voice="am_adam")],
        ),
        ("<speak><unknown>Kept</unknown> text</speak>", [Span("Kept text")]),
        (
            "<speak><p>One</p><p>Two</p></speak>",
            [Span("One"), Span(pause=0.4), Span("Two"), Span(pause=0.4)],
        ),
        (
            "<speak xmlns='http://www.w3.org/2001/10/synthesis'>"
            "Namespaced <break time='1s'/></speak>",
            [Span("Namespaced"), Span(pause=1.0)],
        ),
    ],
)
def test_documents_become_spans(document: str, spans: list) -> None:
    assert parse_ssml(document) == spans


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<speak>&lol2;</speak>"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE speak [<!ENTITY secret SYSTEM "file:///etc/passwd">]><speak>&secret;</speak>"""


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (BILLION_LAUGHS, "refused"),
        (EXTERNAL, "refused"),
        ("<speak>unclosed", "well-formed"),
        ("<speak>a & b</speak>", "well-formed"),
        ("<?xml version='1.0'?><voice>Hi</voice>", "root"),
        ("<speak>A<break time='soon'/></speak>", "break time"),
        ("<speak>A<break strength='huge'/></speak>", "break strength"),
        ("<speak><prosody rate='warp'>x</prosody></speak>", "prosody rate"),
    ],
)
def test_bad_documents_are_refused_with_a_reason(document: str, message: str) -> None:
    with pytest.raises(SsmlError, match=message):
        parse_ssml(document)


def wrapped(tag: str, times: int, inner: str = "Hello there.") -> str:
    """`inner` inside `times` copies of the element `tag` (attributes included)."""
    return f"{f'<{tag}>' * times}{inner}{f'</{tag.split()[0]}>' * times}"


def nested(tag: str, times: int, inner: str = "Hello there.") -> str:
    """A document: `inner` inside `times` copies of the element `tag`."""
    return f"<speak>{wrapped(tag, times, inner)}</speak>"


@pytest.mark.parametrize(
    ("document", "bound"),
    [
        (nested("prosody rate='50%'", 8), MIN_SPEED),
        (nested("prosody rate='x-slow'", 30), MIN_SPEED),
        (nested("emphasis level='strong'", 30), MIN_SPEED),
        (nested("prosody rate='200%'", 20), MAX_SPEED),
        (nested("emphasis level='reduced'", 20, wrapped("prosody rate='x-fast'", 10)), MAX_SPEED),
    ],
)
def test_nested_rates_stay_within_the_engines_speeds(document: str, bound: float) -> None:
    (span,) = parse_ssml(document)
    assert span.rate == bound


def test_a_rate_inside_a_clamped_one_still_changes_it() -> None:
    """Clamped at every level: slower inside the fastest is slower than the fastest."""
    document = nested("prosody rate='200%'", 20, "<emphasis level='strong'>Go</emphasis>")
    assert parse_ssml(document) == [Span("Go", rate=MAX_SPEED * 0.85)]


def test_pauses_are_bounded_each_and_in_all() -> None:
    each = parse_ssml("<speak>A" + "<break time='9s'/>" * 5 + "B</speak>")
    assert each == [Span("A"), Span(pause=SSML_MAX_PAUSE_SECONDS), Span("B")]
    many = parse_ssml("<speak>" + "A<break time='10s'/>" * 100 + "</speak>")
    pauses = [span.pause for span in many if span.pause]
    assert sum(pauses) == SSML_MAX_TOTAL_PAUSE_SECONDS
    assert [span.text for span in many if not span.pause] == ["A"] * 100  # all still said


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    assert parse_ssml(nested("s", SSML_MAX_DEPTH - 1)) == [Span("Hello there.")]
    for depth in (SSML_MAX_DEPTH, 1200, 20_000):
        with pytest.raises(SsmlError, match="nested"):
            parse_ssml(nested("s", depth))


@pytest.mark.parametrize("kind", ["ordinal", "cardinal"])
def test_a_say_as_number_too_long_to_be_a_number_is_read_digit_by_digit(kind: str) -> None:
    digits = "9" * 400
    document = f"<speak>No. <say-as interpret-as='{kind}'>{digits}</say-as></speak>"
    assert parse_ssml(document) == [Span("No. " + " ".join(digits))]
    longest = "9" * MAX_NUMBER_DIGITS
    assert (
        "9 9"
        not in parse_ssml(f"<speak><say-as interpret-as='{kind}'>{longest}</say-as></speak>")[
            0
        ].text
    )


@pytest.mark.parametrize(
    "document",
    [
        "<speak><say-as interpret-as='ordinal'>²</say-as></speak>",  # a digit int() refuses
        "<speak><prosody rate='nan'>x</prosody></speak>",
    ],
)
def test_odd_values_are_read_or_refused_never_raised_otherwise(document: str) -> None:
    try:
        spans = parse_ssml(document)
    except SsmlError:
        return
    assert all(span.rate == span.rate for span in spans)  # no NaN rate


def test_any_failure_inside_the_parser_is_an_ssml_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise OverflowError("a library failed")

    monkeypatch.setattr(ssml, "_say_as", broken)
    with pytest.raises(SsmlError, match="OverflowError"):
        parse_ssml("<speak><say-as interpret-as='ordinal'>3</say-as></speak>")
