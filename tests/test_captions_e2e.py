"""Word timings from a real server process with the embedded Kokoro model: Kokoro-FastAPI's
captioned speech request as its clients send it, streamed and whole, plain text and SSML."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Iterator, List

import httpx
import pytest
import soundfile

from .helpers import RunningServer, decode_audio, serve_for_tests, wait_until_ready

RATE = 24000


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    yield from serve_for_tests(data_dir, tmp_path_factory, ["--no-download", "--no-transcriber"])


@pytest.fixture(autouse=True)
async def prepared(server: RunningServer) -> None:
    """Words are timed once the streaming decoder is prepared (the unsplit model of a first
    start's first minutes tells no durations)."""
    await wait_until_ready(server.http_url, "kokoro", timeout=600)


def spans(timestamps: List[dict], seconds: float) -> List[str]:
    """The words, after checking each is a span inside the audio, none overlapping the next."""
    end = 0.0
    for timed in timestamps:
        assert end <= timed["start_time"] < timed["end_time"] <= seconds + 1e-3, timed
        end = timed["end_time"]
    return [timed["word"] for timed in timestamps]


async def test_a_kokoro_fastapi_client_gets_audio_and_timestamps(server: RunningServer) -> None:
    # the request as Kokoro-FastAPI documents it, sent whole
    request = {
        "model": "kokoro",
        "input": "Hello, this is a test of captions.",
        "voice": "af_heart",
        "response_format": "wav",
        "speed": 1.0,
        "stream": False,
        "lang_code": "a",
    }
    async with httpx.AsyncClient(base_url=server.http_url, timeout=120) as http:
        answer = await http.post("/dev/captioned_speech", json=request)
    assert answer.status_code == 200, answer.text
    samples, rate = soundfile.read(io.BytesIO(base64.b64decode(answer.json()["audio"])))
    assert rate == RATE and len(samples) > RATE
    words = spans(answer.json()["timestamps"], len(samples) / rate)
    assert words == ["Hello", "this", "is", "a", "test", "of", "captions"]


async def test_a_streamed_answer_reads_line_by_line(server: RunningServer) -> None:
    text = "The kitchen lights are now off. It is twenty one degrees in the living room."
    request = {"model": "kokoro", "input": text, "voice": "af_heart", "response_format": "mp3"}
    lines = []
    async with (
        httpx.AsyncClient(base_url=server.http_url, timeout=120) as http,
        http.stream("POST", "/dev/captioned_speech", json=request) as answer,
    ):
        assert answer.status_code == 200
        async for line in answer.aiter_lines():
            if line.strip():
                lines.append(json.loads(line))
    audio = decode_audio(b"".join(base64.b64decode(line["audio"]) for line in lines), "mp3")
    timestamps = [timed for line in lines for timed in line["timestamps"]]
    words = spans(timestamps, len(audio) / RATE + 0.05)  # mp3 pads a frame
    assert words == text.replace(".", "").split()
    assert len(lines) >= 2


async def test_ssml_breaks_and_rates_are_counted_in_the_times(server: RunningServer) -> None:
    ssml = (
        '<speak>Good night. <break time="1500ms"/> The doors are '
        '<prosody rate="slow">locked</prosody> at <say-as interpret-as="cardinal">22'
        "</say-as> hours, "
        '<phoneme alphabet="ipa" ph="ʃɪvˈɔːn">Siobhan</phoneme>.</speak>'
    )
    request = {"input": ssml, "voice": "af_heart", "response_format": "wav", "stream": False}
    async with httpx.AsyncClient(base_url=server.http_url, timeout=120) as http:
        answer = await http.post("/dev/captioned_speech", json=request)
        vtt = await http.post("/dev/captioned_speech", json={**request, "response_format": "vtt"})
    samples, rate = soundfile.read(io.BytesIO(base64.b64decode(answer.json()["audio"])))
    timestamps = answer.json()["timestamps"]
    words = spans(timestamps, len(samples) / rate)
    assert words[:4] == ["Good", "night", "The", "doors"] and "locked" in words
    assert words[-2:] == ["hours", "Siobhan"]  # a word given as phonemes: as written
    assert any("twenty" in word for word in words)
    # the break: at least 1.5 s between "night" and "The", silent there
    gap = timestamps[2]["start_time"] - timestamps[1]["end_time"]
    assert gap >= 1.4
    quiet = samples[
        int((timestamps[1]["end_time"] + 0.3) * rate) : int(
            (timestamps[2]["start_time"] - 0.2) * rate
        )
    ]
    assert quiet.size and abs(quiet).max() < 0.01
    assert vtt.text.startswith("WEBVTT") and "Good night" in vtt.text
