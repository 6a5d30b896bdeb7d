"""Learning voices in the background, so that each voice streams from its first answer.

The Kokoro decoder streams a voice well once it has learnt the voice (its statistics offset,
kept on disk). Which voices to learn: the default voice, every preset's, the voices spoken
lately, a preset's when it is saved, and a voice spoken before it was learnt. Each step (one
sentence) is one call of the scheduler's `BACKGROUND` client, which runs only when no answer
runs or waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import OrderedDict
from typing import Iterable, List, Optional

from .engines.base import LearnsVoices
from .presets import PresetStore
from .scheduler import BACKGROUND, Scheduler
from .settings import MAX_LEARN_STEPS, MAX_VOICES_TO_LEARN

_LOGGER = logging.getLogger(__name__)


class VoiceLearning:
    """Voices waiting to be learnt by `engine`, and the task that learns them.

    `want` may be called from any thread once `attach` has given the event loop; the task
    runs while voices wait and ends when none does.
    """

    def __init__(self, scheduler: Scheduler, engine: LearnsVoices) -> None:
        self._scheduler = scheduler
        self._engine = engine
        self._waiting: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._task: Optional[asyncio.Task[None]] = None
        self.learnt: List[str] = []  # voices learnt, in order (for tests and logs)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start learning what is wanted, in `loop` (once the engine is loaded)."""
        self._loop = loop
        self._engine.on_unlearnt = self.want_voice
        loop.call_soon_threadsafe(self._start)

    def follow(self, presets: PresetStore) -> None:
        """Learn every preset's voice, now and whenever a preset is saved."""

        def learn_presets() -> None:
            self.want(preset.voice for preset in presets.list())

        presets.on_change(learn_presets)
        learn_presets()

    def want_voice(self, voice: str) -> None:
        """Learn `voice` (any thread)."""
        self.want([voice])

    def want(self, voices: Iterable[str]) -> None:
        """Learn `voices` (names or blend specs) when the workers are idle (any thread)."""
        with self._lock:
            for voice in voices:
                self._waiting[voice] = None
            while len(self._waiting) > MAX_VOICES_TO_LEARN:
                self._waiting.popitem(last=False)
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop: the server is stopping
                self._loop.call_soon_threadsafe(self._start)

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._learn_all())

    async def wait(self) -> None:
        """Until the voices wanted so far are learnt (or failed)."""
        await asyncio.sleep(0)  # a `want` from this loop starts the task now
        while self._task is not None and not self._task.done():
            await asyncio.gather(self._task, return_exceptions=True)
            await asyncio.sleep(0)

    async def stop(self) -> None:
        """Cancel the learning in progress (the server is stopping)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _next(self) -> Optional[str]:
        with self._lock:
            return self._waiting.popitem(last=False)[0] if self._waiting else None

    async def _learn_all(self) -> None:
        while (voice := self._next()) is not None:
            await self._learn(voice)
        _LOGGER.info("Voices learnt: none waits")

    async def _learn(self, voice: str) -> None:
        steps = 0
        try:
            while steps < MAX_LEARN_STEPS and await self._scheduler.run(
                self._engine.learn_voice, voice, client=BACKGROUND, admitted=True
            ):
                steps += 1
        except Exception as error:  # noqa: BLE001 - one voice failing stops no other
            _LOGGER.warning("Could not learn voice %s: %s", voice, error)
            return
        if steps:
            _LOGGER.info("Learnt voice %s in the background", voice)
            self.learnt.append(voice)
