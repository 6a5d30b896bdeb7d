"""HTTP time to first byte of `POST /v1/audio/speech`, beside Wyoming's time to first audio.

Part of `script/benchmark`, and runnable alone (it then starts a server with the options after
`--` and waits until its decoder is prepared): on the same server and in the same run, each
round asks for the same text over the Wyoming socket (`synthesize`, time to the first
`audio-chunk`) and over HTTP, streamed, as `pcm`, `wav` and `mp3` (time to the first byte of
the body). Target: HTTP's median at most Wyoming's median plus 50 ms, for each format.

    cd script && ../.venv/bin/python benchmark_http.py --rounds 5 --data-dir ../data \\
        -- --no-zipvoice --no-transcriber
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence

import aiohttp

FORMATS = ("pcm", "wav", "mp3")
TEXTS = ("lights", "weather")  # a one-sentence answer and a three-sentence one
SLACK_S = 0.050  # HTTP's first byte may come this much after Wyoming's first audio
WyomingRequest = Callable[..., Awaitable[Any]]  # benchmark.request: a Sample with first_audio_s


async def first_byte(http_url: str, text: str, voice: Optional[str], response_format: str) -> float:
    """Seconds from sending the request to the first byte of the streamed answer (which is
    then read to its end, so the next request finds the server idle)."""
    body = {"model": "tts-1", "input": text, "response_format": response_format, "stream": True}
    if voice:
        body["voice"] = voice
    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        async with session.post(f"{http_url}/v1/audio/speech", json=body) as response:
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {await response.text()}")
            first: Optional[float] = None
            async for _ in response.content.iter_any():
                if first is None:
                    first = time.perf_counter() - started
    if first is None:
        raise RuntimeError("the answer had no body")
    return first


async def measure(
    server: Any, texts: Dict[str, str], voice: Optional[str], rounds: int, wyoming: WyomingRequest
) -> Dict[str, Dict[str, List[float]]]:
    """Per text: Wyoming's first-audio times and HTTP's first-byte times per format, taken in
    turns so that both doors see the same machine load."""
    results: Dict[str, Dict[str, List[float]]] = {}
    for name in (text for text in TEXTS if text in texts):
        rows: Dict[str, List[float]] = {"wyoming": [], **{fmt: [] for fmt in FORMATS}}
        for _ in range(rounds):
            sample = await wyoming(server, texts[name], "synthesize", 0, voice)
            rows["wyoming"].append(sample.first_audio_s)
            for response_format in FORMATS:
                seconds = await first_byte(server.http_url, texts[name], voice, response_format)
                rows[response_format].append(seconds)
        results[name] = rows
    return results


def _cell(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def targets(measured: Dict[str, Dict[str, List[float]]]) -> List[tuple]:
    """Each text and format: (line, met) for 'HTTP first byte <= Wyoming + 50 ms'."""
    lines = []
    for name, rows in measured.items():
        wyoming = statistics.median(rows["wyoming"])
        limit = wyoming + SLACK_S
        for response_format in FORMATS:
            http = statistics.median(rows[response_format])
            lines.append(
                (
                    f"HTTP {response_format} first byte, {name}: {http:.3f} s <= "
                    f"Wyoming's {wyoming:.3f} s + {SLACK_S * 1000:.0f} ms = {limit:.3f} s "
                    f"({(http - wyoming) * 1000:+.0f} ms)",
                    http <= limit,
                )
            )
    return lines


def report(measured: Dict[str, Dict[str, List[float]]]) -> List[str]:
    """Markdown lines: the table and the targets."""
    lines = [
        "",
        "HTTP `/v1/audio/speech` (streamed) beside Wyoming `synthesize`, same server and run; "
        "median (min-max), seconds:",
        "",
        "| text | Wyoming first audio | "
        + " | ".join(f"HTTP {fmt} first byte" for fmt in FORMATS)
        + " |",
        "|---|---|" + "---|" * len(FORMATS),
    ]
    for name, rows in measured.items():
        cells = " | ".join(_cell(rows[key]) for key in ("wyoming", *FORMATS))
        lines.append(f"| {name} | {cells} |")
    lines += ["", "HTTP targets:", ""]
    lines += [f"- [{'x' if met else ' '}] {text}" for text, met in targets(measured)]
    return lines


async def _measure_alone(server: Any, voice: str, rounds: int) -> Dict[str, Dict[str, List[float]]]:
    from benchmark import TEXTS_PATH, request

    texts = json.loads(TEXTS_PATH.read_text(encoding="utf-8"))
    # warm-up: each door and format once, as a server that has spoken before
    await request(server, texts["lights"], "synthesize", 0, voice)
    for response_format in FORMATS:
        await first_byte(server.http_url, texts["lights"], voice, response_format)
    return await measure(server, texts, voice, rounds, request)


def main(argv: Optional[Sequence[str]] = None) -> None:
    from benchmark import wait_until_ready

    from wyoming_polytts.launch import start_server

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--voice", default="af_heart", help="voice of every request")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--output", type=Path, default=Path("build/benchmark"))
    parser.add_argument("server_args", nargs="*", help="server options (after --)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    with tempfile.TemporaryDirectory() as temp:
        server = start_server(args.data_dir, Path(temp) / "server.log", args.server_args)
        try:
            wait_until_ready(server)
            measured = asyncio.run(_measure_alone(server, args.voice, args.rounds))
        finally:
            server.stop()
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "http.json").write_text(json.dumps(measured, indent=2), encoding="utf-8")
    print("\n".join(report(measured)))


if __name__ == "__main__":
    main(sys.argv[1:])
