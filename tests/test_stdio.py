"""The server over stdin/stdout: the same handler, limits and order as over a socket."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from wyoming.event import async_read_event, async_write_event
from wyoming.info import Describe
from wyoming.tts import Synthesize

from .helpers import READ_TIMEOUT


async def test_stdio_obeys_the_connection_limits(data_dir: Path, tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wyoming_polytts",
        "--uri", "stdio://",
        "--data-dir", str(data_dir),
        "--no-download", "--no-zipvoice", "--no-http", "--no-transcriber",
        "--max-text", "100",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=(tmp_path / "server.log").open("wb"),
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    try:
        await async_write_event(Synthesize(text="Too long. " * 20).event(), process.stdin)
        await async_write_event(Describe().event(), process.stdin)
        received = []
        while not received or received[-1] != "info":
            event = await asyncio.wait_for(async_read_event(process.stdout), READ_TIMEOUT)
            assert event is not None
            received.append(event.type)
            if event.type == "error":
                assert event.data["code"] == "text-too-long"
        assert received == ["error", "audio-stop", "info"]
        # A frame that claims 100 MB of data is refused, and the server ends.
        process.stdin.write(b'{"type": "synthesize", "data_length": 100000000}\n')
        await process.stdin.drain()
        event = await asyncio.wait_for(async_read_event(process.stdout), READ_TIMEOUT)
        assert event is not None and event.type == "error" and event.data["code"] == "bad-frame"
        assert await asyncio.wait_for(process.wait(), READ_TIMEOUT) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
