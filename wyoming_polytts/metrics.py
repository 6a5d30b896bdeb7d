"""The server's own figures: Prometheus metrics (`GET /metrics`) and the last hour's history
that the admin page's status panel plots (`GET /api/status`).

One `Metrics` per server owns every metric, in a registry of its own (never the process's
global one, so several servers in one process keep apart), and the few calls the doors make:

- `answer(door, engine)` watches one answer from its request to its last audio: answers in
  progress, time to first audio, real-time factor (seconds from the request to the last audio
  per second of audio: under 1 the answer is made faster than it plays), and stalls (a chunk
  sent `STALL_GAP_SECONDS` or more after the audio sent before it finished playing, as
  `script/benchmark_load.py` counts them). Doors: `wyoming`, `http` (the /v1 speech routes),
  `preview` (the admin page's previews).
- `error(door, code, message)`: an error answered (a Wyoming `error` event, an HTTP 4xx/5xx
  JSON error), by its code.
- The scheduler reports each call's wait for a worker and each refusal as busy (`watch`).

A server's metrics are those of its one scheduler (`Metrics.of`): every door speaks through
that scheduler, so every door finds the same metrics there without further wiring.
"""

from __future__ import annotations

import math
import os
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, Iterator, List, Mapping, Optional

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric

from .scheduler import Scheduler
from .settings import (
    STALL_GAP_SECONDS,
    STATUS_HISTORY_SECONDS,
    STATUS_INTERVAL_SECONDS,
    STATUS_MAX_SAMPLES,
    STATUS_RECENT_ERRORS,
)

DOORS = ("wyoming", "http", "preview")
FIRST_AUDIO_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
RTF_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
Clock = Callable[[], float]
Readiness = Callable[[], Mapping[str, Mapping[str, Any]]]  # `Supervisor.status`'s shape


def _resident_bytes() -> Optional[int]:
    """The process's resident memory now (Linux), None where it cannot be read."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


@dataclass
class _Point:
    """One interval of the history: what happened in it, and the peaks of its load."""

    start: float  # wall clock (Unix seconds), a multiple of the interval
    answers: int = 0  # answers that sent their first audio in it
    first_audio: List[float] = field(default_factory=list)  # at most STATUS_MAX_SAMPLES
    first_audio_max: Optional[float] = None
    in_progress: int = 0  # the most answers in progress at once
    queued: int = 0  # the most calls waiting for a worker at once (seen at the doors' events)
    stalls: int = 0
    errors: int = 0
    busy: int = 0
    rss: Optional[int] = None  # resident bytes when the interval ended (or now)


class History:
    """The last `keep` seconds in points of `interval` seconds; bounded memory.

    Points are made as time passes, from the events that arrive and the reads (no task runs
    for it): an interval without an event is a point of its own, with the load it kept.
    """

    def __init__(
        self,
        interval: float = STATUS_INTERVAL_SECONDS,
        keep: float = STATUS_HISTORY_SECONDS,
        wall: Clock = time.time,
    ) -> None:
        self.interval = interval
        self._wall = wall
        self._points: Deque[_Point] = deque(maxlen=max(1, int(keep // interval)))
        self._load = (0, 0)  # in progress, queued: as the last event left them
        self._points.append(_Point(self._start_of(wall())))

    def _start_of(self, moment: float) -> float:
        return math.floor(moment / self.interval) * self.interval

    def current(self) -> _Point:
        """The point of this interval; the ones that passed since are closed first."""
        start = self._start_of(self._wall())
        last = self._points[-1]
        if last.start < start:
            last.rss = _resident_bytes()
            gap = int(round((start - last.start) / self.interval))
            skipped = min(gap - 1, self._points.maxlen or 0)
            in_progress, queued = self._load
            for index in range(skipped, 0, -1):  # idle intervals keep the load they had
                self._points.append(
                    _Point(start - index * self.interval, in_progress=in_progress, queued=queued)
                )
            self._points.append(_Point(start, in_progress=in_progress, queued=queued))
        return self._points[-1]

    def load(self, in_progress: int, queued: int) -> None:
        """The load now: the current point keeps its peaks."""
        point = self.current()
        self._load = (in_progress, queued)
        point.in_progress = max(point.in_progress, in_progress)
        point.queued = max(point.queued, queued)

    def first_audio(self, seconds: float) -> None:
        point = self.current()
        point.answers += 1
        if len(point.first_audio) < STATUS_MAX_SAMPLES:
            point.first_audio.append(seconds)
        point.first_audio_max = max(point.first_audio_max or 0.0, seconds)

    def columns(self) -> Dict[str, List[Any]]:
        """Every point, column by column (as a chart takes them), the current one last."""
        self.current().rss = _resident_bytes()
        points = list(self._points)
        return {
            "time": [point.start for point in points],
            "answers": [point.answers for point in points],
            "first_audio_p50": [_median(point.first_audio) for point in points],
            "first_audio_max": [point.first_audio_max for point in points],
            "in_progress": [point.in_progress for point in points],
            "queued": [point.queued for point in points],
            "stalls": [point.stalls for point in points],
            "errors": [point.errors for point in points],
            "busy": [point.busy for point in points],
            "rss_bytes": [point.rss for point in points],
        }


def _median(values: List[float]) -> Optional[float]:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


class _Readiness:
    """`polytts_ready{job}`: 1 when a start-up job (a model) is ready, read at each scrape."""

    def __init__(self) -> None:
        self.source: Readiness = dict

    def collect(self) -> Iterator[Metric]:
        ready = GaugeMetricFamily(
            "polytts_ready",
            "Whether a start-up job (kokoro, zipvoice, transcriber, ...) is ready: 1, else 0",
            labels=["job"],
        )
        for job, state in self.source().items():
            ready.add_metric([job], 1.0 if state.get("state") == "ready" else 0.0)
        yield ready

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("polytts_ready", "", labels=["job"])


class Metrics:
    """Every metric of one server, its history and its recent errors (see the module)."""

    _of: weakref.WeakKeyDictionary[Scheduler, Metrics] = weakref.WeakKeyDictionary()

    def __init__(self, clock: Clock = time.monotonic, wall: Clock = time.time) -> None:
        self.clock = clock
        self._wall = wall
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # process_resident_memory_bytes, CPU, ...
        self._readiness = _Readiness()
        self.registry.register(self._readiness)
        labels = ["door", "engine"]
        self.answers = Counter("polytts_answers", "Answers begun", labels, registry=self.registry)
        self.in_progress = Gauge(
            "polytts_answers_in_progress",
            "Answers being made or sent",
            ["door"],
            registry=self.registry,
        )
        self.first_audio = Histogram(
            "polytts_first_audio_seconds",
            "Seconds from a request (a streamed text: its first sentence) to its first audio",
            labels,
            buckets=FIRST_AUDIO_BUCKETS,
            registry=self.registry,
        )
        self.real_time_factor = Histogram(
            "polytts_real_time_factor",
            "Seconds from a request to its last audio, per second of audio (under 1: made "
            "faster than it plays)",
            labels,
            buckets=RTF_BUCKETS,
            registry=self.registry,
        )
        self.audio = Counter(
            "polytts_audio_seconds", "Seconds of audio sent", labels, registry=self.registry
        )
        self.stalls = Counter(
            "polytts_stalls",
            "Times a listener ran out of audio: a chunk sent 10 ms or more after the audio "
            "before it finished playing",
            labels,
            registry=self.registry,
        )
        self.stall_seconds = Counter(
            "polytts_stall_seconds",
            "Seconds listeners waited in stalls",
            labels,
            registry=self.registry,
        )
        self.errors = Counter(
            "polytts_errors",
            "Errors answered (Wyoming error events, HTTP 4xx/5xx), by door and code",
            ["door", "code"],
            registry=self.registry,
        )
        self.busy = Counter(
            "polytts_busy_refusals",
            "Requests refused as busy: the scheduler's queue was full",
            registry=self.registry,
        )
        self.queued = Gauge(
            "polytts_queued_calls", "Calls waiting for a worker", registry=self.registry
        )
        self.queue_wait = Histogram(
            "polytts_queue_wait_seconds",
            "Seconds a call of an answer waited for a worker",
            buckets=WAIT_BUCKETS,
            registry=self.registry,
        )
        self.history = History(wall=wall)
        self.recent_errors: Deque[Dict[str, Any]] = deque(maxlen=STATUS_RECENT_ERRORS)
        self._scheduler: Optional[Scheduler] = None
        self._answering = 0

    @classmethod
    def of(cls, scheduler: Scheduler) -> Metrics:
        """The metrics of the server that speaks through `scheduler` (made at first use)."""
        metrics = cls._of.get(scheduler)
        if metrics is None:
            metrics = cls._of[scheduler] = cls()
            metrics.watch(scheduler)
        return metrics

    def watch(self, scheduler: Scheduler) -> None:
        """Take the queue's length, waits and refusals from `scheduler`."""
        self._scheduler = scheduler
        self.queued.set_function(lambda: scheduler.queued)
        scheduler.on_wait = self._waited
        scheduler.on_busy = self._refused

    def follow_readiness(self, source: Readiness) -> None:
        """Where `polytts_ready` and the status read the start-up jobs' states."""
        self._readiness.source = source

    def exposition(self) -> bytes:
        """Every metric in Prometheus' text format."""
        return generate_latest(self.registry)

    # -- what the doors call ------------------------------------------------------------------

    def answer(
        self, door: str, engine: str, since: Optional[Callable[[], Optional[float]]] = None
    ) -> AnswerWatch:
        """Watch one answer from now (`since()`, when it gives a moment: from then)."""
        return AnswerWatch(self, door, engine, since)

    def error(self, door: str, code: str, message: str, status: Optional[int] = None) -> None:
        """An error was answered."""
        self.errors.labels(door, code).inc()
        self.history.current().errors += 1
        entry: Dict[str, Any] = {"at": self._wall(), "door": door, "code": code, "message": message}
        if status is not None:
            entry["status"] = status
        self.recent_errors.append(entry)

    def _waited(self, seconds: float) -> None:
        self.queue_wait.observe(seconds)
        self._sample()

    def _refused(self) -> None:
        self.busy.inc()
        self.history.current().busy += 1

    def _sample(self) -> None:
        queued = self._scheduler.queued if self._scheduler is not None else 0
        self.history.load(self._answering, queued)

    def _began(self, door: str) -> None:
        self._answering += 1
        self.in_progress.labels(door).inc()
        self._sample()

    def _ended(self, door: str) -> None:
        self._answering -= 1
        self.in_progress.labels(door).dec()
        self._sample()

    # -- the status panel ---------------------------------------------------------------------

    def status(self, private: bool) -> Dict[str, Any]:
        """The history, the load now, readiness and recent errors (their messages, which may
        quote a request's text, only when `private`)."""
        errors = [
            entry if private else {k: v for k, v in entry.items() if k != "message"}
            for entry in reversed(self.recent_errors)
        ]
        return {
            "interval": self.history.interval,
            "history": self.history.columns(),
            "now": {
                "in_progress": self._answering,
                "queued": self._scheduler.queued if self._scheduler is not None else 0,
                "rss_bytes": _resident_bytes(),
            },
            "ready": dict(self._readiness.source()),
            "errors": errors,
        }


class AnswerWatch:
    """One answer, from its request to its last audio (see `Metrics.answer`): call `sent`
    as each stretch of audio leaves, and `close` at the end (or use it as a context)."""

    def __init__(
        self,
        metrics: Metrics,
        door: str,
        engine: str,
        since: Optional[Callable[[], Optional[float]]] = None,
    ) -> None:
        self._metrics = metrics
        self._door = door
        self._labels = (door, engine)
        self._since = since
        self._started = metrics.clock()
        self._last: Optional[float] = None
        self._audio = 0.0
        self._played_until: Optional[float] = None  # when what was sent finishes playing
        self._closed = False
        metrics.answers.labels(*self._labels).inc()
        metrics._began(door)

    def sent(self, seconds: float) -> None:
        """Audio of `seconds` is being sent now."""
        if seconds <= 0:
            return
        metrics = self._metrics
        now = metrics.clock()
        if self._played_until is None:
            given = self._since() if self._since is not None else None
            if given is not None:
                self._started = given
            waited = max(0.0, now - self._started)
            metrics.first_audio.labels(*self._labels).observe(waited)
            metrics.history.first_audio(waited)
            metrics._sample()
            self._played_until = now
        elif now - self._played_until >= STALL_GAP_SECONDS:
            metrics.stalls.labels(*self._labels).inc()
            metrics.stall_seconds.labels(*self._labels).inc(now - self._played_until)
            metrics.history.current().stalls += 1
            self._played_until = now
        self._played_until += seconds
        self._audio += seconds
        self._last = now

    def close(self) -> None:
        """The answer ended (whole, cut off or failed)."""
        if self._closed:
            return
        self._closed = True
        metrics = self._metrics
        if self._audio > 0 and self._last is not None:
            metrics.audio.labels(*self._labels).inc(self._audio)
            rtf = max(0.0, self._last - self._started) / self._audio
            metrics.real_time_factor.labels(*self._labels).observe(rtf)
        metrics._ended(self._door)

    def __enter__(self) -> AnswerWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
