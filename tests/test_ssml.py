"""SSML: parsed safely into spans of speech (text, voice, rate) and pauses."""

from __future__ import annotations

import pytest

from wyoming_polytts.engines.base import mark_phonemes
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
            [Span(f"Hi {mark_phonemes('ʃɪvˈɔːn')} .")],
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
