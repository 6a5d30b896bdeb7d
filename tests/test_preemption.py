"""Calls in progress that give way to urgent ones: real onnxruntime runs aborted and made again."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from pathlib import Path
from typing import Any, List

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper

from wyoming_polytts.preemption import PausableSession, Turn, current_turn, running
from wyoming_polytts.scheduler import Scheduler

SIZE = 192


@pytest.fixture(scope="module")
def slow_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A chain of matrix products (seconds of work, checked between nodes for an abort)."""
    weight = helper.make_tensor(
        "w", TensorProto.FLOAT, [SIZE, SIZE], (np.eye(SIZE, dtype=np.float32) * 1.0001).ravel()
    )
    nodes, name = [], "x"
    for index in range(3000):
        nodes.append(helper.make_node("MatMul", [name, "w"], [f"m{index}"]))
        name = f"m{index}"
    graph = helper.make_graph(
        nodes,
        "slow",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [SIZE, SIZE])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [SIZE, SIZE])],
        [weight],
    )
    path = tmp_path_factory.mktemp("onnx") / "slow.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


class Counted:
    """A real session that counts its runs."""

    def __init__(self, path: Path) -> None:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
        self.session = onnxruntime.InferenceSession(str(path), options)
        self.runs = 0
        self.started = threading.Event()

    def run(self, names: Any, feeds: Any, options: Any = None) -> Any:
        self.runs += 1
        self.started.set()
        return self.session.run(names, feeds, options)


def feeds() -> dict:
    return {"x": np.random.default_rng(0).normal(size=(SIZE, SIZE)).astype(np.float32)}


def test_a_run_that_gives_way_is_aborted_and_made_again(slow_model: Path) -> None:
    counted = Counted(slow_model)
    expected = counted.session.run(None, feeds())[0]
    turn = Turn(deadline=time.monotonic() + 10)
    results: List[Any] = []

    def call() -> None:
        with running(turn):
            assert current_turn() is turn
            results.append(PausableSession(counted).run(None, feeds())[0])

    worker = threading.Thread(target=call)
    worker.start()
    assert counted.started.wait(10)
    turn.give_way()
    worker.join(0.5)
    assert worker.is_alive() and not results  # aborted, and waiting for the urgent call
    assert counted.runs == 1
    turn.resume()
    worker.join(60)
    assert counted.runs == 2  # made again once the urgent call was done
    np.testing.assert_array_equal(results[0], expected)
    assert current_turn() is None


def test_an_abort_asked_by_someone_else_is_raised(slow_model: Path) -> None:
    """Only the turn's own `give_way` makes a run again; another abort (the answer gate's)
    reaches the caller."""
    counted = Counted(slow_model)
    options = onnxruntime.RunOptions()
    errors: List[BaseException] = []

    def call() -> None:
        with running(Turn(deadline=math.inf)):
            try:
                PausableSession(counted).run(None, feeds(), options)
            except Exception as error:  # noqa: BLE001 - what the caller gets
                errors.append(error)

    worker = threading.Thread(target=call)
    worker.start()
    assert counted.started.wait(10)
    options.terminate = True
    worker.join(60)
    assert len(errors) == 1 and counted.runs == 1


async def test_an_urgent_call_overtakes_a_call_due_much_later(slow_model: Path) -> None:
    """One worker, busy with a call whose listener has seconds of audio: a call due now
    starts at once beside it, and the later one is made again after, with its result."""
    scheduler = Scheduler(workers=1, preempt_slack=1.0)
    counted = Counted(slow_model)
    expected = counted.session.run(None, feeds())[0]
    session = PausableSession(counted)
    order: List[str] = []
    try:
        late = asyncio.ensure_future(
            scheduler.run(
                lambda: session.run(None, feeds())[0],
                client="long",
                deadline=time.monotonic() + 30,
            )
        )
        assert await asyncio.to_thread(counted.started.wait, 10)
        urgent = await asyncio.wait_for(
            scheduler.run(
                order.append, "urgent", client="short", deadline=time.monotonic(), opening=True
            ),
            10,
        )
        assert urgent is None and order == ["urgent"] and not late.done()
        np.testing.assert_array_equal(await asyncio.wait_for(late, 60), expected)
    finally:
        scheduler.shutdown()
    assert scheduler.preempted == 1
    assert counted.runs == 2
