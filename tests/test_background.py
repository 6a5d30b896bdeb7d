"""Background start-up work: failures are kept, logged and shown, never lost."""

from __future__ import annotations

import asyncio
import tarfile
from functools import partial
from http.client import IncompleteRead
from pathlib import Path

import pytest

from wyoming_polytts import __main__ as app
from wyoming_polytts.background import Supervisor
from wyoming_polytts.engines.zipvoice import LANGUAGES
from wyoming_polytts.registry import VoiceRegistry
from wyoming_polytts.scheduler import Scheduler
from wyoming_polytts.settings import parse_settings
from wyoming_polytts.voices import VoiceCatalog

from .helpers import encode, voice_like


async def test_each_job_says_how_it_ended() -> None:
    jobs = Supervisor()
    seen: list = []

    async def download() -> None:
        raise IncompleteRead(b"1234", 100)

    async def offline() -> str:
        return "no model offline"

    jobs.start("zipvoice", download(), on_failure=seen.append)
    jobs.start("kokoro", asyncio.sleep(0))
    jobs.start("transcriber", offline())
    await jobs.wait()
    status = jobs.status()
    assert status["kokoro"] == {"state": "ready"}
    assert status["transcriber"] == {"state": "unavailable", "detail": "no model offline"}
    assert status["zipvoice"]["state"] == "failed"
    assert "IncompleteRead" in status["zipvoice"]["detail"]
    assert seen == [jobs.failures()["zipvoice"]]


async def test_a_job_adds_its_report_to_its_state() -> None:
    jobs = Supervisor()
    report = {"speaking": True, "progress": "fitting 3/12"}
    prepared = asyncio.Event()
    jobs.start("kokoro", prepared.wait(), report=lambda: dict(report))
    assert jobs.status()["kokoro"] == {**report, "state": "starting"}
    report["progress"] = "streaming decoder ready"
    prepared.set()
    await jobs.wait()
    assert jobs.status()["kokoro"] == {**report, "state": "ready"}


async def test_clones_say_why_their_model_could_not_be_prepared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A download that breaks leaves clones 'not installed' with the cause, not 'being prepared'."""
    settings = parse_settings(["--data-dir", str(tmp_path)])
    registry = VoiceRegistry(tmp_path / "voices", LANGUAGES)
    registry.load()
    registry.register("grandma", "Hello world.", "en-US", encode(voice_like(2.0)), "test")
    clones = app._zipvoice(settings, registry)
    catalog = VoiceCatalog([clones])
    assert "being prepared" in catalog.info().tts[0].voices[0].description

    def broken_download(*args: object, **kwargs: object) -> None:
        raise tarfile.ReadError("unexpected end of data")

    monkeypatch.setattr(app, "resolve_zipvoice", broken_download)
    scheduler = Scheduler(workers=1)
    jobs = Supervisor()
    try:
        jobs.start(
            "zipvoice",
            app._prepare_clones(settings, clones, scheduler, catalog),
            on_failure=partial(app._clones_failed, catalog, clones),
        )
        await jobs.wait()
    finally:
        scheduler.shutdown()
    [voice] = catalog.info().tts[0].voices
    assert voice.installed is False
    assert "unexpected end of data" in (voice.description or "")
    assert "being prepared" not in (voice.description or "")
    assert "unexpected end of data" in jobs.failures()["zipvoice"]


async def test_clones_without_a_model_are_unavailable_not_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = parse_settings(["--data-dir", str(tmp_path), "--no-download"])
    registry = VoiceRegistry(tmp_path / "voices", LANGUAGES)
    registry.load()
    clones = app._zipvoice(settings, registry)
    monkeypatch.setattr(app, "resolve_zipvoice", lambda *args, **kwargs: None)
    scheduler = Scheduler(workers=1)
    jobs = Supervisor()
    try:
        jobs.start(
            "zipvoice", app._prepare_clones(settings, clones, scheduler, VoiceCatalog([clones]))
        )
        await jobs.wait()
    finally:
        scheduler.shutdown()
    assert jobs.status()["zipvoice"]["state"] == "unavailable"
    assert "no ZipVoice model" in jobs.status()["zipvoice"]["detail"]
