"""Latency, real-time factor and memory of the server, measured over a real socket.

Starts `python -m wyoming_polytts` on 127.0.0.1 with the chosen model options and drives it
with the `wyoming` client: time to first audio and total time for a three-sentence answer,
sent whole (`synthesize`), streamed at once and streamed at an LLM's pace; then the server's
peak RSS. Prints a Markdown table; `--json FILE` also writes the raw figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Sequence

from wyoming.client import AsyncClient
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

from wyoming_polytts.launch import RunningServer, start_server

WEATHER = (
    "Today will be sunny with a high of twenty degrees. "
    "In the evening, clouds move in from the west. "
    "Tomorrow brings light rain, so take an umbrella."
)
RATE, WIDTH = 24000, 2


async def _one_round(
    server: RunningServer, mode: str, tokens_per_second: float
) -> Dict[str, float]:
    async with server.client() as client:
        started = time.perf_counter()
        if mode == "synthesize":
            await client.write_event(Synthesize(text=WEATHER).event())
            end_type = "audio-stop"
        else:
            sender = asyncio.create_task(_send_stream(client, mode, tokens_per_second))
            end_type = "synthesize-stopped"
        first = None
        audio_bytes = 0
        while True:
            event = await client.read_event()
            if event is None:
                raise RuntimeError("server closed the connection")
            if event.type == "audio-chunk":
                first = first if first is not None else time.perf_counter() - started
                audio_bytes += len(event.payload or b"")
            elif event.type == end_type:
                break
        total = time.perf_counter() - started
        if mode != "synthesize":
            await sender
    seconds = audio_bytes / (RATE * WIDTH)
    return {
        "first_audio_s": first or total,
        "total_s": total,
        "audio_s": seconds,
        "rtf": total / seconds,
    }


async def _send_stream(client: AsyncClient, mode: str, tokens_per_second: float) -> None:
    """Send the answer as streamed text while the caller reads audio, as Home Assistant does."""
    await client.write_event(SynthesizeStart().event())
    pieces = [WEATHER] if mode == "stream-at-once" else _tokens(WEATHER)
    for piece in pieces:
        await client.write_event(SynthesizeChunk(text=piece).event())
        if mode == "stream-llm":
            await asyncio.sleep(1 / tokens_per_second)
    await client.write_event(SynthesizeStop().event())


def _tokens(text: str) -> List[str]:
    """About four characters per token, as LLM deltas arrive."""
    return [text[i : i + 4] for i in range(0, len(text), 4)]


def _summary(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


async def _run(
    server: RunningServer, rounds: int, tokens_per_second: float
) -> Dict[str, List[Dict[str, float]]]:
    results: Dict[str, List[Dict[str, float]]] = {}
    await _one_round(server, "synthesize", tokens_per_second)  # warm-up: model load, caches
    for mode in ("synthesize", "stream-at-once", "stream-llm"):
        results[mode] = [await _one_round(server, mode, tokens_per_second) for _ in range(rounds)]
    return results


def main(argv: Sequence[str] = ()) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens-per-second", type=float, default=20.0)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("server_args", nargs="*", help="extra server options (after --)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as temp:
        server = start_server(args.data_dir, Path(temp) / "server.log", args.server_args)
        try:
            results = asyncio.run(_run(server, args.rounds, args.tokens_per_second))
            peak_rss = server.peak_rss_mib()
        finally:
            server.stop()

    print(
        f"Three-sentence answer, {args.rounds} rounds, median (min-max); server options: "
        f"{' '.join(args.server_args) or '(defaults)'}\n"
    )
    print("| request | first audio (s) | total (s) | audio (s) | real-time factor |")
    print("|---|---|---|---|---|")
    for mode, rows in results.items():
        cells = [
            _summary([row[key] for row in rows])
            for key in ("first_audio_s", "total_s", "audio_s", "rtf")
        ]
        print(f"| {mode} | " + " | ".join(cells) + " |")
    print(f"\nServer peak RSS: {peak_rss:.0f} MiB")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "peak_rss_mib": peak_rss}, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
