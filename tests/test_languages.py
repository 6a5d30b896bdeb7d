"""Each Kokoro voice in its language, with the real model (the embedded int8 export and the 54
voice packs from npm): the tag Home Assistant expects, that language's G2P and number reading,
and speech a listener of that language understands."""

from __future__ import annotations

import difflib
import re
import unicodedata
from pathlib import Path
from typing import Iterator, NamedTuple

import pytest

from wyoming_polytts import transcriber
from wyoming_polytts.audio import to_pcm16
from wyoming_polytts.engines.kokoro import KokoroEngine
from wyoming_polytts.engines.kokoro.g2p import LANGUAGE_BY_PREFIX, planned_g2p
from wyoming_polytts.engines.kokoro.runtime import SAMPLE_RATE
from wyoming_polytts.language_tags import primary
from wyoming_polytts.models import resolve_kokoro
from wyoming_polytts.pipeline import SpeechPipeline
from wyoming_polytts.scheduler import Scheduler
from wyoming_polytts.transcriber import Transcriber
from wyoming_polytts.voices import VoiceCatalog

from .helpers import assert_speech


class Sample(NamedTuple):
    """A sentence with a number, and the same sentence as its listener says it."""

    voice: str
    language: str
    text: str
    said: str  # the number in words: what normalization gives, or what the G2P must read
    normalized: bool  # num2words writes the number out; else the language's G2P reads digits


SAMPLES = [
    Sample("af_heart", "en-US", "It is 21 degrees.", "It is twenty-one degrees.", True),
    Sample("bf_emma", "en-GB", "It is 21 degrees.", "It is twenty-one degrees.", True),
    Sample("ef_dora", "es", "Hace 21 grados.", "Hace veintiuno grados.", True),
    Sample("ff_siwis", "fr", "Il fait 21 degrés.", "Il fait vingt et un degrés.", True),
    Sample("if_sara", "it", "Ci sono 21 gradi.", "Ci sono ventuno gradi.", True),
    Sample("pf_dora", "pt-BR", "Está fazendo 21 graus.", "Está fazendo vinte e um graus.", True),
    Sample("hf_alpha", "hi", "तापमान 21 डिग्री है।", "तापमान इक्कीस डिग्री है।", False),
    Sample("jf_alpha", "ja", "気温は21度です。", "気温は二十一度です。", False),
    Sample("zf_xiaobei", "zh", "温度是21度。", "温度是二十一度。", False),
]
# Sentences without numbers, in each language, for Whisper (which writes numbers as digits).
HEARD = {
    "es": ("ef_dora", "Las luces de la cocina están encendidas."),
    "fr": ("ff_siwis", "Les lumières de la cuisine sont allumées."),
    "it": ("if_sara", "Le luci della cucina sono accese."),
    "pt-BR": ("pf_dora", "As luzes da cozinha estão acesas."),
    "ja": ("jf_alpha", "台所の電気をつけました。"),
    "zh": ("zf_xiaobei", "厨房的灯已经打开了。"),
}
# Whisper base's character error rate on each sentence (Japanese and Chinese compared as
# phonemes): it must hear that language's words. Measured 2026-12-06 (embedded int8 model, npm
# packs): es 0.0, fr 0.03, it 0.07, pt-BR 0.04, ja 0.04, zh 0.0. A voice reading another
# language, or garbled speech, scores 0.5 and more.
MAX_CER = 0.25
# Hindi is left out: Whisper base writes the Hindi voices' speech in Urdu script (the words
# right: "आज मौसम अच्छा है।" -> "آج موسم اچھا ہے"), which no letter count can compare.
_NOT_LETTER = re.compile(r"[\W_]+")


def has_g2p(language: str) -> bool:
    return planned_g2p(language) is not None


@pytest.fixture(scope="module")
def engine(data_dir: Path) -> KokoroEngine:
    return KokoroEngine(resolve_kokoro(data_dir, download=False), threads=2)


@pytest.fixture(scope="module")
def pipeline() -> Iterator[SpeechPipeline]:
    scheduler = Scheduler(workers=1)
    yield SpeechPipeline(scheduler)
    scheduler.shutdown()


def test_every_voice_is_listed_with_the_tag_home_assistant_expects(engine: KokoroEngine) -> None:
    info = VoiceCatalog([engine]).info()
    voices = {voice.name: voice for voice in info.tts[0].voices}
    assert len(voices) == 54 and "af_heart" in voices
    tags = {voice.languages[0] for voice in voices.values()}
    assert tags == {"en-US", "en-GB", "es", "fr", "hi", "it", "ja", "pt-BR", "zh"}
    for name, voice in voices.items():
        language = LANGUAGE_BY_PREFIX[name[0]]
        english = ["en-US"] if language in ("ja", "zh") else []  # they read Latin as English
        assert voice.languages == [language, *english], name
        assert voice.installed == has_g2p(language), name
    assert all(voice.installed for voice in voices.values() if voice.languages[0] != "zh")


def test_british_voices_read_british_english(engine: KokoroEngine) -> None:
    british = engine.phonemizer.phonemize("The tomato is not on the car.", "en-GB")
    american = engine.phonemizer.phonemize("The tomato is not on the car.", "en-US")
    assert british != american
    assert "ɑː" in british and "ɒ" in british  # tomahto, the rounded "not"
    assert engine.phonemizer.describe("en-GB") in ("espeak-ng (en-gb)", planned_g2p("en-GB"))


@pytest.mark.parametrize("sample", SAMPLES, ids=[sample.language for sample in SAMPLES])
def test_each_language_reads_numbers_and_speaks(
    sample: Sample, engine: KokoroEngine, pipeline: SpeechPipeline
) -> None:
    if not has_g2p(sample.language):
        pytest.skip(f"no G2P for {sample.language} installed")
    spec = next(spec for spec in engine.voices() if spec.name == sample.voice)
    assert spec.languages[0] == sample.language and spec.installed
    spoken = pipeline.spoken_text(sample.text, spec.languages)
    if sample.normalized:  # written out by num2words in the voice's language
        assert spoken == sample.said
    else:  # the language's own G2P reads the digits as that language's number
        assert spoken == sample.text
        digits = engine.phonemizer.phonemize(spoken, sample.language)
        words = engine.phonemizer.phonemize(sample.said, sample.language)
        assert difflib.SequenceMatcher(None, digits, words).ratio() >= 0.8, (digits, words)
    audio = engine.synthesize(spoken, sample.voice, 1.0)
    assert_speech(to_pcm16(audio), SAMPLE_RATE, 0.8, 5.0)


def character_error_rate(reference: str, heard: str) -> float:
    """CER over letters only (case, accents' composition, punctuation and spaces aside)."""
    import jiwer

    def letters(text: str) -> str:
        return _NOT_LETTER.sub("", unicodedata.normalize("NFC", text).lower())

    return float(jiwer.cer(letters(reference), letters(heard) or "-"))


@pytest.mark.intelligibility
@pytest.mark.skipif(not transcriber.available(), reason="needs the [asr] extra")
@pytest.mark.parametrize("language", list(HEARD))
def test_whisper_hears_each_language(
    language: str, engine: KokoroEngine, whisper: Transcriber
) -> None:
    if not has_g2p(language):
        pytest.skip(f"no G2P for {language} installed")
    voice, text = HEARD[language]
    audio = engine.synthesize(text, voice, 1.0)
    heard = whisper.transcribe(audio, SAMPLE_RATE, language=primary(language))
    if language in ("ja", "zh"):  # as said: Whisper writes words in kana or kanji, in
        # traditional or simplified characters
        said = engine.phonemizer.phonemize(text, language)
        rate = character_error_rate(said, engine.phonemizer.phonemize(heard.text, language))
    else:
        rate = character_error_rate(text, heard.text)
    print(f"CER {rate:.3f}  {language} {text!r} -> {heard.text!r}")
    assert rate <= MAX_CER, heard.text
