"""First audio of voices other than the default, right after a restart.

- **After a restart**: a server is started on a data dir with a copy of the model files of
  `--data-dir` (parts, statistics map; nothing learnt about any voice); a preset is saved,
  every voice below speaks two sentences, the background learns and checks them, and the
  server is stopped. Then, `--rounds` times, a server is
  started again and, 3 s after it says it is ready, each voice speaks one short answer (in
  a rotating order) the way Home Assistant asks (`synthesize-start`, one chunk,
  `synthesize`, `synthesize-stop`): its first audio against the default voice's.

A new install's first answer: `script/benchmark_first_start.py`.

    cd script && ../.venv/bin/python benchmark_voices.py --data-dir ../data -- --no-zipvoice
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import aiohttp
from benchmark import request, wait_until_ready

from wyoming_polytts.launch import RunningServer, start_server

_LOGGER = logging.getLogger("benchmark")

ADMIN_TOKEN = "benchmark-admin-token"
ENGLISH = "The living room lights are now off."
JAPANESE = "居間の電気を消しました。"  # "The living room lights are off", as long spoken
PRESET_NAME = "evening"
PRESET = {"name": PRESET_NAME, "voice": "af_bella(2)+af_sky(1)", "speed": 0.9}
# (label, voice, text): the default voice first; every ratio is against it.
VOICES: Tuple[Tuple[str, str, str], ...] = (
    ("default", "af_heart", ENGLISH),
    ("preset", PRESET_NAME, ENGLISH),
    ("blend", "af_nicole(1)+af_sarah(1)", ENGLISH),
    # A woman's and a man's voice: its windows fall below PESQ 3.9 (3.66), so the check has
    # it decoded whole.
    ("blend of genders", "af_nicole(1)+am_michael(1)", ENGLISH),
    ("british", "bf_emma", ENGLISH),
    ("japanese", "jf_alpha", JAPANESE),
)
LEARN = {
    "en": (
        "The living room lights are now off, and the front door is locked for the night.",
        "Okay, I set a timer for ten minutes.",
    ),
    "ja": (
        "おはようございます。今日は晴れで、最高気温は二十一度です。",
        "タイマーを十分に設定しました。",
    ),
}
STREAM = "stream-at-once"  # Home Assistant's path for every request
# After a restart, the first question comes seconds later at the earliest; meanwhile the
# background looks at the voices spoken lately (their language's G2P is built).
SETTLE_SECONDS = 3.0


def _shared_data_dir(data_dir: Path, folder: Path) -> Path:
    """A data dir of its own (presets, clones) with a copy of `data_dir`'s model files (the
    parts and the statistics map: no first start), but nothing learnt about any voice."""
    folder.mkdir()
    shutil.copytree(
        data_dir / "kokoro",
        folder / "kokoro",
        symlinks=True,
        ignore=shutil.ignore_patterns("offsets-*.npz", "recent-voices.json", "int8"),
    )
    return folder


def _wait_for_verdicts(server: RunningServer, timeout: float = 300.0) -> None:
    """Until the background has learnt and checked every voice (its verdict is logged)."""
    voices = [PRESET["voice"] if voice == PRESET_NAME else voice for _, voice, _ in VOICES]
    deadline = time.monotonic() + timeout
    while not all(
        f"decoder: {voice} streams" in server.log()
        or f"decoder: {voice} is decoded whole" in server.log()
        for voice in voices
    ):
        if time.monotonic() > deadline:
            raise RuntimeError(f"Voices not learnt in the background:\n{server.log()[-2000:]}")
        time.sleep(0.5)


def _args(server_args: Sequence[str]) -> List[str]:
    return [*server_args, "--admin-token", ADMIN_TOKEN, "--no-transcriber"]


async def _prime(server: RunningServer) -> None:
    """Save the preset, then let every voice speak twice (what a household did before)."""
    headers = {"X-Admin-Token": ADMIN_TOKEN}
    async with (
        aiohttp.ClientSession(str(server.http_url), headers=headers) as http,
        http.post("/api/presets", json=PRESET) as response,
    ):
        if response.status not in (200, 201, 409):
            raise RuntimeError(f"preset: {response.status} {await response.text()}")
    for _, voice, text in VOICES:
        for sentence in LEARN["ja" if text == JAPANESE else "en"]:
            await request(server, sentence, STREAM, 0, voice)


async def _first_audio(server: RunningServer, shift: int) -> Dict[str, float]:
    order = list(VOICES[shift:] + VOICES[:shift])
    found = {}
    for label, voice, text in order:
        sample = await request(server, text, STREAM, 0, voice)
        found[label] = sample.first_audio_s
    return found


def after_restart(data_dir: Path, server_args: Sequence[str], rounds: int, temp: Path) -> dict:
    """Per voice, the first audio of its first answer after each restart (seconds)."""
    shared = _shared_data_dir(data_dir, temp / "restart-data")
    args = _args(server_args)
    server = start_server(shared, temp / "prime.log", args)
    try:
        wait_until_ready(server)
        asyncio.run(_prime(server))
        _wait_for_verdicts(server)
    finally:
        server.stop()
    firsts: Dict[str, List[float]] = {label: [] for label, _, _ in VOICES}
    for round_index in range(rounds):
        server = start_server(shared, temp / f"restart-{round_index}.log", args)
        try:
            wait_until_ready(server)
            time.sleep(SETTLE_SECONDS)
            for label, seconds in asyncio.run(_first_audio(server, round_index)).items():
                firsts[label].append(seconds)
        finally:
            server.stop()
        _LOGGER.info("restart %d done", round_index + 1)
    default = statistics.median(firsts["default"])
    return {
        label: {
            "first_audio_s": values,
            "median_s": statistics.median(values),
            "ratio": statistics.median(values) / default,
        }
        for label, values in firsts.items()
    }


def measure(data_dir: Path, server_args: Sequence[str], rounds: int) -> dict:
    with tempfile.TemporaryDirectory() as temp:
        return {"after_restart": after_restart(data_dir, server_args, rounds, Path(temp))}


def report(measured: dict) -> str:
    """Markdown tables of `measure`'s figures."""
    lines = [
        "### Voices after a restart (first audio of each voice's first answer)",
        "",
        "| voice | first audio, median (s) | runs (s) | against the default voice |",
        "|---|---|---|---|",
    ]
    for (label, voice, _), row in zip(VOICES, measured["after_restart"].values(), strict=True):
        runs = ", ".join(f"{value:.3f}" for value in row["first_audio_s"])
        lines.append(
            f"| {label} ({voice}) | {row['median_s']:.3f} | {runs} | {row['ratio']:.2f} x |"
        )
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--output", type=Path, default=Path("build/benchmark"))
    parser.add_argument("server_args", nargs="*", help="server options (after --)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    measured = measure(args.data_dir, args.server_args, args.rounds)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "voices.json").write_text(json.dumps(measured, indent=2), encoding="utf-8")
    print(report(measured))


if __name__ == "__main__":
    main(sys.argv[1:])
