"""The one bounded worker pool that runs engine code off the event loop, earliest deadline
first.

Each call carries a deadline: the moment its answer's listener runs out of audio (now, for
an answer that has sent none yet; the end of the audio already sent, for a later stretch).
When a worker is free, the call with the earliest deadline runs; calls with the same deadline
go by turns, the client that waited longest first. A call's deadline never moves, and a new
call's is never before its arrival, so every call comes in the end: an answer far ahead of
its listener waits while one that has nothing queued speaks, and a long answer never starves
a short one. Calls without a listener (warm-ups) have no deadline: they come last.

When every worker is busy and an answer's opening call (it has sent nothing yet) arrives
whose deadline is more than `PREEMPT_SLACK_SECONDS` before that of calls in progress, it
starts at once on a spare thread and those later calls give way (`preemption`): their model
runs are aborted and made again once the urgent call is done, so a short answer does not
wait behind a long answer's large window. At most one urgent call overtakes each call in
progress. The answer's next calls overtake as well while it is that far behind (its later
windows would otherwise wait for the long answer's call, started again, and stall); other
calls of answers under way never overtake: they would abort each other's runs in turns, and
the work lost would make both late. On a free worker the same calls still have the calls in
progress they would overtake give way: two model runs at once share the cores and each takes
about twice as long (on two cores they get a fifth more done together than one at a time,
which answers under way gain from, but not a short answer's opening).

The queue is bounded; past `max_queued` waiting calls a new one is refused with
`SchedulerBusy` at once instead of waiting without end.

Calls of the `BACKGROUND` client (learning voices) run only when no other call runs or
waits, and none has for `BACKGROUND_IDLE_SECONDS`; any other call overtakes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import OrderedDict, deque
from concurrent.futures import Future as ThreadFuture
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Deque, Dict, Hashable, List, Optional, Set, Tuple, TypeVar

from .preemption import Turn, running
from .settings import BACKGROUND_IDLE_SECONDS, PREEMPT_SLACK_SECONDS, SHARING_SECONDS

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")


class SchedulerBusy(RuntimeError):
    """Too many calls are waiting already."""


class _Background:
    def __repr__(self) -> str:
        return "BACKGROUND"


BACKGROUND: Hashable = _Background()  # the client of low-priority work
_NOBODY: Hashable = object()  # `_next_client`: no call may start now (None is a client)


@dataclass(eq=False)
class _Call:
    function: Callable[..., Any]
    args: tuple
    future: asyncio.Future[Any]
    deadline: Optional[float]  # None: due once it is first in its client's line (`_due`)
    opening: bool = False  # an answer's first call: it may overtake one in progress
    queued_at: float = field(default_factory=time.monotonic)


def _due(queue: Deque[_Call]) -> None:
    """The first call of a client's line without a deadline is due from now: a client's
    calls without deadlines come one at a time, by turns with other clients."""
    if queue[0].deadline is None:
        queue[0].deadline = time.monotonic()


def _deadline(queue: Deque[_Call]) -> float:
    """When the first call of a client's line is due."""
    due = queue[0].deadline
    assert due is not None  # set by `_due`
    return due


@dataclass(eq=False)
class _Running:
    """A call in progress."""

    turn: Turn
    client: Hashable
    foreground: bool
    urgent: bool  # started on a spare thread, every worker busy
    overtakes: List[_Running] = field(default_factory=list)  # they give way while it runs
    overtaken: bool = False  # a call it gives way to runs now


class Scheduler:
    """Runs blocking calls on `workers` threads, earliest deadline first (see the module).

    Cancelling the awaiting task drops a call that has not started; a call in progress
    finishes and its result is discarded.
    """

    def __init__(
        self,
        workers: int,
        max_queued: int = 64,
        idle_seconds: float = BACKGROUND_IDLE_SECONDS,
        preempt_slack: float = PREEMPT_SLACK_SECONDS,
    ) -> None:
        """`idle_seconds`: how long the pool is idle before a `BACKGROUND` call starts;
        `preempt_slack`: how much sooner a call's deadline must be to overtake one in
        progress (`math.inf`: never)."""
        self.workers = workers
        self.max_queued = max_queued
        self.idle_seconds = idle_seconds
        self.preempt_slack = preempt_slack
        # A spare thread per worker, for urgent calls.
        self._executor = ThreadPoolExecutor(max_workers=2 * workers, thread_name_prefix="synth")
        self._queues: OrderedDict[Hashable, Deque[_Call]] = OrderedDict()
        self._queued = 0
        self._running: Dict[int, _Running] = {}  # by id
        self._foreground = 0  # calls running that are not `BACKGROUND`'s
        self._idle_since = -math.inf  # when the last of them ended (`time.monotonic`)
        self._wake: Optional[asyncio.TimerHandle] = None  # a later look at the background
        self.preempted = 0  # calls that gave way to an urgent one (for tests and logs)
        self._ended: Dict[Hashable, float] = {}  # when each client's last call ended
        self._overtaking: Set[Hashable] = set()  # clients whose last call overtook one
        # Told of each listened-to call's wait for a worker (seconds), and of each refusal
        # as busy (`metrics`).
        self.on_wait: Callable[[float], None] = _ignore
        self.on_busy: Callable[[], None] = _ignore

    @property
    def queued(self) -> int:
        """Calls waiting for a worker."""
        return self._queued

    async def run(
        self,
        function: Callable[..., T],
        *args: Any,
        client: Hashable = None,
        admitted: bool = False,
        deadline: Optional[float] = None,
        opening: bool = False,
    ) -> T:
        """Run `function(*args)` in the pool when its deadline is the earliest; wait for the
        result.

        `deadline`: when the caller's listener runs out of audio, in `time.monotonic`
        seconds (`math.inf` for work nobody listens to; default: from the moment the call is
        the first of its client's line). `admitted` marks a
        later call of a request that is already being answered: it is never refused, so an
        answer that has begun is not cut off by `busy` (the pipeline keeps at most two calls
        per answer, so the queue stays bounded). `opening` marks an answer's first call,
        which may overtake a call in progress that is due much later.
        """
        if not admitted and self._queued >= self.max_queued:
            self.on_busy()
            raise SchedulerBusy(
                f"The server is busy: {self._queued} requests are waiting; try again shortly"
            )
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        if client is BACKGROUND:
            deadline = math.inf
        call = _Call(function, args, future, deadline, opening and client is not BACKGROUND)
        queue = self._queues.setdefault(client, deque())
        queue.append(call)
        _due(queue)
        self._queued += 1
        self._dispatch()
        try:
            return await future
        except asyncio.CancelledError:
            self._withdraw(client, call)
            raise

    def answer_ended(self, client: Hashable) -> None:
        """`client`'s answer is over: it no longer shares the workers (`Turn.sharing`)."""
        self._ended.pop(client, None)
        self._overtaking.discard(client)

    def _withdraw(self, client: Hashable, call: _Call) -> None:
        """A cancelled call that has not started leaves the queue (and stops counting)."""
        queue = self._queues.get(client)
        if queue is None:
            return
        for index, queued in enumerate(queue):
            if queued is call:
                del queue[index]
                self._queued -= 1
                if not queue:
                    del self._queues[client]
                else:
                    _due(queue)
                return

    def _next_client(self) -> Hashable:
        """The client whose call is due (`_NOBODY`: none): the earliest deadline among the
        first calls of each client, ties to the first in line; `BACKGROUND` only when
        nothing else runs or waits and has not for `idle_seconds`."""
        chosen: Hashable = _NOBODY
        earliest = math.inf
        for client, queue in self._queues.items():
            due = _deadline(queue)
            if client is not BACKGROUND and (chosen is _NOBODY or due < earliest):
                chosen, earliest = client, due
        if chosen is not _NOBODY:
            return chosen
        if BACKGROUND not in self._queues or self._foreground:
            return _NOBODY
        wait = self._idle_since + self.idle_seconds - time.monotonic()
        if wait <= 0:
            return BACKGROUND
        if self._wake is None:
            self._wake = asyncio.get_running_loop().call_later(wait, self._woken)
        return _NOBODY

    def _woken(self) -> None:
        self._wake = None
        self._dispatch()

    def _to_overtake(self, call: _Call, client: Hashable) -> List[_Running]:
        """The calls in progress that `call` overtakes: `BACKGROUND` calls; else, for an
        answer's opening call or a next call of an answer that overtook, those due more than
        the slack later."""
        candidates = [
            running
            for running in self._running.values()
            if not running.urgent and not running.overtaken
        ]
        background = [running for running in candidates if not running.foreground]
        if background:
            return background
        may = call.opening or client in self._overtaking
        if not may or call.deadline is None:
            return []
        due = call.deadline
        return [
            running for running in candidates if running.turn.deadline - due > self.preempt_slack
        ]

    def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            client = self._next_client()
            if client is _NOBODY:
                return
            overtakes: List[_Running] = []
            urgent = len(self._running) - self._urgent_count() >= self.workers
            if urgent:
                if client is BACKGROUND:
                    return
                client, overtakes = self._urgent()
                if not overtakes:
                    return
            elif client is not BACKGROUND and self._running:
                # A free worker, but a call in progress due much later (or background work)
                # gives way all the same: two runs at once each take about twice as long.
                overtakes = self._to_overtake(self._queues[client][0], client)
            queue = self._queues[client]
            call = queue.popleft()
            self._queued -= 1
            if queue:
                self._queues.move_to_end(client)  # the next call of this client waits its turn
                _due(queue)
            else:
                del self._queues[client]
            if call.future.cancelled():
                continue
            self._start(loop, call, client, overtakes, urgent)

    def _urgent(self) -> Tuple[Hashable, List[_Running]]:
        """Every worker is busy: the client whose first call, the earliest of those that
        may, overtakes calls in progress, and those calls (none: no call may)."""
        waiting = sorted(
            (
                (_deadline(queue), index, client)
                for index, (client, queue) in enumerate(self._queues.items())
                if client is not BACKGROUND
            ),
            key=lambda item: item[:2],
        )
        for _, _, client in waiting:
            overtakes = self._to_overtake(self._queues[client][0], client)
            if overtakes:
                return client, overtakes
        return _NOBODY, []

    def _urgent_count(self) -> int:
        return sum(running.urgent for running in self._running.values())

    def _start(
        self,
        loop: asyncio.AbstractEventLoop,
        call: _Call,
        client: Hashable,
        overtakes: List[_Running],
        urgent: bool,
    ) -> None:
        """Start `call`; `urgent`: on a spare thread, every worker busy (it overtakes
        `overtakes`, as a call on a free worker may)."""
        foreground = client is not BACKGROUND
        # The answers that share the workers now: a stream sizes its windows for its share.
        now = time.monotonic()
        for past in [past for past, ended in self._ended.items() if now - ended > SHARING_SECONDS]:
            del self._ended[past]
        sharing = {queued for queued in self._queues if queued is not BACKGROUND}
        sharing.update(running.client for running in self._running.values() if running.foreground)
        sharing.update(self._ended)  # between two calls: the next is queued a moment later
        sharing.add(client)
        # An answer that overtakes another runs before the others: it shares with none. One
        # that overtakes background work still shares with the answers waiting beside it.
        ahead = any(overtaken.foreground for overtaken in overtakes)
        shares = 1 if ahead else len(sharing)
        turn = Turn(math.inf if call.deadline is None else call.deadline, shares)
        running = _Running(turn, client, foreground, urgent=urgent, overtakes=overtakes)
        if foreground:
            if ahead:
                self._overtaking.add(client)
            elif not overtakes:
                self._overtaking.discard(client)
        for overtaken in overtakes:
            overtaken.overtaken = True
            overtaken.turn.give_way()
            self.preempted += 1
            _LOGGER.debug(
                "A call due %.2f s sooner overtakes one in progress",
                overtaken.turn.deadline - turn.deadline,
            )
        self._running[id(running)] = running
        self._foreground += foreground
        if foreground and turn.deadline != math.inf:
            self.on_wait(now - call.queued_at)
        work = self._executor.submit(_run_turn, turn, call.function, *call.args)
        work.add_done_callback(partial(_back_to, loop, self, call.future, running))

    def _finished(
        self, work: ThreadFuture[Any], future: asyncio.Future[Any], running: _Running
    ) -> None:
        del self._running[id(running)]
        if running.foreground:
            self._foreground -= 1
            self._idle_since = time.monotonic()
            self._ended[running.client] = self._idle_since
        if not future.cancelled():
            error = work.exception()
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(work.result())
        for overtaken in running.overtakes:
            overtaken.overtaken = False
        # Another urgent call may overtake them before they go on: they resume after it.
        self._dispatch()
        for overtaken in running.overtakes:
            overtaken.turn.resume()

    def shutdown(self) -> None:
        """Stop taking work; queued calls are cancelled."""
        if self._wake is not None:
            self._wake.cancel()
            self._wake = None
        for queue in self._queues.values():
            for call in queue:
                call.future.cancel()
        self._queues.clear()
        self._queued = 0
        self._executor.shutdown(wait=False, cancel_futures=True)


def _ignore(*_: object) -> None:
    pass


def _run_turn(turn: Turn, function: Callable[..., T], *args: Any) -> T:
    with running(turn):
        return function(*args)


def _back_to(
    loop: asyncio.AbstractEventLoop,
    scheduler: Scheduler,
    future: asyncio.Future[Any],
    running: _Running,
    work: ThreadFuture[Any],
) -> None:
    """From the worker thread: hand the finished call back to the event loop."""
    with contextlib.suppress(RuntimeError):  # a closed loop: the server is shutting down
        loop.call_soon_threadsafe(scheduler._finished, work, future, running)
