"""A first start speaks at once: the unsplit model answers while the streaming decoder is
prepared in the background, giving way to answers; then the decoder takes over."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable, List, Optional

import numpy as np
import onnxruntime
import pytest
from onnx import TensorProto, helper

from wyoming_polytts.engines.base import WholeAudio
from wyoming_polytts.engines.kokoro import KokoroEngine
from wyoming_polytts.engines.kokoro.prepare import AnswerGate, GatedSession
from wyoming_polytts.engines.kokoro.split import SplitStopped
from wyoming_polytts.engines.kokoro.stream import DecoderSpeed, FitStopped, WindowedSentence
from wyoming_polytts.models import KokoroFiles

from .test_kokoro_stream import FAST, not_kokoro

VOICE = "jm_kumo"
SHORT = "The front door is locked for the night."
LONG = (
    "Today in Berlin, it will be mostly sunny with a high of twenty-one degrees and a light "
    "breeze from the north west."
)


def until(condition: Callable[[], bool]) -> None:
    """Wait for another thread to get there (a hang is the test's timeout)."""
    while not condition():
        time.sleep(0.01)


class Background(threading.Thread):
    """`work` in a thread, its exception kept."""

    def __init__(self, work: Callable[[], object]) -> None:
        super().__init__(daemon=True)
        self._work = work
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        try:
            self._work()
        except BaseException as error:  # noqa: BLE001 - the test looks at it
            self.error = error


def spinning_session() -> onnxruntime.InferenceSession:
    """A tiny real model that runs as many empty loop turns as it is given."""
    state = [
        helper.make_tensor_value_info("turn", TensorProto.INT64, []),
        helper.make_tensor_value_info("going_in", TensorProto.BOOL, []),
        helper.make_tensor_value_info("value_in", TensorProto.FLOAT, [1]),
    ]
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["going_in"], ["going_out"]),
            helper.make_node("Identity", ["value_in"], ["value_out"]),
        ],
        "turn",
        state,
        [
            helper.make_tensor_value_info("going_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("value_out", TensorProto.FLOAT, [1]),
        ],
    )
    graph = helper.make_graph(
        [helper.make_node("Loop", ["turns", "going", "value"], ["result"], body=body)],
        "spin",
        [
            helper.make_tensor_value_info("turns", TensorProto.INT64, []),
            helper.make_tensor_value_info("value", TensorProto.FLOAT, [1]),
        ],
        [helper.make_tensor_value_info("result", TensorProto.FLOAT, [1])],
        [helper.make_tensor("going", TensorProto.BOOL, [], [True])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )


def spin(turns: int) -> dict:
    return {"turns": np.array(turns, np.int64), "value": np.array([2.5], np.float32)}


def test_a_background_call_waits_until_the_answer_in_progress_is_done() -> None:
    gate = AnswerGate(threading.Event(), idle_seconds=0.0)
    session = spinning_session()
    results: List[object] = []
    with gate.answering():
        call = Background(lambda: results.append(gate.run(session, None, spin(10))))
        call.start()
        until(lambda: gate.paused)
        assert not results
    call.join()
    assert call.error is None and gate.interruptions == 1
    assert np.array_equal(results[0][0], [2.5])  # type: ignore[index]


def test_an_answer_aborts_a_background_call_and_a_stop_ends_it() -> None:
    stopping = threading.Event()
    gate = AnswerGate(stopping, idle_seconds=0.0)
    call = Background(lambda: gate.run(spinning_session(), None, spin(2**62)))  # never ends
    call.start()
    until(lambda: gate.running == 1)
    with gate.answering():
        until(lambda: gate.paused)  # aborted, and waiting to be made again
        assert gate.running == 0 and gate.interruptions == 1
        stopping.set()
        gate.stop()
        call.join()
    assert isinstance(call.error, FitStopped)


def test_an_open_gate_runs_calls_as_they_come() -> None:
    gate = AnswerGate(threading.Event(), idle_seconds=0.0)
    gate.open = True
    session = GatedSession(spinning_session(), gate)
    with gate.answering():
        assert np.array_equal(session.run(None, spin(3))[0], [2.5])
    assert gate.interruptions == 0 and [i.name for i in session.get_inputs()] == ["turns", "value"]


def test_background_work_gives_way_to_answers_after_the_gate_opens() -> None:
    """Voice learning runs once the decoder is in (the gate open): its calls, made in
    `background`, are still aborted by an answer and wait for it; other calls do not."""
    stopping = threading.Event()
    gate = AnswerGate(stopping, idle_seconds=0.0)
    gate.open = True
    session = GatedSession(spinning_session(), gate)

    def learn() -> None:
        with gate.background():
            session.run(None, spin(2**62))  # never ends unless aborted

    call = Background(learn)
    call.start()
    until(lambda: gate.running == 1)
    with gate.answering():
        until(lambda: gate.paused)  # aborted, and waiting to be made again
        assert gate.running == 0 and gate.interruptions == 1
        assert np.array_equal(session.run(None, spin(3))[0], [2.5])  # the answer's call runs
        stopping.set()
        gate.stop()
        call.join()
    assert isinstance(call.error, FitStopped)


def tokens_of(engine: KokoroEngine, text: str) -> List[int]:
    return [engine._vocab[s] for s in engine._phonemes(text, "en-US") if s in engine._vocab]


def style_of(engine: KokoroEngine, tokens: List[int]) -> np.ndarray:
    return engine._pack(VOICE)[len(tokens) - 1].reshape(1, -1)


def test_a_first_start_speaks_whole_at_once_and_streams_once_prepared(
    files: KokoroFiles, whole: KokoroEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    speed = DecoderSpeed(*FAST, fixed=True)
    engine = KokoroEngine(files, threads=2, parts_dir=tmp_path / "parts", decoder_speed=speed)
    engine.whole_first = True
    assert engine.start_up_report() == {"speaking": False, "progress": "loading the model"}
    held = engine.answering()  # an answer in progress: the preparation waits for its turn
    held.__enter__()
    preparing = Background(engine.prepare_streaming)
    preparing.start()

    audio = engine.synthesize(SHORT, VOICE, 1.0)  # loads the unsplit model only
    assert not engine.streaming
    assert np.array_equal(audio, whole.synthesize(SHORT, VOICE, 1.0))
    report = engine.start_up_report()
    assert report["speaking"] is True
    assert "whole sentences; streaming decoder being prepared" in str(report["progress"])
    short = tokens_of(engine, SHORT)
    begun = engine.sentence(short, style_of(engine, short), 1.0, VOICE)  # begun whole
    assert isinstance(begun, WholeAudio)

    held.__exit__(None, None, None)
    preparing.join()
    assert preparing.error is None and engine.streaming
    assert engine._session is None  # released: the decoder's whole decode says the same
    assert np.array_equal(begun.next_chunk(), whole._run(short, style_of(whole, short), 1.0))
    assert engine.start_up_report() == {
        "speaking": True,
        "progress": "speaking (streaming decoder ready)",
    }
    long = tokens_of(engine, LONG)
    assert isinstance(engine.sentence(long, style_of(engine, long), 1.0, VOICE), WindowedSentence)
    said = caplog.text
    assert "Splitting" in said and "Split kokoro" in said
    assert "statistics fit, sentence 1 of" in said and "streaming decoder ready" in said


def test_a_stop_ends_the_preparation_while_the_server_speaks(
    files: KokoroFiles, tmp_path: Path
) -> None:
    engine = KokoroEngine(files, threads=1, parts_dir=tmp_path / "parts")
    engine.whole_first = True
    engine.load_whole()
    with engine.answering():
        preparing = Background(engine.prepare_streaming)
        preparing.start()
        until(lambda: "splitting" in str(engine.start_up_report()["progress"]))
        engine.stop()
        preparing.join()
    assert isinstance(preparing.error, (SplitStopped, FitStopped))
    assert not engine.streaming and not list((tmp_path / "parts").glob("*/statistics-*"))
    assert "stopped" in str(engine.start_up_report()["progress"])


def test_a_model_that_cannot_be_split_goes_on_speaking_whole(
    files: KokoroFiles, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    other = KokoroFiles(
        model=not_kokoro(tmp_path / "other.onnx"),
        voices=files.voices,
        vocab=files.vocab,
        source="test",
    )
    engine = KokoroEngine(other, threads=1, parts_dir=tmp_path / "parts")
    engine.whole_first = True
    assert engine.synthesize("Hello.", VOICE, 1.0).size == 2400
    assert engine.prepare_streaming() is False
    assert "No streaming decoder" in caplog.text
    assert engine.synthesize("Hello.", VOICE, 1.0).size == 2400 and not engine.streaming
    progress = str(engine.start_up_report()["progress"])
    assert progress.startswith("speaking (whole sentences; no streaming decoder: SplitError")
