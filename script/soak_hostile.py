"""The hostile requests of `docs/RELIABILITY.md`, as the soak mixes them with normal ones.

Each kind checks what a robust server does with it: a clear refusal (a Wyoming `error` that
still ends the request, an HTTP 4xx) or a bounded answer, within `SECONDS`. A kind raises on
anything else, and the soak reports it.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket
from typing import Dict, List, Optional, Tuple

import aiohttp
import numpy as np
import soundfile
from wyoming.event import Event
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeVoice,
)

from wyoming_polytts.launch import RunningServer

SECONDS = 120.0  # the longest any hostile request may take to be answered or refused
MAX_AUDIO_SECONDS = 600.0  # the most audio a short hostile document may produce
KINDS = [
    "nested-slow",
    "nested-fast",
    "many-breaks",
    "deep-nesting",
    "huge-ordinal",
    "one-long-piece",
    "nothing-to-say",
    "wrong-token",
    "audio-bomb",
    "never-reads",
]


def _nested(tag: str, depth: int, inner: str) -> str:
    return f"<speak>{tag * depth}{inner}{'</prosody>' * depth}</speak>"


def audio_bomb() -> bytes:
    """A FLAC of about 330 KB that declares 655,350 Hz, 8 channels and 59 s of silence."""
    buffer = io.BytesIO()
    rate = 655_350
    block = np.zeros((rate, 8), dtype=np.int16)
    with soundfile.SoundFile(buffer, "w", rate, 8, "PCM_16", format="FLAC") as sound:
        for _ in range(59):
            sound.write(block)
    return buffer.getvalue()


class Hostile:
    """Sends one hostile request of a kind and checks the server's answer."""

    def __init__(self, server: RunningServer, token: str) -> None:
        self._server = server
        self._token = token
        self._bomb: Optional[bytes] = None

    async def run(self, kind: str, voice: str) -> None:
        if kind == "nested-slow":
            document = _nested('<prosody rate="50%">', 8, "Hello there.")
            await self._bounded_answer(Synthesize(text=document, voice=_voice(voice)).event())
        elif kind == "nested-fast":
            document = _nested('<prosody rate="200%">', 20, "Hello there.")
            await self._bounded_answer(Synthesize(text=document, voice=_voice(voice)).event())
        elif kind == "many-breaks":
            document = "<speak>Hi." + '<break time="10s"/>' * 200 + "Bye.</speak>"
            await self._bounded_answer(Synthesize(text=document, voice=_voice(voice)).event())
        elif kind == "deep-nesting":
            document = "<speak>" + "<s>" * 1200 + "Hi." + "</s>" * 1200 + "</speak>"
            events = await self._answer(Synthesize(text=document, voice=_voice(voice)).event())
            _expect_error(events, "bad-ssml")
        elif kind == "huge-ordinal":
            # read digit by digit: 400 words, minutes of speech; its start is what matters
            number = "9" * 400
            document = f'<speak><say-as interpret-as="ordinal">{number}</say-as></speak>'
            await self._first_audio_then_leave(document, voice)
        elif kind == "one-long-piece":
            await self._first_audio_then_leave("Dr. " * 2500, voice)
        elif kind == "nothing-to-say":
            await self._nothing_to_say(voice)
        elif kind == "wrong-token":
            await self._wrong_token()
        elif kind == "audio-bomb":
            await self._audio_bomb()
        else:
            await self._never_reads(voice)

    async def _answer(self, request: Event, end: str = "audio-stop") -> List[Event]:
        events: List[Event] = []
        async with self._server.client() as client:
            await client.write_event(request)
            while True:
                event = await client.read_event()
                if event is None:
                    raise ConnectionError(f"closed before {end} after {_types(events)}")
                events.append(event)
                if event.type == end:
                    return events

    async def _bounded_answer(self, request: Event) -> None:
        """An answer (or a refusal) that ends, with a bounded length of audio."""
        events = await self._answer(request)
        starts = [event for event in events if event.type == "audio-start"]
        if len(starts) != 1:
            raise AssertionError(f"expected one audio-start: {_types(events)}")
        rate = int(starts[0].data["rate"])
        samples = sum(len(event.payload or b"") for event in events if event.type == "audio-chunk")
        if samples / 2 / rate > MAX_AUDIO_SECONDS:
            raise AssertionError(f"{samples / 2 / rate:.0f} s of audio for a short document")

    async def _first_audio_then_leave(self, text: str, voice: str) -> None:
        async with self._server.client() as client:
            await client.write_event(Synthesize(text=text, voice=_voice(voice)).event())
            while (event := await client.read_event()) is not None:
                if event.type == "error":
                    raise AssertionError(f"error event: {event.data}")
                if event.type == "audio-chunk":
                    return  # speech started: leave mid-answer
            raise ConnectionError("closed before any audio")

    async def _nothing_to_say(self, voice: str) -> None:
        async with self._server.client() as client:
            await client.write_event(SynthesizeStart(voice=_voice(voice)).event())
            await client.write_event(SynthesizeChunk(text="...").event())
            await client.write_event(Synthesize(text="...", voice=_voice(voice)).event())
            await client.write_event(SynthesizeStop().event())
            types: List[str] = []
            while (event := await client.read_event()) is not None:
                types.append(event.type)
                if event.type == "synthesize-stopped":
                    break
        if "audio-start" not in types or "audio-stop" not in types:
            raise AssertionError(f"a stream with nothing to say carried no audio: {types}")

    async def _wrong_token(self) -> None:
        headers = {"X-Admin-Token": "not-" + self._token}
        status = await self._post("/api/cache/clear", headers=headers)
        if status not in (401, 429):
            raise AssertionError(f"a wrong token got {status}")

    async def _audio_bomb(self) -> None:
        if self._bomb is None:
            self._bomb = await asyncio.to_thread(audio_bomb)
        body: Dict[str, object] = {
            "model": "zipvoice",
            "input": "Hello.",
            "voice": "base64+" + base64.b64encode(self._bomb).decode("ascii"),
            "prompt_text": "Hello there.",
        }
        status = await self._post("/v1/zipvoice/audio/speech", json=body)
        if not 400 <= status < 500:
            raise AssertionError(f"an audio bomb got {status}")

    async def _post(self, path: str, **options: object) -> int:
        async with (
            aiohttp.ClientSession(str(self._server.http_url)) as session,
            session.post(path, **options) as response,  # type: ignore[arg-type]
        ):
            await response.read()
            return response.status

    async def _never_reads(self, voice: str) -> None:
        """Two requests from a client with a 4 KiB receive buffer that never reads, then gone."""
        assert self._server.port is not None
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            await loop.sock_connect(sock, ("127.0.0.1", self._server.port))
            text = "The weather today is sunny with a light breeze from the west."
            for _ in range(2):
                await loop.sock_sendall(sock, _frame(Synthesize(text=text, voice=_voice(voice))))
            await asyncio.sleep(2.0)


def _voice(name: str) -> SynthesizeVoice:
    return SynthesizeVoice(name=name)


def _frame(request: Synthesize) -> bytes:
    event = request.event()
    data = json.dumps(event.data).encode("utf-8")
    header = {"type": event.type, "data_length": len(data)}
    return json.dumps(header).encode("utf-8") + b"\n" + data


def _expect_error(events: List[Event], code: str) -> None:
    codes: List[Tuple[str, str]] = [
        (str(event.data.get("code")), str(event.data.get("text")))
        for event in events
        if event.type == "error"
    ]
    if not any(found == code for found, _ in codes):
        raise AssertionError(f"expected an error {code}: {codes} in {_types(events)}")


def _types(events: List[Event]) -> List[str]:
    return [event.type for event in events]
