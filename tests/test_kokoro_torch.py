"""Kokoro on the PyTorch runtime (`kokoro.KModel`, tiny random weights) matches the ONNX one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

from wyoming_polytts.engines.kokoro import KokoroEngine
from wyoming_polytts.models import KokoroTorchFiles, resolve_kokoro

from .helpers import RunningServer, collect, describe, serve_for_tests
from .kokoro_tiny import FRAME_SAMPLES, build_tiny_kokoro

try:
    import kokoro  # noqa: F401
    import torch
except ImportError:
    if os.environ.get("POLYTTS_REQUIRE_TORCH") == "1":
        raise
    pytest.skip("needs the [torch] extra (script/setup installs it)", allow_module_level=True)

from wyoming_polytts.engines.kokoro.torch_runtime import (  # noqa: E402
    KokoroTorchEngine,
    resolve_device,
)

RATE = 24000
WEATHER = (
    "Today will be sunny with a high of twenty degrees. "
    "In the evening, clouds move in from the west. "
    "Tomorrow brings light rain, so take an umbrella."
)


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_kokoro(tmp_path_factory.mktemp("kokoro-torch"))


@pytest.fixture(scope="module")
def engines(data_dir: Path, tiny_weights: Path) -> tuple:
    files = resolve_kokoro(data_dir, download=False)
    torch_files = KokoroTorchFiles(tiny_weights / "config.json", tiny_weights / "tiny.pth", "tiny")
    return KokoroEngine(files, threads=2), KokoroTorchEngine(
        files, torch_files, threads=2, device="cpu"
    )


def test_auto_is_the_cpu_without_a_gpu() -> None:
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == "cpu"


def test_both_runtimes_offer_the_same_voices(engines: tuple) -> None:
    onnx, torch_engine = engines
    assert torch_engine.voices() == onnx.voices()


def test_the_torch_runtime_speaks_like_the_onnx_one(engines: tuple) -> None:
    onnx, torch_engine = engines
    for text in ("The living room lights are now off.", "Okay."):
        ours = torch_engine.synthesize(text, "af_heart", 1.0)
        reference = onnx.synthesize(text, "af_heart", 1.0)
        assert ours.dtype == reference.dtype == np.float32
        assert ours.ndim == reference.ndim == 1
        assert ours.size and ours.size % FRAME_SAMPLES == 0  # whole Kokoro frames at 24 kHz
        assert np.isfinite(ours).all() and np.abs(ours).max() <= 1.5
    # Blends and long texts go through the same shared code.
    assert torch_engine.synthesize("Hello.", "af_heart(1)+am_michael(1)", 1.0).size
    assert torch_engine.synthesize(" ".join(["Hello there."] * 60), "af_heart", 1.0).size


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_torch_runtime_on_cuda(data_dir: Path, tiny_weights: Path) -> None:
    files = resolve_kokoro(data_dir, download=False)
    torch_files = KokoroTorchFiles(tiny_weights / "config.json", tiny_weights / "tiny.pth", "tiny")
    engine = KokoroTorchEngine(files, torch_files, threads=2, device="cuda")
    audio = engine.synthesize("The living room lights are now off.", "af_heart", 1.0)
    assert engine.device == "cuda" and audio.dtype == np.float32 and audio.size


@pytest.fixture(scope="module")
def torch_server(
    data_dir: Path, tiny_weights: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    yield from serve_for_tests(
        data_dir,
        tmp_path_factory,
        [
            "--no-download",
            "--no-zipvoice",
            "--no-transcriber",
            "--kokoro-runtime",
            "torch",
            "--kokoro-torch-model",
            str(tiny_weights),
            "--device",
            "cpu",
        ],
    )


async def test_the_torch_runtime_through_the_wyoming_socket(
    torch_server: RunningServer, server: RunningServer
) -> None:
    async with torch_server.client() as client, server.client() as onnx_client:
        ours, theirs = await describe(client), await describe(onnx_client)
        assert [(v.name, v.languages) for v in ours.tts[0].voices if v.name[:1] in "aj"] == [
            (v.name, v.languages) for v in theirs.tts[0].voices if v.name[:1] in "aj"
        ]
        await client.write_event(Synthesize(text="The lights are off.").event())
        answer = await collect(client, "audio-stop")
    assert answer.types()[0] == "audio-start" and "error" not in answer.types()
    start = answer.events[0].data
    assert (start["rate"], start["width"], start["channels"]) == (RATE, 2, 1)
    assert len(answer.pcm()) > 0
    assert "Kokoro (PyTorch" in torch_server.log()


async def test_streamed_text_on_the_torch_runtime(torch_server: RunningServer) -> None:
    async with torch_server.client() as client:
        await client.write_event(SynthesizeStart().event())
        for start in range(0, len(WEATHER), 7):
            await client.write_event(SynthesizeChunk(text=WEATHER[start : start + 7]).event())
        await client.write_event(SynthesizeStop().event())
        answer = await collect(client, "synthesize-stopped")
    assert "error" not in answer.types()
    assert len(answer.streams()) == 3  # each sentence whole (the default), as on ONNX
