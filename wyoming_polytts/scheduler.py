"""The one bounded worker pool that runs engine code off the event loop."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")


class Scheduler:
    """Runs blocking engine calls on `workers` threads, first come first served.

    Every request submits one sentence at a time, so clients take turns sentence by
    sentence. Cancelling the awaiting task drops a call that has not started yet; a call
    in progress finishes its sentence and its result is discarded.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="synth")

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """Run `function(*args)` in the pool and wait for its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, function, *args)

    def shutdown(self) -> None:
        """Stop taking work; queued calls are cancelled."""
        self._executor.shutdown(wait=False, cancel_futures=True)
