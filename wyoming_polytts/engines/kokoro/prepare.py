"""Background work that gives way to answers.

On a first start the streaming decoder is prepared (statistics fit, speed measurement) while
the server already speaks whole sentences with the unsplit model; later, voices are learnt
and checked (`background`). Each model call of such work waits until no answer has run for
`PREPARE_IDLE_SECONDS`, and an answer that starts aborts the call in progress (onnxruntime's
`RunOptions.terminate`), which is made again once the answers are done: the calls are pure,
so nothing is lost but time.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from typing import Any, Iterator, Optional, Set

from ...settings import PREPARE_IDLE_SECONDS
from .stream import FitStopped

_FATAL_ONLY = 4  # onnxruntime's log severity: fatal


class AnswerGate:
    """Answers in progress, and the background calls that give way to them."""

    def __init__(self, stopping: threading.Event, idle_seconds: float = PREPARE_IDLE_SECONDS):
        self._stopping = stopping
        self._idle_seconds = idle_seconds
        self._condition = threading.Condition()
        self._answers = 0
        self._last_answer = -math.inf
        self._running: Set[Any] = set()  # RunOptions of the background calls in progress
        self.interruptions = 0  # background calls that waited for answers or were aborted
        self.open = False  # set when the preparation is done: calls no longer wait
        self.paused = False  # a background call waits for answers now
        self._local = threading.local()  # `background` marks its thread's calls

    @contextlib.contextmanager
    def background(self) -> Iterator[None]:
        """This thread's model calls give way to answers, also once the gate is open."""
        self._local.active = True
        try:
            yield
        finally:
            self._local.active = False

    def gives_way(self) -> bool:
        """Whether a model call made now, on this thread, gives way to answers."""
        return not self.open or getattr(self._local, "active", False)

    @property
    def running(self) -> int:
        """Background calls in progress."""
        return len(self._running)

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """An answer's work: background calls in progress are aborted, new ones wait."""
        with self._condition:
            self._answers += 1
            for options in self._running:
                options.terminate = True
        try:
            yield
        finally:
            with self._condition:
                self._answers -= 1
                self._last_answer = time.monotonic()
                self._condition.notify_all()

    def stop(self) -> None:
        """The server stops (`stopping` is set): waiting and running calls end at once."""
        with self._condition:
            for options in self._running:
                options.terminate = True
            self._condition.notify_all()

    def wait_turn(self) -> None:
        """Until no answer has run for the idle time; `FitStopped` once stopping."""
        with self._condition:
            self._wait_turn()

    def _wait_turn(self) -> None:
        waited = False
        try:
            while True:
                if self._stopping.is_set():
                    raise FitStopped("the streaming decoder's preparation was stopped")
                timeout: Optional[float] = None
                if self._answers == 0:
                    timeout = self._last_answer + self._idle_seconds - time.monotonic()
                    if timeout <= 0:
                        break
                waited = self.paused = True
                self._condition.wait(timeout)
        finally:
            self.paused = False
        if waited:
            self.interruptions += 1

    def run(self, session: Any, names: Any, feeds: Any, options: Any = None) -> Any:
        """`session.run`, in the background's turn, made again whenever an answer aborts it."""
        import onnxruntime

        given = options if options is not None else onnxruntime.RunOptions()
        severity = given.log_severity_level
        given.log_severity_level = _FATAL_ONLY  # an abort is no error to log
        try:
            while True:
                with self._condition:
                    self._wait_turn()
                    given.terminate = False
                    self._running.add(given)
                try:
                    return session.run(names, feeds, given)
                except Exception:
                    if not given.terminate:
                        raise
                    with self._condition:
                        self.interruptions += 1
                finally:
                    with self._condition:
                        self._running.discard(given)
        finally:  # `options` may be shared by later calls
            given.terminate = False
            given.log_severity_level = severity


class GatedSession:
    """An onnxruntime session whose runs give way to answers until the gate opens, and
    afterwards those made in `AnswerGate.background`."""

    def __init__(self, session: Any, gate: AnswerGate) -> None:
        self._session = session
        self._gate = gate

    def run(self, names: Any, feeds: Any, options: Any = None) -> Any:
        if not self._gate.gives_way():
            return self._session.run(names, feeds, options)
        return self._gate.run(self._session, names, feeds, options)

    def __getattr__(self, name: str) -> Any:  # get_inputs, get_outputs, ...
        return getattr(self._session, name)
