"""The Kokoro engine on the real onnxruntime with the embedded int8 model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from wyoming_polytts.audio import to_pcm16
from wyoming_polytts.engines.base import SynthesisError, mark_phonemes
from wyoming_polytts.engines.kokoro.g2p import Phonemizer, text_language, voice_language
from wyoming_polytts.engines.kokoro.runtime import (
    MAX_PHONEMES,
    SAMPLE_RATE,
    KokoroEngine,
    load_vocab,
    split_phonemes,
)
from wyoming_polytts.engines.kokoro.voices import load_voice_packs, parse_blend
from wyoming_polytts.models import KokoroFiles, resolve_kokoro

from .helpers import assert_speech


@pytest.fixture(scope="module")
def embedded(data_dir: Path) -> KokoroFiles:
    return resolve_kokoro(data_dir, download=False)


@pytest.fixture(scope="module")
def engine(embedded: KokoroFiles) -> KokoroEngine:
    return KokoroEngine(embedded, threads=2)


def test_split_phonemes_prefers_punctuation_then_spaces() -> None:
    assert split_phonemes("abc, def. ghi", limit=9) == ["abc, def.", "ghi"]
    assert split_phonemes("abc, def ghi jk", limit=12) == ["abc,", "def ghi jk"]
    assert split_phonemes("aaaa bbbb cccc", limit=9) == ["aaaa bbbb", "cccc"]
    assert split_phonemes("x" * 25, limit=10) == ["x" * 10, "x" * 10, "x" * 5]
    pieces = split_phonemes(" ".join(["ðə kˈæt sˈæt,"] * 100))
    assert all(len(piece) <= MAX_PHONEMES for piece in pieces) and len(pieces) > 1


def test_language_of_voices_and_text() -> None:
    assert voice_language("af_heart") == "en-US"
    assert voice_language("bm_george") == "en-GB"
    assert voice_language("pf_dora") == "pt-BR"
    assert voice_language("xx_unknown") is None
    assert text_language("Hello there.", "ja") == "en-US"
    assert text_language("今日は。", "ja") == "ja"
    assert text_language("Hola.", "es") == "es"


def test_phonemizer_speaks_the_kokoro_alphabet(embedded: KokoroFiles) -> None:
    vocab = load_vocab(embedded.vocab)
    phonemizer = Phonemizer()
    for text, language in [("Hello world.", "en-US"), ("こんにちは。", "ja"), ("Bonjour.", "fr")]:
        phonemes = phonemizer.phonemize(text, language)
        assert phonemes and all(symbol in vocab for symbol in phonemes), phonemes
    assert phonemizer.describe("en-GB").startswith(("espeak-ng", "misaki"))


def test_engine_speaks_english_and_japanese(engine: KokoroEngine) -> None:
    english = engine.synthesize("The kitchen lights are now on.", "jf_alpha", 1.0)
    japanese = engine.synthesize("台所の電気をつけました。", "jm_kumo", 1.0)
    assert english.dtype == np.float32 and japanese.dtype == np.float32
    assert_speech(to_pcm16(english), SAMPLE_RATE, 1.0, 5.0)
    assert_speech(to_pcm16(japanese), SAMPLE_RATE, 1.0, 5.0)


def test_speed_changes_duration(engine: KokoroEngine) -> None:
    text = "The kitchen lights are now on."
    normal = engine.synthesize(text, "jf_alpha", 1.0)
    fast = engine.synthesize(text, "jf_alpha", 1.5)
    assert len(fast) < 0.85 * len(normal)


def test_a_sentence_longer_than_the_model_context_is_spoken_whole(engine: KokoroEngine) -> None:
    text = ", ".join(["the quick brown fox jumps over the lazy dog"] * 14) + "."
    phonemes = engine.phonemizer.phonemize(text, "en-US")
    assert len(phonemes) > MAX_PHONEMES
    audio = engine.synthesize(text, "jf_alpha", 1.0)
    one = engine.synthesize("the quick brown fox jumps over the lazy dog.", "jf_alpha", 1.0)
    assert len(audio) > 8 * len(one)  # nothing was cut off at the context limit


def test_unknown_voice_is_an_error(engine: KokoroEngine) -> None:
    with pytest.raises(SynthesisError, match="nobody"):
        engine.synthesize("Hello.", "nobody", 1.0)


def test_voices_list_languages(engine: KokoroEngine) -> None:
    voices = {spec.name: spec for spec in engine.voices()}
    assert voices["jf_alpha"].languages == ["ja", "en-US"]
    assert all(spec.installed for spec in voices.values())


def test_downloaded_layout_with_input_ids_model(embedded: KokoroFiles, tmp_path: Path) -> None:
    """The layout and input names of the hub's ONNX export, built from the embedded files."""
    import onnx

    folder = tmp_path / "kokoro" / "int8"
    (folder / "onnx").mkdir(parents=True)
    (folder / "voices").mkdir()
    model = onnx.load(str(embedded.model))
    for node in model.graph.node:
        node.input[:] = ["input_ids" if name == "tokens" else name for name in node.input]
    for graph_input in model.graph.input:
        if graph_input.name == "tokens":
            graph_input.name = "input_ids"
    onnx.save(model, str(folder / "onnx" / "model_quantized.onnx"))
    for name, pack in load_voice_packs(embedded.voices).items():
        pack.astype(np.float32).tofile(folder / "voices" / f"{name}.bin")
    vocab = json.loads(Path(str(embedded.vocab)).read_text(encoding="utf-8"))["vocab"]
    (folder / "tokenizer.json").write_text(
        json.dumps({"model": {"vocab": vocab}}), encoding="utf-8"
    )
    (folder / ".complete").write_text("ok\n", encoding="utf-8")

    files = resolve_kokoro(tmp_path)
    assert files.source == "data dir"
    hub_engine = KokoroEngine(files, threads=2)
    assert {spec.name for spec in hub_engine.voices()} == set(load_voice_packs(embedded.voices))
    audio = hub_engine.synthesize("Good morning.", "jf_nezumi", 1.0)
    assert_speech(to_pcm16(audio), SAMPLE_RATE, 0.5, 4.0)


def test_blend_weights_are_parsed_and_normalized() -> None:
    assert parse_blend("jf_alpha(1)+jm_kumo(3)") == {"jf_alpha": 0.25, "jm_kumo": 0.75}
    assert parse_blend("jf_alpha + jm_kumo") == {"jf_alpha": 0.5, "jm_kumo": 0.5}
    for bad in ("jf_alpha(x)+jm_kumo", "jf_alpha()+", "jf_alpha(0)+jm_kumo(0)", "../etc(1)+a"):
        with pytest.raises(SynthesisError):
            parse_blend(bad)


def test_a_blend_speaks_with_the_averaged_pack(engine: KokoroEngine) -> None:
    spec = engine.custom_voice("af_heart(1)+am_michael(1)")
    assert spec is not None and spec.languages == ["en-US"] and spec.installed
    assert engine.custom_voice("jf_alpha") is None
    with pytest.raises(SynthesisError, match="nobody"):
        engine.custom_voice("jf_alpha+nobody")
    text = "The kitchen lights are now on."
    blend = engine.synthesize(text, "af_heart(1)+am_michael(1)", 1.0)
    assert_speech(to_pcm16(blend), SAMPLE_RATE, 1.0, 5.0)
    heart = engine.synthesize(text, "af_heart", 1.0)
    michael = engine.synthesize(text, "am_michael", 1.0)
    assert not np.array_equal(blend[: len(heart)], heart[: len(blend)])
    assert not np.array_equal(blend[: len(michael)], michael[: len(blend)])


def test_marked_phonemes_are_spoken_as_phonemes(engine: KokoroEngine) -> None:
    """IPA from the lexicon or SSML reaches the model as it is; the words around it go
    through the G2P, all in one phoneme string (one inference, one prosody)."""
    plain = engine._phonemes("Turn on the lights.", "en-US")
    marked = engine._phonemes(f"Turn on the {mark_phonemes('zˈɪɡbi')} lights.", "en-US")
    assert "zˈɪɡbi" in marked
    assert marked.startswith(plain.split(" ")[0])
    assert engine._phonemes(mark_phonemes("h<e>l9lo"), "en-US") == "hello"  # no stray symbols
    audio = engine.synthesize(f"The {mark_phonemes('zˈɪɡbi')} hub is online.", "af_heart", 1.0)
    assert audio.size > 0.8 * SAMPLE_RATE
