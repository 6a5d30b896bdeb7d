"""Kokoro's G2P: builds never block other languages or the event loop's questions, nothing
heavy is imported that is not used, and phonemizer's warnings stay out of the log."""

from __future__ import annotations

import importlib.util
import logging
import threading
from pathlib import Path
from typing import Callable, Iterator, Optional

import pytest

from wyoming_polytts.engines.kokoro import KokoroEngine
from wyoming_polytts.engines.kokoro import g2p as kokoro_g2p
from wyoming_polytts.engines.kokoro.g2p import G2P, Phonemizer
from wyoming_polytts.models import resolve_kokoro

from .helpers import child_output


@pytest.fixture
def slow_japanese(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Building the Japanese G2P waits until the test sets the event; others build at once."""
    release = threading.Event()
    started = threading.Event()

    def create(language: str) -> Optional[G2P]:
        if language == "ja":
            started.set()
            release.wait(60)
        return G2P(f"fake {language}", lambda text: text)

    monkeypatch.setattr(kokoro_g2p, "_create", create)
    yield started
    release.set()


def returns_while_blocked(call: Callable[[], object]) -> bool:
    """Whether `call` finishes within 10 s in a thread of its own."""
    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(10)
    return not worker.is_alive()


def start_japanese_build(phonemizer: Phonemizer, started: threading.Event) -> None:
    builder = threading.Thread(target=phonemizer.phonemize, args=("こんにちは", "ja"), daemon=True)
    builder.start()
    assert started.wait(10)


def test_a_slow_build_blocks_neither_questions_nor_other_languages(
    slow_japanese: threading.Event,
) -> None:
    phonemizer = Phonemizer()
    start_japanese_build(phonemizer, slow_japanese)
    answers: dict = {}

    def ask() -> None:
        answers["available"] = phonemizer.available("ja"), phonemizer.available("en-US")
        answers["describe"] = phonemizer.describe("ja")
        answers["english"] = phonemizer.phonemize("Hello.", "en-US")

    assert returns_while_blocked(ask)
    assert answers["english"] == "Hello."
    assert answers["available"] == (
        kokoro_g2p.planned_g2p("ja") is not None,
        True,  # built meanwhile
    )


def test_the_voice_list_and_blends_answer_while_a_g2p_is_built(
    slow_japanese: threading.Event, data_dir: Path
) -> None:
    """What the event loop asks of the engine (voices, a blend) never waits for a build."""
    phonemizer = Phonemizer()
    engine = KokoroEngine(resolve_kokoro(data_dir, download=False), 1, phonemizer)
    start_japanese_build(phonemizer, slow_japanese)
    answers: dict = {}

    def ask() -> None:
        answers["voices"] = engine.voices()
        answers["blend"] = engine.custom_voice("jf_alpha(1)+jm_kumo(2)")

    assert returns_while_blocked(ask)
    assert answers["blend"] is not None and answers["blend"].languages[0] == "ja"
    assert any(spec.name == "jm_kumo" for spec in answers["voices"])


def test_available_builds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    built = []
    monkeypatch.setattr(kokoro_g2p, "_create", lambda language: built.append(language))
    phonemizer = Phonemizer()
    assert phonemizer.available("ja") == (kokoro_g2p.planned_g2p("ja") is not None)
    assert phonemizer.describe("en-US") == kokoro_g2p.planned_g2p("en-US")
    assert not phonemizer.available("xx") and phonemizer.describe("xx") == "none"
    assert built == []


@pytest.mark.skipif(
    kokoro_g2p.planned_g2p("en-US") is None, reason="needs an English G2P (misaki, espeak-ng)"
)
def test_phonemizer_warnings_stay_out_of_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    phonemizer = Phonemizer()
    for text in ("It is 21 degrees, and 3 cats sat at 10:30.", "I bought 2 apples, 3 pears."):
        assert phonemizer.phonemize(text, "en-US")
    noisy = [r for r in caplog.records if r.name.startswith("phonemizer") and r.levelno >= 30]
    assert noisy == []


SYNTHESIZE_AND_LIST_MODULES = """
import sys
from pathlib import Path
from wyoming_polytts.engines.kokoro import KokoroEngine
from wyoming_polytts.models import resolve_kokoro

engine = KokoroEngine(resolve_kokoro(Path(sys.argv[1]), download=False), threads=1)
assert engine.synthesize("It is 21 degrees, and the lights are off.", "af_heart", 1.0).size
print(" ".join(sorted(name for name in sys.modules if "." not in name)))
"""


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_english_on_the_onnx_runtime_never_imports_torch(data_dir: Path) -> None:
    resolve_kokoro(data_dir, download=False)  # assembled before the child starts
    modules = set(child_output(SYNTHESIZE_AND_LIST_MODULES, str(data_dir)))
    assert "onnxruntime" in modules
    assert not modules & {"torch", "spacy", "thinc", "faster_whisper", "ctranslate2"}
