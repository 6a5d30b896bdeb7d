"""The shared worker pool: earliest deadline first, fair turns, a bounded queue, cancellation."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from typing import List

import pytest

from wyoming_polytts.preemption import current_turn
from wyoming_polytts.scheduler import BACKGROUND, Scheduler, SchedulerBusy


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


async def test_a_call_without_a_client_runs() -> None:
    """The start-up's warm-up names no client (None): it runs like any other call, also
    with background work waiting."""
    scheduler = Scheduler(workers=1, idle_seconds=0)
    try:
        assert await asyncio.wait_for(scheduler.run(str, "warm"), 10) == "warm"
        background = asyncio.ensure_future(scheduler.run(str, "learn", client=BACKGROUND))
        assert await asyncio.wait_for(scheduler.run(str, "answer"), 10) == "answer"
        assert await asyncio.wait_for(background, 10) == "learn"
    finally:
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


async def test_background_work_waits_for_every_queued_call() -> None:
    """A background call queued first still runs after the answers' calls queued behind it."""
    scheduler = Scheduler(workers=1, max_queued=10, idle_seconds=0)
    gate = threading.Event()
    order: list = []
    try:
        first = asyncio.ensure_future(scheduler.run(gate.wait, 30, client="a"))
        await asyncio.sleep(0)
        background = asyncio.ensure_future(
            scheduler.run(order.append, "learn", client=BACKGROUND, admitted=True)
        )
        answers = [
            asyncio.ensure_future(scheduler.run(order.append, name, client=name))
            for name in ("b", "c")
        ]
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(first, background, *answers)
    finally:
        scheduler.shutdown()
    assert order == ["b", "c", "learn"]


async def test_background_work_waits_out_the_gaps_between_an_answers_calls() -> None:
    """An answer queues its next call only after its last one ended: the background call
    waits until the pool has been idle for `idle_seconds`, so it never comes in between."""
    scheduler = Scheduler(workers=1, max_queued=10, idle_seconds=0.5)
    order: list = []
    try:
        await scheduler.run(order.append, "window0", client="answer")
        background = asyncio.ensure_future(
            scheduler.run(order.append, "learn", client=BACKGROUND, admitted=True)
        )
        await asyncio.sleep(0)
        for step in range(1, 5):
            await scheduler.run(order.append, f"window{step}", client="answer")
        await background
    finally:
        scheduler.shutdown()
    assert order == [f"window{step}" for step in range(5)] + ["learn"]


async def test_background_work_runs_when_the_pool_is_idle() -> None:
    scheduler = Scheduler(workers=1, max_queued=10, idle_seconds=0.01)
    try:
        await scheduler.run(str, "answer", client="a")
        assert await scheduler.run(str, "learnt", client=BACKGROUND, admitted=True) == "learnt"
    finally:
        scheduler.shutdown()


async def test_a_call_due_about_as_soon_waits_its_turn() -> None:
    """Within the slack, nothing is overtaken: the earliest deadline goes next."""
    scheduler = Scheduler(workers=1, preempt_slack=1.0)
    gate = threading.Event()
    order: List[str] = []
    now = time.monotonic()
    try:
        first = asyncio.ensure_future(scheduler.run(gate.wait, 30, client="a", deadline=now + 0.5))
        await asyncio.sleep(0.05)
        calls = [
            asyncio.ensure_future(scheduler.run(order.append, name, client=name, deadline=due))
            for name, due in (("c", now + 0.3), ("b", now + 0.2), ("d", math.inf))
        ]
        await asyncio.sleep(0.05)
        assert order == [] and scheduler.preempted == 0
        gate.set()
        await asyncio.gather(first, *calls)
    finally:
        gate.set()
        scheduler.shutdown()
    assert order == ["b", "c", "d"]


async def test_a_call_far_behind_its_listener_overtakes_a_call_in_progress() -> None:
    """An answer's opening call due much sooner than the one running starts beside it at
    once (on code that cannot be aborted, both go on); a later call of an answer, however
    soon due, waits for a worker."""
    scheduler = Scheduler(workers=1, preempt_slack=1.0)
    gate = threading.Event()
    try:
        ahead = asyncio.ensure_future(
            scheduler.run(gate.wait, 30, client="a", deadline=time.monotonic() + 5)
        )
        await asyncio.sleep(0.05)
        later = asyncio.ensure_future(
            scheduler.run(str, "later", client="c", deadline=time.monotonic())
        )
        await asyncio.sleep(0.05)
        assert not later.done()  # an answer's later call waits its turn
        urgent = scheduler.run(str, "urgent", client="b", deadline=time.monotonic(), opening=True)
        assert await asyncio.wait_for(urgent, 10) == "urgent"
        assert not ahead.done() and not later.done() and scheduler.preempted == 1
        gate.set()
        assert await ahead is True
        assert await later == "later"
    finally:
        gate.set()
        scheduler.shutdown()


async def test_background_work_is_overtaken_by_any_answer() -> None:
    """Any call of an answer, opening or not, overtakes a background call in progress."""
    scheduler = Scheduler(workers=1, idle_seconds=0)
    gate = threading.Event()
    try:
        learning = asyncio.ensure_future(
            scheduler.run(gate.wait, 30, client=BACKGROUND, admitted=True)
        )
        await asyncio.sleep(0.05)
        assert await asyncio.wait_for(scheduler.run(str, "answer", client="a"), 10) == "answer"
        gate.set()
        assert await learning is True
    finally:
        gate.set()
        scheduler.shutdown()


async def test_an_answer_that_overtook_goes_on_overtaking_while_far_behind() -> None:
    """After its opening call overtook a long answer's call, the short answer's next calls do
    too (else they would wait behind that call, started again); no other answer's do."""
    scheduler = Scheduler(workers=1, preempt_slack=0.5)
    gate = threading.Event()
    now = time.monotonic()
    try:
        long = asyncio.ensure_future(scheduler.run(gate.wait, 30, client="long", deadline=now + 5))
        await asyncio.sleep(0.05)
        short = dict(client="short", deadline=now)
        assert await asyncio.wait_for(scheduler.run(str, "1", **short, opening=True), 10) == "1"
        assert await asyncio.wait_for(scheduler.run(str, "2", **short), 10) == "2"
        other = asyncio.ensure_future(scheduler.run(str, "x", client="other", deadline=now))
        await asyncio.sleep(0.05)
        assert not other.done() and scheduler.preempted == 2
        scheduler.answer_ended("short")
        late = asyncio.ensure_future(scheduler.run(str, "3", client="short", deadline=now))
        await asyncio.sleep(0.05)
        assert not late.done()  # its answer ended: a new one opens again
        gate.set()
        assert await long is True and await other == "x" and await late == "3"
    finally:
        gate.set()
        scheduler.shutdown()


async def test_an_answer_that_overtakes_background_work_still_shares_with_the_others() -> None:
    """Overtaking another answer's call puts an answer ahead of all (it shares the workers
    with none); overtaking background work does not: it shares with the answers beside it."""
    scheduler = Scheduler(workers=1, idle_seconds=0)
    gate = threading.Event()

    def share() -> int:
        turn = current_turn()
        assert turn is not None
        return turn.sharing

    try:
        assert await scheduler.run(str, "b", client="b") == "b"  # b's next call comes soon
        learning = asyncio.ensure_future(
            scheduler.run(gate.wait, 30, client=BACKGROUND, admitted=True)
        )
        await asyncio.sleep(0.05)
        assert await asyncio.wait_for(scheduler.run(share, client="a", opening=True), 10) == 2
        assert scheduler.preempted == 1
        gate.set()
        assert await learning is True
    finally:
        gate.set()
        scheduler.shutdown()


async def test_with_a_free_worker_a_call_due_much_sooner_still_has_the_later_give_way() -> None:
    """Two workers, one busy with a call due much later: an answer's opening call starts on
    the free worker, and the later call gives way while it runs (two runs at once would each
    take twice as long); calls due about as soon run side by side."""
    scheduler = Scheduler(workers=2, preempt_slack=1.0)
    gate = threading.Event()
    now = time.monotonic()

    def paused() -> int:  # how many times the call it runs in was asked to give way
        turn = current_turn()
        assert turn is not None
        return turn.preemptions

    try:
        long = asyncio.ensure_future(scheduler.run(gate.wait, 30, client="long", deadline=now + 5))
        await asyncio.sleep(0.05)
        opened = scheduler.run(paused, client="short", deadline=now, opening=True)
        assert await asyncio.wait_for(opened, 10) == 0
        assert scheduler.preempted == 1 and not long.done()
        beside = scheduler.run(paused, client="near", deadline=now + 4.5, opening=True)
        assert await asyncio.wait_for(beside, 10) == 0
        assert scheduler.preempted == 1  # within the slack: side by side, nothing gives way
        gate.set()
        assert await long is True
    finally:
        gate.set()
        scheduler.shutdown()


async def test_every_call_due_much_later_gives_way() -> None:
    """Both workers busy with calls due much later (an answer's window and its next
    sentence's opening): an opening call due now has both give way, so it runs alone."""
    scheduler = Scheduler(workers=2, preempt_slack=1.0)
    gate = threading.Event()
    now = time.monotonic()

    def alone() -> bool:
        turn = current_turn()
        return turn is not None and turn.sharing == 1

    try:
        busy = [
            asyncio.ensure_future(scheduler.run(gate.wait, 30, client="long", deadline=now + 5))
            for _ in range(2)
        ]
        await asyncio.sleep(0.05)
        opened = scheduler.run(alone, client="short", deadline=now, opening=True)
        assert await asyncio.wait_for(opened, 10) is True
        assert scheduler.preempted == 2 and not any(call.done() for call in busy)
        gate.set()
        assert await asyncio.gather(*busy) == [True, True]
    finally:
        gate.set()
        scheduler.shutdown()
