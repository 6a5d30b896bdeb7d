"""Soak test: thousands of mixed requests against a server on 127.0.0.1, with disconnects.

Starts `python -m wyoming_polytts` on loopback (extra server options after `--`; give
`--zipvoice-model DIR` to include voice clones), then runs `--requests` requests from
`--clients` concurrent clients, stopping early after `--max-seconds`: `describe`, `synthesize`,
streamed text, and requests dropped halfway through the answer, for Kokoro and, when a
ZipVoice model is given, for a clone registered at the start. With `--hostile`, a share of
the requests are the hostile inputs of `docs/RELIABILITY.md` (`hostile.py`), each expected
to end in a clear refusal or a bounded answer. Meanwhile a prober sends `describe` on a
fresh connection every `--probe-seconds` and the server's memory is sampled every second.
Reports the count of each kind, every unexpected outcome, the `describe` round trips
(median, p99, max) and the memory after warm-up, at the end, and its trend.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import io
import json
import logging
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Counter, List, Optional, Sequence

import aiohttp
from wyoming.info import Describe
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeVoice,
)

from wyoming_polytts.launch import RunningServer, start_server

sys.path.insert(0, str(Path(__file__).resolve().parent))
import soak_hostile  # noqa: E402 - beside this script, not a package

_LOGGER = logging.getLogger("soak")
TOKEN = "soak-token"
TEXTS = ["Okay.", "Done.", "The lights are off.", "It is 21 degrees.", "Timer set."]
KINDS = ["describe", "synthesize", "stream", "disconnect"]


def rss_mib(server: RunningServer) -> float:
    status = Path(f"/proc/{server.process.pid}/status").read_text(encoding="utf-8")
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


async def one_request(server: RunningServer, kind: str, voice: str, rng: random.Random) -> None:
    """One request of `kind`; raises on anything a well-behaved server would not do."""
    text = rng.choice(TEXTS)
    wanted = SynthesizeVoice(name=voice)
    async with server.client() as client:
        if kind == "describe":
            await client.write_event(Describe().event())
            await _until(client, "info")
        elif kind == "synthesize":
            await client.write_event(Synthesize(text=text, voice=wanted).event())
            await _until(client, "audio-stop")
        elif kind == "stream":
            await client.write_event(SynthesizeStart(voice=wanted).event())
            for start in range(0, len(text), 5):
                await client.write_event(SynthesizeChunk(text=text[start : start + 5]).event())
            await client.write_event(SynthesizeStop().event())
            await _until(client, "synthesize-stopped")
        else:  # disconnect as soon as audio starts, or before
            long_text = " ".join(TEXTS * 3)
            await client.write_event(Synthesize(text=long_text, voice=wanted).event())
            if rng.random() < 0.5:
                await _until(client, "audio-chunk")
            # leaving the block closes the connection mid-answer


async def _until(client: object, wanted: str) -> None:
    while True:
        event = await asyncio.wait_for(client.read_event(), timeout=120)  # type: ignore[attr-defined]
        if event is None:
            raise ConnectionError(f"closed before {wanted}")
        if event.type == "error":
            raise RuntimeError(f"error event: {event.data}")
        if event.type == wanted:
            return


async def register_clone(server: RunningServer) -> Optional[str]:
    """A clone made from the server's own Kokoro speech, when clones can speak."""
    import soundfile

    pcm = b""
    async with server.client() as client:
        await client.write_event(Synthesize(text="Hello there, this is a soak test.").event())
        while (event := await client.read_event()) is not None and event.type != "audio-stop":
            if event.type == "audio-chunk":
                pcm += event.payload or b""
    import numpy as np

    buffer = io.BytesIO()
    soundfile.write(buffer, np.frombuffer(pcm, "<i2"), 24000, format="WAV")
    form = aiohttp.FormData()
    for key, value in (("name", "soak-clone"), ("language", "en-US")):
        form.add_field(key, value)
    form.add_field("transcript", "Hello there, this is a soak test.")
    form.add_field("audio", buffer.getvalue(), filename="prompt.wav")
    async with aiohttp.ClientSession(str(server.http_url), headers={"X-Admin-Token": TOKEN}) as s:
        async with s.post("/api/voices", data=form) as response:
            if response.status != 201:
                raise RuntimeError(f"could not register the clone: {await response.text()}")
        async with s.get("/api/voices/soak-clone") as response:
            installed = (await response.json())["installed"]
    return "soak-clone" if installed else None


async def probe_describe(server: RunningServer, stop: asyncio.Event, every: float) -> List[float]:
    """`describe` round trips (seconds) on a fresh connection every `every` s until `stop`."""
    trips: List[float] = []
    while not stop.is_set():
        started = time.monotonic()
        try:
            async with server.client() as client:
                await client.write_event(Describe().event())
                await _until(client, "info")
            trips.append(time.monotonic() - started)
        except Exception:  # noqa: BLE001 - a missed describe counts as the longest wait
            trips.append(float("inf"))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
    return trips


async def sample_memory(server: RunningServer, stop: asyncio.Event) -> List[float]:
    """The server's resident memory (MiB), once a second until `stop`."""
    samples: List[float] = []
    while not stop.is_set() and server.process.poll() is None:
        samples.append(rss_mib(server))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
    return samples


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def _trend(samples: Sequence[float]) -> dict:
    """Memory at the start, middle and end of the second half, and its slope per minute."""
    half = list(samples[len(samples) // 2 :])
    if len(half) < 2:
        return {}
    slope = (half[-1] - half[0]) / (len(half) - 1) * 60
    return {
        "second_half_mib": [round(half[0], 1), round(half[len(half) // 2], 1), round(half[-1], 1)],
        "second_half_slope_mib_per_min": round(slope, 2),
        "max_mib": round(max(samples), 1),
    }


async def soak(server: RunningServer, args: argparse.Namespace) -> dict:
    rng = random.Random(args.seed)
    kokoro = args.voice
    clone = await register_clone(server) if args.clones else None
    voices = [kokoro] + ([clone] if clone else [])
    for _ in range(3):  # warm-up, then the starting memory
        await one_request(server, "synthesize", kokoro, rng)
    start_rss = rss_mib(server)
    hostile = soak_hostile.Hostile(server, TOKEN) if args.hostile else None
    counts: Counter[str] = collections.Counter()
    errors: List[str] = []
    deadline = time.monotonic() + args.max_seconds
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(args.requests):
        queue.put_nowait(index)

    async def client_loop() -> None:
        while not queue.empty() and time.monotonic() < deadline:
            queue.get_nowait()
            if hostile is not None and rng.random() < args.hostile:
                kind = rng.choice(soak_hostile.KINDS)
                try:
                    await asyncio.wait_for(hostile.run(kind, kokoro), soak_hostile.SECONDS)
                    counts[f"hostile {kind}"] += 1
                except Exception as err:  # noqa: BLE001 - every failure is a finding
                    errors.append(f"hostile {kind}: {type(err).__name__}: {err}")
                continue
            kind = rng.choices(KINDS, weights=[3, 4, 2, 2])[0]
            voice = rng.choice(voices)
            try:
                await one_request(server, kind, voice, rng)
                counts[f"{kind} {'clone' if voice == clone else 'kokoro'}"] += 1
            except Exception as err:  # noqa: BLE001 - every failure is a finding
                errors.append(f"{kind} {voice}: {type(err).__name__}: {err}")

    started = time.monotonic()
    stop = asyncio.Event()
    prober = asyncio.ensure_future(probe_describe(server, stop, args.probe_seconds))
    memory = asyncio.ensure_future(sample_memory(server, stop))
    await asyncio.gather(*(client_loop() for _ in range(args.clients)))
    stop.set()
    trips, samples = await prober, await memory
    await asyncio.sleep(1)  # let cancelled work finish
    return {
        "requests": sum(counts.values()) + len(errors),
        "counts": dict(sorted(counts.items())),
        "errors": errors,
        "seconds": round(time.monotonic() - started, 1),
        "describe_probes": len(trips),
        "describe_ms": {
            "median": round(_percentile(trips, 0.5) * 1000, 1),
            "p99": round(_percentile(trips, 0.99) * 1000, 1),
            "max": round(max(trips, default=0.0) * 1000, 1),
        },
        "rss_start_mib": round(start_rss, 1),
        "rss_end_mib": round(rss_mib(server), 1),
        "rss_trend": _trend(samples),
        "peak_rss_mib": round(server.peak_rss_mib(), 1),
        "server_alive": server.process.poll() is None,
    }


def main(argv: Sequence[str] = ()) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--max-seconds", type=float, default=600)
    parser.add_argument("--voice", default="af_heart")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--hostile", type=float, default=0.0, help="share of hostile requests (0 to 1)"
    )
    parser.add_argument("--probe-seconds", type=float, default=0.25)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("server_args", nargs="*", help="server options (after --)")
    args = parser.parse_args(argv)
    args.clones = "--zipvoice-model" in args.server_args
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    with tempfile.TemporaryDirectory() as temp:
        state = Path(temp) / "data"
        state.mkdir()
        kokoro = args.data_dir.resolve() / "kokoro"
        if kokoro.is_dir():
            (state / "kokoro").symlink_to(kokoro)  # reuse the assembled or downloaded model
        server = start_server(
            state, Path(temp) / "server.log", ["--admin-token", TOKEN, *args.server_args]
        )
        try:
            report = asyncio.run(soak(server, args))
            errors_in_log = server.log().count("Traceback")
        finally:
            server.stop()
    report["tracebacks_in_server_log"] = errors_in_log
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
