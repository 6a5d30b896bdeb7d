"""Kokoro's decoder in windows: audio leaves before the sentence is decoded, sounding as the
whole-sentence decode does.

A window of the generator differs from the same stretch of a whole-sentence decode for three
reasons, and each is dealt with:

- the harmonic source integrates pitch from the sentence's start: it is made once for the
  whole sentence and sliced (`split` SOURCE);
- the frame-rate decoder blocks normalize over the sentence: they run once, whole;
- the generator's instance norms and int8 activation ranges are statistics over time: they are
  estimated once per sentence from a sparse decode (`stats`: an eighth of the work,
  mapped by a fit made at calibration), then handed to every window. Windows with their own
  statistics fall to PESQ 1.2-2.8 against the whole decode.

Each window is decoded with `CONTEXT` frames on both sides and joined to the previous one by a
one-frame cross-fade. Window sizes follow the audio already sent: each window is sized so that
it is decoded before what was sent has finished playing, at the decoder speed measured at
load and learnt from every window (or at a fixed speed given by tests, on a simulated clock).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ...preemption import current_turn
from ...settings import CHECK_WINDOW, MAX_CALL_FRAMES, MAX_LEARN_FRAMES
from ..base import Playback, SynthesisError
from .split import (
    DURATIONS,
    ENERGY,
    F0,
    FEATURES,
    GENERATOR_INPUT,
    GIVEN_PREFIX,
    SOURCE,
    STATS_GIVEN,
    ModelParts,
)
from .stats import (
    STATS_STRIDE,
    Statistics,
    StatisticsMap,
    VoiceOffsets,
    is_norm_statistic,
    sparse_columns,
)
from .voices import parse_blend

_LOGGER = logging.getLogger(__name__)

SAMPLE_RATE = 24000
SAMPLES_PER_FRAME = 600  # 25 ms
CONTEXT = 4  # frames decoded on each side of a window and thrown away
CROSSFADE = 1  # frames shared by two neighbouring windows
FIRST_WINDOW = 12  # the least frames of the first window, counted from the leading padding
MIN_WINDOW = 12
LEAD_KEPT = 4  # frames of the leading padding that are decoded (more than the trimmer keeps)
MAP_VERSION = "1"  # bump when the way the statistics map is fitted changes
SAFETY = 0.7  # share of the buffered audio a window's decode may take
CATCH_UP = 3.0  # a window that comes late anyway: this many times the size that keeps up
# Whether a voice without an offset of its own streams with a prior one (the mean of the learnt
# voices most like it, `VoiceOffsets.prior`) instead of having its first sentences decoded
# whole. Off: measured against the whole decode (`script/benchmark_offsets.py`), a prior fell to
# PESQ 3.3-3.5 on voices with no learnt voice of their gender and language (jm_kumo from
# jf_alpha, bm_george from bf_emma), where their own offsets gave 4.0-4.2. Such a voice is
# learnt in the background after its first answer instead (`voice_learning`).
PRIOR_OFFSETS = False
WORTHWHILE = 0.6  # windows only when the first call decodes less than this share of frames
# Shorter sentences (padding included) are decoded whole: their sparse decode is too short to
# estimate the statistics (PESQ 3.2-3.3 at 64-68 frames, 4.0 and more from 84), and their
# whole decode is quick.
MIN_FRAMES = 80
LARGEST_WINDOW = MAX_CALL_FRAMES - 2 * CONTEXT - CROSSFADE


@dataclass
class Features:
    """The front's output for one sentence."""

    features: np.ndarray  # [1, 512, T]
    f0: np.ndarray  # [1, 2T]
    energy: np.ndarray  # [1, 2T]
    durations: np.ndarray  # [tokens]
    style: np.ndarray  # [1, 256]

    @property
    def frames(self) -> int:
        return int(self.features.shape[2])


class FitStopped(RuntimeError):
    """The statistics fit was stopped (the server is shutting down)."""


class DecoderSpeed:
    """How long a generator call takes: `overhead + per_frame * frames`, learnt as it runs.

    A `fixed` speed is never learnt nor measured, and its `clock` is simulated: it moves on
    only by the estimated time of each call. Tests use one, so the window plan, and so the
    audio, never depend on the speed of the machine they run on.
    """

    def __init__(self, overhead: float = 0.01, per_frame: float = 0.015, fixed: bool = False):
        self.overhead = overhead
        self.per_frame = per_frame
        self.fixed = fixed
        self._simulated = 0.0  # seconds of the calls made so far, for a fixed speed
        self._lock = threading.Lock()

    def estimate(self, frames: int) -> float:
        return self.overhead + self.per_frame * frames

    def frames_within(self, seconds: float) -> int:
        """The most frames one call decodes in `seconds`."""
        return int((seconds - self.overhead) / self.per_frame)

    def clock(self) -> float:
        """Now, in seconds: the machine's time, or the simulated time of a fixed speed."""
        if not self.fixed:
            return time.monotonic()
        with self._lock:
            return self._simulated

    def took(self, frames: int, seconds: float) -> None:
        """A call decoded `frames` in `seconds`: learnt, or for a fixed speed, the simulated
        clock moves on by the estimate (the measured time is ignored)."""
        if frames <= 0:
            return
        with self._lock:
            if self.fixed:
                self._simulated += self.estimate(frames)
                return
            measured = max(1e-4, (seconds - self.overhead) / frames)
            self.per_frame = 0.7 * self.per_frame + 0.3 * measured


class KokoroDecoder:
    """The split model's sessions: front, source, frame-rate decoder, generator."""

    def __init__(
        self,
        parts: ModelParts,
        session: Callable[[str], object],
        speed: Optional[DecoderSpeed] = None,
    ):
        """`speed`: a fixed one (tests) replaces the measured one (`calibrate`)."""
        self.parts = parts
        self.statistics: Optional[StatisticsMap] = None  # set by `fit_statistics`
        self.voice_offsets = VoiceOffsets()
        self._front = session(str(parts.front))
        self._source = session(str(parts.source))
        self._framerate = session(str(parts.framerate))
        self._generator = session(str(parts.generator))
        front_inputs = {item.name for item in self._front.get_inputs()}  # type: ignore[attr-defined]
        self.token_input = "tokens" if "tokens" in front_inputs else "input_ids"
        speed_type = next(i.type for i in self._front.get_inputs() if i.name == "speed")  # type: ignore[attr-defined]
        self._speed_dtype = np.int32 if "int" in speed_type else np.float32
        outputs = self._generator.get_outputs()  # type: ignore[attr-defined]
        self._audio_name = outputs[0].name
        self._stat_names = [output.name for output in outputs[1:]]
        self._no_stats = {
            item.name: np.zeros(
                (1, 1, 1) if len(item.shape) == 3 else (),
                np.uint8 if "uint8" in item.type else np.float32,
            )
            for item in self._generator.get_inputs()  # type: ignore[attr-defined]
            if item.name.startswith(GIVEN_PREFIX)
        }
        self.speed = speed or DecoderSpeed()
        # Generator runs in progress, each with whether another ran beside it (`_measured`).
        self._runs: Dict[int, bool] = {}
        self._runs_lock = threading.Lock()

    @staticmethod
    def _arena_shrinking_options() -> Any:
        """onnxruntime run options that free the CPU arena's unused memory after the run."""
        import onnxruntime

        options = onnxruntime.RunOptions()
        options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        return options

    def front(self, tokens: Sequence[int], style: np.ndarray, speed: float) -> Features:
        feeds = {
            self.token_input: np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": style,
            "speed": np.array([speed], dtype=self._speed_dtype),
        }
        names = [FEATURES, F0, ENERGY, DURATIONS]
        features, f0, energy, durations = self._front.run(names, feeds)  # type: ignore[attr-defined]
        return Features(features, f0, energy, np.asarray(durations).reshape(-1), style)

    def source(self, f0: np.ndarray) -> np.ndarray:
        return self._source.run([SOURCE], {F0: f0})[0]  # type: ignore[attr-defined]

    def framerate(self, sentence: Features) -> np.ndarray:
        feeds = {
            FEATURES: sentence.features,
            F0: sentence.f0,
            ENERGY: sentence.energy,
            "style": sentence.style,
        }
        return self._framerate.run([GENERATOR_INPUT], feeds)[0]  # type: ignore[attr-defined]

    def generate(
        self,
        generator_input: np.ndarray,
        style: np.ndarray,
        source: np.ndarray,
        stats: Optional[Dict[str, np.ndarray]] = None,
    ) -> Tuple[np.ndarray, Dict[str, np.ndarray]]:
        """Audio of `generator_input` ([1, 512, 2n] for n frames) and the statistics used."""
        feeds: Dict[str, np.ndarray] = {
            GENERATOR_INPUT: generator_input,
            "style": style,
            SOURCE: source,
            STATS_GIVEN: np.array(stats is not None),
        }
        for name, empty in self._no_stats.items():
            feeds[name] = empty if stats is None else stats[name[len(GIVEN_PREFIX) :]]
        frames = generator_input.shape[2] // 2
        # A larger call (the fit's whole decodes) gives its arena back as it ends. Options
        # of its own: a run that gives way (`preemption`) is aborted through them.
        options = self._arena_shrinking_options() if frames > MAX_CALL_FRAMES else None
        # Given statistics come back as they went in (`Where(stats_given, given, computed)`):
        # only the audio is asked for (189 outputs less to copy; a remote call's to send).
        names = None if stats is None else [self._audio_name]
        with self._measured(frames):
            outputs = self._generator.run(names, feeds, options)  # type: ignore[attr-defined]
        audio = np.asarray(outputs[0], dtype=np.float32).reshape(-1)
        if stats is not None:
            return audio, dict(stats)
        return audio, dict(zip(self._stat_names, outputs[1:], strict=True))

    @contextlib.contextmanager
    def _measured(self, frames: int) -> Iterator[None]:
        """Teach `speed` how long a generator run of `frames` took, where it ran alone and
        whole: one that shared the cores with another run (an urgent call's, another
        worker's) or gave way to one (`preemption`) took longer than the machine needs, and
        would make later windows too small, or short sentences decoded whole."""
        turn = current_turn()
        asked = turn.preemptions if turn is not None else 0
        token = object()
        with self._runs_lock:
            for other in self._runs:
                self._runs[other] = True
            self._runs[id(token)] = bool(self._runs)
        started = time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - started
            with self._runs_lock:
                shared = self._runs.pop(id(token))
            alone = not shared and (turn is None or turn.preemptions == asked)
            if alone or self.speed.fixed:  # a fixed speed's clock moves on by every run
                self.speed.took(frames, seconds)

    def sparse_statistics(self, sentence: Features, generator_input: np.ndarray) -> Statistics:
        """The statistics of a decode of every `STATS_STRIDE`-th generator input column."""
        keep = sparse_columns(generator_input.shape[2])
        frames = keep.size // 2
        source = self.source(sentence.f0[:, keep])[:, : frames * SAMPLES_PER_FRAME]
        _, stats = self.generate(generator_input[:, :, keep], sentence.style, source)
        return stats

    def fit_statistics(
        self,
        samples: Sequence[Tuple[Sequence[int], np.ndarray]],
        stopping: Optional[threading.Event] = None,
        progress: Optional[Callable[[int, int], None]] = None,
    ) -> None:
        """Fit the map from sparse to whole-sentence statistics on `samples` (tokens, style),
        each decoded whole and sparse; kept beside the parts, keyed by the samples. `stopping`,
        once set, ends a fit in progress (`FitStopped`); `progress(k, n)` hears of each
        sample as it begins."""
        key = hashlib.sha256(f"{MAP_VERSION}:{STATS_STRIDE}".encode())
        for tokens, style in samples:
            key.update(np.asarray(tokens, np.int64).tobytes())
            key.update(np.asarray(style, np.float32).tobytes())
        name = key.hexdigest()[:16]
        path = Path(self.parts.generator).parent / f"statistics-{name}.npz"
        fitted = StatisticsMap.load(path)
        if fitted is None:
            started = time.perf_counter()
            pairs = []
            for index, (tokens, style) in enumerate(samples):
                if stopping is not None and stopping.is_set():
                    raise FitStopped("the statistics fit was stopped; it is made again next time")
                if progress is not None:
                    progress(index + 1, len(samples))
                sentence = self.front(tokens, style, 1.0)
                generator_input = self.framerate(sentence)
                source = self.source(sentence.f0)
                _, whole = self.generate(generator_input, style, source)
                pairs.append((whole, self.sparse_statistics(sentence, generator_input)))
            fitted = StatisticsMap.fit(pairs)
            fitted.save(path)
            _LOGGER.info(
                "Kokoro decoder: statistics map fitted on %d sentences in %.1f s (once)",
                len(pairs),
                time.perf_counter() - started,
            )
        self.statistics = fitted
        # The offsets are errors of this map: kept beside it, under its key.
        self.voice_offsets.bind(path.with_name(f"offsets-{name}.npz"), fitted)

    def offset_of(self, voice: str) -> Tuple[Optional[Statistics], bool]:
        """The statistics offset for `voice`, and whether it is the voice's own: its own once
        learnt, else (with `PRIOR_OFFSETS`) the prior of voices like it, else None."""
        own = self.voice_offsets.get(voice)
        if own is not None or not PRIOR_OFFSETS:
            return own, own is not None
        try:
            weights = parse_blend(voice)
        except SynthesisError:  # a pack named otherwise (a folder of packs)
            weights = {voice: 1.0}
        return self.voice_offsets.prior(weights), False

    def streams(self, voice: str) -> Optional[bool]:
        """Whether the voice's windows passed the check (None: not checked yet)."""
        return self.voice_offsets.streams(voice)

    def map_error(
        self, sentence: Features, generator_input: np.ndarray, whole: Statistics
    ) -> Statistics:
        """The map's error on a sentence decoded whole (`whole`: its statistics): what a
        voice's offset is the mean of."""
        assert self.statistics is not None
        mapped = self.statistics.apply(self.sparse_statistics(sentence, generator_input))
        return {
            name: whole[name].astype(np.float32) - mapped[name]
            for name in whole
            if is_norm_statistic(name)
        }

    def learn_offset(
        self, sentence: Features, generator_input: np.ndarray, whole: Statistics, voice: str
    ) -> None:
        """Learn the map's error on a sentence decoded whole for the voice's offset."""
        self.voice_offsets.learn(voice, self.map_error(sentence, generator_input, whole))

    def whole_and_error(self, sentence: Features) -> Tuple[np.ndarray, Statistics]:
        """`sentence` decoded whole, and the map's error on it (`map_error`)."""
        generator_input = self.framerate(sentence)
        audio, whole = self.generate(generator_input, sentence.style, self.source(sentence.f0))
        return audio, self.map_error(sentence, generator_input, whole)

    def windowed(self, sentence: Features, offset: Statistics) -> np.ndarray:
        """`sentence` in the check's windows (`CHECK_WINDOW` frames each, after a first one of
        `FIRST_WINDOW`) with the statistics estimated with `offset`: what the voice check
        compares with the whole decode."""
        windows = WindowedSentence(self, sentence, "", fixed=(offset, CHECK_WINDOW))
        chunks = []
        while not windows.finished:
            chunks.append(windows.next_chunk())
        return np.concatenate(chunks)

    def whole(self, sentence: Features) -> np.ndarray:
        """The whole-sentence decode: the same samples as the unsplit model."""
        audio, _ = self.generate(self.framerate(sentence), sentence.style, self.source(sentence.f0))
        return audio

    def calibrate(self) -> None:
        """Measure the generator's speed on noise, so the first windows fit: the fastest of
        three calls at each of two sizes (a busy moment at start-up makes one call slow).
        A fixed speed is kept as it is."""
        if self.speed.fixed:
            return
        rng = np.random.default_rng(0)
        style = rng.normal(0, 0.1, (1, 256)).astype(np.float32)
        small, large = 8, 40
        fastest = {small: math.inf, large: math.inf}
        for frames in (small, *(3 * (small, large))):
            generator_input = rng.normal(0, 1, (1, 512, 2 * frames)).astype(np.float32)
            source = np.zeros((1, frames * SAMPLES_PER_FRAME, 1), np.float32)
            started = time.perf_counter()
            self.generate(generator_input, style, source)
            fastest[frames] = min(fastest[frames], time.perf_counter() - started)
        small_time, large_time = fastest[small], fastest[large]
        per_frame = max(1e-4, (large_time - small_time) / (large - small))
        self.speed = DecoderSpeed(max(0.0, small_time - per_frame * small), per_frame)
        _LOGGER.info(
            "Kokoro decoder: %.1f ms per 25 ms frame, %.1f ms per call",
            per_frame * 1000,
            self.speed.overhead * 1000,
        )


class WindowedSentence:
    """One sentence decoded window by window (an `AudioStream`).

    The first call decodes the frame-rate blocks, the statistics and the first window; each
    later call one window, sized to what has been sent.
    """

    def __init__(
        self,
        decoder: KokoroDecoder,
        sentence: Features,
        voice: str,
        playback: Optional[Playback] = None,
        fixed: Optional[Tuple[Statistics, int]] = None,
    ) -> None:
        """`fixed`: windows of a fixed size after a first one of `FIRST_WINDOW`, with this
        offset, whatever the voice and the decoder speed (the voice check)."""
        self._decoder = decoder
        self._fixed = fixed
        self._sentence = sentence
        self._voice = voice
        # Given: the caller reports what it sends. None: as if each stretch were sent when made.
        self._own_playback = playback is None
        self._playback = playback or Playback(decoder.speed.clock)
        frames = sentence.frames
        lead = int(sentence.durations[0]) if sentence.durations.size else 0
        self._position = max(0, min(frames, lead - LEAD_KEPT))
        self._frames = frames
        self._input: Optional[np.ndarray] = None
        self._source: Optional[np.ndarray] = None
        self._stats: Optional[Statistics] = None
        self._offset: Optional[Statistics] = None  # the voice's, or a prior (`offset_of`)
        self._learns = False  # the voice has no offset of its own yet
        self._streams: Optional[bool] = None  # the voice check's verdict (`VoiceOffsets`)
        self._held = np.zeros(0, np.float32)  # the cross-fade frame of the last window
        self._smallest = MIN_WINDOW
        self._next_end = 0  # where the next window ends
        self.windows: List[Tuple[int, int]] = []  # decoded ranges, for tests and logs
        self.origin: Optional[int] = None  # the frame the audio begins at, once planned

    @property
    def durations(self) -> np.ndarray:
        """The front's frames for each token, the padding at both ends included."""
        return self._sentence.durations

    @property
    def finished(self) -> bool:
        return self._input is not None and self._position >= self._frames

    def next_chunk(self) -> np.ndarray:
        """The next stretch of audio (blocking: one window, or the first window's set-up)."""
        if self.finished:
            return np.zeros(0, np.float32)
        chunk = self._first_chunk() if self._input is None else self._window(self._next_end)
        seconds = chunk.size / SAMPLE_RATE
        if self._own_playback:
            self._playback.sent(seconds)
        else:
            self._playback.made(seconds)  # the caller sends it next
        if not self.finished:  # planned now, so the caller knows whether it is the last
            self._next_end = self._position + self._next_size()
        return chunk

    @property
    def next_is_last(self) -> bool:
        """Whether the next `next_chunk` returns the sentence's last stretch."""
        return self._input is not None and self._next_end >= self._frames

    def _first_chunk(self) -> np.ndarray:
        sentence, decoder = self._sentence, self._decoder
        self._input = decoder.framerate(sentence)
        self._source = decoder.source(sentence.f0)
        if self._fixed is not None:
            self._offset, self._streams = self._fixed[0], True
        elif decoder.statistics is not None:
            self._offset, own = decoder.offset_of(self._voice)
            self._learns = not own
            # A prior (not own) is used as it is; an own offset once it passed the check.
            self._streams = decoder.streams(self._voice) if own else True
        plan = self._plan()
        if plan is None:
            # At most `MAX_CALL_FRAMES`, and too short for windows to bring the first audio
            # forward, a decoder too slow to keep ahead of playback, a voice without a checked
            # offset yet, or one whose windows failed the check: one decode of the whole
            # sentence, with its own statistics (exactly the unsplit model's output), which
            # teaches a voice without its own offset.
            self._position, self.origin = self._frames, 0
            self.windows.append((0, self._frames))
            _LOGGER.debug("Decoding %d frames whole", self._frames)
            audio, whole = self._decode(0, self._frames)
            if self._learns:
                decoder.learn_offset(sentence, self._input, whole, self._voice)
            return audio
        first, self._smallest = plan
        self.origin = self._position
        self._stats = self._estimate_statistics()
        return self._window(self._position + first)

    def _plan(self) -> Optional[Tuple[int, int]]:
        """Frames of the first window and of the smallest later one; None: decode whole.

        Decoded whole: every sentence of a voice whose windows failed the check; sentences of
        at most `MAX_CALL_FRAMES` that are short or that windows would not bring forward; and
        those of at most `MAX_LEARN_FRAMES` of a voice without an offset, own or prior (they
        teach it), or whose own offset is not checked yet. Others go in windows of at most
        `LARGEST_WINDOW`.
        """
        if self._fixed is not None:
            return FIRST_WINDOW, self._fixed[1]
        if self._decoder.statistics is None or self._streams is False:
            return None
        fits = self._frames <= MAX_CALL_FRAMES
        untried = self._offset is None or self._streams is None
        if (untried and self._frames <= MAX_LEARN_FRAMES) or (fits and self._frames < MIN_FRAMES):
            return None
        if self._ahead_of_whole():
            return None
        timed = self._timed_plan()
        if timed is None:
            return None if fits else (LARGEST_WINDOW, LARGEST_WINDOW)
        first, smallest = timed
        # A later sentence of an answer: its first window as large as the audio sent before
        # it allows (what the sparse decode leaves of that time), as later windows are.
        extra = 2 * CONTEXT + CROSSFADE
        sparse = self._frames // STATS_STRIDE
        budget = SAFETY * self._playback.buffered() - self._decoder.speed.estimate(sparse)
        first = max(first, self._decoder.speed.frames_within(budget) - extra)
        return min(first, LARGEST_WINDOW), min(smallest, LARGEST_WINDOW)

    def _ahead_of_whole(self) -> bool:
        """Whether the answer's listener has audio enough for the whole sentence to be
        decoded at once: the cheapest decode, and exactly the unsplit model's (no sparse
        decode, no context decoded twice). Only a sentence of at most `MAX_CALL_FRAMES`: a
        longer call's working memory (0.9 MB a frame) would raise the server's peak."""
        if self._frames > MAX_CALL_FRAMES:
            return False
        seconds = self._decoder.speed.estimate(self._frames)
        return seconds <= SAFETY * self._playback.buffered()

    def _timed_plan(self) -> Optional[Tuple[int, int]]:
        """The plan by the decoder's speed; None when windows would not bring the first
        audio forward.

        A window costs `overhead + per_frame * (frames + context)` and gives 25 ms a frame,
        so below some size it plays out faster than it decodes. The first window holds
        enough audio (with what the answer has sent before) for the next one to be at least
        a quarter above that size.
        """
        speed = self._decoder.speed
        frame_seconds = SAMPLES_PER_FRAME / SAMPLE_RATE
        extra = 2 * CONTEXT + CROSSFADE
        if speed.per_frame >= frame_seconds:
            return None
        steady = (speed.overhead + speed.per_frame * extra) / (frame_seconds - speed.per_frame)
        smallest = max(MIN_WINDOW, math.ceil(1.25 * steady))
        needed = speed.estimate(smallest + extra) / SAFETY
        first = max(FIRST_WINDOW, LEAD_KEPT + math.ceil(needed / frame_seconds))
        first_call = self._frames / STATS_STRIDE + first + extra
        if first_call >= WORTHWHILE * self._frames:
            return None
        return first, smallest

    def _estimate_statistics(self) -> Statistics:
        """The whole sentence's generator statistics, from the sparse decode and the map."""
        assert self._input is not None and self._decoder.statistics is not None
        sparse = self._decoder.sparse_statistics(self._sentence, self._input)
        return self._decoder.statistics.apply(sparse, self._offset)

    def _next_size(self) -> int:
        """Frames of the next window: as many as can be decoded before the audio sent so far
        has played out."""
        remaining = self._frames - self._position
        if self._fixed is not None:
            size = self._smallest
        else:
            buffered = self._playback.buffered()
            size = self._decoder.speed.frames_within(SAFETY * buffered) - 2 * CONTEXT - CROSSFADE
            size = min(max(self._sustainable(buffered), size), LARGEST_WINDOW)
        if remaining - size < self._smallest:  # no window smaller than the smallest at the end
            size = remaining if remaining <= LARGEST_WINDOW else remaining - self._smallest
        return min(size, remaining)

    def _sustainable(self, buffered: float) -> int:
        """The least frames of the next window: the smallest, or more while the workers are
        shared by other answers (`Turn.sharing`) or the listener is about to run out.

        Sharing, each window waits for the others' calls, so it must hold more audio than its
        share of the time takes; and a window that comes too late anyway should be one that
        gains on the listener (`CATCH_UP` x the size that just keeps up). Else its answer
        falls behind in ever smaller windows, each costing more context than it gives audio.
        The largest window when no size keeps up."""
        turn = current_turn()
        sharing = turn.sharing if turn is not None else 1
        speed = self._decoder.speed
        extra = 2 * CONTEXT + CROSSFADE
        behind = buffered < speed.estimate(self._smallest + extra)
        if sharing <= 1 and not behind:
            return self._smallest
        frame_seconds = SAMPLES_PER_FRAME / SAMPLE_RATE
        if sharing * speed.per_frame >= frame_seconds:
            return LARGEST_WINDOW
        steady = sharing * speed.estimate(extra) / (frame_seconds - sharing * speed.per_frame)
        return max(self._smallest, math.ceil((CATCH_UP if behind else 1.25) * steady))

    def _decode(self, start: int, end: int) -> Tuple[np.ndarray, Statistics]:
        """Frames [start, end), decoded with `CONTEXT` frames either side, and the
        statistics used."""
        assert self._input is not None and self._source is not None
        low, high = max(0, start - CONTEXT), min(self._frames, end + CONTEXT)
        audio, stats = self._decoder.generate(
            self._input[:, :, 2 * low : 2 * high],
            self._sentence.style,
            self._source[:, low * SAMPLES_PER_FRAME : high * SAMPLES_PER_FRAME],
            self._stats,
        )
        return audio[(start - low) * SAMPLES_PER_FRAME : (end - low) * SAMPLES_PER_FRAME], stats

    def _window(self, end: int) -> np.ndarray:
        """Decode frames [position, end) and return them, the last frame held back for the
        cross-fade with the next window (all of it at the sentence's end)."""
        assert self._input is not None and self._source is not None
        start, end = self._position, min(end, self._frames)
        self._position = end  # first: `finished` tells the caller no call follows this one
        self.windows.append((start, end))
        tail = min(self._frames, end + CROSSFADE)
        audio, _ = self._decode(start, tail)
        if self._held.size:
            fade = np.linspace(0.0, 1.0, self._held.size, dtype=np.float32)
            overlap = audio[: self._held.size]
            audio = np.concatenate(
                [
                    self._held * (1 - fade[: overlap.size]) + overlap * fade[: overlap.size],
                    audio[overlap.size :],
                ]
            )
        keep = (end - start) * SAMPLES_PER_FRAME
        if end >= self._frames:
            self._held = np.zeros(0, np.float32)
            _LOGGER.debug("Decoded %d frames in windows %s", self._frames, self.windows)
            return audio
        self._held = audio[keep:]
        return audio[:keep]
