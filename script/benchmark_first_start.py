"""A first start on an empty data dir: how soon the server speaks, against the raw model.

Starts `python -m wyoming_polytts` on a fresh data dir as `script/setup` leaves it (the voice
packs it installed from npm, taken from `--data-dir`; the embedded model is assembled into
it), asks a short sentence over Wyoming as soon as `describe` is answered, and times its first
audio; asks again while the statistics map is being fitted (`/api/health` says `fitting`),
and once the streaming decoder is prepared. The
raw unsplit model's whole-sentence time for that sentence (one `InferenceSession.run`, the
server's threads, after one warm-up run) is measured before the server starts and after it
stops. Prints the figures as JSON, times from the launch in seconds.

    .venv/bin/python script/benchmark_first_start.py [--text TEXT] [--threads N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, Tuple

import aiohttp
import numpy as np
from wyoming.tts import Synthesize, SynthesizeVoice

from wyoming_polytts.engines.kokoro import KokoroEngine, npm_packs
from wyoming_polytts.launch import RunningServer, start_server
from wyoming_polytts.models import resolve_kokoro

TEXT = "Okay, the kitchen lights are on."
VOICE = "af_heart"  # the English default
RAW_RUNS = 3
HEALTH_POLL_SECONDS = 0.5
PREPARED_TIMEOUT_SECONDS = 900.0
_LOG_TIME = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*?(ready to speak|Kokoro prepared)"
)
_LOGGER = logging.getLogger("benchmark_first_start")


def fresh_data_dir(folder: Path, installed: Path) -> Path:
    """A data dir holding nothing but the voice packs installed in `installed` (if any)."""
    voices = npm_packs.installed_voices(installed)
    if voices is not None:
        target = npm_packs.voices_folder(folder)
        target.parent.mkdir(parents=True)
        target.symlink_to(voices.resolve(), target_is_directory=True)
    return folder


def raw_whole_seconds(text: str, voice: str, threads: int, installed: Path) -> List[float]:
    """One `InferenceSession.run` of the unsplit model for `text`, `RAW_RUNS` times."""
    import onnxruntime

    with tempfile.TemporaryDirectory() as folder:
        files = resolve_kokoro(fresh_data_dir(Path(folder), installed), download=False)
        engine = KokoroEngine(files, threads=threads)
        phonemes = engine._phonemes(text, "en-US")
        tokens = [engine._vocab[symbol] for symbol in phonemes if symbol in engine._vocab]
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(
            str(files.model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        feeds = {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": engine._pack(voice)[len(tokens) - 1].reshape(1, -1),
            "speed": np.array([1.0], dtype=np.float32),
        }
        session.run(None, feeds)  # onnxruntime's first run
        seconds = []
        for _ in range(RAW_RUNS):
            started = time.perf_counter()
            session.run(None, feeds)
            seconds.append(time.perf_counter() - started)
        return seconds


async def first_audio(server: RunningServer, text: str, voice: str) -> Tuple[float, float]:
    """Seconds to the first audio chunk and to `audio-stop` of one `synthesize`."""
    async with server.client() as client:
        started = time.perf_counter()
        await client.write_event(Synthesize(text=text, voice=SynthesizeVoice(name=voice)).event())
        first: Optional[float] = None
        while True:
            event = await client.read_event()
            if event is None or event.type == "error":
                raise RuntimeError(f"no audio: {event}")
            if event.type == "audio-chunk" and first is None:
                first = time.perf_counter() - started
            if event.type == "audio-stop":
                assert first is not None
                return first, time.perf_counter() - started


async def follow_health(
    server: RunningServer, launched: float, during_fit: Callable[[], Awaitable[None]]
) -> List[Dict[str, Any]]:
    """The Kokoro job's reports as they change, until it is no longer starting; `during_fit`
    is awaited once the statistics fit has begun."""
    seen: List[Dict[str, Any]] = []
    asked = False
    deadline = time.monotonic() + PREPARED_TIMEOUT_SECONDS
    async with aiohttp.ClientSession(str(server.http_url)) as http:
        while time.monotonic() < deadline:
            async with http.get("/api/health") as response:
                job = (await response.json())["jobs"].get("kokoro", {})
            if not seen or {**seen[-1], "at_s": None} != {**job, "at_s": None}:
                seen.append({**job, "at_s": round(time.monotonic() - launched, 1)})
            if job.get("state") not in (None, "starting"):
                return seen
            if not asked and "fitting 2/" in str(job.get("progress")):
                asked = True
                await during_fit()
            await asyncio.sleep(HEALTH_POLL_SECONDS)
    raise RuntimeError("the streaming decoder was never prepared")


def logged_at(log: str, launched_wall: float) -> Dict[str, float]:
    """Seconds from the launch to "ready to speak" and "Kokoro prepared" in the log."""
    found = {}
    for line in log.splitlines():
        match = _LOG_TIME.match(line)
        if match and match.group(2) not in found:
            stamp = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            found[match.group(2)] = round(stamp - launched_wall, 2)
    return found


async def measure(server: RunningServer, text: str, voice: str, launched: float) -> dict:
    first, total = await first_audio(server, text, voice)
    during: List[float] = []

    async def ask() -> None:
        during.extend(await first_audio(server, text, voice))

    health = await follow_health(server, launched, ask)
    prepared_first, prepared_total = await first_audio(server, text, voice)
    return {
        "first_request": {"first_audio_s": round(first, 3), "total_s": round(total, 3)},
        "request_during_fit": {
            "first_audio_s": round(during[0], 3),
            "total_s": round(during[1], 3),
        },
        "health": health,
        "prepared_request": {
            "first_audio_s": round(prepared_first, 3),
            "total_s": round(prepared_total, 3),
        },
    }


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", default=TEXT)
    parser.add_argument("--voice", default=VOICE)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--data-dir", type=Path, default=Path("data"), help="where script/setup put the voices"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    before = raw_whole_seconds(args.text, args.voice, args.threads, args.data_dir)
    with tempfile.TemporaryDirectory() as folder:
        data_dir = fresh_data_dir(Path(folder) / "data", args.data_dir)
        launched, launched_wall = time.monotonic(), time.time()
        server = start_server(
            data_dir,
            Path(folder) / "server.log",
            ["--no-download", "--no-zipvoice", "--no-transcriber", "--threads", str(args.threads)],
        )
        described = time.monotonic() - launched
        try:
            measured = asyncio.run(measure(server, args.text, args.voice, launched))
            log = server.log()
        finally:
            server.stop()
    after = raw_whole_seconds(args.text, args.voice, args.threads, args.data_dir)
    raw = statistics.median(before + after)
    first = measured["first_request"]["first_audio_s"]
    result = {
        "text": args.text,
        "threads": args.threads,
        "describe_answered_s": round(described, 2),
        **measured,
        "logged_s": logged_at(log, launched_wall),
        "raw_whole_s": {"before": before, "after": after, "median": round(raw, 3)},
        "first_audio_over_raw": round(first / raw, 2),
        "during_fit_over_raw": round(measured["request_during_fit"]["first_audio_s"] / raw, 2),
        "load_average": os.getloadavg(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
