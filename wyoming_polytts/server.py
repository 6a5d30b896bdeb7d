"""Wyoming protocol: one handler per connection; speech comes from the shared pipeline.

Each connection has two tasks. The reader takes frames (with limits and an idle timeout) and
turns each request into an entry of one ordered outbox: an event (`info`, `error`) or an
answer (an async generator of events). The sender is the only writer of the socket: it sends
the outbox in order, so no event ever lands inside another answer. One exception to the order:
`info` asked for while a stream is open leaves at the first moment no audio is under way (while
the stream waits for text, or after the current sentence's `audio-stop`), since the client may
wait for it before it ends the stream. A write that times out aborts the transport; the
connection ends when either task ends. When the client has only closed its sending side, what
it asked for is still answered before the connection closes. A connection is closed once what
was sent has reached the client; a client that does not take it within the write timeout is
reset, so a client that never reads cannot hold a connection (and the kernel's buffer) open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from functools import partial
from typing import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Deque,
    Dict,
    List,
    Optional,
    TypeVar,
    Union,
)

import numpy as np
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, async_get_stdin, async_write_event
from wyoming.info import Describe
from wyoming.server import AsyncEventHandler, AsyncStdioServer, AsyncTcpServer, HandlerFactory
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)

from .audio import CHANNELS, SAMPLE_WIDTH, iter_chunks, resample, silent_answer, to_pcm16
from .connection import close_when_sent, limit_send_buffer, reset
from .engines.base import SynthesisError
from .frames import FrameError, FrameLimits, read_frame
from .metrics import Metrics
from .pipeline import PieceFeed, Pieces, SpeechPipeline
from .scheduler import SchedulerBusy
from .settings import MAX_TEXT_CHARS
from .speech.pieces import SSML_ROOT, resolve_voices, text_pieces
from .speech.pieces import client_text as _text_of
from .speech.pieces import is_ssml as _is_ssml
from .speech.ssml import SsmlError
from .text import ClausePolicy, Piece, SentenceStream, split_text
from .textwork import off_loop
from .voices import Voice, VoiceCatalog, VoiceNotFoundError

_LOGGER = logging.getLogger(__name__)

Answer = AsyncGenerator[Event, None]
Outgoing = Union[Event, Answer]
T = TypeVar("T")


class RequestError(Exception):
    """A request that cannot be served, with the message sent back to the client."""

    def __init__(self, text: str, code: str) -> None:
        super().__init__(text)
        self.text = text
        self.code = code


def frame_limits(text_chars: int) -> FrameLimits:
    """Frame limits that let a text of `text_chars` characters through in any script (UTF-8
    takes up to 4 bytes a character; Home Assistant repeats a streamed text whole)."""
    default = FrameLimits()
    return FrameLimits(data_bytes=max(default.data_bytes, 4 * text_chars + 64 * 1024))


@dataclass(frozen=True)
class ConnectionLimits:
    """What one client may send, and how long the server waits for it."""

    frames: FrameLimits = field(default_factory=lambda: frame_limits(MAX_TEXT_CHARS))
    text_chars: int = MAX_TEXT_CHARS  # one synthesize, or one whole streamed text
    idle_seconds: float = 300.0  # a connection with nothing to do is closed after this
    write_seconds: float = 30.0  # a client that stops reading for this long is dropped

    def __post_init__(self) -> None:
        for name in ("text_chars", "idle_seconds", "write_seconds"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be greater than 0")


@dataclass
class ServiceContext:
    """What all connections share."""

    catalog: VoiceCatalog
    pipeline: SpeechPipeline
    samples_per_chunk: int
    clause_policy: ClausePolicy = field(default_factory=ClausePolicy)
    limits: ConnectionLimits = field(default_factory=ConnectionLimits)


@dataclass(eq=False)
class _OpenStream:
    """A `synthesize-start` ... `synthesize-stop` request in progress."""

    voice: Optional[Voice]
    sentences: SentenceStream
    feed: PieceFeed = field(default_factory=PieceFeed)
    errors: List[Event] = field(default_factory=list)  # said before `synthesize-stopped`
    fallback_text: Optional[str] = None  # checked against the limit only if it is spoken
    ssml: Optional[bool] = None  # SSML is gathered whole and spoken at synthesize-stop;
    ssml_text: str = ""  # None: not said, decided by whether the text starts with <speak
    voices: Dict[str, Voice] = field(default_factory=dict)  # voices the SSML names
    received_chars: int = 0  # of the chunks taken (within the limit)
    overflowed: bool = False  # a chunk passed the limit: nothing after it is spoken
    fed: int = 0  # pieces put into the feed
    spoken: int = 0  # pieces whose audio was sent
    answering: bool = False  # the sender has reached this stream's answer
    draining: bool = False  # nothing more will be spoken; the end of the request is awaited
    first_text_at: Optional[float] = None  # when its first piece came (`time.monotonic`)

    def add(self, piece: Piece) -> None:
        self.feed.put(piece)
        self.fed += 1
        if self.first_text_at is None:
            self.first_text_at = time.monotonic()  # its first audio is timed from here

    def waits_for_text(self) -> bool:
        """Its answer has sent all it could and waits for the client: the client is idle."""
        return self.answering and (self.draining or self.spoken >= self.fed)


class PolyTtsEventHandler(AsyncEventHandler):
    """Answers one client's events, in order, from one sender task."""

    def __init__(
        self,
        context: ServiceContext,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        super().__init__(reader, writer)
        limit_send_buffer(writer.transport)
        self._context = context
        self._metrics = Metrics.of(context.pipeline.scheduler)
        self._outbox: asyncio.Queue[Optional[Outgoing]] = asyncio.Queue()
        self._urgent: Deque[Event] = deque()  # sent as soon as no audio is under way
        self._urgent_posted = asyncio.Event()
        self._in_audio = False  # the sender is between an `audio-start` and its `audio-stop`
        self._answering = False
        self._stream: Optional[_OpenStream] = None

    async def run(self) -> None:
        """Read until the client is done, idle or broken; answer what it asked; close."""
        sending = asyncio.create_task(self._send_outbox(), name="polytts-sender")
        try:
            if await self._read_events(sending):
                await self._end_of_input()
                await asyncio.wait({sending})  # answer what was asked, then close
        finally:
            sending.cancel()
            try:
                await sending
            except asyncio.CancelledError:
                pass  # stopped here: the input ended badly or the server stops
            except ConnectionError as err:
                _LOGGER.debug("Client went away: %s", err)
            except Exception:  # noqa: BLE001 - one broken connection must not stop the server
                _LOGGER.exception("Unexpected failure while answering a client")
            await self.disconnect()
            await close_when_sent(self.writer.transport, self._context.limits.write_seconds)

    async def _read_events(self, sending: asyncio.Task[None]) -> bool:
        """Handle frames until the input ends; False when the connection must end at once."""
        limits = self._context.limits
        reading: Optional[asyncio.Task[Optional[Event]]] = None
        try:
            while True:
                if reading is None:
                    reading = asyncio.create_task(read_frame(self.reader, limits.frames))
                await asyncio.wait(
                    {reading, sending},
                    timeout=limits.idle_seconds,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if sending.done():
                    return False  # the client stopped reading or went away
                if not reading.done():
                    if self._busy():
                        continue  # the client is listening to an answer, not idle
                    _LOGGER.debug("Closing a connection idle for %s s", limits.idle_seconds)
                    return False
                finished, reading = reading, None
                try:
                    event = finished.result()
                except FrameError as err:
                    _LOGGER.warning("Closing a connection: %s", err)
                    self._post(Error(text=str(err), code="bad-frame").event())
                    return True
                except (ConnectionError, OSError):
                    return False
                if event is None:
                    return True  # the client closed its side; it may still be listening
                await self.handle_event(event)
        finally:
            if reading is not None:
                reading.cancel()

    async def _end_of_input(self) -> None:
        """No more requests: an open stream ends with what it has, then the sender stops."""
        if self._stream is not None:
            await self._on_synthesize_stop()
        self._outbox.put_nowait(None)

    def _busy(self) -> bool:
        """Whether an answer is in progress that does not wait for the client's text."""
        if not self._outbox.empty() or self._urgent:
            return True
        stream = self._stream
        return self._answering and not (stream is not None and stream.waits_for_text())

    async def handle_event(self, event: Event) -> bool:
        try:
            if Describe.is_type(event.type):
                self._post_info()
            elif Synthesize.is_type(event.type):
                await self._on_synthesize(Synthesize.from_event(event))
            elif SynthesizeStart.is_type(event.type):
                self._on_synthesize_start(SynthesizeStart.from_event(event))
            elif SynthesizeChunk.is_type(event.type):
                await self._on_synthesize_chunk(SynthesizeChunk.from_event(event))
            elif SynthesizeStop.is_type(event.type):
                await self._on_synthesize_stop()
            else:
                _LOGGER.debug("Ignoring event of type %s", event.type)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            self._refuse(f"Malformed {event.type} event: {err!r}", "bad-event")
            if Synthesize.is_type(event.type) and self._stream is None:
                self._post(AudioStop().event())  # end the request all the same
        return True

    # -- requests ------------------------------------------------------------------------

    async def _on_synthesize(self, request: Synthesize) -> None:
        stream = self._stream
        if stream is not None:
            # Streaming clients repeat the whole text as `synthesize` for servers without
            # streaming; the chunks are what we speak. Kept only in case no chunk arrives,
            # and held to the limit only then (a text refused once is not refused again).
            stream.fallback_text = _text_of(request.text)
            return
        voices: Dict[str, Voice] = {}
        try:
            voice = self._resolve(request.voice)
            text = self._checked_text(request.text)
            pieces = await self._pieces_of(text, request.text_format, voices)
        except RequestError as err:
            self._refuse(err.text, err.code)
            self._post(AudioStop().event())
            return
        self._post(self._speech(voice, pieces, frame_each_piece=False, voices=voices))

    def _on_synthesize_start(self, request: SynthesizeStart) -> None:
        if self._stream is not None:
            self._refuse("synthesize-start while a stream is already open", "bad-order")
            return
        stream = _OpenStream(voice=None, sentences=SentenceStream(self._context.clause_policy))
        stream.ssml = _is_ssml(request.text_format)  # None: decided by the first text
        try:
            stream.voice = self._resolve(request.voice)
        except RequestError as err:
            stream.errors.append(_error(err.text, err.code))
        self._stream = stream
        self._post(self._stream_answer(stream))

    async def _on_synthesize_chunk(self, request: SynthesizeChunk) -> None:
        stream = self._stream
        if stream is None:
            self._refuse("synthesize-chunk without synthesize-start", "bad-order")
            return
        text = _text_of(request.text)
        if stream.overflowed:
            return  # refused from the limit on; said once
        limit = self._context.limits.text_chars
        if stream.received_chars + len(text) > limit:
            stream.overflowed = True
            self._refuse(_overflow_message(limit, stream), "text-too-long")
            return
        stream.received_chars += len(text)
        if stream.ssml is not False:
            stream.ssml_text += text
            if stream.ssml is None and len(stream.ssml_text.lstrip()) >= len(SSML_ROOT):
                stream.ssml = _is_ssml(None, stream.ssml_text)
                text = "" if stream.ssml else stream.ssml_text
            if stream.ssml is not False:
                return  # SSML, or not known yet
        # Cut in a thread: one chunk may be a whole long text (Home Assistant's tts.speak).
        for piece in await off_loop(stream.sentences.add, text):
            stream.add(piece)

    async def _on_synthesize_stop(self) -> None:
        stream = self._stream
        if stream is None:
            self._refuse("synthesize-stop without synthesize-start", "bad-order")
            return
        self._stream = None
        try:
            for piece in await self._last_pieces(stream):
                stream.add(piece)
        except RequestError as err:
            stream.errors.append(_error(err.text, err.code))
        stream.feed.close()

    async def _last_pieces(self, stream: _OpenStream) -> List[Piece]:
        """What is left to speak when a stream ends: the rest of its chunks, or all of an
        SSML document, or the repeated whole text when no chunk came."""
        if stream.overflowed and stream.ssml is not False:
            return []  # a document cut by the limit is not spoken (said at the limit)
        chunked = stream.received_chars > 0 or stream.overflowed
        text = stream.ssml_text
        if not chunked:
            text = self._checked_text(stream.fallback_text or "")
        ssml = stream.ssml if stream.ssml is not None else bool(_is_ssml(None, text))
        if ssml:
            return await self._pieces_of(text, "ssml", stream.voices)
        if not chunked:
            return await off_loop(split_text, text, self._context.clause_policy)
        pending = stream.ssml_text if stream.ssml is None else ""  # a short text, not SSML
        return await off_loop(_finish, stream.sentences, pending)

    async def _pieces_of(
        self, text: str, text_format: object, voices: Dict[str, Voice]
    ) -> List[Piece]:
        """The pieces of a whole text (plain or SSML), cut in a thread so that a long text
        never holds the event loop; the voices SSML names are resolved into `voices`."""
        policy = self._context.clause_policy
        try:
            pieces = await off_loop(text_pieces, text, text_format, policy)
        except SsmlError as err:
            raise RequestError(str(err), "bad-ssml") from None
        resolve_voices(pieces, self._resolve_name, voices)
        return pieces

    def _resolve_name(self, name: str) -> Voice:
        return self._resolve(SynthesizeVoice(name=name))

    def _checked_text(self, value: object) -> str:
        text = _text_of(value)
        limit = self._context.limits.text_chars
        if len(text) > limit:
            raise RequestError(
                f"The text is {len(text)} characters long, more than the {limit} this server "
                "speaks in one request; none of it is spoken",
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

    def _refuse(self, text: str, code: str) -> None:
        """Report a refused request: inside the open stream's answer, else on its own."""
        event = _error(text, code)
        if self._stream is not None:
            self._stream.errors.append(event)
        else:
            self._post(event)

    # -- answers, sent in order by one task -----------------------------------------------

    def _post(self, outgoing: Outgoing) -> None:
        self._outbox.put_nowait(outgoing)

    def _post_info(self) -> None:
        """`info` after the answers asked before it; while a stream is open (its end is up to
        the client, who may wait for `info` first), as soon as no audio is under way."""
        info = self._context.catalog.info().event()
        if self._stream is None:
            self._post(info)
        else:
            self._urgent.append(info)
            self._urgent_posted.set()

    async def _send_outbox(self) -> None:
        """The only writer of this socket: events and answers, in the order they were asked
        (urgent events go between answers, or between an answer's audio streams)."""
        while (outgoing := await self._meanwhile(self._outbox.get())) is not None:
            self._answering = True
            try:
                if isinstance(outgoing, Event):
                    await self._send(outgoing)
                else:
                    async with contextlib.aclosing(outgoing) as events:
                        while (event := await self._meanwhile(_next_event(events))) is not None:
                            await self._send(event)
            finally:
                self._answering = False
                self._in_audio = False

    async def _meanwhile(self, next_one: Awaitable[T]) -> T:
        """Await `next_one`; meanwhile, send urgent events unless audio is under way."""
        if self._in_audio:
            return await next_one
        waiting = asyncio.ensure_future(next_one)
        try:
            while True:
                while self._urgent:
                    await self._send(self._urgent.popleft())
                self._urgent_posted.clear()
                if waiting.done():
                    return waiting.result()
                posted = asyncio.ensure_future(self._urgent_posted.wait())
                try:
                    await asyncio.wait({waiting, posted}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    posted.cancel()
        finally:
            if not waiting.done():  # stopped: the answer must be idle before it is closed
                waiting.cancel()
                await asyncio.wait({waiting})

    async def _send(self, event: Event) -> None:
        if Error.is_type(event.type):
            error = Error.from_event(event)
            self._metrics.error("wyoming", error.code or "error", error.text)
        await self.write_event(event)
        if AudioStart.is_type(event.type):
            self._in_audio = True
        elif AudioStop.is_type(event.type):
            self._in_audio = False

    async def write_event(self, event: Event) -> None:
        """Send an event; a client that stops reading for `write_seconds` is cut off."""
        try:
            await asyncio.wait_for(
                async_write_event(event, self.writer), self._context.limits.write_seconds
            )
        except asyncio.TimeoutError:
            _LOGGER.info(
                "Dropping a client that stopped reading for %s s",
                self._context.limits.write_seconds,
            )
            reset(self.writer.transport)
            raise ConnectionResetError("the client stopped reading") from None

    async def _stream_answer(self, stream: _OpenStream) -> Answer:
        """A streamed request: its pieces as they arrive, then `synthesize-stopped`.

        A stream with nothing to say and no error still carries one audio stream (silence):
        Home Assistant builds its WAV from the first `audio-start` and fails without one.
        """
        stream.answering = True
        failed = False
        if stream.voice is None:
            yield stream.errors.pop(0)  # why nothing will be spoken, said at once
        else:
            speech = self._speech(
                stream.voice,
                stream.feed,
                frame_each_piece=True,
                voices=stream.voices,
                since=lambda: stream.first_text_at,
            )
            async for event in speech:
                if AudioStop.is_type(event.type):
                    stream.spoken += 1
                failed = failed or Error.is_type(event.type)
                yield event
            if not (stream.spoken or failed or stream.errors):
                for event in self._silence(stream.voice.engine.sample_rate, framed=True):
                    yield event
        stream.draining = True
        async for _ in stream.feed:
            pass  # nothing more is spoken (after a failure): wait for the end of the request
        for error in stream.errors:
            yield error
        yield SynthesizeStopped().event()

    async def _speech(
        self,
        voice: Voice,
        pieces: Pieces,
        frame_each_piece: bool,
        voices: Optional[Dict[str, Voice]] = None,
        since: Optional[Callable[[], Optional[float]]] = None,
    ) -> Answer:
        """Audio events for `pieces`: one audio stream, or one per piece (streamed text).

        Every piece is sent at `voice`'s rate, whichever voice (SSML `voice`) spoke it. The
        answer is watched by the metrics from now, or from `since()` (a stream's first text).
        """
        rate = voice.engine.sample_rate
        if not frame_each_piece:
            yield _audio_start(rate)
        piece_open = False  # a piece's `audio-start` was sent, its `audio-stop` not yet
        failure: Optional[Event] = None
        watch = self._metrics.answer("wyoming", voice.engine.name, since)
        try:
            spoken = self._context.pipeline.speak(voice, pieces, client=self, voices=voices)
            parts = 0
            async with contextlib.aclosing(spoken):
                async for part in spoken:
                    parts += 1
                    if frame_each_piece and part.first:
                        piece_open = True
                        yield _audio_start(rate)
                    samples = resample(part.samples, part.rate, rate)
                    watch.sent(samples.size / rate)
                    for event in self._chunks(samples, rate):
                        yield event
                    if frame_each_piece and part.last:
                        piece_open = False
                        yield AudioStop().event()
            if not (parts or frame_each_piece):  # nothing to say: silence, valid audio
                for event in self._silence(rate, framed=False):
                    yield event
        except SynthesisError as err:
            failure = _error(str(err), "synthesis-failed")
        except SchedulerBusy as err:
            failure = _error(str(err), "busy")
        except Exception as err:  # noqa: BLE001 - the server must outlive one bad sentence
            _LOGGER.exception("Synthesis failed")
            failure = _error(f"Synthesis failed: {err}", "synthesis-failed")
        finally:
            watch.close()
        if piece_open:  # a piece failed halfway: its audio stream is closed before the error
            yield AudioStop().event()
        if failure is not None:
            yield failure
        if not frame_each_piece:
            yield AudioStop().event()

    def _chunks(self, samples: np.ndarray, rate: int) -> List[Event]:
        """`audio-chunk` events of float samples at `rate`."""
        return [
            AudioChunk(rate=rate, width=SAMPLE_WIDTH, channels=CHANNELS, audio=pcm).event()
            for pcm in iter_chunks(to_pcm16(samples), self._context.samples_per_chunk)
        ]

    def _silence(self, rate: int, framed: bool) -> List[Event]:
        """The answer to a text with nothing to say: a moment of silence (inside its own
        `audio-start`/`audio-stop` when `framed`). Clients get valid audio: Home Assistant's
        streaming path builds its WAV from `audio-start`, its one-shot path from the first
        `audio-chunk`."""
        chunks = self._chunks(silent_answer(rate), rate)
        return [_audio_start(rate), *chunks, AudioStop().event()] if framed else chunks


class StdioServer(AsyncStdioServer):
    """Wyoming over stdin/stdout, through the handler's own `run` (limits, order, timeouts).

    The library's stdio server calls `handle_event` directly, which would bypass them.
    """

    async def run(self, handler_factory: HandlerFactory) -> None:
        reader = await async_get_stdin()
        self._reader = reader
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, sys.stdout
        )
        writer = asyncio.StreamWriter(transport, protocol, None, loop)
        self._register_stop_signal()
        try:
            await handler_factory(reader, writer).run()
        finally:
            self._unregister_stop_signal()


class TcpServer(AsyncTcpServer):
    """Wyoming over TCP, with the port bound by `listen` before anything else starts, so a
    port in use is known at once (`run` binds it only if `listen` was not called)."""

    async def listen(self, handler_factory: HandlerFactory) -> None:
        """Bind the port and accept connections; raises `OSError` (a port in use, say)."""
        self._server = await asyncio.start_server(
            partial(self._handler_callback, handler_factory), host=self.host, port=self.port
        )

    async def run(self, handler_factory: HandlerFactory) -> None:
        if self._server is None:
            await self.listen(handler_factory)
        assert self._server is not None
        self._register_stop_signal()
        try:
            await self._server.serve_forever()
        except asyncio.CancelledError:
            if not self._stop_requested:  # the stop signal closed the server: a normal end
                raise
        finally:
            self._unregister_stop_signal()


async def _next_event(events: Answer) -> Optional[Event]:
    """The answer's next event; None at its end."""
    try:
        return await events.__anext__()
    except StopAsyncIteration:
        return None


def _audio_start(rate: int) -> Event:
    return AudioStart(rate=rate, width=SAMPLE_WIDTH, channels=CHANNELS).event()


def _finish(sentences: SentenceStream, pending: str) -> List[Piece]:
    """The last pieces of a streamed text: `pending` text not yet given to `sentences`, then
    whatever `sentences` holds."""
    return sentences.add(pending) + sentences.finish()


def _overflow_message(limit: int, stream: _OpenStream) -> str:
    """What a stream that passes the text limit is told: exactly what will be spoken."""
    said = f"The streamed text is longer than {limit} characters"
    if stream.ssml is not False or not stream.received_chars:
        return f"{said}; none of it is spoken"
    return (
        f"{said}; only its first {stream.received_chars} characters are spoken, nothing after them"
    )


def _error(text: str, code: str) -> Event:
    _LOGGER.warning("Request refused: %s", text)
    return Error(text=text, code=code).event()
