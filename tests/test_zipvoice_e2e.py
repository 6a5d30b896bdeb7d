"""Voice clones end to end: registered over HTTP, spoken over the Wyoming socket by the real
sherpa-onnx runtime (tiny model), streamed per sentence, previewed, deleted."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import AsyncIterator, Iterator

import aiohttp
import numpy as np
import pytest
import soundfile
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeVoice,
)

from .helpers import (
    ADMIN_TOKEN,
    RunningServer,
    assert_speech,
    collect,
    describe,
    encode,
    samples,
    serve_for_tests,
    voice_like,
    wait_until_ready,
)
from .zipvoice_tiny import build_tiny_zipvoice, seconds_for

RATE = 24000
CLONE = "tiny-clone"


@pytest.fixture(scope="module")
def clone_server(
    data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    model = build_tiny_zipvoice(tmp_path_factory.mktemp("zipvoice") / "model")
    yield from serve_for_tests(
        data_dir,  # the embedded Kokoro model, assembled once per session
        tmp_path_factory,
        ["--no-download", "--admin-token", ADMIN_TOKEN, "--zipvoice-model", str(model)],
    )


@pytest.fixture
async def http(clone_server: RunningServer) -> AsyncIterator[aiohttp.ClientSession]:
    headers = {"X-Admin-Token": ADMIN_TOKEN}
    async with aiohttp.ClientSession(str(clone_server.http_url), headers=headers) as session:
        form = aiohttp.FormData()
        form.add_field("name", CLONE)
        form.add_field("language", "en-US")
        form.add_field("transcript", "Hello world.")
        form.add_field("audio", encode(voice_like(3.0)), filename="grandma.wav")
        async with session.post("/api/voices", data=form) as response:
            assert response.status == 201, await response.text()
        await wait_until_ready(str(clone_server.http_url), "clone", CLONE)  # model loads late
        yield session
        async with session.delete(f"/api/voices/{CLONE}") as response:
            assert response.status in (200, 404)


async def test_a_registered_clone_is_installed_and_speaks(
    clone_server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with clone_server.client() as client:
        info = await describe(client)
        [clone] = [voice for voice in info.tts[0].voices if voice.name == CLONE]
        assert clone.installed is True and clone.languages == ["en-US"]

        text = "Hello world. The lights are off. Good morning, world!"
        await client.write_event(Synthesize(text=text, voice=SynthesizeVoice(name=CLONE)).event())
        answer = await collect(client, "audio-stop")
    assert answer.types()[0] == "audio-start" and "error" not in answer.types()
    assert answer.events[0].data["rate"] == RATE
    pcm = b"".join(e.payload or b"" for e in answer.events if e.type == "audio-chunk")
    tokens = 13 + 13 + 19  # what the tiny lexicon gives these three sentences
    expected = sum(seconds_for(n) for n in (13, 13, 19))
    assert len(pcm) / 2 / RATE == pytest.approx(expected, rel=0.25), tokens
    assert np.sqrt(np.mean(samples(pcm) ** 2)) > 1e-3


async def test_streamed_text_is_spoken_per_sentence_by_a_clone(
    clone_server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with clone_server.client() as client:
        await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name=CLONE)).event())
        for piece in ("Hello wo", "rld. The lights", " are off. Good ", "morning!"):
            await client.write_event(SynthesizeChunk(text=piece).event())
        await client.write_event(SynthesizeStop().event())
        answer = await collect(client, "synthesize-stopped")
    assert "error" not in answer.types()
    streams = answer.streams()
    assert len(streams) == 3
    for pcm in streams:
        assert len(pcm) / 2 / RATE > 0.5


async def test_preview_returns_the_clone_as_wav(
    clone_server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with http.post(f"/api/voices/{CLONE}/preview", json={"text": "Hello world."}) as response:
        assert response.status == 200, await response.text()
        assert response.content_type == "audio/wav"
        audio, rate = soundfile.read(io.BytesIO(await response.read()))
    assert rate == RATE and len(audio) / RATE == pytest.approx(seconds_for(13), abs=0.3)
    async with (
        aiohttp.ClientSession(str(clone_server.http_url)) as anonymous,
        anonymous.post(f"/api/voices/{CLONE}/preview") as response,
    ):
        assert response.status == 401


async def test_a_deleted_clone_is_gone_from_describe_and_refused(
    clone_server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with http.delete(f"/api/voices/{CLONE}") as response:
        assert response.status == 200
    async with clone_server.client() as client:
        info = await describe(client)
        assert CLONE not in {voice.name for voice in info.tts[0].voices}
        await client.write_event(
            Synthesize(text="Hello.", voice=SynthesizeVoice(name=CLONE)).event()
        )
        answer = await collect(client, "audio-stop")
    assert answer.types() == ["error", "audio-stop"]


@pytest.mark.skipif(
    not os.environ.get("POLYTTS_ZIPVOICE_MODEL_DIR"),
    reason="set POLYTTS_ZIPVOICE_MODEL_DIR to an exported ZipVoice model to run",
)
def test_a_real_model_speaks_like_speech(tmp_path: Path) -> None:
    """With real weights: the clone's output has speech's duration, level and spectrum."""
    from wyoming_polytts.engines.zipvoice import LANGUAGES, ZipVoiceEngine
    from wyoming_polytts.engines.zipvoice.model import find_zipvoice_files
    from wyoming_polytts.registry import VoiceRegistry

    folder = Path(os.environ["POLYTTS_ZIPVOICE_MODEL_DIR"])
    files = find_zipvoice_files(folder, "POLYTTS_ZIPVOICE_MODEL_DIR")
    registry = VoiceRegistry(tmp_path / "voices", LANGUAGES)
    registry.load()
    prompt = next(folder.rglob("*.wav"), None)
    assert prompt is not None, "the model folder needs a test_wavs/*.wav prompt"
    transcript_file = prompt.with_suffix(".txt")
    transcript = (
        transcript_file.read_text().strip()
        if transcript_file.exists()
        else "Hello, this is a test recording."
    )
    registry.register("real", transcript, "en-US", prompt.read_bytes(), "test")
    engine = ZipVoiceEngine(registry, files)
    audio = engine.synthesize("The living room lights are now off.", "real", 1.0)
    assert_speech((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes(), RATE, 1.0, 6.0)
