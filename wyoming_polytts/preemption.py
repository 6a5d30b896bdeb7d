"""Calls in progress that give way to more urgent ones.

The scheduler runs each call under a `Turn`, known to the worker thread (`current_turn`).
When a call whose listener runs out of audio much sooner arrives and every worker is busy,
the scheduler starts it at once on a spare thread and the call it overtakes gives way
(`Turn.give_way`): that call's model run in progress is aborted (onnxruntime's
`RunOptions.terminate`) and made again once the urgent call is done; its next runs wait until
then. Model runs are pure, so nothing is lost but the aborted run's time. Sessions opt in by
running through `PausableSession`; other engine code (ZipVoice's runtime) goes on beside the
urgent call.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator, Optional, Set

_FATAL_ONLY = 4  # onnxruntime's log severity: an aborted run is no error to log
_local = threading.local()


class Turn:
    """One scheduler call in progress: whether it gives way now, and its runs to abort."""

    def __init__(self, deadline: float, sharing: int = 1) -> None:
        self.deadline = deadline  # when its listener runs out of audio (`time.monotonic`)
        self.sharing = sharing  # answers with calls running or waiting, its own included
        self.preemptions = 0  # times it was asked to give way
        self._yielding = 0  # urgent calls it gives way to now
        self._condition = threading.Condition()
        self._runs: Set[Any] = set()  # RunOptions of its model runs in progress

    def give_way(self) -> None:
        """An urgent call starts: the run in progress is aborted, later ones wait."""
        with self._condition:
            self.preemptions += 1
            self._yielding += 1
            for options in self._runs:
                options.terminate = True

    def resume(self) -> None:
        """The urgent call `give_way` was for has ended."""
        with self._condition:
            self._yielding -= 1
            self._condition.notify_all()

    def run(self, session: Any, names: Any, feeds: Any, options: Any = None) -> Any:
        """`session.run`, once the call no longer gives way; made again when aborted by
        `give_way` (an abort asked by anyone else, e.g. the answer gate, is raised)."""
        import onnxruntime

        given = options if options is not None else onnxruntime.RunOptions()
        severity = given.log_severity_level
        given.log_severity_level = _FATAL_ONLY
        try:
            while True:
                with self._condition:
                    while self._yielding:
                        self._condition.wait()
                    asked = self.preemptions
                    self._runs.add(given)
                try:
                    result = session.run(names, feeds, given)
                except Exception:
                    with self._condition:
                        self._runs.discard(given)
                        if self.preemptions == asked:
                            raise
                        given.terminate = False  # ours: made again after the urgent call
                    continue
                with self._condition:
                    self._runs.discard(given)
                    given.terminate = False  # a give_way that came as the run ended
                return result
        finally:
            given.log_severity_level = severity


@contextlib.contextmanager
def running(turn: Turn) -> Iterator[None]:
    """The calling thread runs `turn`'s call (the scheduler's workers)."""
    _local.turn = turn
    try:
        yield
    finally:
        _local.turn = None


def current_turn() -> Optional[Turn]:
    """The scheduler call this thread runs, if any."""
    return getattr(_local, "turn", None)


class PausableSession:
    """An onnxruntime session whose runs give way to urgent calls (`Turn.run`)."""

    def __init__(self, session: Any) -> None:
        self._session = session

    def run(self, names: Any, feeds: Any, options: Any = None) -> Any:
        turn = current_turn()
        if turn is None:
            return self._session.run(names, feeds, options)
        return turn.run(self._session, names, feeds, options)

    def __getattr__(self, name: str) -> Any:  # get_inputs, get_outputs, ...
        return getattr(self._session, name)
