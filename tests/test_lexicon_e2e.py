"""The pronunciation lexicon end to end: set over HTTP, heard in what the socket says, kept
over a restart."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from wyoming_polytts import transcriber
from wyoming_polytts.transcriber import Transcriber

from .helpers import ADMIN_TOKEN, RunningServer, speak, start_server

RATE = 24000


async def heard(server: RunningServer, whisper: Transcriber, text: str) -> str:
    return whisper.transcribe(await speak(server, text), RATE, language="en").text.lower()


@pytest.mark.intelligibility
@pytest.mark.skipif(not transcriber.available(), reason="needs the [asr] extra")
async def test_lexicon_entries_are_heard_and_forgotten(
    server: RunningServer, whisper: Transcriber
) -> None:
    headers = {"X-Admin-Token": ADMIN_TOKEN}
    async with aiohttp.ClientSession(str(server.http_url), headers=headers) as http:
        assert "robert" not in await heard(server, whisper, "Good night, Bob.")
        async with http.put("/api/lexicon/en/bob", json={"say": "Robert"}) as response:
            assert response.status == 200, await response.text()
        assert "robert" in await heard(server, whisper, "Good night, Bob.")

        ipa = {"phonemes": "ɹˈɑbəɹt"}  # "Robert", in the phonemes Kokoro reads
        async with http.put("/api/lexicon/en-US/Qwxz", json=ipa) as response:
            assert response.status == 200, await response.text()
        assert "robert" in await heard(server, whisper, "Good night, Qwxz.")

        for path in ("/api/lexicon/en/bob", "/api/lexicon/en-US/Qwxz"):
            async with http.delete(path) as response:
                assert response.status == 200
        async with http.get("/api/lexicon") as response:
            assert await response.json() == []
    assert "robert" not in await heard(server, whisper, "Good night, Bob.")


async def test_lexicon_entries_survive_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    args = ["--no-download", "--no-zipvoice", "--no-transcriber", "--admin-token", ADMIN_TOKEN]
    entry = {"say": "zig bee"}
    first = start_server(data_dir, tmp_path / "first.log", args)
    try:
        headers = {"X-Admin-Token": ADMIN_TOKEN}
        async with (
            aiohttp.ClientSession(str(first.http_url), headers=headers) as http,
            http.put("/api/lexicon/en/Zigbee", json=entry) as response,
        ):
            assert response.status == 200, await response.text()
    finally:
        assert first.stop() == 0
    second = start_server(data_dir, tmp_path / "second.log", args)
    try:
        async with (
            aiohttp.ClientSession(str(second.http_url)) as http,
            http.get("/api/lexicon") as response,
        ):
            entries = await response.json()
    finally:
        second.stop()
    assert [(e["language"], e["word"], e["say"]) for e in entries] == [("en", "Zigbee", "zig bee")]
