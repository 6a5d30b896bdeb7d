"""Wyoming event handling: one handler per connection, audio streamed sentence by sentence."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Awaitable, Callable, List, Optional

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
from .scheduler import Scheduler
from .text import SentenceStream, split_sentences
from .voices import Voice, VoiceCatalog, VoiceNotFoundError

_LOGGER = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


class RequestError(Exception):
    """A request that cannot be served, with the message sent back to the client."""

    def __init__(self, text: str, code: str) -> None:
        super().__init__(text)
        self.text = text
        self.code = code


@dataclass
class ServiceContext:
    """What all connections share."""

    catalog: VoiceCatalog
    scheduler: Scheduler
    sample_rate: int
    speed: float
    samples_per_chunk: int


@dataclass
class _OpenStream:
    """A `synthesize-start` ... `synthesize-stop` request in progress."""

    voice: Optional[Voice]
    sentences: SentenceStream
    fallback_text: str = ""


class PolyTtsEventHandler(AsyncEventHandler):
    """Answers one client's events; output is written in request order by one speaker task."""

    def __init__(
        self,
        context: ServiceContext,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        super().__init__(reader, writer)
        self._context = context
        self._jobs: asyncio.Queue[Job] = asyncio.Queue()
        self._speaker: Optional[asyncio.Task[None]] = None
        self._stream: Optional[_OpenStream] = None

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
                self._enqueue(self._send(AudioStop().event()))  # end the request all the same
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
            sentences = split_sentences(_text_of(request.text))
            if not sentences:
                raise RequestError("Nothing to say: the text has no words", "empty-text")
        except RequestError as err:
            self._enqueue(self._send_error(err.text, err.code), self._send(AudioStop().event()))
            return
        self._enqueue(self._speak_whole(voice, sentences))

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
        self._stream = _OpenStream(voice=voice, sentences=SentenceStream())

    def _on_synthesize_chunk(self, request: SynthesizeChunk) -> None:
        if self._stream is None:
            self._enqueue(
                self._send_error("synthesize-chunk without synthesize-start", "bad-order")
            )
            return
        for sentence in self._stream.sentences.add(_text_of(request.text)):
            self._enqueue_stream_sentence(self._stream, sentence)

    def _on_synthesize_stop(self) -> None:
        stream = self._stream
        if stream is None:
            self._enqueue(self._send_error("synthesize-stop without synthesize-start", "bad-order"))
            return
        self._stream = None
        if stream.sentences.received_text:
            rest = stream.sentences.finish()
        else:
            rest = split_sentences(stream.fallback_text)
        for sentence in rest:
            self._enqueue_stream_sentence(stream, sentence)
        self._enqueue(self._send(SynthesizeStopped().event()))

    def _enqueue_stream_sentence(self, stream: _OpenStream, sentence: str) -> None:
        if stream.voice is not None:  # else an unknown voice was reported at synthesize-start
            self._enqueue(self._speak_whole(stream.voice, [sentence]))

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
        for job in jobs:
            self._jobs.put_nowait(job)
        if self._speaker is None:
            self._speaker = asyncio.create_task(self._run_jobs(), name="polytts-speaker")

    async def _run_jobs(self) -> None:
        while True:
            job = await self._jobs.get()
            try:
                await job()
            except ConnectionError as err:
                _LOGGER.debug("Client went away: %s", err)
                return
            except Exception:  # noqa: BLE001 - one failed job must not silence the next
                _LOGGER.exception("Unexpected failure while answering a request")

    def _send(self, event: Event) -> Job:
        async def job() -> None:
            await self.write_event(event)

        return job

    def _send_error(self, text: str, code: str) -> Job:
        _LOGGER.warning("Request refused: %s", text)
        return self._send(Error(text=text, code=code).event())

    def _speak_whole(self, voice: Voice, sentences: List[str]) -> Job:
        """audio-start, the audio of each sentence as soon as it is ready, audio-stop."""

        async def job() -> None:
            context = self._context
            await self.write_event(
                AudioStart(rate=context.sample_rate, width=SAMPLE_WIDTH, channels=CHANNELS).event()
            )
            try:
                for sentence in sentences:
                    _LOGGER.debug("Speaking with %s: %s", voice.name, sentence)
                    samples = await context.scheduler.run(
                        voice.engine.synthesize, sentence, voice.name, context.speed
                    )
                    samples = trim_silence(samples, context.sample_rate)
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
            except (ConnectionError, asyncio.CancelledError):
                raise
            except Exception as err:  # noqa: BLE001 - the server must outlive one bad sentence
                _LOGGER.exception("Synthesis failed")
                await self.write_event(
                    Error(text=f"Synthesis failed: {err}", code="synthesis-failed").event()
                )
            await self.write_event(AudioStop().event())

        return job


def _text_of(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"text must be a string, not {type(value).__name__}")
    return value
