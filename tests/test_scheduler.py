"""The shared worker pool: fair turns, a bounded queue, cancellation."""

from __future__ import annotations

import asyncio
import threading

import pytest

from wyoming_polytts.scheduler import Scheduler, SchedulerBusy


async def test_a_cancelled_call_leaves_the_queue() -> None:
    """Calls of clients that left do not count toward the limit (no spurious `busy`)."""
    scheduler = Scheduler(workers=1, max_queued=1)
    gate = threading.Event()
    try:
        running = asyncio.ensure_future(scheduler.run(gate.wait, 30, client="a"))
        waiting = asyncio.ensure_future(scheduler.run(str, "b", client="b"))
        await asyncio.sleep(0)  # both are in the scheduler now
        with pytest.raises(SchedulerBusy):
            await scheduler.run(str, "c", client="c")
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        queued = asyncio.ensure_future(scheduler.run(str, "d", client="d"))
        await asyncio.sleep(0)
        gate.set()
        assert await queued == "d"
        assert await running is True
    finally:
        gate.set()
        scheduler.shutdown()


async def test_clients_take_turns() -> None:
    scheduler = Scheduler(workers=1, max_queued=10)
    gate = threading.Event()
    order: list = []

    def work(name: str) -> None:
        order.append(name)

    try:
        first = asyncio.ensure_future(scheduler.run(gate.wait, 30, client="long"))
        await asyncio.sleep(0)
        calls = [
            asyncio.ensure_future(scheduler.run(work, f"long{n}", client="long")) for n in range(3)
        ]
        calls.append(asyncio.ensure_future(scheduler.run(work, "short", client="short")))
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(first, *calls)
    finally:
        scheduler.shutdown()
    assert order.index("short") <= 1  # not behind the whole long answer
