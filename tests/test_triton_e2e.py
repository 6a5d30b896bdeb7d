"""Kokoro on a real Triton Inference Server: the `tritonserver` bundled with `nvidia-pytriton`,
on the CPU with the python-backend repository that `wyoming-polytts triton-repository` writes.

The same text and voice give the same samples as the local engine; a Triton killed during an
answer ends it with an `error` (no hang), and the next answer after a restart works; a Triton
that is not there at start leaves the Kokoro voices not installed, with the reason, until it
answers. Skipped without `tritonclient` and `nvidia-pytriton` (the [triton] extra and
`script/setup`) unless POLYTTS_REQUIRE_TRITON=1 (as in CI), where that is a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import numpy as np
import pytest
from wyoming.tts import Synthesize, SynthesizeVoice

from wyoming_polytts.__main__ import main as polytts_main
from wyoming_polytts.engines.kokoro import KokoroEngine
from wyoming_polytts.engines.kokoro.split import split_model
from wyoming_polytts.engines.kokoro.stream import DecoderSpeed, WindowedSentence
from wyoming_polytts.engines.triton.bundled import Tritonserver, bundled_tritonserver
from wyoming_polytts.engines.triton.client import TritonServers
from wyoming_polytts.models import KokoroFiles, sha256_file

from .conftest import SETUP_DATA_DIR
from .helpers import RunningServer, collect, describe, free_port, samples, start_server

VOICE = "af_heart"
TEXTS = (
    "The front door is locked for the night.",
    "Today in Berlin, it will be mostly sunny with a high of twenty-one degrees and a light "
    "breeze from the north west.",
)
LONG_ANSWER = " ".join(
    [
        "Here is the weather for the coming week, day by day, with what to wear outside.",
        "On Monday it will be cloudy in the morning and sunny in the afternoon, with a high "
        "of eighteen degrees and a gentle breeze from the west.",
        "On Tuesday, expect rain from early morning until late in the evening, so take an "
        "umbrella and a warm coat if you go out.",
        "Wednesday brings sunshine again, with temperatures climbing to twenty-two degrees "
        "by the middle of the afternoon.",
        "Thursday and Friday stay dry and mild, and the weekend looks perfect for a long walk "
        "in the park or a picnic by the lake.",
    ]
)
FAST = (0.01, 0.008)  # a fixed decoder speed: the window plan does not depend on the machine
ERROR_SECONDS = 60.0  # an answer whose Triton died ends with an error within this


def _require() -> Path:
    dist = bundled_tritonserver()
    try:
        import tritonclient.grpc  # noqa: F401
    except ImportError:
        dist = None
    if dist is None:
        if os.environ.get("POLYTTS_REQUIRE_TRITON") == "1":
            pytest.fail("tritonclient and nvidia-pytriton are not installed (script/setup)")
        pytest.skip("needs tritonclient and nvidia-pytriton (the [triton] extra, script/setup)")
    return dist


def _parts_dir(files: KokoroFiles, folder: Path) -> Path:
    """A parts folder for the model: a copy of script/setup's data dir's (split, statistics
    fitted) where it has this model's, else split here."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{sha256_file(files.model)[:16]}-v1"
    made = SETUP_DATA_DIR / "kokoro" / "parts" / name
    if made.is_dir() and not (folder / name).exists():
        shutil.copytree(made, folder / name)
    return folder


@pytest.fixture(scope="module")
def triton(
    files: KokoroFiles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Tuple[Tritonserver, Path]]:
    """A tritonserver (not started) with the python-backend repository of the model's
    parts, and the parts folder (its `kokoro/parts` parent a data dir's)."""
    dist = _require()
    root = tmp_path_factory.mktemp("triton")
    parts = _parts_dir(files, root / "data" / "kokoro" / "parts")
    split = split_model(files.model, parts)
    repository = root / "repository"
    polytts_main(
        [
            "triton-repository",
            str(repository),
            "--backend",
            "python",
            "--threads",
            "2",
            "--data-dir",
            str(root / "data"),
            "--kokoro-model",
            str(files.model),
        ]
    )
    assert (repository / "kokoro_generator" / "config.pbtxt").is_file()
    assert split.generator.parent.parent == parts
    server = Tritonserver(dist, repository, root, free_port())
    try:
        yield server, parts
    finally:
        server.stop()


def _loaded(
    files: KokoroFiles, parts: Path, remote: Optional[TritonServers] = None
) -> KokoroEngine:
    """A loaded engine on `parts` at the fixed speed `FAST`, its parts run on `remote`
    (None: here)."""
    engine = KokoroEngine(
        files,
        threads=2,
        parts_dir=parts,
        decoder_speed=DecoderSpeed(*FAST, fixed=True),
        remote=remote,
    )
    engine.load()
    return engine


def _speak(engine: KokoroEngine, text: str) -> Tuple[np.ndarray, List[Tuple[int, int]]]:
    """The engine's samples for `text` and the windows of its sentences."""
    speech = engine.stream(text, VOICE, 1.0)
    audio, windows = [], []
    while not speech.finished:
        audio.append(speech.next_chunk())
        current = speech._current
        if isinstance(current, WindowedSentence) and current.finished:
            windows.extend(current.windows)
    return np.concatenate(audio), windows


def test_same_samples_as_the_local_engine(
    files: KokoroFiles, triton: Tuple[Tritonserver, Path]
) -> None:
    """The same parts on Triton and here: sample for sample the same audio, in windows and
    whole, and the per-call overhead of the remote generator."""
    server, parts = triton
    server.start()
    local, remote = _loaded(files, parts), _loaded(files, parts, TritonServers([server.url]))
    assert remote.streaming and remote.remote is not None
    assert remote.start_up_report()["progress"].startswith("speaking (streaming decoder on Triton")
    windowed = 0
    for text in (*TEXTS, TEXTS[1]):  # the second time, the voice is learnt: windows
        here, here_windows = _speak(local, text)
        there, there_windows = _speak(remote, text)
        assert there_windows == here_windows
        assert there.dtype == here.dtype == np.float32
        assert np.array_equal(there, here), f"max diff {np.max(np.abs(there - here))}"
        windowed += len(there_windows) > 1
    assert windowed >= 1, "no sentence was decoded in windows"

    decoder = remote._decoder
    assert decoder is not None
    rng = np.random.default_rng(0)
    style = rng.normal(0, 0.1, (1, 256)).astype(np.float32)
    timings = {}
    for frames in (1, 40):
        generator_input = rng.normal(0, 1, (1, 512, 2 * frames)).astype(np.float32)
        source = np.zeros((1, frames * 600, 1), np.float32)
        best = {}
        for name, engine in (("local", local), ("triton", remote)):
            engine_decoder = engine._decoder
            assert engine_decoder is not None
            fastest = float("inf")
            for _ in range(5):
                started = time.perf_counter()
                engine_decoder.generate(generator_input, style, source)
                fastest = min(fastest, time.perf_counter() - started)
            best[name] = fastest
        timings[frames] = best
    print(f"generator calls, fastest of 5 (s): {timings}")  # noqa: T201 - the figures asked for


def test_a_call_goes_on_on_another_server(
    files: KokoroFiles, triton: Tuple[Tritonserver, Path], tmp_path: Path
) -> None:
    """Two servers listed, the first killed during an answer: its calls are made on the
    other, and the answer is the local engine's, sample for sample."""
    server, parts = triton
    if not server.running:
        server.start()
    other = server.sibling(tmp_path / "other", free_port())
    other.start()
    try:
        local = _loaded(files, parts)
        remote = _loaded(files, parts, TritonServers([server.url, other.url]))
        here, _ = _speak(local, LONG_ANSWER)
        speech = remote.stream(LONG_ANSWER, VOICE, 1.0)
        there = [speech.next_chunk()]
        assert not speech.finished
        server.kill()  # the first listed, so far the one that answered (both idle)
        while not speech.finished:
            there.append(speech.next_chunk())
        assert np.array_equal(np.concatenate(there), here)
    finally:
        other.stop()
        server.start()  # as the module's other tests left it


def test_the_first_call_after_a_restart_reaches_the_server(
    triton: Tuple[Tritonserver, Path],
) -> None:
    """Calls fail while the only server is down; the first call once it is back reaches it,
    not refused for the reconnect backoff of a connection that another thread's client (each
    worker has its own) keeps trying."""
    server, _ = triton
    if not server.running:
        server.start()
    servers = TritonServers([server.url])

    def reached() -> bool:  # the model answers; its parts are not these (a made-up id)
        problem = servers.problem(["kokoro_front"], "not-these-parts") or ""
        return "other Kokoro parts" in problem

    with ThreadPoolExecutor(1) as other_worker:
        assert reached() and other_worker.submit(reached).result()
        for _ in range(3):
            server.kill()
            for _ in range(3):
                assert not other_worker.submit(reached).result()
                time.sleep(0.3)
            server.start()
            assert reached()


def _long_request() -> Synthesize:
    return Synthesize(text=LONG_ANSWER, voice=SynthesizeVoice(name=VOICE))


async def _kokoro_installed(running: RunningServer) -> Tuple[bool, str]:
    async with running.client() as client:
        info = await describe(client)
    voice = next(v for p in info.tts for v in p.voices if v.name == VOICE)
    return bool(voice.installed), voice.description or ""


async def _wait_installed(running: RunningServer, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        installed, _ = await _kokoro_installed(running)
        if installed:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"Kokoro never became installed:\n{running.log()[-4000:]}")


async def test_triton_down_at_start_killed_mid_answer_and_restarted(
    data_dir: Path, triton: Tuple[Tritonserver, Path], tmp_path: Path
) -> None:
    """A server started while Triton is down lists Kokoro's voices as not installed with
    the reason, then speaks once Triton answers; Triton killed during an answer: an `error`
    within `ERROR_SECONDS`; restarted: the next answer works."""
    server, parts = triton
    server.kill()
    served = tmp_path / "data"
    (served / "kokoro").mkdir(parents=True)
    for entry in data_dir.iterdir():
        if entry.name != "kokoro":
            (served / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    for entry in (data_dir / "kokoro").iterdir():
        if entry.name != "parts":  # earlier tests' servers may have split the model there
            (served / "kokoro" / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    shutil.copytree(parts, served / "kokoro" / "parts")
    running = start_server(
        served,
        tmp_path / "server.log",
        ["--no-download", "--no-zipvoice", "--no-transcriber", "--triton", server.url],
    )
    try:
        deadline = time.monotonic() + 30
        installed, description = await _kokoro_installed(running)
        while installed and time.monotonic() < deadline:  # the first check is under way
            await asyncio.sleep(0.2)
            installed, description = await _kokoro_installed(running)
        assert not installed
        assert "Triton is not ready" in description, description

        started = time.monotonic()
        server.start()
        await _wait_installed(running, 120)
        back = time.monotonic() - started

        # killed mid-answer: an error, no hang
        async with running.client() as client:
            await client.write_event(_long_request().event())
            while True:
                event = await asyncio.wait_for(client.read_event(), timeout=ERROR_SECONDS)
                assert event is not None
                if event.type == "audio-chunk":
                    break
            killed = time.monotonic()
            server.kill()
            answer = await asyncio.wait_for(collect(client, "error"), timeout=ERROR_SECONDS)
            to_error = time.monotonic() - killed
        assert "error" in answer.types()

        # restarted: the next answer works
        started = time.monotonic()
        server.start()
        restart = time.monotonic() - started
        async with running.client() as client:
            await client.write_event(
                Synthesize(text=TEXTS[1], voice=SynthesizeVoice(name=VOICE)).event()
            )
            answer = await asyncio.wait_for(collect(client, "audio-stop"), timeout=ERROR_SECONDS)
        assert "error" not in answer.types(), running.log()[-4000:]
        assert samples(answer.pcm()).size > 24000
        print(  # noqa: T201 - the figures asked for
            f"Triton up to Kokoro installed: {back:.1f} s; killed to error: {to_error:.2f} s; "
            f"restart: {restart:.1f} s"
        )
    finally:
        running.stop()
