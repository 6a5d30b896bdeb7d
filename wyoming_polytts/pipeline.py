"""The one speech pipeline: pieces of text in, trimmed audio out, one piece synthesized ahead.

Each piece first gets the household's pronunciations (the lexicon), then is normalized
(numbers, units, times, symbols, Markdown: `speech.normalize`), in the language the voice
reads it in.

Every door into the server (the Wyoming handler, the admin preview, later the HTTP speech
API) speaks through `SpeechPipeline.speak`. It runs the engine through the shared fair
`Scheduler`, starts the next piece while the current one is being sent, trims each piece's
model silence, and cancels whatever it started when its consumer stops early (a dropped
client, a failed write, an error): close the generator, e.g. with `contextlib.aclosing`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import deque
from dataclasses import dataclass
from typing import (
    Any,
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Deque,
    Hashable,
    Iterable,
    List,
    Mapping,
    Optional,
    Protocol,
    Sequence,
    Set,
    Union,
)

import numpy as np

from .audio import SilenceTrimmer, resample
from .engines.base import (
    AudioStream,
    Playback,
    WholeAudio,
    audio_stream,
    mark_phonemes,
    split_phonemes_runs,
)
from .language_tags import primary
from .presets import clamp_speed
from .scheduler import Scheduler
from .speech.normalize import normalize
from .text import Piece, speakable
from .voices import Voice

_LOGGER = logging.getLogger(__name__)

Pieces = Union[Iterable[Piece], AsyncIterable[Piece]]
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def reading_language(languages: Sequence[str], text: str) -> str:
    """The language `text` is read in: a voice's Japanese or Chinese for text in those
    scripts, else its first other language (Japanese voices read Latin text as English)."""
    if not languages:
        return "en-US"
    if _CJK.search(text):
        return languages[0]
    return next((tag for tag in languages if primary(tag) not in ("ja", "zh")), languages[0])


@dataclass(frozen=True)
class SpokenPiece:
    """Audio of one piece, or a stretch of it: float32 mono samples at `rate`, model silence
    trimmed. A piece's audio may come in several stretches, `first` to `last`."""

    piece: Piece
    samples: np.ndarray
    rate: int
    first: bool = True
    last: bool = True


class _Speech:
    """A piece being spoken: its audio stream, the call making its next stretch, its trim."""

    def __init__(self, piece: Piece, rate: int, stream: AudioStream) -> None:
        self.piece = piece
        self.rate = rate
        self.stream = stream
        self.call: Optional[asyncio.Future[np.ndarray]] = None
        self.last_requested = False  # the call under way is known to be the last
        self.sent_any = False
        self.trimmer: Optional[SilenceTrimmer] = None
        if not piece.silence:
            self.trimmer = SilenceTrimmer(rate, trail_seconds=piece.pause)


class PieceFeed:
    """Pieces that arrive over time (a streamed text): put them in, `close` at the end.

    An async iterator that is safe to read from a task that may be cancelled, unlike an
    async generator.
    """

    def __init__(self, pieces: Iterable[Piece] = ()) -> None:
        self._queue: asyncio.Queue[Optional[Piece]] = asyncio.Queue()
        self.closed = False
        for piece in pieces:
            self.put(piece)

    def put(self, piece: Piece) -> None:
        if self.closed:
            raise RuntimeError("the feed is closed")
        self._queue.put_nowait(piece)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._queue.put_nowait(None)

    def __aiter__(self) -> PieceFeed:
        return self

    async def __anext__(self) -> Piece:
        piece = await self._queue.get()
        if piece is None:
            self._queue.put_nowait(None)  # stays ended for every later read
            raise StopAsyncIteration
        return piece


class Pronunciations(Protocol):
    """The pronunciation lexicon, as the pipeline uses it."""

    def apply(self, text: str, language: str) -> str:
        """`text` with the lexicon's words respelled or marked as phonemes."""


class SpeechPipeline:
    """Speaks pieces with a voice through the shared scheduler, `lookahead` pieces ahead."""

    def __init__(
        self,
        scheduler: Scheduler,
        speed: float = 1.0,
        lookahead: int = 1,
        lexicon: Optional[Pronunciations] = None,
    ) -> None:
        self.scheduler = scheduler
        self.speed = speed
        self.lookahead = lookahead
        self.lexicon = lexicon

    def spoken_text(self, text: str, languages: Sequence[str]) -> str:
        """What the engine is given for `text`: the household's pronunciations applied, then
        the words normalized; phonemes the lexicon put in are left as they are."""
        language = reading_language(languages, text)
        if self.lexicon is not None:
            text = self.lexicon.apply(text, language)
        return "".join(
            mark_phonemes(part) if is_phonemes else _normalized(part, language)
            for is_phonemes, part in split_phonemes_runs(text)
        )

    async def speak(
        self,
        voice: Voice,
        pieces: Pieces,
        *,
        client: Hashable,
        speed: Optional[float] = None,
        voices: Optional[Mapping[str, Voice]] = None,
    ) -> AsyncGenerator[SpokenPiece, None]:
        """Audio of each piece in order, as soon as it is ready.

        Engine errors (`SynthesisError`) and a full queue (`SchedulerBusy`) are raised to the
        caller, who turns them into its protocol's error. Closing the generator cancels the
        syntheses it started that were not spoken yet. A piece that names a voice is spoken
        by `voices[name]`; a piece with `silence` is that much silence.
        """
        source = _async_iter(pieces)
        speed = self.speed if speed is None else speed
        ahead: Deque[_Speech] = deque()
        reading: Optional[asyncio.Task[Piece]] = None
        waiting: Deque[Piece] = deque()  # read, not started yet
        exhausted = False
        admitted = False  # whether the scheduler took this answer's first synthesis
        playback = Playback()  # shared by the answer's streams, to size their windows

        def request(speech: _Speech) -> None:
            """Queue the call that makes `speech`'s next stretch."""
            nonlocal admitted
            speech.call = asyncio.ensure_future(
                self.scheduler.run(speech.stream.next_chunk, client=client, admitted=admitted)
            )
            speech.last_requested = speech.stream.next_is_last
            admitted = True  # the answer has begun: its later calls are not refused

        def start(piece: Piece) -> None:
            speaker = (voices or {}).get(piece.voice or "", voice)
            rate = speaker.engine.sample_rate
            if piece.silence > 0:
                silence = np.zeros(int(piece.silence * rate), np.float32)
                speech = _Speech(piece, rate, WholeAudio(lambda: silence))
                speech.call = asyncio.get_running_loop().create_future()
                speech.call.set_result(speech.stream.next_chunk())
                ahead.append(speech)
                return
            text = self.spoken_text(piece.text, speaker.spec.languages)
            if not speakable(text):
                return  # only Markdown, emoji or symbols: nothing to say
            _LOGGER.debug("Speaking with %s: %s", speaker.name, text)
            # a preset speaks its base voice at its own speed
            stream = audio_stream(
                speaker.engine,
                text,
                speaker.engine_voice,
                clamp_speed(speed * piece.rate * speaker.speed),
                playback,
            )
            ahead.append(_Speech(piece, rate, stream))
            request(ahead[-1])

        def may_start() -> bool:
            """Whether the next piece may start: every started piece has had its last call
            queued (so a piece's stretches never wait behind the next piece, and the next
            piece is made while the last stretch plays), and at most `lookahead` pieces are
            ahead of the one being sent."""
            started_all = all(
                speech.last_requested or speech.stream.finished or speech.call is None
                for speech in ahead
            )
            return started_all and len(ahead) <= self.lookahead

        try:
            while ahead or waiting or not exhausted:
                while waiting and may_start():
                    start(waiting.popleft())
                if (
                    reading is None
                    and not exhausted
                    and len(waiting) + len(ahead) <= self.lookahead
                ):
                    reading = asyncio.ensure_future(source.__anext__())
                head = ahead[0].call if ahead else None
                pending: Set[asyncio.Future[Any]] = {task for task in (reading, head) if task}
                if not pending:
                    continue
                await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if reading is not None and reading.done():
                    finished, reading = reading, None
                    try:
                        waiting.append(finished.result())
                    except StopAsyncIteration:
                        exhausted = True
                    continue  # start the next read before waiting on audio again
                call = ahead[0].call if ahead else None
                if call is not None and call.done():
                    speech = ahead[0]
                    samples = call.result()
                    speech.call = None
                    last = speech.stream.finished
                    if speech.trimmer is not None:
                        samples = speech.trimmer.push(samples)
                        if last:
                            samples = np.concatenate([samples, speech.trimmer.finish()])
                    playback.sent(samples.size / speech.rate)  # before the next call sizes itself
                    if not last:
                        request(speech)  # the next stretch is made while this one is sent
                    else:
                        ahead.popleft()
                    if samples.size or last:
                        first = not speech.sent_any
                        yield SpokenPiece(speech.piece, samples, speech.rate, first, last)
                        speech.sent_any = True
        finally:
            unused: List[asyncio.Future[Any]] = [s.call for s in ahead if s.call is not None]
            for future in unused + ([reading] if reading else []):
                if future.done() and not future.cancelled():
                    future.exception()  # a failed look-ahead was never spoken: nothing to say
                future.cancel()

    async def speak_all(
        self,
        voice: Voice,
        pieces: Pieces,
        *,
        client: Hashable,
        speed: Optional[float] = None,
        voices: Optional[Mapping[str, Voice]] = None,
    ) -> np.ndarray:
        """All pieces joined into one array at `voice`'s rate (for answers sent whole)."""
        parts: List[np.ndarray] = []
        speech = self.speak(voice, pieces, client=client, speed=speed, voices=voices)
        async for spoken in speech:
            parts.append(resample(spoken.samples, spoken.rate, voice.engine.sample_rate))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def _normalized(part: str, language: str) -> str:
    """`normalize`, keeping the spaces that separate `part` from phonemes beside it."""
    words = part.strip()
    if not words:
        return part
    return (
        part[: len(part) - len(part.lstrip())]
        + normalize(words, language)
        + part[len(part.rstrip()) :]
    )


class _SyncSource:
    """A plain iterable of pieces as an async iterator."""

    def __init__(self, pieces: Iterable[Piece]) -> None:
        self._pieces = iter(pieces)

    def __aiter__(self) -> _SyncSource:
        return self

    async def __anext__(self) -> Piece:
        try:
            return next(self._pieces)
        except StopIteration:
            raise StopAsyncIteration from None


def _async_iter(pieces: Pieces) -> AsyncIterator[Piece]:
    if isinstance(pieces, AsyncIterable):
        return pieces.__aiter__()
    return _SyncSource(pieces)
