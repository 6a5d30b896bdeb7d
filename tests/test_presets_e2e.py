"""Presets end to end: made over HTTP, kept across a hard restart, listed by `describe`, and
spoken by the real Kokoro model at their speed (the same words, in less or more time)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp

from wyoming_polytts.intelligibility import word_error_rate

from .helpers import ADMIN_TOKEN, RunningServer, describe, speak, start_server

if TYPE_CHECKING:
    from wyoming_polytts.transcriber import Transcriber

ARGS = ["--no-download", "--no-zipvoice", "--no-transcriber", "--admin-token", ADMIN_TOKEN]
TEXT = "The front door is locked and the kitchen lights are off."
PRESETS = {"e2e-quick": 1.6, "e2e-slow": 0.7}


def _start(data_dir: Path, log: Path, *extra: str) -> RunningServer:
    return start_server(data_dir, log, [*ARGS, *extra])


async def _kokoro_state(server: RunningServer) -> str:
    """The Kokoro start-up job's state once it has ended (loaded, its streaming decoder
    prepared and warmed up, or failed): on a data dir of its own, the first start's split and
    statistics fit take a minute or two."""
    async with aiohttp.ClientSession(str(server.http_url)) as http:
        for _ in range(1200):
            async with http.get("/api/health") as response:
                state = (await response.json())["jobs"]["kokoro"]["state"]
            if state != "starting":
                return str(state)
            await asyncio.sleep(0.2)
    raise AssertionError("Kokoro never finished loading")


async def test_presets_survive_a_restart_and_speak_at_their_speed(
    data_dir: Path, tmp_path: Path, whisper: Transcriber
) -> None:
    first = _start(data_dir, tmp_path / "first.log")
    try:
        async with aiohttp.ClientSession(
            str(first.http_url), headers={"X-Admin-Token": ADMIN_TOKEN}
        ) as http:
            for name, speed in PRESETS.items():
                body = {"name": name, "voice": "af_heart", "speed": speed}
                async with http.post("/api/presets", json=body) as response:
                    assert response.status == 201, await response.text()
    finally:
        first.process.kill()  # no orderly shutdown: what was answered is on disk
        first.process.wait()

    # The default voice may be a preset: the model still warms up with a Kokoro voice.
    second = _start(data_dir, tmp_path / "second.log", "--voice", "e2e-slow")
    try:
        assert await _kokoro_state(second) == "ready"
        async with second.client() as client:
            voices = {voice.name: voice for voice in (await describe(client)).tts[0].voices}
        for name in PRESETS:
            assert voices[name].installed
            assert voices[name].languages == voices["af_heart"].languages

        heard = {name: await speak(second, TEXT, name) for name in ("af_heart", *PRESETS)}
        seconds = {name: len(audio) / 24000 for name, audio in heard.items()}
        assert seconds["e2e-quick"] < 0.8 * seconds["af_heart"] < 0.8 * seconds["e2e-slow"]
        for name in PRESETS:  # the same words, as Whisper hears them
            transcript = whisper.transcribe(heard[name], 24000).text
            assert word_error_rate(TEXT, transcript) <= 0.2, (name, transcript)
    finally:
        async with aiohttp.ClientSession(
            str(second.http_url), headers={"X-Admin-Token": ADMIN_TOKEN}
        ) as http:
            for name in PRESETS:
                async with http.delete(f"/api/presets/{name}") as response:
                    assert response.status == 200
        second.stop()
