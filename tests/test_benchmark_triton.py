"""The arithmetic and the table of `script/benchmark_triton.py` (local against Triton), on
made-up figures: no server, no Triton."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "script"))
import benchmark_triton  # noqa: E402


def _run(firsts: list, wall: float, audio_each: float = 2.0) -> dict:
    answers = [{"first_audio_s": first, "audio_s": audio_each} for first in firsts]
    audio = audio_each * len(firsts)
    return {"answers": answers, "wall_s": wall, "audio_s": audio, "throughput": audio / wall}


def _measured() -> dict:
    raw = {
        "local": {
            "1": [_run([0.20], 1.0), _run([0.30], 1.2)],
            "4": [_run([0.2, 0.4, 0.6, 0.8], 4.0), _run([0.2, 0.4, 0.6, 0.9], 4.0)],
        },
        "triton": {
            "1": [_run([0.25], 1.1), _run([0.35], 1.3)],
            "4": [_run([0.3, 0.5, 0.7, 1.0], 5.0), _run([0.3, 0.5, 0.7, 1.2], 5.0)],
        },
    }
    triton = {"urls": ["grpc://127.0.0.1:8001"], "server": "given"}
    return benchmark_triton.figures(
        raw, {"local": 300.0, "triton": 200.0}, triton, [], 2, "af_heart"
    )


def test_median_and_worst_first_audio_over_all_answers_medians_of_the_rest() -> None:
    four = _measured()["summary"]["local"]["4"]
    assert four["first_audio_median_s"] == pytest.approx(0.5)  # of the 8 answers
    assert four["first_audio_worst_s"] == pytest.approx(0.9)
    assert four["wall_s"] == pytest.approx(4.0)
    assert four["audio_s"] == pytest.approx(8.0)
    assert four["throughput"] == pytest.approx(2.0)


def test_ratios_are_triton_over_local() -> None:
    ratio = _measured()["ratio"]
    assert ratio["1"]["first_audio_median_s"] == pytest.approx(0.30 / 0.25)
    assert ratio["4"]["throughput"] == pytest.approx(1.6 / 2.0)
    assert ratio["4"]["audio_s"] == pytest.approx(1.0)


def test_the_table_has_both_engines_and_the_ratio_per_setting_and_the_hop_note() -> None:
    text = benchmark_triton.report(_measured())
    for clients in ("1", "4"):
        for engine in ("local", "triton", "Triton / local"):
            assert f"| {clients} | {engine} |" in text
    assert "one answer alone gets its first audio 50 ms later (1.20x)" in text
    assert "ends 100 ms later" in text
    assert "with 4 clients" in text


def test_model_options_go_to_the_repository_too() -> None:
    found = benchmark_triton._model_options(
        ["--voice", "af_bella", "--kokoro-precision", "fp32", "--kokoro-model=/m.onnx"]
    )
    assert found == ["--kokoro-precision", "fp32", "--kokoro-model=/m.onnx"]
