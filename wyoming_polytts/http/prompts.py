"""Voice prompts given with a request (a URL or base64 audio), kept ready for the next one.

Bounded in size and age, as a cache of user uploads must be: at most `max_entries` prompts,
each forgotten `max_age_seconds` after it was prepared (cachetools' `TTLCache`, least
recently used first when full).
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Callable, Optional

from cachetools import TTLCache

from ..engines.clones import PromptAudio

DEFAULT_ENTRIES = 32
DEFAULT_AGE_SECONDS = 24 * 3600.0


class PromptCache:
    """Prepared prompts by the source that gave them (`url+...` or `base64+...`)."""

    def __init__(
        self,
        max_entries: int = DEFAULT_ENTRIES,
        max_age_seconds: float = DEFAULT_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.max_age_seconds = max_age_seconds
        self._entries: TTLCache[str, PromptAudio] = TTLCache(
            max_entries, max_age_seconds, timer=clock
        )
        self._lock = threading.Lock()

    @staticmethod
    def key(source: str) -> str:
        return hashlib.sha256(source.encode()).hexdigest()

    def get(self, source: str) -> Optional[PromptAudio]:
        with self._lock:
            return self._entries.get(self.key(source))

    def put(self, source: str, prompt: PromptAudio) -> None:
        with self._lock:
            self._entries[self.key(source)] = prompt

    def __len__(self) -> int:
        with self._lock:
            self._entries.expire()
            return len(self._entries)

    def clear(self) -> int:
        """Forget every prompt; returns how many there were."""
        with self._lock:
            self._entries.expire()
            count = len(self._entries)
            self._entries.clear()
        return count
