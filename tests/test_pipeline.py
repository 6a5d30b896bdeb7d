"""The one speech pipeline, with a fake engine: order, look-ahead, streaming input, cancel."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any, List

import numpy as np
import pytest

from wyoming_polytts.captions import whole_with_words
from wyoming_polytts.engines.base import SynthesisError, mark_phonemes
from wyoming_polytts.pipeline import PieceFeed, SpeechPipeline
from wyoming_polytts.presets import MAX_SPEED, MIN_SPEED, Preset
from wyoming_polytts.scheduler import Scheduler
from wyoming_polytts.settings import MAX_PIECE_CHARS
from wyoming_polytts.speech.normalize import normalize
from wyoming_polytts.text import Piece
from wyoming_polytts.voices import Voice, VoiceCatalog

from .fake_engine import FakeEngine, StreamingFakeEngine


@pytest.fixture
def parts() -> tuple:
    engine = FakeEngine()
    scheduler = Scheduler(workers=2)
    voice = VoiceCatalog([engine]).resolve("fake_one")
    yield engine, SpeechPipeline(scheduler), voice
    engine.gate.set()
    scheduler.shutdown()


PIECES = [Piece(f"Piece number {n}.") for n in range(1, 6)]


async def speak_all(
    pipeline: SpeechPipeline, voice: Voice, pieces: List[Piece], **options: Any
) -> np.ndarray:
    """All of an answer's audio at the voice's rate, as an answer sent whole is made."""
    speech = pipeline.speak(voice, pieces, **options)
    samples, _ = await whole_with_words(speech, voice.engine.sample_rate)
    return samples


async def test_pieces_come_out_in_order_while_the_next_is_made(parts: tuple) -> None:
    engine, pipeline, voice = parts
    asked: list = []
    run = pipeline.scheduler.run

    async def counted(function, *args, **kwargs):  # type: ignore[no-untyped-def]
        asked.append(function)
        return await run(function, *args, **kwargs)

    pipeline.scheduler.run = counted
    seen = []
    async for spoken in pipeline.speak(voice, PIECES, client="a"):
        seen.append(spoken.piece.text)
        # The piece after this one was asked for before this one was handed out.
        assert len(asked) == min(len(seen) + 1, len(PIECES))
        assert spoken.rate == engine.sample_rate and spoken.samples.size
    assert seen == [piece.text for piece in PIECES]


async def test_closing_early_cancels_what_was_not_spoken(parts: tuple) -> None:
    engine, pipeline, voice = parts
    speech = pipeline.speak(voice, PIECES, client="a")
    async with contextlib.aclosing(speech):
        async for _ in speech:
            break
    await asyncio.sleep(0.05)
    assert len(engine.calls) <= 2  # the first, and at most the one made ahead
    assert pipeline.scheduler._queued == 0


async def test_pieces_that_arrive_later_are_spoken_as_they_come(parts: tuple) -> None:
    engine, pipeline, voice = parts
    feed = PieceFeed([Piece("First.")])
    speech = pipeline.speak(voice, feed, client="a")
    first = await speech.__anext__()
    assert first.piece.text == "First."
    feed.put(Piece("Second."))
    feed.close()
    rest = [spoken.piece.text async for spoken in speech]
    assert rest == ["Second."]


async def test_an_engine_error_reaches_the_caller(parts: tuple) -> None:
    engine, pipeline, voice = parts
    with pytest.raises(SynthesisError):
        await speak_all(pipeline, voice, [Piece("Fine."), Piece("FAIL now.")], client="a")


async def test_pronunciations_then_normalization_shape_what_the_engine_gets(parts: tuple) -> None:
    engine, pipeline, voice = parts

    class Lexicon:
        def apply(self, text: str, language: str) -> str:
            assert language == "en-US"
            return text.replace("Zigbee", mark_phonemes("zˈɪɡbi.2")).replace("HVAC", "H vac")

    pipeline.lexicon = Lexicon()
    await speak_all(pipeline, voice, [Piece("The Zigbee HVAC reads 21 °C.")], client="a")
    # The phonemes pass untouched (no "two" for the "2"); the words around them are normalized.
    assert engine.calls == [
        f"The {mark_phonemes('zˈɪɡbi.2')} H vac reads twenty-one degrees Celsius."
    ]


async def test_a_piece_with_nothing_to_say_is_skipped(parts: tuple) -> None:
    engine, pipeline, voice = parts
    spoken = [
        s.piece.text async for s in pipeline.speak(voice, [Piece("🎉"), Piece("Hi.")], client="a")
    ]
    assert spoken == ["Hi."] and engine.calls == ["Hi."]


async def test_the_next_sentence_is_made_while_the_last_stretch_of_this_one_is() -> None:
    """A windowed sentence's last window and the next sentence's first one are made together,
    so the next sentence is ready when the last stretch has played."""
    engine = StreamingFakeEngine(stretches=2)
    scheduler = Scheduler(workers=2)
    try:
        pipeline = SpeechPipeline(scheduler)
        voice = VoiceCatalog([engine]).resolve("fake_one")
        engine.later_gate.clear()  # every sentence's second stretch waits
        speech = pipeline.speak(voice, [Piece("First one."), Piece("Second one.")], client="a")
        async with contextlib.aclosing(speech):
            first = await speech.__anext__()
            assert first.first and not first.last
            following = asyncio.ensure_future(speech.__anext__())  # the sender asks for more
            for _ in range(100):  # the next sentence starts while this one's end is blocked
                if len(engine.calls) == 2:
                    break
                await asyncio.sleep(0.01)
            assert engine.calls == ["First one.", "Second one."]
            assert not following.done()
            engine.later_gate.set()
            rest = [await following] + [spoken async for spoken in speech]
        assert [(s.piece.text, s.first, s.last) for s in rest] == [
            ("First one.", False, True),
            ("Second one.", True, False),
            ("Second one.", False, True),
        ]
    finally:
        engine.later_gate.set()
        scheduler.shutdown()


class SpeedRecordingEngine(FakeEngine):
    """A `FakeEngine` that also records the speed of every call."""

    def __init__(self) -> None:
        super().__init__()
        self.speeds: list = []

    def synthesize(self, text: str, voice: str, speed: float) -> np.ndarray:
        self.speeds.append(speed)
        return super().synthesize(text, voice, speed)


@pytest.mark.parametrize("factor", [MIN_SPEED, MAX_SPEED])
async def test_the_engine_speed_stays_within_bounds_when_every_rate_pushes_one_way(
    factor: float,
) -> None:
    """Request speed x SSML rate x preset speed, each at its bound, is held to the bounds."""
    engine = SpeedRecordingEngine()
    scheduler = Scheduler(workers=1)
    try:
        listed = VoiceCatalog([engine]).resolve("fake_one")
        preset = Voice(listed.spec, engine, Preset("pushed", "fake_one", speed=factor))
        pipeline = SpeechPipeline(scheduler, speed=factor)
        await speak_all(pipeline, preset, [Piece("Hi there.", rate=factor)], client="a")
    finally:
        scheduler.shutdown()
    assert engine.speeds == [factor]


async def test_a_piece_that_normalization_makes_too_long_is_spoken_in_short_calls() -> None:
    """Normalization can make a text ten times longer (numbers read out): the engine is
    given it in calls of at most MAX_PIECE_CHARS, spoken as one piece, in order."""
    engine = StreamingFakeEngine(stretches=2)
    scheduler = Scheduler(workers=2)
    try:
        pipeline = SpeechPipeline(scheduler)
        voice = VoiceCatalog([engine]).resolve("fake_one")
        text = "It is 123456789 now. " * 15  # 315 characters, over 2,000 once read out
        assert len(text) <= MAX_PIECE_CHARS
        speech = pipeline.speak(voice, [Piece(text), Piece("Then this.")], client="a")
        spoken = [(s.piece.text, s.first, s.last) async for s in speech]
    finally:
        scheduler.shutdown()
    *long, last = engine.calls
    assert len(long) >= 5 and all(len(call) <= MAX_PIECE_CHARS for call in engine.calls)
    assert " ".join(long).split() == normalize(text.strip(), "en-US").split()
    assert last == "Then this."
    stretches = [entry for entry in spoken if entry[0] == text]
    assert len(stretches) == 2 * len(long)  # each call's two stretches, as one piece
    assert [first for _, first, _ in stretches] == [True] + [False] * (len(stretches) - 1)
    assert [end for _, _, end in stretches] == [False] * (len(stretches) - 1) + [True]
    assert spoken[-2:] == [("Then this.", True, False), ("Then this.", False, True)]


async def test_pieces_are_normalized_in_a_thread_not_on_the_event_loop(parts: tuple) -> None:
    engine, pipeline, voice = parts
    threads = []
    normalized = pipeline.spoken_text

    def recorded(text: str, languages: object) -> str:
        threads.append(threading.current_thread())
        return normalized(text, languages)  # type: ignore[arg-type]

    pipeline.spoken_text = recorded
    await speak_all(pipeline, voice, PIECES, client="a")
    assert len(threads) == len(PIECES)
    assert threading.main_thread() not in threads
    assert len(engine.calls) == len(PIECES)


async def test_slow_speech_is_given_to_the_engine_in_shorter_calls(parts: tuple) -> None:
    """At a quarter of the speed each character makes four times the audio, so a call of
    MAX_PIECE_CHARS would be four times as long: calls are shortened in proportion."""
    engine, pipeline, voice = parts
    text = "word " * 60 + "end"  # 303 characters, one piece
    assert len(text) <= MAX_PIECE_CHARS
    await speak_all(pipeline, voice, [Piece(text)], client="a", speed=MIN_SPEED)
    assert len(engine.calls) >= 3
    assert all(len(call) <= MAX_PIECE_CHARS * MIN_SPEED for call in engine.calls)
    assert " ".join(engine.calls).split() == text.split()


class _MidCallStream:
    """A stream of two stretches that reads as finished while its first call runs (as a
    stream does whose worker thread is between two of its fields)."""

    def __init__(self, engine: _MidCallEngine, text: str) -> None:
        self._engine, self._text = engine, text
        self.finished = False
        self.next_is_last = False
        self._made = 0

    def next_chunk(self) -> np.ndarray:
        self._engine.calls.append(self._text)
        if self._made == 0:
            self.finished = True  # mid-call: not the stream's answer to anyone
            self._engine.gate.wait(timeout=30)
        self._made += 1
        self.finished = self._made == 2
        self.next_is_last = self._made == 1
        return np.full(2400, 0.1, np.float32)


class _MidCallEngine(FakeEngine):
    def stream(
        self, text: str, voice: str, speed: float, playback: object = None
    ) -> _MidCallStream:
        return _MidCallStream(self, text)


async def test_the_next_sentence_waits_for_this_ones_last_call_not_a_read_made_mid_call() -> None:
    """The next sentence starts once this one's last call is queued; what a stream reads
    while its call runs in a worker is not asked (its next call would wait behind the next
    sentence's first, due sooner)."""
    engine = _MidCallEngine()
    engine.gate.clear()
    scheduler = Scheduler(workers=2)
    try:
        voice = VoiceCatalog([engine]).resolve("fake_one")
        speech = SpeechPipeline(scheduler).speak(
            voice, [Piece("First one."), Piece("Second one.")], client="a"
        )
        async with contextlib.aclosing(speech):
            first = asyncio.ensure_future(speech.__anext__())
            await asyncio.sleep(0.3)  # the first call blocks, reading as finished
            assert engine.calls == ["First one."]
            engine.gate.set()
            spoken = [await first] + [piece async for piece in speech]
    finally:
        engine.gate.set()
        scheduler.shutdown()
    assert engine.calls == ["First one.", "First one.", "Second one.", "Second one."]
    assert [(s.piece.text, s.first, s.last) for s in spoken] == [
        ("First one.", True, False),
        ("First one.", False, True),
        ("Second one.", True, False),
        ("Second one.", False, True),
    ]


async def test_each_word_comes_with_the_stretch_its_audio_ends_in() -> None:
    engine = StreamingFakeEngine(stretches=3)
    engine.lead_seconds = 0.2  # trimmed: all but the trimmer's 50 ms lead
    scheduler = Scheduler(workers=1)
    voice = VoiceCatalog([engine]).resolve("fake_one")
    pieces = [Piece("Good evening everyone."), Piece("The door is locked.")]
    try:
        said = []
        async for spoken in SpeechPipeline(scheduler).speak(voice, pieces, client="a"):
            seconds = spoken.samples.size / spoken.rate
            for word in spoken.words:
                assert word.start <= word.end <= seconds + 1e-9  # it ends in this stretch
                said.append((spoken.piece.text, word.word, word.start, spoken.first))
    finally:
        scheduler.shutdown()
    assert [word for _, word, _, _ in said] == [
        "Good",
        "evening",
        "everyone",
        "The",
        "door",
        "is",
        "locked",
    ]
    # the first word of each piece starts where the trimmer's lead ends, its silence cut
    firsts = [start for _, _, start, first in said if first]
    assert firsts and all(abs(start - 0.05) < 0.011 for start in firsts[:1])
    assert any(start < 0 for _, _, start, _ in said)  # a word said across two stretches
