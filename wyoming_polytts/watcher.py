"""Noticing what other servers sharing the data dir changed: clones, presets, the lexicon.

Several servers may run on one data dir (NFS, a Docker volume) behind a load balancer. Each
store can `reread` itself: a cheap `stat` of its files, and a read only of what moved (see
`fileio.SharedDocument` and `VoiceRegistry.reread`). A store that changed tells its
listeners, as a change made here does: the voice list (`describe`, the page), the clone
prompts kept ready, the voices Kokoro learns for presets.

Why a poll and not file notifications: inotify (and so `watchfiles`) hears only of changes
made through this machine's kernel, never those another NFS client makes; a `stat` every
half second costs nothing and works on every file system.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Optional, Protocol, Sequence

from .settings import REREAD_ON_MISS_SECONDS, REREAD_SECONDS, REREAD_VERIFY_SECONDS

_LOGGER = logging.getLogger(__name__)


class Rereads(Protocol):
    """A store that can take in what changed on disk."""

    def reread(self, force: bool = False) -> bool:
        """Whether it changed (`force`: read whatever the stamps say)."""
        ...


class DataWatcher:
    """Rereads `stores` every `interval` seconds in a thread of its own (each file read
    whatever its stamp says every `verify_seconds`), and at once when asked (`reread_now`, at
    most every `miss_seconds`)."""

    def __init__(
        self,
        stores: Sequence[Rereads],
        interval: float = REREAD_SECONDS,
        verify_seconds: float = REREAD_VERIFY_SECONDS,
        miss_seconds: float = REREAD_ON_MISS_SECONDS,
    ) -> None:
        self.stores = list(stores)
        self.interval = interval
        self.verify_seconds = verify_seconds
        self.miss_seconds = miss_seconds
        self._lock = threading.Lock()  # one reread at a time
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._last_miss = -float("inf")

    def start(self) -> None:
        """Poll in a daemon thread until `stop`."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="data-watcher", daemon=True)
        self._thread.start()
        _LOGGER.debug("Rereading the data dir's shared files every %g s", self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5 + self.interval)
            self._thread = None

    def poll(self, force: bool = False) -> bool:
        """Reread every store now; whether any changed."""
        with self._lock:
            return self._reread(force)

    def reread_now(self) -> bool:
        """Reread every store now, unless that was done less than `miss_seconds` ago or a
        reread is under way (waited for, at most a second); whether any changed. For a name
        that is not known yet: it may have been registered through another server."""
        now = time.monotonic()
        if now - self._last_miss < self.miss_seconds:
            return False
        self._last_miss = now
        if not self._lock.acquire(timeout=1.0):
            return False
        try:
            return self._reread(False)
        finally:
            self._lock.release()

    def _reread(self, force: bool) -> bool:
        changed = False
        for store in self.stores:
            try:
                changed |= store.reread(force)
            except Exception:  # noqa: BLE001 - the watcher outlives one bad read
                _LOGGER.exception("Could not reread %s", type(store).__name__)
        return changed

    def _run(self) -> None:
        verified = time.monotonic()
        while not self._stop.wait(self.interval):
            force = time.monotonic() - verified >= self.verify_seconds
            if force:
                verified = time.monotonic()
            self.poll(force)
