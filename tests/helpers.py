"""Shared test helpers: a server started as users start it, a Wyoming client, audio checks."""

from __future__ import annotations

import asyncio
import io
import multiprocessing
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, List, Sequence, Tuple

import numpy as np
import pytest
import soundfile
from wyoming.client import AsyncClient
from wyoming.event import Event
from wyoming.info import Describe, Info

from wyoming_polytts.launch import RunningServer, free_port, start_server

__all__ = ["RunningServer", "free_port", "start_server"]

READ_TIMEOUT = 120.0
ADMIN_TOKEN = "test-admin-token"


def child_output(script: str, *args: str, timeout: float = 300) -> List[str]:
    """The words a Python `script` prints when run in a fresh interpreter with `args`."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return done.stdout.split()


def in_processes(target: Callable[..., None], each: Sequence[Tuple[Any, ...]]) -> None:
    """`target(*args)` for each of `each`, each in a forked process of its own (a server),
    all at once; fails unless every one ends well within a minute."""
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=target, args=args) for args in each]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0


async def speak(server: RunningServer, text: str, voice: str = "af_heart") -> np.ndarray:
    """What the server says for `text` (one `synthesize`), as float samples."""
    from wyoming.tts import Synthesize, SynthesizeVoice

    async with server.client() as client:
        await client.write_event(Synthesize(text=text, voice=SynthesizeVoice(name=voice)).event())
        answer = await collect(client, "audio-stop")
    assert "error" not in answer.types()
    return samples(answer.pcm())


async def read_event(client: AsyncClient) -> Event:
    event = await asyncio.wait_for(client.read_event(), timeout=READ_TIMEOUT)
    assert event is not None, "server closed the connection"
    return event


async def describe(client: AsyncClient) -> Info:
    await client.write_event(Describe().event())
    while True:
        event = await read_event(client)
        if Info.is_type(event.type):
            return Info.from_event(event)


@dataclass
class Answer:
    """Everything a client received for one request."""

    events: List[Event] = field(default_factory=list)

    def types(self) -> List[str]:
        return [event.type for event in self.events]

    def streams(self) -> List[bytes]:
        """PCM of each audio-start ... audio-stop stream."""
        streams: List[bytes] = []
        for event in self.events:
            if event.type == "audio-start":
                streams.append(b"")
            elif event.type == "audio-chunk":
                streams[-1] += event.payload or b""
        return streams

    def pcm(self) -> bytes:
        return b"".join(self.streams())


async def collect(client: AsyncClient, until: str) -> Answer:
    """Read events up to and including the first of type `until`."""
    answer = Answer()
    while True:
        event = await read_event(client)
        answer.events.append(event)
        if event.type == until:
            return answer


def samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def assert_speech(pcm: bytes, rate: int, min_seconds: float, max_seconds: float) -> None:
    """Audio that has the duration, loudness and variation of speech, not silence or a tone."""
    audio = samples(pcm)
    seconds = len(audio) / rate
    assert min_seconds <= seconds <= max_seconds, f"{seconds:.2f} s of audio"
    rms = float(np.sqrt(np.mean(audio**2)))
    assert 10 ** (-40 / 20) < rms < 10 ** (-3 / 20), f"RMS {20 * np.log10(rms + 1e-12):.1f} dBFS"
    frame = rate // 50  # 20 ms
    frames = audio[: len(audio) // frame * frame].reshape(-1, frame)
    energy = np.sqrt(np.mean(frames**2, axis=1))
    voiced = energy > rms * 0.3
    assert 0.3 < voiced.mean() < 0.98, f"{voiced.mean():.2f} of frames voiced"
    assert energy.std() / energy.mean() > 0.3, "energy too steady for speech"
    crossings = np.mean(np.abs(np.diff(np.signbit(audio).astype(np.int8))))
    assert 0.01 < crossings < 0.5, f"zero-crossing rate {crossings:.3f}"


def silences(pcm: bytes, rate: int, threshold_db: float = -45.0) -> List[float]:
    """Lengths in seconds of the silent runs (10 ms frames), leading and inner, not trailing."""
    audio = samples(pcm)
    frame = rate // 100
    frames = audio[: len(audio) // frame * frame].reshape(-1, frame)
    silent = np.sqrt(np.mean(frames**2, axis=1)) < 10 ** (threshold_db / 20)
    runs: List[float] = []
    length = 0
    for is_silent in silent:
        if is_silent:
            length += 1
        elif length or not runs:
            runs.append(length / 100)
            length = 0
    return runs


def voice_like(
    seconds: float, rate: int = 48000, channels: int = 2, level: float = 0.3
) -> np.ndarray:
    """A voiced-sounding signal (harmonics, syllable-rate envelope) with 0.5 s of silence around."""
    t = np.arange(int(seconds * rate)) / rate
    tone = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((140, 280, 420, 700), 1))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t)
    signal = (level * tone / 2.1 * envelope).astype(np.float32)
    pad = np.zeros(int(0.5 * rate), np.float32)
    mono = np.concatenate([pad, signal, pad])
    return np.stack([mono] * channels, axis=1) if channels > 1 else mono


def encode(
    samples: np.ndarray, rate: int = 48000, format: str = "WAV", subtype: str | None = None
) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format=format, subtype=subtype)
    return buffer.getvalue()


async def wait_until_ready(http_url: str, what: str, name: str = "", timeout: float = 120) -> None:
    """Wait until the server's background loading made `what` ready: the transcriber
    ("transcriber"), the ZipVoice model ("zipvoice"), Kokoro's streaming decoder ("kokoro")
    or a clone that can speak ("clone", `name`)."""
    import aiohttp

    deadline = asyncio.get_running_loop().time() + timeout
    async with aiohttp.ClientSession(http_url) as http:
        while True:
            if what == "transcriber":
                async with http.get("/api/session") as response:
                    ready = (await response.json())["transcriber"]
            elif what in ("zipvoice", "kokoro"):
                async with http.get("/api/health") as response:
                    jobs = (await response.json())["jobs"]
                    ready = jobs.get(what, {}).get("state") == "ready"
            else:
                async with http.get(f"/api/voices/{name}") as response:
                    ready = response.status == 200 and (await response.json())["installed"]
            if ready:
                return
            assert asyncio.get_running_loop().time() < deadline, f"{what} never became ready"
            await asyncio.sleep(0.2)


def serve_for_tests(
    data_dir: Path, tmp_path_factory: pytest.TempPathFactory, args: Sequence[str]
) -> Iterator[RunningServer]:
    """Body of a module-scoped server fixture: the server runs until the module is done."""
    running = start_server(data_dir, tmp_path_factory.mktemp("log") / "server.log", args)
    try:
        yield running
    finally:
        running.stop()


def decode_audio(data: bytes, response_format: str, rate: int = 24000) -> np.ndarray:
    """An HTTP speech answer as float mono samples at `rate`: raw PCM, or decoded by PyAV."""
    if response_format == "pcm":
        return samples(data)
    import av

    parts = []
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    with av.open(io.BytesIO(data)) as container:
        for frame in container.decode(audio=0):
            parts += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
    parts += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)
