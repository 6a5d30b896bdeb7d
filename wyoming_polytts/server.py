"""Wyoming event handling: one handler per connection, audio streamed sentence by sentence."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import deque
from dataclasses import dataclass, field
from typing import Deque, Dict, List, Optional, Union

import numpy as np
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe
from wyoming.server import AsyncEventHandler
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)

from .audio import CHANNELS, SAMPLE_WIDTH, iter_chunks, to_pcm16, trim_silence
from .engines.base import SynthesisError
from .frames import FrameError, FrameLimits, read_frame
from .scheduler import Scheduler, SchedulerBusy
from .text import ClausePolicy, Piece, SentenceStream, split_text
from .voices import Voice, VoiceCatalog, VoiceNotFoundError

_LOGGER = logging.getLogger(__name__)


class RequestError(Exception):
    """A request that cannot be served, with the message sent back to the client."""

    def __init__(self, text: str, code: str) -> None:
        super().__init__(text)
        self.text = text
        self.code = code


@dataclass(frozen=True)
class ConnectionLimits:
    """What one client may send, and how long the server waits for it."""

    frames: FrameLimits = field(default_factory=FrameLimits)
    text_chars: int = 10_000  # one synthesize, or one whole streamed text
    idle_seconds: float = 300.0  # a connection with nothing to do is closed after this
    write_seconds: float = 30.0  # a client that stops reading for this long is dropped


@dataclass
class ServiceContext:
    """What all connections share."""

    catalog: VoiceCatalog
    scheduler: Scheduler
    sample_rate: int
    speed: float
    samples_per_chunk: int
    clause_policy: ClausePolicy = field(default_factory=ClausePolicy)
    limits: ConnectionLimits = field(default_factory=ConnectionLimits)


@dataclass(eq=False)
class _Speech:
    """Pieces of text to speak with one voice; `framed` wraps them in audio-start/-stop."""

    voice: Voice
    pieces: List[Piece]
    framed: bool = True
    started: Dict[int, asyncio.Task[np.ndarray]] = field(default_factory=dict)

    def drop(self) -> None:
        """Forget syntheses that were started but will not be spoken."""
        for task in self.started.values():
            task.cancel()
        self.started.clear()


Job = Union[Event, _Speech]


@dataclass
class _OpenStream:
    """A `synthesize-start` ... `synthesize-stop` request in progress."""

    voice: Optional[Voice]
    sentences: SentenceStream
    fallback_text: str = ""
    received_chars: int = 0


class PolyTtsEventHandler(AsyncEventHandler):
    """Answers one client's events; output is written in request order by one speaker task."""

    def __init__(
        self,
        context: ServiceContext,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        super().__init__(reader, writer)
        _limit_send_buffer(writer)
        self._context = context
        self._jobs: Deque[Job] = deque()
        self._wakeup = asyncio.Event()
        self._speaker: Optional[asyncio.Task[None]] = None
        self._stream: Optional[_OpenStream] = None
        self._speaking = False

    async def run(self) -> None:
        """Read frames with limits; close idle connections and ones that break the protocol."""
        limits = self._context.limits
        reading: Optional[asyncio.Task[Optional[Event]]] = None
        try:
            while True:
                if reading is None:
                    reading = asyncio.create_task(read_frame(self.reader, limits.frames))
                done, _ = await asyncio.wait({reading}, timeout=limits.idle_seconds)
                if not done:
                    if self._busy():
                        continue  # the client is listening to an answer, not idle
                    _LOGGER.debug("Closing a connection idle for %s s", limits.idle_seconds)
                    break
                try:
                    event = reading.result()
                except FrameError as err:
                    _LOGGER.warning("Closing a connection: %s", err)
                    with contextlib.suppress(Exception):
                        await self.write_event(Error(text=str(err), code="bad-frame").event())
                    break
                except (ConnectionError, OSError):
                    break
                reading = None
                if event is None or not await self.handle_event(event):
                    break
        finally:
            if reading is not None:
                reading.cancel()
            await self.disconnect()
            self.writer.close()

    async def write_event(self, event: Event) -> None:
        """Send an event; a client that stops reading is dropped after `write_seconds`."""
        try:
            await asyncio.wait_for(super().write_event(event), self._context.limits.write_seconds)
        except asyncio.TimeoutError:
            raise ConnectionResetError("the client stopped reading") from None

    def _busy(self) -> bool:
        return bool(self._jobs) or self._speaking

    async def handle_event(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            await self.write_event(self._context.catalog.info().event())
            return True
        try:
            if Synthesize.is_type(event.type):
                self._on_synthesize(Synthesize.from_event(event))
            elif SynthesizeStart.is_type(event.type):
                self._on_synthesize_start(SynthesizeStart.from_event(event))
            elif SynthesizeChunk.is_type(event.type):
                self._on_synthesize_chunk(SynthesizeChunk.from_event(event))
            elif SynthesizeStop.is_type(event.type):
                self._on_synthesize_stop()
            else:
                _LOGGER.debug("Ignoring event of type %s", event.type)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            self._enqueue(self._send_error(f"Malformed {event.type} event: {err!r}", "bad-event"))
            if Synthesize.is_type(event.type) and self._stream is None:
                self._enqueue(AudioStop().event())  # end the request all the same
        return True

    async def disconnect(self) -> None:
        """The client is gone: stop speaking for it."""
        if self._speaker is not None:
            self._speaker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._speaker

    # -- requests ------------------------------------------------------------------------

    def _on_synthesize(self, request: Synthesize) -> None:
        if self._stream is not None:
            # Streaming clients repeat the whole text as `synthesize` for servers without
            # streaming; the chunks are what we speak. Kept only in case no chunk arrives.
            self._stream.fallback_text = request.text
            return
        try:
            voice = self._resolve(request.voice)
            pieces = split_text(self._checked_text(request.text), self._context.clause_policy)
            if not pieces:
                raise RequestError("Nothing to say: the text has no words", "empty-text")
        except RequestError as err:
            self._enqueue(self._send_error(err.text, err.code), AudioStop().event())
            return
        self._enqueue(_Speech(voice, pieces))

    def _on_synthesize_start(self, request: SynthesizeStart) -> None:
        if self._stream is not None:
            self._enqueue(
                self._send_error("synthesize-start while a stream is already open", "bad-order")
            )
            return
        voice: Optional[Voice] = None
        try:
            voice = self._resolve(request.voice)
        except RequestError as err:
            self._enqueue(self._send_error(err.text, err.code))
        self._stream = _OpenStream(
            voice=voice, sentences=SentenceStream(self._context.clause_policy)
        )

    def _on_synthesize_chunk(self, request: SynthesizeChunk) -> None:
        if self._stream is None:
            self._enqueue(
                self._send_error("synthesize-chunk without synthesize-start", "bad-order")
            )
            return
        stream = self._stream
        text = _text_of(request.text)
        stream.received_chars += len(text)
        if stream.received_chars > self._context.limits.text_chars:
            if stream.voice is not None:  # say it once, then speak nothing more of it
                limit = self._context.limits.text_chars
                self._enqueue(
                    self._send_error(
                        f"The streamed text is longer than {limit} characters; the rest is "
                        "not spoken",
                        "text-too-long",
                    )
                )
                stream.voice = None
            return
        for piece in stream.sentences.add(text):
            self._enqueue_stream_piece(stream, piece)

    def _on_synthesize_stop(self) -> None:
        stream = self._stream
        if stream is None:
            self._enqueue(self._send_error("synthesize-stop without synthesize-start", "bad-order"))
            return
        self._stream = None
        if stream.sentences.received_text:
            rest = stream.sentences.finish()
        else:
            rest = split_text(stream.fallback_text, self._context.clause_policy)
        for piece in rest:
            self._enqueue_stream_piece(stream, piece)
        self._enqueue(SynthesizeStopped().event())

    def _enqueue_stream_piece(self, stream: _OpenStream, piece: Piece) -> None:
        if stream.voice is not None:  # else an unknown voice was reported at synthesize-start
            self._enqueue(_Speech(stream.voice, [piece]))

    def _checked_text(self, value: object) -> str:
        text = _text_of(value)
        limit = self._context.limits.text_chars
        if len(text) > limit:
            raise RequestError(
                f"The text is {len(text)} characters long; at most {limit} are spoken at once",
                "text-too-long",
            )
        return text

    def _resolve(self, requested: Optional[SynthesizeVoice]) -> Voice:
        try:
            voice = self._context.catalog.resolve(
                requested.name if requested else None,
                requested.language if requested else None,
            )
        except VoiceNotFoundError as err:
            raise RequestError(str(err), "unknown-voice") from err
        if not voice.spec.installed:
            raise RequestError(
                f"Voice {voice.name!r} is not installed: {voice.spec.description}",
                "voice-not-installed",
            )
        return voice

    # -- output, in order -----------------------------------------------------------------

    def _enqueue(self, *jobs: Job) -> None:
        self._jobs.extend(jobs)
        self._wakeup.set()
        if self._speaker is None:
            self._speaker = asyncio.create_task(self._run_jobs(), name="polytts-speaker")

    async def _run_jobs(self) -> None:
        try:
            while True:
                while not self._jobs:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                job = self._jobs.popleft()
                self._speaking = True
                try:
                    if isinstance(job, Event):
                        await self.write_event(job)
                    else:
                        await self._speak(job)
                except ConnectionError as err:
                    _LOGGER.debug("Client went away: %s", err)
                    return
                except Exception:  # noqa: BLE001 - one failed job must not silence the next
                    _LOGGER.exception("Unexpected failure while answering a request")
                finally:
                    self._speaking = False
        finally:
            for job in self._jobs:
                if isinstance(job, _Speech):
                    job.drop()

    def _send_error(self, text: str, code: str) -> Event:
        _LOGGER.warning("Request refused: %s", text)
        return Error(text=text, code=code).event()

    async def _speak(self, speech: _Speech) -> None:
        """Speak each piece as soon as it is ready, the next one synthesized meanwhile."""
        context = self._context
        if speech.framed:
            await self.write_event(
                AudioStart(rate=context.sample_rate, width=SAMPLE_WIDTH, channels=CHANNELS).event()
            )
        try:
            for index, piece in enumerate(speech.pieces):
                pending = self._synthesis(speech, index)
                self._prefetch(speech, index + 1)
                samples = trim_silence(
                    await pending, context.sample_rate, trail_seconds=piece.pause
                )
                for pcm in iter_chunks(to_pcm16(samples), context.samples_per_chunk):
                    await self.write_event(
                        AudioChunk(
                            rate=context.sample_rate,
                            width=SAMPLE_WIDTH,
                            channels=CHANNELS,
                            audio=pcm,
                        ).event()
                    )
        except SynthesisError as err:
            await self.write_event(Error(text=str(err), code="synthesis-failed").event())
        except SchedulerBusy as err:
            _LOGGER.warning("Refused a request: %s", err)
            await self.write_event(Error(text=str(err), code="busy").event())
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception as err:  # noqa: BLE001 - the server must outlive one bad sentence
            _LOGGER.exception("Synthesis failed")
            await self.write_event(
                Error(text=f"Synthesis failed: {err}", code="synthesis-failed").event()
            )
        finally:
            speech.drop()
        if speech.framed:
            await self.write_event(AudioStop().event())

    def _synthesis(self, speech: _Speech, index: int) -> asyncio.Task[np.ndarray]:
        """The synthesis of one piece, started now unless it already was."""
        if index not in speech.started:
            piece = speech.pieces[index]
            _LOGGER.debug("Speaking with %s: %s", speech.voice.name, piece.text)
            speech.started[index] = asyncio.create_task(
                self._context.scheduler.run(
                    speech.voice.engine.synthesize,
                    piece.text,
                    speech.voice.name,
                    self._context.speed,
                    client=self,
                )
            )
        return speech.started[index]

    def _prefetch(self, speech: _Speech, index: int) -> None:
        """Start the piece after the one being spoken: of this request, or of the next."""
        if index < len(speech.pieces):
            self._synthesis(speech, index)
            return
        following = next((job for job in self._jobs if isinstance(job, _Speech)), None)
        if following is not None and following.pieces:
            self._synthesis(following, 0)


SEND_BUFFER_BYTES = 256 * 1024  # about 5 s of audio: a stalled client soon blocks the writes


def _limit_send_buffer(writer: asyncio.StreamWriter) -> None:
    """Keep the kernel from buffering megabytes for a client that does not read."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)


def _text_of(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"text must be a string, not {type(value).__name__}")
    return value
