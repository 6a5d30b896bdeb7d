"""Shared test helpers: a server started as users start it, a Wyoming client, audio checks."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
from wyoming.client import AsyncClient, AsyncTcpClient
from wyoming.event import Event
from wyoming.info import Describe, Info

READ_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    """A `python -m wyoming_polytts` process and how to reach it."""

    process: subprocess.Popen
    uri: str
    log_path: Path
    port: Optional[int] = None

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def client(self) -> AsyncClient:
        assert self.port is not None
        return AsyncTcpClient("127.0.0.1", self.port)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


def start_server(
    data_dir: Path,
    log_path: Path,
    extra_args: Sequence[str] = (),
    uri: Optional[str] = None,
    env: Optional[dict] = None,
) -> RunningServer:
    """Start the server in a subprocess, as `script/run` does, and wait for `describe`."""
    port = None
    if uri is None:
        port = free_port()
        uri = f"tcp://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "wyoming_polytts",
        "--uri",
        uri,
        "--data-dir",
        str(data_dir),
        "--debug",
        *extra_args,
    ]
    log_file = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        command, stdout=log_file, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
    )
    server = RunningServer(process=process, uri=uri, log_path=log_path, port=port)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.log()}")
        if "Listening on" in server.log() and _reachable(uri):
            return server
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"server did not start:\n{server.log()}")


def _reachable(uri: str) -> bool:
    if uri.startswith("unix://"):
        return Path(uri[len("unix://") :]).is_socket()
    port = int(uri.rsplit(":", 1)[1])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


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
