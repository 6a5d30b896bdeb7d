"""Fixtures: one server process with the embedded Kokoro model, shared by the socket tests."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pytest
from hypothesis import settings

from wyoming_polytts.engines.kokoro import KokoroEngine, npm_packs
from wyoming_polytts.models import KokoroFiles, resolve_kokoro

from .helpers import ADMIN_TOKEN, RunningServer, serve_for_tests

if TYPE_CHECKING:
    from wyoming_polytts.transcriber import Transcriber

# Where script/setup installed Kokoro's voice packs (script/run's data dir).
SETUP_DATA_DIR = Path(
    os.environ.get("POLYTTS_DATA_DIR", Path(__file__).resolve().parent.parent / "data")
)

# Property tests: a bounded run in CI; HYPOTHESIS_PROFILE=long for a long run by hand.
settings.register_profile("default", max_examples=300, deadline=None)
settings.register_profile("long", max_examples=100_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir shared by the session, so the embedded model is assembled once, with the
    voice packs that `script/setup` installed from npm (all 54 Kokoro voices)."""
    folder = tmp_path_factory.mktemp("data")
    installed = npm_packs.installed_voices(SETUP_DATA_DIR)
    assert installed is not None, f"no npm voice packs in {SETUP_DATA_DIR}: run script/setup"
    target = npm_packs.voices_folder(folder)
    target.parent.mkdir(parents=True)
    target.symlink_to(installed, target_is_directory=True)
    return folder


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    yield from serve_for_tests(
        data_dir, tmp_path_factory, ["--no-download", "--admin-token", ADMIN_TOKEN]
    )


@pytest.fixture(scope="session")
def whisper(data_dir: Path) -> Transcriber:
    """The embedded Whisper base model, loaded once (needs the [asr] extra)."""
    from wyoming_polytts.transcriber import Transcriber, embedded_whisper

    model = Transcriber(embedded_whisper(data_dir), threads=2)
    model.load()
    return model


@pytest.fixture(scope="module")
def files(data_dir: Path) -> KokoroFiles:
    """The embedded Kokoro model with the session's voice packs."""
    return resolve_kokoro(data_dir, download=False)


@pytest.fixture(scope="module")
def whole(files: KokoroFiles) -> KokoroEngine:
    """The unsplit model alone: the samples a whole decode gives."""
    engine = KokoroEngine(files, threads=2)
    engine.load()
    return engine
