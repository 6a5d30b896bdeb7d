"""The server on a Unix domain socket, as the `wyoming` library allows."""

from __future__ import annotations

from pathlib import Path

from wyoming.client import AsyncUnixClient
from wyoming.tts import Synthesize

from .helpers import assert_speech, collect, describe, start_server


async def test_unix_socket(data_dir: Path, tmp_path: Path) -> None:
    socket_path = tmp_path / "polytts.sock"
    server = start_server(
        data_dir, tmp_path / "server.log", ["--no-download"], uri=f"unix://{socket_path}"
    )
    try:
        async with AsyncUnixClient(str(socket_path)) as client:
            info = await describe(client)
            assert info.tts[0].voices
            await client.write_event(Synthesize(text="Hello over a Unix socket.").event())
            answer = await collect(client, "audio-stop")
        assert_speech(answer.pcm(), 24000, 0.8, 5.0)
    finally:
        assert server.stop() == 0
