"""The one speech pipeline: pieces of text in, trimmed audio out, one piece synthesized ahead.

Each piece first gets the household's pronunciations (the lexicon), then is normalized
(numbers, units, times, symbols, Markdown: `speech.normalize`), in the language the voice
reads it in. That happens in a thread (the loop's default executor, never the scheduler's
workers), one piece at a time per answer, so a long text never holds the event loop.
Normalization can make a text ten times longer, so the result is cut again into texts of
at most `MAX_PIECE_CHARS` (`text.cap_text`), spoken one after another as one piece: no
engine call is given more than that.

Every door into the server (the Wyoming handler, the admin preview, the HTTP speech API)
speaks through `SpeechPipeline.speak`. It runs the engine through the shared `Scheduler`,
each call due when the answer's listener would run out of audio (`Playback.runs_out`),
starts the next piece while the current one is being sent, trims each piece's model
silence, and cancels whatever it started when its consumer stops early (a dropped client, a
failed write, an error): close the generator, e.g. with `contextlib.aclosing`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import deque
from dataclasses import dataclass
from functools import partial
from typing import (
    Any,
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Deque,
    Hashable,
    Iterable,
    List,
    Mapping,
    Optional,
    Protocol,
    Sequence,
    Set,
    Tuple,
    Union,
)

import numpy as np

from .audio import SilenceTrimmer
from .engines.base import (
    AudioStream,
    Engine,
    Playback,
    WholeAudio,
    WordTiming,
    audio_stream,
    mark_phonemes,
    stream_words,
    written_phonemes_runs,
)
from .language_tags import primary
from .presets import clamp_speed
from .scheduler import Scheduler
from .settings import MAX_PIECE_CHARS
from .speech.normalize import normalize
from .text import Piece, cap_text, speakable
from .textwork import off_loop
from .voices import Voice

_LOGGER = logging.getLogger(__name__)

Pieces = Union[Iterable[Piece], AsyncIterable[Piece]]
Prepared = Tuple[Piece, List[str]]  # a piece and the texts its engine calls are given
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
    words: Tuple[SpokenWord, ...] = ()  # the words whose audio ends in this stretch


@dataclass(frozen=True)
class SpokenWord:
    """A word and where it is spoken, in seconds from the first sample of the stretch it is
    handed out with: the one its audio ends in (so its start may be negative)."""

    word: str
    start: float
    end: float


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
        self.sent = 0  # samples of this piece handed out (trimmed)
        self.words_read = 0  # words taken from the stream
        self.unsent_words: List[WordTiming] = []  # taken, not handed out yet

    def words_of(self, samples: int, last: bool) -> Tuple[SpokenWord, ...]:
        """The words whose audio ends within the next `samples` handed out (all that are
        left, at the piece's end, their ends held within it), timed from that stretch's
        first sample, the trimmed start of the piece taken off. A word is handed out once
        its end is sure: the trimmer may cut a last word's trailing frames. Called between
        the stream's calls."""
        timed = stream_words(self.stream)
        self.unsent_words.extend(timed[self.words_read :])
        self.words_read = len(timed)
        dropped = self.trimmer.kept_start if self.trimmer is not None else 0
        begins, ends = self.sent, self.sent + samples
        self.sent = ends
        words = []
        while self.unsent_words and (last or self.unsent_words[0].end - dropped <= ends):
            word = self.unsent_words.pop(0)
            start = min(max(word.start - dropped, 0), ends)
            end = min(max(word.end - dropped, start), ends)
            words.append(
                SpokenWord(
                    word.word, float(start - begins) / self.rate, float(end - begins) / self.rate
                )
            )
        return tuple(words)


class _Chain:
    """One piece's `AudioStream` made of several engine streams, one after the other (a
    spoken text longer than one engine call may take). Each stream is made when its turn
    comes; making one runs nothing."""

    def __init__(self, streams: Sequence[Callable[[], AudioStream]]) -> None:
        self._streams = deque(streams)
        self._current = self._streams.popleft()()
        self._made = 0  # samples returned so far
        self._begins = 0  # the sample the current stream begins at
        self._earlier: List[WordTiming] = []  # the words of the streams before it

    @property
    def words(self) -> List[WordTiming]:
        """The words timed so far (`stream_words`), from the chain's first sample."""
        begins = self._begins
        return self._earlier + [
            WordTiming(word.word, word.start + begins, word.end + begins)
            for word in stream_words(self._current)
        ]

    @property
    def finished(self) -> bool:
        return self._current.finished and not self._streams

    @property
    def next_is_last(self) -> bool:
        return not self._streams and self._current.next_is_last

    def next_chunk(self) -> np.ndarray:
        chunk = self._current.next_chunk()
        self._made += chunk.size
        if self._current.finished and self._streams:
            self._earlier = self.words
            self._current, self._begins = self._streams.popleft()(), self._made
        return chunk


def _stream(
    engine: Engine, texts: Sequence[str], voice: str, speed: float, playback: Playback
) -> AudioStream:
    """The audio of `texts` (see `SpeechPipeline.engine_texts`) as one stream."""
    if len(texts) == 1:
        return audio_stream(engine, texts[0], voice, speed, playback)
    return _Chain([partial(audio_stream, engine, text, voice, speed, playback) for text in texts])


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
            mark_phonemes(part, written) if is_phonemes else _normalized(part, language)
            for is_phonemes, part, written in written_phonemes_runs(text)
        )

    def engine_texts(self, text: str, languages: Sequence[str], speed: float = 1.0) -> List[str]:
        """The texts the engine is given for `text` (`spoken_text`), one call each: none
        when there is nothing to say, several when normalization made it too long. Slower
        speech makes more audio of each character, so calls are shorter in proportion."""
        spoken = self.spoken_text(text, languages)
        cap = max(1, int(MAX_PIECE_CHARS * min(1.0, speed)))
        parts = (part.strip() for part, _ in cap_text(spoken, cap))
        return [part for part in parts if speakable(part)]

    async def _prepare(
        self, piece: Piece, voice: Voice, voices: Optional[Mapping[str, Voice]], speed: float
    ) -> Prepared:
        """`piece` and its engine texts, made in a thread (never on the event loop)."""
        if piece.silence > 0 or not piece.text:
            return piece, []
        speaker = (voices or {}).get(piece.voice or "", voice)
        texts = await off_loop(
            self.engine_texts, piece.text, speaker.spec.languages, _speed(speed, piece, speaker)
        )
        return piece, texts

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
        reading: Optional[asyncio.Future[Piece]] = None
        preparing: Optional[asyncio.Future[Prepared]] = None  # normalized in a thread
        waiting: Deque[Prepared] = deque()  # read and prepared, not started yet
        exhausted = False
        admitted = False  # whether the scheduler took this answer's first synthesis
        playback = Playback()  # shared by the answer's streams, to size their windows

        def request(speech: _Speech) -> None:
            """Queue the call that makes `speech`'s next stretch."""
            nonlocal admitted
            speech.call = asyncio.ensure_future(
                self.scheduler.run(
                    speech.stream.next_chunk,
                    client=client,
                    admitted=admitted,
                    deadline=playback.runs_out(),
                    opening=not admitted,
                )
            )
            speech.last_requested = speech.stream.next_is_last
            admitted = True  # the answer has begun: its later calls are not refused

        def start(piece: Piece, texts: List[str]) -> None:
            speaker = (voices or {}).get(piece.voice or "", voice)
            rate = speaker.engine.sample_rate
            if piece.silence > 0:
                silence = np.zeros(int(piece.silence * rate), np.float32)
                speech = _Speech(piece, rate, WholeAudio(lambda: silence))
                speech.call = asyncio.get_running_loop().create_future()
                speech.call.set_result(speech.stream.next_chunk())
                ahead.append(speech)
                return
            if not texts:
                return  # only Markdown, emoji or symbols: nothing to say
            _LOGGER.debug("Speaking with %s: %s", speaker.name, " ".join(texts))
            # a preset speaks its base voice at its own speed
            stream = _stream(
                speaker.engine,
                texts,
                speaker.engine_voice,
                _speed(speed, piece, speaker),
                playback,
            )
            ahead.append(_Speech(piece, rate, stream))
            request(ahead[-1])

        def may_start() -> bool:
            """Whether the next piece may start: every started piece has had its last call
            queued (so a piece's stretches never wait behind the next piece, and the next
            piece is made while the last stretch plays), and at most `lookahead` pieces are
            ahead of the one being sent. A stream is asked whether it is finished only
            between its calls: while a call runs, the worker thread is changing it."""
            started_all = all(
                speech.last_requested
                or speech.call is None
                or (speech.call.done() and speech.stream.finished)
                for speech in ahead
            )
            return started_all and len(ahead) <= self.lookahead

        try:
            while ahead or waiting or preparing or not exhausted:
                while waiting and may_start():
                    start(*waiting.popleft())
                if (
                    reading is None
                    and preparing is None
                    and not exhausted
                    and len(waiting) + len(ahead) <= self.lookahead
                ):
                    reading = asyncio.ensure_future(source.__anext__())
                # While the next piece is prepared, its audio is not handed out: the next
                # piece's call is queued before the client gets this one (its turn is kept).
                head = ahead[0].call if ahead and preparing is None else None
                pending: Set[asyncio.Future[Any]] = {
                    task for task in (reading, preparing, head) if task
                }
                if not pending:
                    continue
                await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if reading is not None and reading.done():
                    finished, reading = reading, None
                    try:
                        piece = finished.result()
                    except StopAsyncIteration:
                        exhausted = True
                    else:
                        preparing = asyncio.ensure_future(
                            self._prepare(piece, voice, voices, speed)
                        )
                    continue  # start the next read before waiting on audio again
                if preparing is not None:
                    if preparing.done():
                        waiting.append(preparing.result())
                        preparing = None
                    continue
                call = ahead[0].call if ahead else None
                if call is not None and call.done():
                    speech = ahead[0]
                    samples = call.result()
                    made = samples.size / speech.rate
                    speech.call = None
                    last = speech.stream.finished
                    if speech.trimmer is not None:
                        samples = speech.trimmer.push(samples)
                        if last:
                            samples = np.concatenate([samples, speech.trimmer.finish()])
                    # before the next call sizes itself
                    playback.sent(samples.size / speech.rate, made)
                    if not last:
                        request(speech)  # the next stretch is made while this one is sent
                    else:
                        ahead.popleft()
                    if samples.size or last:
                        first = not speech.sent_any
                        words = speech.words_of(samples.size, last)
                        yield SpokenPiece(speech.piece, samples, speech.rate, first, last, words)
                        speech.sent_any = True
        finally:
            self.scheduler.answer_ended(client)
            unused: List[asyncio.Future[Any]] = [s.call for s in ahead if s.call is not None]
            for future in unused + [task for task in (reading, preparing) if task]:
                if future.done() and not future.cancelled():
                    future.exception()  # a failed look-ahead was never spoken: nothing to say
                future.cancel()


def _speed(speed: float, piece: Piece, speaker: Voice) -> float:
    """The engine's speed for `piece`: the request's, times the piece's SSML rate, times the
    preset's own, held within the engines' bounds."""
    return clamp_speed(speed * piece.rate * speaker.speed)


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
