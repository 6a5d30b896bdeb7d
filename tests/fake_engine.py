"""A fake engine and an in-process server: the real handler, scheduler and pipeline, in ms.

The engine is fake (a tone per text, as long as the text asks); everything around it is the
production code, served on 127.0.0.1 by asyncio in the test's own event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import socket
import threading
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, AsyncIterator, List, Optional, Sequence, Set

import numpy as np
from aiohttp.test_utils import TestServer
from wyoming.client import AsyncTcpClient
from wyoming.event import Event

from wyoming_polytts.engines.base import Playback, SynthesisError, VoiceSpec, WordTiming
from wyoming_polytts.engines.zipvoice import LANGUAGES
from wyoming_polytts.http.app import AdminContext, create_app
from wyoming_polytts.http.auth import Guard
from wyoming_polytts.http.download import UrlCache, UrlPolicy
from wyoming_polytts.lexicon import Lexicon
from wyoming_polytts.pipeline import SpeechPipeline
from wyoming_polytts.presets import PresetStore
from wyoming_polytts.registry import VoiceRegistry
from wyoming_polytts.scheduler import Scheduler
from wyoming_polytts.server import ConnectionLimits, PolyTtsEventHandler, ServiceContext
from wyoming_polytts.voices import VoiceCatalog

RATE = 24000


class FakeEngine:
    """Speaks `seconds_per_char` of tone per character; records every call.

    `gate`, when set, is waited on by each synthesis (cleared: calls block until set);
    `hold` likewise, by texts containing "HOLD" only; a text containing "FAIL" raises
    `SynthesisError`.
    """

    name = "fake"
    sample_rate = RATE

    def __init__(self, voices: Sequence[str] = ("fake_one", "fake_two")) -> None:
        self.seconds_per_char = 0.01
        self.gate = threading.Event()
        self.gate.set()
        self.hold = threading.Event()
        self.hold.set()
        self.calls: List[str] = []
        self.voices_used: List[str] = []
        self.running = 0
        self._names = voices
        self._lock = threading.Lock()

    def voices(self) -> Sequence[VoiceSpec]:
        return [
            VoiceSpec(name, ("en-US",), f"{name} (fake)", True, "tests", "") for name in self._names
        ]

    def custom_voice(self, name: str) -> Optional[VoiceSpec]:
        return None

    def load(self) -> None:
        pass

    def synthesize(self, text: str, voice: str, speed: float) -> np.ndarray:
        with self._lock:
            self.calls.append(text)
            self.voices_used.append(voice)
            self.running += 1
        try:
            self.gate.wait(timeout=30)
            if "HOLD" in text:
                self.hold.wait(timeout=30)
            if "FAIL" in text:
                raise SynthesisError(f"cannot say {text!r}")
            samples = int(RATE * self.seconds_per_char * len(text) / speed)
            time_axis = np.arange(samples, dtype=np.float32) / RATE
            return (0.3 * np.sin(2 * np.pi * 220.0 * time_axis)).astype(np.float32)
        finally:
            with self._lock:
                self.running -= 1


class StreamingFakeEngine(FakeEngine):
    """A `FakeEngine` that sends each text in `stretches` parts, as Kokoro's windowed decoder
    does; every part after the first waits for `later_gate` (cleared: they block)."""

    def __init__(self, stretches: int = 3) -> None:
        super().__init__()
        self.stretches = stretches
        self.later_gate = threading.Event()
        self.later_gate.set()
        self.stretches_made: List[int] = []
        self.lead_seconds = 0.0  # silence before each text's tone (trimmed by the pipeline)

    def stream(
        self, text: str, voice: str, speed: float, playback: Optional[Playback] = None
    ) -> FakeStream:
        return FakeStream(self, text, voice, speed)


class FakeStream:
    """The `AudioStream` of `StreamingFakeEngine`."""

    def __init__(self, engine: StreamingFakeEngine, text: str, voice: str, speed: float):
        self._engine = engine
        self._args = (text, voice, speed)
        self._parts: Optional[List[np.ndarray]] = None
        self.finished = False
        self.words: List[WordTiming] = []  # each word where its characters are spoken

    def _time_words(self, text: str, speed: float) -> None:
        per_char = RATE * self._engine.seconds_per_char / speed
        lead = int(RATE * self._engine.lead_seconds)
        for match in re.finditer(r"\w+", text):
            start, end = int(match.start() * per_char), int(match.end() * per_char)
            self.words.append(WordTiming(match.group(), lead + start, lead + end))

    @property
    def next_is_last(self) -> bool:
        if self._parts is None:
            return self._engine.stretches == 1
        return len(self._parts) == 1

    def next_chunk(self) -> np.ndarray:
        if self._parts is None:
            whole = self._engine.synthesize(*self._args)
            lead = np.zeros(int(RATE * self._engine.lead_seconds), np.float32)
            self._parts = list(
                np.array_split(np.concatenate([lead, whole]), self._engine.stretches)
            )
            self._time_words(self._args[0], self._args[2])
        else:
            self._engine.later_gate.wait(timeout=30)
        part = self._parts.pop(0)
        self.finished = not self._parts
        self._engine.stretches_made.append(part.size)
        return part


@dataclass
class InProcessServer:
    """The real Wyoming handler on 127.0.0.1, in this event loop."""

    engine: FakeEngine
    scheduler: Scheduler
    context: ServiceContext
    port: int = 0
    handlers: Set[asyncio.Task[None]] = field(default_factory=set)
    presets: Optional[PresetStore] = None

    @contextlib.asynccontextmanager
    async def client(self, receive_buffer: Optional[int] = None) -> AsyncIterator[AsyncTcpClient]:
        """A connected Wyoming client; `receive_buffer` shrinks its socket's receive buffer."""
        client = AsyncTcpClient("127.0.0.1", self.port)
        if receive_buffer is None:
            await client.connect()
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", self.port))
            client._reader, client._writer = await asyncio.open_connection(sock=sock)
        try:
            yield client
        finally:
            await client.disconnect()

    async def handlers_done(self, timeout: float = 20.0) -> None:
        """Until every connection's handler has ended (fails the test after `timeout`)."""
        await asyncio.wait_for(asyncio.gather(*self.handlers, return_exceptions=True), timeout)


@contextlib.asynccontextmanager
async def serve_fake(
    limits: Optional[ConnectionLimits] = None,
    workers: int = 1,
    max_queue: int = 64,
    presets: Optional[PresetStore] = None,
    engine: Optional[FakeEngine] = None,
) -> AsyncIterator[InProcessServer]:
    engine = engine or FakeEngine()
    scheduler = Scheduler(workers, max_queued=max_queue)
    context = ServiceContext(
        catalog=VoiceCatalog([engine], presets=presets),
        pipeline=SpeechPipeline(scheduler),
        samples_per_chunk=1024,
        limits=limits or ConnectionLimits(),
    )
    running = InProcessServer(engine, scheduler, context, presets=presets)

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        running.handlers.add(task)
        with contextlib.suppress(asyncio.CancelledError):  # cancelled at the end of a test
            await partial(PolyTtsEventHandler, context)(reader, writer).run()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    running.port = server.sockets[0].getsockname()[1]
    try:
        yield running
    finally:
        engine.gate.set()
        engine.hold.set()
        if isinstance(engine, StreamingFakeEngine):
            engine.later_gate.set()
        server.close()
        for task in running.handlers:
            task.cancel()
        await asyncio.gather(*running.handlers, return_exceptions=True)
        scheduler.shutdown()


async def read_until(client: AsyncTcpClient, last: str, timeout: float = 20.0) -> List[Event]:
    """Events up to and including the first of type `last`."""
    events: List[Event] = []
    while True:
        event = await asyncio.wait_for(client.read_event(), timeout)
        assert event is not None, f"the server closed the connection before {last}"
        events.append(event)
        if event.type == last:
            return events


def types(events: List[Event]) -> List[str]:
    return [event.type for event in events]


ADMIN = "fake-admin-token"


def http_context(
    running: InProcessServer, root: Path, api_keys: Sequence[str] = ()
) -> AdminContext:
    """The web app's context, speaking through `running`'s pipeline and scheduler."""
    registry = VoiceRegistry(root / "voices", LANGUAGES)
    registry.load()
    return AdminContext(
        registry=registry,
        catalog=running.context.catalog,
        guard=Guard(ADMIN, api_keys=api_keys),
        url_policy=UrlPolicy(),
        url_cache=UrlCache(root / "downloads"),
        allow_url_download=False,
        pipeline=running.context.pipeline,
        lexicon=Lexicon(root / "lexicon.json", LANGUAGES),
        presets=running.presets,
        clause_policy=running.context.clause_policy,
        max_text=running.context.limits.text_chars,
    )


@contextlib.asynccontextmanager
async def serve_http(
    running: InProcessServer, root: Path, api_keys: Sequence[str] = (), **changes: Any
) -> AsyncIterator[str]:
    """The web app (admin API and /v1) on 127.0.0.1, speaking through the same pipeline and
    scheduler as `running`'s Wyoming handler; yields its base URL. `changes` are fields of
    its context."""
    app = create_app(dataclasses.replace(http_context(running, root, api_keys), **changes))
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("")).rstrip("/")
