"""Kokoro's windowed decoder on the embedded model: exactness, joins, sizes, caching."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import threading
import time
from pathlib import Path
from typing import Any, AsyncIterator, Dict, Iterator, List, Optional, Tuple

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from wyoming_polytts.__main__ import WARM_UP_TEXTS
from wyoming_polytts.audio import trim_silence
from wyoming_polytts.engines.base import Playback
from wyoming_polytts.engines.kokoro import KokoroEngine
from wyoming_polytts.engines.kokoro import stream as kokoro_stream
from wyoming_polytts.engines.kokoro.learn import learn_text
from wyoming_polytts.engines.kokoro.split import (
    GENERATOR_INPUT,
    SplitError,
    SplitStopped,
    split_model,
)
from wyoming_polytts.engines.kokoro.stats import VOICE_SENTENCES
from wyoming_polytts.engines.kokoro.stream import (
    CONTEXT,
    LARGEST_WINDOW,
    MAX_CALL_FRAMES,
    MIN_FRAMES,
    MIN_WINDOW,
    SAMPLES_PER_FRAME,
    DecoderSpeed,
    Features,
    FitStopped,
    KokoroDecoder,
    WindowedSentence,
)
from wyoming_polytts.engines.kokoro.words import LEAD_FRAMES, match_words, written_words
from wyoming_polytts.models import KokoroFiles, sha256_file
from wyoming_polytts.preemption import Turn, running
from wyoming_polytts.presets import PresetStore
from wyoming_polytts.scheduler import Scheduler
from wyoming_polytts.settings import MAX_LEARN_FRAMES
from wyoming_polytts.voice_learning import VoiceLearning

VOICE = "af_heart"
LONG = (
    "Today in Berlin, it will be mostly sunny with a high of twenty-one degrees and a light "
    "breeze from the north west."
)
SHORT = "The front door is locked for the night."  # decoded whole until a voice is learnt
LEARNT = ("Hello, how can I help you?", "The heating is set to twenty one degrees.")
# The speed every windowed decoder here is given, so no test's audio depends on the machine's.
FAST = (0.01, 0.008)  # seconds per call, per 25 ms frame


@pytest.fixture(scope="module")
def parts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("parts")


@pytest.fixture(scope="module")
def windowed(files: KokoroFiles, parts_dir: Path) -> KokoroEngine:
    """An engine whose decoder runs at the fixed speed `FAST`, has its statistics map and has
    learnt `VOICE`'s offset, which passed the check."""
    speed = DecoderSpeed(*FAST, fixed=True)
    engine = KokoroEngine(files, threads=2, parts_dir=parts_dir, decoder_speed=speed)
    engine.load()
    assert engine.streaming
    for text in LEARNT:
        engine.synthesize(text, VOICE, 1.0)
    assert engine._decoder is not None and engine._decoder.voice_offsets.get(VOICE) is not None
    assert engine._decoder.streams(VOICE) is None  # learnt, not checked yet
    steps = 0
    while engine.learn_voice(VOICE):  # in the background: learnt again and checked
        steps += 1
    assert steps == VOICE_SENTENCES and engine._decoder.streams(VOICE) is True
    return engine


def sentence_of(
    engine: KokoroEngine, text: str, clock: object = None, voice: str = VOICE
) -> WindowedSentence:
    """The `WindowedSentence` the engine makes for `text` (one piece), with `clock`."""
    tokens = [engine._vocab[s] for s in engine._phonemes(text, "en-US") if s in engine._vocab]
    pack = engine._pack(voice)
    style = pack[len(tokens) - 1].reshape(1, -1)
    decoder = engine._decoder
    assert decoder is not None
    features = decoder.front(tokens, style, 1.0)
    if clock is None:
        return WindowedSentence(decoder, features, voice)
    playback = Playback(clock)  # type: ignore[arg-type]
    sentence = WindowedSentence(decoder, features, voice, playback)
    real_next = sentence.next_chunk

    def next_chunk_sent() -> np.ndarray:  # each stretch is sent as soon as it is made
        chunk = real_next()
        playback.sent(chunk.size / 24000)
        return chunk

    sentence.next_chunk = next_chunk_sent  # type: ignore[method-assign]
    return sentence


def chunks_of(sentence: WindowedSentence) -> List[np.ndarray]:
    chunks = []
    while not sentence.finished:
        chunks.append(sentence.next_chunk())
    return chunks


@contextlib.contextmanager
def decoder_at(engine: KokoroEngine, overhead: float, per_frame: float) -> Iterator[DecoderSpeed]:
    """The engine's decoder runs at this fixed speed instead of `FAST`, on its simulated
    clock."""
    decoder = engine._decoder
    assert decoder is not None
    given = decoder.speed
    decoder.speed = DecoderSpeed(overhead, per_frame, fixed=True)
    try:
        yield decoder.speed
    finally:
        decoder.speed = given


def test_the_parts_decode_exactly_what_the_whole_model_does(
    whole: KokoroEngine, windowed: KokoroEngine
) -> None:
    text = "Okay, I set a timer for ten minutes."
    reference = whole.synthesize(text, VOICE, 1.0)
    tokens = [whole._vocab[s] for s in whole._phonemes(text, "en-US") if s in whole._vocab]
    style = whole._pack(VOICE)[len(tokens) - 1].reshape(1, -1)
    assert np.array_equal(windowed._run(tokens, style, 1.0), reference)


def test_one_window_is_the_whole_decode(whole: KokoroEngine, windowed: KokoroEngine) -> None:
    sentence = sentence_of(windowed, "Done.")
    chunks = chunks_of(sentence)
    assert sentence.windows == [(0, sentence._frames)]  # too short to window
    assert np.array_equal(np.concatenate(chunks), whole.synthesize("Done.", VOICE, 1.0))


def aligned(windowed: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The part of `reference` that `windowed` covers (the decoder skips leading padding)."""
    return reference[reference.size - windowed.size :]


def log_spectral_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of log STFT magnitudes (1024-point Hann, hop 256)."""

    def spectrum(x: np.ndarray) -> np.ndarray:
        frames = [x[i : i + 1024] * np.hanning(1024) for i in range(0, x.size - 1024, 256)]
        return np.log(np.maximum(np.abs(np.fft.rfft(np.array(frames), axis=1)), 1e-4))

    return float(np.mean(np.abs(spectrum(a) - spectrum(b))))


def test_windows_sound_like_the_whole_decode_and_join_without_clicks(
    whole: KokoroEngine, windowed: KokoroEngine
) -> None:
    # The smallest windows, for as many joins as a sentence can have.
    sentence = sentence_of(windowed, LONG)
    sentence._next_size = lambda: MIN_WINDOW  # type: ignore[method-assign]
    chunks = chunks_of(sentence)
    assert len(chunks) >= 8
    assert {end - start for start, end in sentence.windows[1:-1]} == {MIN_WINDOW}
    streamed = np.concatenate(chunks)
    reference = aligned(streamed, whole.synthesize(LONG, VOICE, 1.0))
    # Windows with their own statistics measure 1.0-1.5 here, the unmapped sparse statistics
    # more than the mapped ones.
    distance = log_spectral_distance(streamed, reference)
    assert distance < 0.6
    decoder = windowed._decoder
    assert decoder is not None and sentence._input is not None
    unmapped = sentence_of(windowed, LONG)

    def unmapped_statistics() -> dict:
        assert decoder is not None and unmapped._input is not None
        return decoder.sparse_statistics(unmapped._sentence, unmapped._input)

    unmapped._estimate_statistics = unmapped_statistics  # type: ignore[method-assign]
    unmapped._next_size = lambda: MIN_WINDOW  # type: ignore[method-assign]
    unmapped_audio = np.concatenate(chunks_of(unmapped))
    assert unmapped.windows == sentence.windows
    assert log_spectral_distance(unmapped_audio, reference) > distance

    # The same statistics, one window, no joins: what the joins alone change.
    assert sentence._source is not None
    start = sentence.windows[0][0]
    low = max(0, start - CONTEXT)
    unjoined, _ = decoder.generate(
        sentence._input[:, :, 2 * low :],
        sentence._sentence.style,
        sentence._source[:, low * SAMPLES_PER_FRAME :],
        sentence._stats,
    )
    unjoined = unjoined[(start - low) * SAMPLES_PER_FRAME :]
    assert unjoined.size == streamed.size
    joins = np.cumsum([chunk.size for chunk in chunks])[:-1]
    steps, unjoined_steps = np.abs(np.diff(streamed)), np.abs(np.diff(unjoined))
    ceiling = np.percentile(steps, 99.9)
    span = int(0.005 * 24000)
    for join in joins:
        around = slice(join - span, join + span)
        assert steps[around].max() <= max(ceiling, 1.25 * unjoined_steps[around].max())


def test_windows_grow_with_the_audio_sent_and_never_run_dry(windowed: KokoroEngine) -> None:
    """On the simulated clock of a decoder at 0.6x real time, each call taking its modelled
    time."""
    with decoder_at(windowed, overhead=0.03, per_frame=0.015) as speed:
        sentence = sentence_of(windowed, LONG, clock=speed.clock)
        arrivals: List[Tuple[float, float]] = []  # (arrived at, seconds of audio)
        while not sentence.finished:
            chunk = sentence.next_chunk()
            arrivals.append((speed.clock(), chunk.size / 24000))
    sizes = [end - start for start, end in sentence.windows]
    assert len(sizes) >= 3 and sizes[-2] > sizes[1] >= sentence._smallest  # they grow
    playing_until = arrivals[0][0]
    for arrived, seconds in arrivals:
        assert arrived <= playing_until + 1e-9 or arrived == arrivals[0][0], "playback ran dry"
        playing_until = max(playing_until, arrived) + seconds


def test_the_parts_are_made_once_and_kept_by_the_models_hash(
    files: KokoroFiles, tmp_path: Path
) -> None:
    parts = split_model(files.model, tmp_path)
    assert parts.generator.parent.name.startswith(sha256_file(files.model)[:16])
    made = {path: path.stat().st_mtime_ns for path in parts.generator.parent.iterdir()}
    assert split_model(files.model, tmp_path) == parts
    assert {path: path.stat().st_mtime_ns for path in parts.generator.parent.iterdir()} == made


def not_kokoro(path: Path) -> Path:
    """An ONNX model with Kokoro's inputs and output but none of its insides."""
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["tokens"], ["as_float"], to=TensorProto.FLOAT),
            helper.make_node("ReduceMean", ["as_float"], ["level"], keepdims=0),
            helper.make_node("Mul", ["level", "speed"], ["scaled"]),
            helper.make_node("Expand", ["scaled", "length"], ["audio"]),
        ],
        "not_kokoro",
        [
            helper.make_tensor_value_info("tokens", TensorProto.INT64, [1, None]),
            helper.make_tensor_value_info("style", TensorProto.FLOAT, [1, 256]),
            helper.make_tensor_value_info("speed", TensorProto.FLOAT, [1]),
        ],
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [None])],
        [helper.make_tensor("length", TensorProto.INT64, [1], [2400])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_a_model_that_cannot_be_split_is_decoded_whole(files: KokoroFiles, tmp_path: Path) -> None:
    model = not_kokoro(tmp_path / "other.onnx")
    with pytest.raises(SplitError, match="lacks the tensors"):
        split_model(model, tmp_path / "parts")
    other = KokoroFiles(model=model, voices=files.voices, vocab=files.vocab, source="test")
    engine = KokoroEngine(other, threads=1, parts_dir=tmp_path / "parts")
    engine.load()
    assert not engine.streaming
    assert engine.synthesize("Hello.", VOICE, 1.0).size == 2400


def test_a_first_load_ends_at_once_when_the_server_stops(
    files: KokoroFiles, tmp_path: Path, windowed: KokoroEngine
) -> None:
    """The split and the statistics fit take tens of seconds; a stop ends them."""
    engine = KokoroEngine(files, threads=1, parts_dir=tmp_path / "parts")
    engine.stop()
    with pytest.raises(SplitStopped):
        engine.load()
    assert not any((tmp_path / "parts").glob("*/.complete"))  # made again next time
    decoder = windowed._decoder
    assert decoder is not None
    stopping = threading.Event()
    stopping.set()
    samples = [([50, 51, 52], windowed._pack(VOICE)[2].reshape(1, -1))] * 2  # not fitted yet
    with pytest.raises(FitStopped):
        decoder.fit_statistics(samples, stopping)


def test_silence_is_trimmed_at_the_ends_of_a_windowed_sentence(
    whole: KokoroEngine, windowed: KokoroEngine
) -> None:
    streamed = trim_silence(windowed.synthesize(LONG, VOICE, 1.0), 24000)
    reference = trim_silence(whole.synthesize(LONG, VOICE, 1.0), 24000)
    assert abs(streamed.size - reference.size) <= 0.02 * 24000


def test_the_decoder_speed_is_measured_at_load(
    files: KokoroFiles, parts_dir: Path, windowed: KokoroEngine
) -> None:
    measured = KokoroEngine(files, threads=2, parts_dir=parts_dir)
    measured.load()
    decoder = measured._decoder
    assert decoder is not None and not decoder.speed.fixed
    default = kokoro_stream.DecoderSpeed()
    assert decoder.speed.per_frame > 0 and decoder.speed.per_frame != default.per_frame


class SlowSession:
    """An onnxruntime session on a slower machine: each run takes `delay` seconds more."""

    def __init__(self, session: Any, delay: float) -> None:
        self._session = session
        self._delay = delay

    def run(self, *args: Any) -> Any:
        time.sleep(self._delay)
        return self._session.run(*args)


@contextlib.contextmanager
def _learning_speed(decoder: KokoroDecoder, delay: float) -> Iterator[DecoderSpeed]:
    """`decoder` with a speed learnt from its runs, each run `delay` s longer (a slow
    machine, so that runs in two threads surely overlap); restored after."""
    speed, generator = decoder.speed, decoder._generator
    decoder.speed = DecoderSpeed(0.01, 0.015)
    decoder._generator = SlowSession(generator, delay)
    try:
        yield decoder.speed
    finally:
        decoder.speed, decoder._generator = speed, generator


def _generator_call(decoder: KokoroDecoder, frames: int = 4) -> None:
    style = np.zeros((1, 256), np.float32)
    source = np.zeros((1, frames * 600, 1), np.float32)
    decoder.generate(np.zeros((1, 512, 2 * frames), np.float32), style, source)


def test_only_runs_alone_and_whole_teach_the_decoder_speed(windowed: KokoroEngine) -> None:
    """Two runs at once (another worker, an urgent call), or a run that gave way to an urgent
    call, took longer than the machine needs: the speed is not learnt from them."""
    decoder = windowed._decoder
    assert decoder is not None
    with _learning_speed(decoder, 0.3) as speed:
        both = [threading.Thread(target=_generator_call, args=(decoder,)) for _ in range(2)]
        for thread in both:
            thread.start()
        for thread in both:
            thread.join()
        assert speed.per_frame == 0.015

        turn = Turn(deadline=0.0)
        urgent = threading.Timer(0.1, lambda: (turn.give_way(), turn.resume()))
        urgent.start()
        with running(turn):
            _generator_call(decoder)
        urgent.join()
        assert turn.preemptions == 1 and speed.per_frame == 0.015

        _generator_call(decoder)  # alone: 0.3 s for 4 frames, far slower than 15 ms a frame
        assert speed.per_frame > 0.03


def test_a_fixed_speed_plans_the_same_windows_on_a_slower_machine(
    windowed: KokoroEngine,
) -> None:
    """Windows and audio follow the given speed, never the time the calls really take."""
    decoder = windowed._decoder
    assert decoder is not None and decoder.speed.fixed
    sentence = sentence_of(windowed, LONG)
    audio = np.concatenate(chunks_of(sentence))
    assert len(sentence.windows) > 2
    generator = decoder._generator
    decoder._generator = SlowSession(generator, 0.2)  # far slower than the given speed
    try:
        slow = sentence_of(windowed, LONG)
        slow_audio = np.concatenate(chunks_of(slow))
    finally:
        decoder._generator = generator
    assert slow.windows == sentence.windows
    assert np.array_equal(slow_audio, audio)
    assert (decoder.speed.overhead, decoder.speed.per_frame) == FAST


def test_a_voice_is_decoded_whole_until_its_offset_is_learnt(
    whole: KokoroEngine, windowed: KokoroEngine
) -> None:
    """A voice never heard before gets no prior offset (`PRIOR_OFFSETS`, measured off)."""
    blend = "jf_alpha(1)+jm_kumo(1)"  # a voice this engine has not spoken yet
    decoder = windowed._decoder
    assert decoder is not None and decoder.voice_offsets.get(blend) is None
    for _ in range(3):  # the third: learnt, not checked yet
        sentence = sentence_of(windowed, SHORT, voice=blend)
        audio = np.concatenate(chunks_of(sentence))
        assert sentence.windows == [(0, sentence._frames)]
        assert np.array_equal(audio, whole.synthesize(SHORT, blend, 1.0))
    assert decoder.voice_offsets.get(blend) is not None
    while windowed.learn_voice(blend):
        pass
    assert decoder.streams(blend) is True
    sentence = sentence_of(windowed, SHORT, voice=blend)
    chunks_of(sentence)
    assert len(sentence.windows) > 1


def test_a_voice_never_heard_streams_with_the_prior_of_the_voices_learnt(
    whole: KokoroEngine, windowed: KokoroEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kokoro_stream, "PRIOR_OFFSETS", True)
    blend = "jf_alpha(2)+jf_nezumi(1)"  # a voice this engine has not spoken yet
    decoder = windowed._decoder
    assert decoder is not None and decoder.voice_offsets.count(blend) == 0
    prior, own = decoder.offset_of(blend)
    assert prior is not None and not own
    sentence = sentence_of(windowed, LONG, voice=blend)
    streamed = np.concatenate(chunks_of(sentence))
    assert len(sentence.windows) > 1  # its first sentence streams
    assert sentence._offset is not None and all(
        np.array_equal(sentence._offset[name], prior[name]) for name in prior
    )
    reference = aligned(streamed, whole.synthesize(LONG, blend, 1.0))
    assert log_spectral_distance(streamed, reference) < 0.6
    assert (
        decoder.voice_offsets.count(blend) == 0
    )  # windows teach nothing: learnt in the background


class RecordingSession:
    """An onnxruntime session that notes the frames of each generator call."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self.frames: List[int] = []

    def run(self, names: Any, feeds: Dict[str, np.ndarray], *args: Any) -> Any:
        self.frames.append(feeds[GENERATOR_INPUT].shape[2] // 2)
        return self._session.run(names, feeds, *args)


def test_no_generator_call_decodes_more_than_its_bound(windowed: KokoroEngine) -> None:
    """A call's memory grows with its frames: a long sentence of a voice without its offset
    is decoded in windows, and windows stay bounded however much audio is buffered."""
    decoder = windowed._decoder
    assert decoder is not None
    generator = decoder._generator
    recorder = RecordingSession(generator)
    decoder._generator = recorder
    try:
        unlearnt = sentence_of(windowed, LONG, voice="jf_nezumi")
        assert unlearnt._frames > MAX_CALL_FRAMES and decoder.voice_offsets.get("jf_nezumi") is None
        chunks_of(unlearnt)
        playback = Playback(decoder.speed.clock)
        playback.sent(60.0)  # a minute of audio already waiting: windows as large as allowed
        tokens = [windowed._vocab[s] for s in windowed._phonemes(LONG, "en-US")]
        style = windowed._pack(VOICE)[len(tokens) - 1].reshape(1, -1)
        buffered = WindowedSentence(decoder, decoder.front(tokens, style, 1.0), VOICE, playback)
        while not buffered.finished:
            playback.sent(buffered.next_chunk().size / 24000)
    finally:
        decoder._generator = generator
    assert len(unlearnt.windows) > 1 and decoder.voice_offsets.get("jf_nezumi") is None
    assert max(end - start for start, end in buffered.windows) == LARGEST_WINDOW
    for sentence in (unlearnt, buffered):  # contiguous, to the end
        assert [end for _, end in sentence.windows[:-1]] == [s for s, _ in sentence.windows[1:]]
        assert sentence.windows[-1][1] == sentence._frames
    assert recorder.frames and max(recorder.frames) <= MAX_CALL_FRAMES


def test_the_warm_up_sentences_teach_the_default_voice(windowed: KokoroEngine) -> None:
    """Decoded whole (so within the bound of a learning decode) and long enough to learn from."""
    decoder = windowed._decoder
    assert decoder is not None
    for text in WARM_UP_TEXTS:
        tokens = [windowed._vocab[s] for s in windowed._phonemes(text, "en-US")]
        style = windowed._pack(VOICE)[len(tokens) - 1].reshape(1, -1)
        assert MIN_FRAMES <= decoder.front(tokens, style, 1.0).frames <= MAX_LEARN_FRAMES


def test_a_sentence_longer_than_one_call_still_teaches_a_new_voice(
    windowed: KokoroEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without priors, a voice's first sentences teach it even when they are longer than a
    windowed call's bound (a voice that only ever spoke such sentences would never learn its
    offset)."""
    monkeypatch.setattr(kokoro_stream, "PRIOR_OFFSETS", False)
    decoder = windowed._decoder
    assert decoder is not None
    sentence = sentence_of(windowed, WARM_UP_TEXTS[0], voice="jf_tebukuro")
    assert MAX_CALL_FRAMES < sentence._frames <= MAX_LEARN_FRAMES
    chunks_of(sentence)
    assert sentence.windows == [(0, sentence._frames)]  # whole, so exactly the model's output
    again = sentence_of(windowed, WARM_UP_TEXTS[0], voice="jf_tebukuro")
    chunks_of(again)
    assert decoder.voice_offsets.get("jf_tebukuro") is not None  # learnt from the two


def test_the_statistics_map_is_fitted_once_and_kept(
    files: KokoroFiles, parts_dir: Path, windowed: KokoroEngine
) -> None:
    maps = list(parts_dir.glob("*/statistics-*.npz"))
    assert len(maps) == 1
    made = maps[0].stat().st_mtime_ns
    again = KokoroEngine(files, threads=2, parts_dir=parts_dir)
    again.load()
    assert again._decoder is not None and again._decoder.statistics is not None
    assert maps[0].stat().st_mtime_ns == made
    kept, fitted = again._decoder.statistics, windowed._decoder.statistics  # type: ignore[union-attr]
    assert fitted is not None and kept.slope.keys() == fitted.slope.keys()
    assert all(np.array_equal(kept.offset[name], fitted.offset[name]) for name in kept.offset)


def fixed_engine(files: KokoroFiles, parts_dir: Path) -> KokoroEngine:
    """A new engine on `parts_dir` (a restart), at the fixed speed `FAST`."""
    engine = KokoroEngine(
        files, threads=2, parts_dir=parts_dir, decoder_speed=DecoderSpeed(*FAST, fixed=True)
    )
    engine.load()
    assert engine._decoder is not None
    return engine


def test_learnt_offsets_survive_a_restart(
    files: KokoroFiles, parts_dir: Path, windowed: KokoroEngine
) -> None:
    again = fixed_engine(files, parts_dir)
    decoder = again._decoder
    assert decoder is not None and decoder.voice_offsets.count(VOICE) == VOICE_SENTENCES
    assert decoder.streams(VOICE) is True
    assert not again.learn_voice(VOICE)  # nothing left to learn or check
    offset, own = decoder.offset_of(VOICE)
    learnt = windowed._decoder.voice_offsets.get(VOICE)  # type: ignore[union-attr]
    assert own and offset is not None and learnt is not None
    assert all(np.allclose(offset[name], learnt[name]) for name in learnt)
    sentence = sentence_of(again, SHORT)
    chunks_of(sentence)
    assert len(sentence.windows) > 1  # its first sentence streams


def test_a_learnt_voice_gets_its_language_read_before_its_first_answer(
    files: KokoroFiles, parts_dir: Path, windowed: KokoroEngine
) -> None:
    """After a restart, the background's look at a learnt Japanese voice builds the Japanese
    G2P, so that its first answer does not wait for the dictionary."""
    while windowed.learn_voice("jf_alpha"):
        pass
    again = fixed_engine(files, parts_dir)
    assert "ja" not in again.phonemizer._g2ps
    assert not again.learn_voice("jf_alpha")  # nothing to learn
    assert again.phonemizer._g2ps.get("ja") is not None


def test_a_corrupt_offsets_file_is_ignored_and_the_voice_learnt_again(
    files: KokoroFiles, parts_dir: Path, windowed: KokoroEngine, tmp_path: Path
) -> None:
    copy = tmp_path / "parts"
    shutil.copytree(parts_dir, copy)
    [saved] = copy.glob("*/offsets-*.npz")
    saved.write_bytes(saved.read_bytes()[:1000])  # cut short, as by a full disk
    engine = fixed_engine(files, copy)
    assert engine._decoder is not None and engine._decoder.voice_offsets.count(VOICE) == 0
    steps = 0
    while engine.learn_voice(VOICE):
        steps += 1
    assert steps == VOICE_SENTENCES
    again = fixed_engine(files, copy)
    assert again._decoder is not None and again._decoder.voice_offsets.get(VOICE) is not None


def learnt_with(
    engine: KokoroEngine, voice: str, error: Optional[Dict[str, np.ndarray]] = None
) -> List[Tuple[Features, np.ndarray, Dict[str, np.ndarray]]]:
    """The voice's learning sentences, each with its whole decode and the map's error on it
    (`error` instead, when given), as the background learning gives them to the check."""
    decoder = engine._decoder
    assert decoder is not None
    learnt = []
    for index in range(VOICE_SENTENCES):
        text = learn_text("en-US", index)
        assert text is not None
        sentence = engine._learning_sentence(decoder, text, "en-US", engine._pack(voice))
        audio, own = decoder.whole_and_error(sentence)
        learnt.append((sentence, audio, own if error is None else error))
    return learnt


def test_the_check_passes_a_voice_and_fails_one_whose_windows_are_far_from_whole(
    windowed: KokoroEngine,
) -> None:
    decoder = windowed._decoder
    assert decoder is not None
    voice = "bf_alice"
    assert windowed.check_voice(decoder, voice, learnt_with(windowed, voice))
    assert decoder.streams(voice) is True
    right = decoder.voice_offsets.get(voice)
    assert right is not None
    wrong = {name: value + np.float32(2.0) for name, value in right.items()}  # far off
    assert not windowed.check_voice(decoder, voice, learnt_with(windowed, voice, wrong))
    assert decoder.streams(voice) is False
    assert not windowed.learn_voice(voice)  # judged: nothing left to do


def test_a_voice_whose_windows_fail_the_check_is_decoded_whole_after_a_restart(
    files: KokoroFiles,
    parts_dir: Path,
    whole: KokoroEngine,
    windowed: KokoroEngine,
    tmp_path: Path,
) -> None:
    voice = "am_echo"  # American: `sentence_of` phonemizes en-US
    copy = tmp_path / "parts"
    shutil.copytree(parts_dir, copy)
    engine = fixed_engine(files, copy)
    decoder = engine._decoder
    assert decoder is not None and decoder.voice_offsets.count(voice) == 0
    right = windowed._decoder.voice_offsets.get(VOICE)  # type: ignore[union-attr]
    assert right is not None
    wrong = {name: value + np.float32(2.0) for name, value in right.items()}
    assert not engine.check_voice(decoder, voice, learnt_with(engine, voice, wrong))

    again = fixed_engine(files, copy)
    assert again._decoder is not None and again._decoder.streams(voice) is False
    assert again._decoder.voice_offsets.get(voice) is not None  # kept with its offset
    assert not again.learn_voice(voice)
    for text in (SHORT, LONG):  # LONG: longer than one windowed call, still whole
        sentence = sentence_of(again, text, voice=voice)
        audio = np.concatenate(chunks_of(sentence))
        assert sentence.windows == [(0, sentence._frames)]
        assert np.array_equal(audio, whole.synthesize(text, voice, 1.0))
    assert sentence._frames > MAX_CALL_FRAMES
    normal = sentence_of(again, LONG)  # a voice that passed streams as before
    chunks_of(normal)
    assert len(normal.windows) > 1


def test_only_kokoro_voices_are_learnt(windowed: KokoroEngine) -> None:
    assert not windowed.learn_voice("my-clone")
    assert not windowed.learn_voice(VOICE)  # learnt already


@contextlib.asynccontextmanager
async def learning_by(engine: KokoroEngine) -> AsyncIterator[VoiceLearning]:
    """Background learning for `engine` on a scheduler of its own."""
    scheduler = Scheduler(workers=1, idle_seconds=0)
    learning = VoiceLearning(scheduler, engine)
    learning.attach(asyncio.get_running_loop())
    try:
        yield learning
    finally:
        await learning.stop()
        scheduler.shutdown()
        engine.on_unlearnt = lambda voice: None


async def test_saving_a_preset_learns_its_voice_in_the_background(
    windowed: KokoroEngine, tmp_path: Path
) -> None:
    blend = "jf_alpha(2)+jm_kumo(1)"
    presets = PresetStore(tmp_path / "presets.json")
    decoder = windowed._decoder
    assert decoder is not None and decoder.voice_offsets.count(blend) == 0
    async with learning_by(windowed) as learning:
        learning.follow(presets)
        await learning.wait()
        assert learning.learnt == []  # no preset yet
        presets.put("kumo-blend", blend)
        await learning.wait()
    assert learning.learnt == [blend]
    assert decoder.voice_offsets.count(blend) == VOICE_SENTENCES
    assert decoder.streams(blend) is not None  # checked too


async def test_a_voice_spoken_before_it_was_learnt_is_learnt_after_and_remembered(
    files: KokoroFiles, parts_dir: Path, windowed: KokoroEngine
) -> None:
    voice = "jf_gongitsune"
    decoder = windowed._decoder
    assert decoder is not None and decoder.voice_offsets.count(voice) == 0
    async with learning_by(windowed) as learning:
        await asyncio.to_thread(windowed.synthesize, LONG, voice, 1.0)
        await learning.wait()
    assert learning.learnt == [voice]
    assert decoder.voice_offsets.count(voice) == VOICE_SENTENCES
    assert decoder.streams(voice) is not None  # checked too
    # kept on disk: learnt again at a start that lost the offsets (a new model)
    assert voice in KokoroEngine(files, threads=2, parts_dir=parts_dir).recent_voices()


LATER = "In the evening, clouds move in from the west."
LONGER_LATER = "In the evening, clouds move in from the west, and the wind turns to the north."


def test_a_later_sentence_with_audio_enough_ahead_is_decoded_whole(
    whole: KokoroEngine, windowed: KokoroEngine
) -> None:
    """The listener has more audio than the whole decode takes: one call, the unsplit
    model's samples (no sparse decode, no context decoded twice); with none, windows. A
    sentence longer than one call's bound goes in windows however far ahead (memory)."""
    decoder = windowed._decoder
    assert decoder is not None

    def ahead_of(text: str, seconds: Optional[float] = None) -> WindowedSentence:
        tokens = [
            windowed._vocab[s] for s in windowed._phonemes(text, "en-US") if s in windowed._vocab
        ]
        style = windowed._pack(VOICE)[len(tokens) - 1].reshape(1, -1)
        features = decoder.front(tokens, style, 1.0)
        playback = Playback(decoder.speed.clock)
        playback.made(2 * decoder.speed.estimate(features.frames) if seconds is None else seconds)
        return WindowedSentence(decoder, features, VOICE, playback)

    ahead = ahead_of(LATER)
    frames = ahead._frames
    assert MIN_FRAMES < frames <= MAX_CALL_FRAMES
    audio = np.concatenate(chunks_of(ahead))
    assert ahead.windows == [(0, frames)]
    tokens = [
        windowed._vocab[s] for s in windowed._phonemes(LATER, "en-US") if s in windowed._vocab
    ]
    style = windowed._pack(VOICE)[len(tokens) - 1].reshape(1, -1)
    assert np.array_equal(audio, whole._run(tokens, style, 1.0))
    behind = ahead_of(LATER, seconds=0.0)
    chunks_of(behind)
    assert len(behind.windows) > 1
    longer = ahead_of(LONGER_LATER, seconds=60.0)
    assert MAX_CALL_FRAMES < longer._frames <= MAX_LEARN_FRAMES
    chunks_of(longer)
    assert len(longer.windows) > 1
    assert all(end - start <= MAX_CALL_FRAMES for start, end in longer.windows)


def test_windows_are_larger_while_other_answers_share_the_workers(
    windowed: KokoroEngine,
) -> None:
    """Each window of an answer sharing the workers waits for the others' calls: it holds
    more audio, in fewer windows, than alone with the same audio sent."""
    with decoder_at(windowed, overhead=0.01, per_frame=0.011) as speed:
        alone = sentence_of(windowed, LONG, clock=speed.clock)
        chunks_of(alone)
        shared = sentence_of(windowed, LONG, clock=speed.clock)
        with running(Turn(deadline=0.0, sharing=2)):
            chunks_of(shared)
    assert shared.windows[0] == alone.windows[0]  # the first audio comes as soon
    assert shared.windows[1][1] - shared.windows[1][0] > alone.windows[1][1] - alone.windows[1][0]
    assert len(shared.windows) < len(alone.windows)


def test_the_words_of_a_windowed_sentence_are_where_its_audio_says_them(
    windowed: KokoroEngine,
) -> None:
    """Word timings of a sentence decoded in windows: every written word, in order, and timed
    from the windows' first sample, which is the whole decode's sample `origin` frames in."""
    with decoder_at(windowed, overhead=0.03, per_frame=0.015):
        speech = windowed.stream(LONG, VOICE, 1.0)
        chunks = []
        while not speech.finished:
            chunks.append(speech.next_chunk())
    current = speech._current
    assert isinstance(current, WindowedSentence) and len(current.windows) >= 3
    audio = np.concatenate(chunks)
    whole = windowed._decoder.whole(current._sentence)  # type: ignore[union-attr]
    shift = (current.origin or 0) * SAMPLES_PER_FRAME
    assert shift > 0  # the windows leave out most of the leading padding
    n = audio.size
    assert np.corrcoef(audio, whole[shift : shift + n])[0, 1] > 0.8  # the same audio there
    assert np.corrcoef(audio, whole[:n])[0, 1] < 0.5  # not at the whole decode's start
    assert [word.word for word in speech.words] == written_words(LONG)
    end = 0
    for word in speech.words:
        assert end <= word.start < word.end <= audio.size
        end = word.end
    # each word where its phonemes' durations put it, counted from the windows' first sample
    frames = np.cumsum(current.durations)
    phonemes = windowed._phonemes(LONG, "en-US")
    spans = match_words(written_words(LONG), phonemes)
    for span, word in zip(spans, speech.words, strict=True):
        assert word.start == (int(frames[span.start]) - LEAD_FRAMES) * SAMPLES_PER_FRAME - shift
