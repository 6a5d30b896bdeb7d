"""Text work (splitting, normalization) off the event loop, on a small pool of its own.

The loop's default executor also runs slow jobs (decoding and checking recordings,
transcription, encoding): text work of other answers never waits behind them.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Callable, TypeVar

from .settings import TEXT_WORKERS

T = TypeVar("T")

_EXECUTOR = ThreadPoolExecutor(TEXT_WORKERS, thread_name_prefix="polytts-text")


async def off_loop(function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` on a text thread; a cancelled caller leaves the result unused."""
    return await asyncio.get_running_loop().run_in_executor(_EXECUTOR, partial(function, *args))
