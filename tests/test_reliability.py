"""Hostile and broken clients over the real socket: limits, timeouts, fairness, back-pressure."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator, List

import pytest
from wyoming.info import Describe
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

from wyoming_polytts.launch import free_port, server_command

from .helpers import RunningServer, assert_speech, collect, describe, read_event, serve_for_tests

LONG_TEXT = " ".join(f"This is sentence number {n} of a long answer." for n in range(1, 21))


@pytest.fixture(scope="module")
def strict_server(
    data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A server with small limits, so the tests reach them quickly."""
    yield from serve_for_tests(
        data_dir,
        tmp_path_factory,
        [
            "--no-download",
            "--no-zipvoice",
            "--no-transcriber",
            "--idle-timeout", "2",
            "--write-timeout", "2",
            "--max-text", "2000",
            "--max-queue", "4",
        ],
    )  # fmt: skip


async def raw_exchange(server: RunningServer, raw: bytes) -> List[dict]:
    """Send raw bytes, then read header lines until the server closes the connection."""
    assert server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(raw)
    await writer.drain()
    writer.write_eof()  # so a frame cut short is known to be cut short
    headers = []
    while line := await asyncio.wait_for(reader.readline(), timeout=30):
        headers.append(json.loads(line))
        if headers[-1].get("data_length"):
            headers[-1]["data"] = json.loads(await reader.readexactly(headers[-1]["data_length"]))
        if headers[-1].get("payload_length"):
            await reader.readexactly(headers[-1]["payload_length"])
    writer.close()
    return headers


@pytest.mark.parametrize(
    "raw",
    [
        b'{"type": "synthesize", "data_length": 99999999999}\n',
        b'{"type": "synthesize", "payload_length": 99999999999}\n',
        b"this is not json\n",
        b'{"data": {"text": "no type"}}\n',
        b'{"type": "synthesize", "data": "not an object"}\n',
        b'{"type": "synthesize", "data_length": 50}\n{"text": "cut short"}',
    ],
)
async def test_a_broken_frame_gets_an_error_and_the_connection_closes(
    strict_server: RunningServer, raw: bytes
) -> None:
    headers = await raw_exchange(strict_server, raw)
    assert [h["type"] for h in headers] == ["error"]
    assert headers[0]["data"]["code"] == "bad-frame"
    async with strict_server.client() as client:  # everyone else is served as before
        assert (await describe(client)).tts


async def test_unknown_events_are_ignored(strict_server: RunningServer) -> None:
    headers = await raw_exchange(
        strict_server, b'{"type": "run-satellite"}\n{"type": "describe"}\n'
    )
    assert [h["type"] for h in headers] == ["info"]


async def test_texts_over_the_limit_are_refused(strict_server: RunningServer) -> None:
    """Over --max-text (2000 here; 100,000 by default) a request is refused once, with a
    message that says exactly what is spoken, and still ended."""
    async with strict_server.client() as client:
        await client.write_event(Synthesize(text="word " * 1000).event())
        answer = await collect(client, "audio-stop")
        assert answer.types() == ["error", "audio-stop"]
        assert answer.events[0].data["code"] == "text-too-long"
        assert "none of it is spoken" in answer.events[0].data["text"]

        # As Home Assistant streams a message: one chunk, then the whole text again.
        await client.write_event(SynthesizeStart().event())
        await client.write_event(SynthesizeChunk(text="word " * 600).event())
        await client.write_event(Synthesize(text="word " * 600).event())
        await client.write_event(SynthesizeStop().event())
        answer = await collect(client, "synthesize-stopped")
        errors = [event.data for event in answer.events if event.type == "error"]
        assert [error["code"] for error in errors] == ["text-too-long"]  # said once
        assert "none of it is spoken" in errors[0]["text"]
        assert "audio-chunk" not in answer.types()

        # Text within the limit is spoken; from the chunk that passes it on, nothing is.
        await client.write_event(SynthesizeStart().event())
        await client.write_event(SynthesizeChunk(text="Hello there. ").event())
        await client.write_event(SynthesizeChunk(text="word " * 600).event())
        await client.write_event(SynthesizeChunk(text="Goodbye. ").event())
        await client.write_event(Synthesize(text="Hello there. " + "word " * 600).event())
        await client.write_event(SynthesizeStop().event())
        answer = await collect(client, "synthesize-stopped")
        errors = [event.data for event in answer.events if event.type == "error"]
        assert [error["code"] for error in errors] == ["text-too-long"]
        assert "only its first 13 characters are spoken" in errors[0]["text"]
        assert answer.types()[-2:] == ["error", "synthesize-stopped"]
        assert_speech(answer.pcm(), 24000, 0.4, 2.0)  # "Hello there." alone


async def test_idle_connections_are_closed(strict_server: RunningServer) -> None:
    async with strict_server.client() as client:
        await client.write_event(Describe().event())
        assert (await read_event(client)).type == "info"
        started = time.monotonic()
        assert await asyncio.wait_for(client.read_event(), timeout=20) is None
        assert 1.5 < time.monotonic() - started < 10


async def test_a_client_listening_to_a_long_answer_is_not_idle(
    strict_server: RunningServer,
) -> None:
    async with strict_server.client() as client:
        await client.write_event(Synthesize(text=LONG_TEXT[:400]).event())
        answer = await collect(client, "audio-stop")  # takes longer than the idle timeout
    assert "error" not in answer.types()


async def test_a_short_answer_is_not_stuck_behind_a_long_one(
    strict_server: RunningServer,
) -> None:
    async def ask(text: str, delay: float) -> float:
        await asyncio.sleep(delay)
        async with strict_server.client() as client:
            await client.write_event(Synthesize(text=text).event())
            await collect(client, "audio-stop")
        return time.monotonic()

    long_done, short_done = await asyncio.gather(
        ask(LONG_TEXT[:600], 0.0), ask("The lights are off.", 0.5)
    )
    assert short_done < long_done  # clients take turns sentence by sentence


async def test_a_full_queue_answers_busy_and_ends_every_request(
    strict_server: RunningServer,
) -> None:
    async def ask() -> List[str]:
        async with strict_server.client() as client:
            await client.write_event(Synthesize(text=LONG_TEXT[:200]).event())
            answer = await collect(client, "audio-stop")
        return [e.data["code"] for e in answer.events if e.type == "error"]

    codes = await asyncio.gather(*(ask() for _ in range(8)))
    assert any("busy" in found for found in codes)
    assert any(not found for found in codes)  # others were served
    async with strict_server.client() as client:  # and the server goes on
        await client.write_event(Synthesize(text="Still here.").event())
        assert "error" not in (await collect(client, "audio-stop")).types()


async def test_a_client_that_stops_reading_is_dropped(strict_server: RunningServer) -> None:
    assert strict_server.port is not None
    stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", strict_server.port))
    text = " ".join(f"Sentence {n} is here to fill the socket." for n in range(40))
    data = json.dumps({"text": text}).encode()
    stalled.sendall(json.dumps({"type": "synthesize", "data_length": len(data)}).encode())
    stalled.sendall(b"\n" + data)
    before = strict_server.log().count("Speaking with")
    deadline = time.monotonic() + 40
    while "stopped reading" not in strict_server.log():  # the 2 s write timeout drops it
        assert time.monotonic() < deadline, "the server kept writing to a client that never read"
        await asyncio.sleep(0.5)
    given_up = strict_server.log().count("Speaking with")
    await asyncio.sleep(3)
    assert strict_server.log().count("Speaking with") == given_up, "still working for it"
    spoken = given_up - before
    assert spoken < 20, f"{spoken} of 40 sentences synthesized for a client that never read"
    async with strict_server.client() as client:
        await client.write_event(Synthesize(text="Others are served.").event())
        assert "error" not in (await collect(client, "audio-stop")).types()
    stalled.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("held", ["wyoming", "http"])
def test_a_port_in_use_ends_the_start_at_once(data_dir: Path, held: str) -> None:
    """The server says the port is in use and exits non-zero, before any model loads."""
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        ports = {"wyoming": free_port(), "http": free_port(), held: port}
        command = server_command(
            f"tcp://127.0.0.1:{ports['wyoming']}",
            data_dir,
            ["--http-uri", f"http://127.0.0.1:{ports['http']}", "--no-download"],
        )
        ended = subprocess.run(command, capture_output=True, text=True, timeout=100)
    assert ended.returncode != 0
    assert f"127.0.0.1:{port}: the port is already in use" in ended.stderr
    assert "Traceback" not in ended.stderr
    assert "Kokoro model loaded" not in ended.stderr  # nothing was loaded or warmed up
