"""One supervisor for the work that runs after the port opens (model loading, downloads).

Each job has a name and a state: `starting`, `ready`, `unavailable` (it ended without what
it prepares, e.g. no model offline; the job returns why) or `failed`. A failure is logged once
with its cause and kept, so `describe` and `/api/health` can say why something does not work,
and a job's `on_failure` callback can mark what depends on it (e.g. clones not installed). A
job's `report` adds its own fields (e.g. how far a model's preparation is) to its state.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, Optional

_LOGGER = logging.getLogger(__name__)

STARTING, READY, UNAVAILABLE, FAILED = "starting", "ready", "unavailable", "failed"


@dataclass
class JobState:
    """Where one background job stands; `detail` says why it failed."""

    state: str = STARTING
    detail: str = ""

    def to_dict(self) -> Dict[str, str]:
        if self.detail:
            return {"state": self.state, "detail": self.detail}
        return {"state": self.state}


class Supervisor:
    """Starts named background jobs and keeps what became of them."""

    def __init__(self) -> None:
        self.jobs: Dict[str, JobState] = {}
        self._tasks: Dict[str, asyncio.Task[Any]] = {}
        self._reports: Dict[str, Callable[[], Dict[str, object]]] = {}

    def start(
        self,
        name: str,
        work: Awaitable[Any],
        on_failure: Optional[Callable[[str], None]] = None,
        report: Optional[Callable[[], Dict[str, object]]] = None,
    ) -> None:
        """Run `work` in the background as job `name`; `report()`'s fields join its state."""
        self.jobs[name] = JobState()
        if report is not None:
            self._reports[name] = report
        self._tasks[name] = asyncio.create_task(self._watch(name, work, on_failure), name=name)

    async def _watch(
        self, name: str, work: Awaitable[Any], on_failure: Optional[Callable[[str], None]]
    ) -> None:
        try:
            outcome = await work
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - every failure is kept and shown, none lost
            reason = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
            _LOGGER.error("Background job %r failed: %s", name, reason, exc_info=err)
            self.jobs[name] = JobState(FAILED, reason)
            if on_failure is not None:
                on_failure(reason)
            return
        if isinstance(outcome, str) and outcome:
            self.jobs[name] = JobState(UNAVAILABLE, outcome)
        else:
            self.jobs[name] = JobState(READY)

    def failures(self) -> Dict[str, str]:
        """Failed jobs and why."""
        return {name: job.detail for name, job in self.jobs.items() if job.state == FAILED}

    def status(self) -> Dict[str, Dict[str, object]]:
        """Every job's state and report, for `/api/health`."""
        status: Dict[str, Dict[str, object]] = {}
        for name, job in self.jobs.items():
            report = self._reports.get(name)
            status[name] = {**(report() if report else {}), **job.to_dict()}
        return status

    async def wait(self) -> None:
        """Until every job has ended (for tests and orderly shutdown)."""
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def stop(self) -> None:
        """Cancel what still runs."""
        for task in self._tasks.values():
            task.cancel()
        await self.wait()
