"""The one bounded worker pool that runs engine code off the event loop, fairly.

Calls are queued per client and the clients take turns: when a worker is free, the next
call comes from the client that waited longest, not from whoever queued most. So a long
answer never starves a short one. The queue is bounded; past `max_queued` waiting calls a
new one is refused with `SchedulerBusy` at once instead of waiting without end.

Calls of the `BACKGROUND` client (learning voices) run only when no other call runs or
waits, and none has for `BACKGROUND_IDLE_SECONDS`: an answer's next call, queued a moment
after its last one ended, never waits behind one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, deque
from concurrent.futures import Future as ThreadFuture
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Callable, Deque, Hashable, Optional, Tuple, TypeVar

from .settings import BACKGROUND_IDLE_SECONDS

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")
_Call = Tuple[Callable[..., Any], Tuple[Any, ...], "asyncio.Future[Any]"]


class SchedulerBusy(RuntimeError):
    """Too many calls are waiting already."""


class _Background:
    def __repr__(self) -> str:
        return "BACKGROUND"


BACKGROUND: Hashable = _Background()  # the client of low-priority work
_NOBODY: Hashable = object()  # `_next_client`: no call may start now (None is a client)


class Scheduler:
    """Runs blocking calls on `workers` threads, clients taking turns call by call.

    Cancelling the awaiting task drops a call that has not started; a call in progress
    finishes and its result is discarded.
    """

    def __init__(
        self, workers: int, max_queued: int = 64, idle_seconds: float = BACKGROUND_IDLE_SECONDS
    ) -> None:
        """`idle_seconds`: how long the pool is idle before a `BACKGROUND` call starts."""
        self.workers = workers
        self.max_queued = max_queued
        self.idle_seconds = idle_seconds
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="synth")
        self._queues: OrderedDict[Hashable, Deque[_Call]] = OrderedDict()
        self._queued = 0
        self._running = 0
        self._foreground = 0  # calls running that are not `BACKGROUND`'s
        self._idle_since = -float("inf")  # when the last of them ended (loop time)
        self._wake: Optional[asyncio.TimerHandle] = None  # a later look at the background

    async def run(
        self,
        function: Callable[..., T],
        *args: Any,
        client: Hashable = None,
        admitted: bool = False,
    ) -> T:
        """Run `function(*args)` in the pool when it is `client`'s turn; wait for the result.

        `admitted` marks a later call of a request that is already being answered: it is
        never refused, so an answer that has begun is not cut off by `busy` (the pipeline
        keeps at most two calls per answer, so the queue stays bounded).
        """
        if not admitted and self._queued >= self.max_queued:
            raise SchedulerBusy(
                f"The server is busy: {self._queued} requests are waiting; try again shortly"
            )
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        call: _Call = (function, args, future)
        self._queues.setdefault(client, deque()).append(call)
        self._queued += 1
        self._dispatch()
        try:
            return await future
        except asyncio.CancelledError:
            self._withdraw(client, call)
            raise

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
                return

    def _next_client(self) -> Hashable:
        """The client whose turn it is (`_NOBODY`: none): the first in line but
        `BACKGROUND`, which comes only when nothing else runs or waits and has not for
        `idle_seconds`."""
        for client in self._queues:
            if client is not BACKGROUND:
                return client
        if BACKGROUND not in self._queues or self._foreground:
            return _NOBODY
        loop = asyncio.get_running_loop()
        wait = self._idle_since + self.idle_seconds - loop.time()
        if wait <= 0:
            return BACKGROUND
        if self._wake is None:
            self._wake = loop.call_later(wait, self._woken)
        return _NOBODY

    def _woken(self) -> None:
        self._wake = None
        self._dispatch()

    def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while self._running < self.workers:
            client = self._next_client()
            if client is _NOBODY:
                return
            queue = self._queues[client]
            function, args, future = queue.popleft()
            self._queued -= 1
            if queue:
                self._queues.move_to_end(client)  # the next call of this client waits its turn
            else:
                del self._queues[client]
            if future.cancelled():
                continue
            self._running += 1
            foreground = client is not BACKGROUND
            self._foreground += foreground
            work = self._executor.submit(function, *args)
            work.add_done_callback(partial(_back_to, loop, self, future, foreground))

    def _finished(
        self, work: ThreadFuture[Any], future: asyncio.Future[Any], foreground: bool
    ) -> None:
        self._running -= 1
        if foreground:
            self._foreground -= 1
            self._idle_since = asyncio.get_running_loop().time()
        if not future.cancelled():
            error = work.exception()
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(work.result())
        self._dispatch()

    def shutdown(self) -> None:
        """Stop taking work; queued calls are cancelled."""
        if self._wake is not None:
            self._wake.cancel()
            self._wake = None
        for queue in self._queues.values():
            for _, _, future in queue:
                future.cancel()
        self._queues.clear()
        self._queued = 0
        self._executor.shutdown(wait=False, cancel_futures=True)


def _back_to(
    loop: asyncio.AbstractEventLoop,
    scheduler: Scheduler,
    future: asyncio.Future[Any],
    foreground: bool,
    work: ThreadFuture[Any],
) -> None:
    """From the worker thread: hand the finished call back to the event loop."""
    with contextlib.suppress(RuntimeError):  # a closed loop: the server is shutting down
        loop.call_soon_threadsafe(scheduler._finished, work, future, foreground)
