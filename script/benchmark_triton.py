"""Kokoro on Triton Inference Server against the local engine, under load, in one run.

Two fronts on the same data dir (used as it is, not copied), each started fresh with
`--no-zipvoice --no-download --no-transcriber` and the server options after `--`: the local
engine (onnxruntime in the server's process) and the Triton engine (`--triton URL`: Kokoro's
four parts called over gRPC). Without `--triton`, the repository is written into a temp dir
(`wyoming-polytts triton-repository DIR --backend python`) and served by nvidia-pytriton's
bundled `tritonserver` on the CPU on 127.0.0.1 (`wyoming_polytts.engines.triton.bundled`);
with `--triton URL` (repeatable) the fronts use those servers instead.

Each round asks 1, 4 and 8 short answers at the same instant on as many Wyoming connections
(`synthesize`, the texts of `SHORT_TEXTS` in turn), the two engines taking turns (in a
rotating order, so that a change in the machine's load hits both alike). Per engine and
number of clients: the median and the worst first audio over all answers of all rounds, the
wall time from the first `synthesize` to the last `audio-stop`, the audio seconds produced
and the throughput (audio seconds per wall second), medians over the rounds; and the ratio
Triton / local of each. Prints a Markdown table, writes `results.json` into `--output`:

    script/benchmark --only triton --rounds 2
    script/benchmark --only triton --triton grpc://gpu-host:8001 -- --kokoro-precision fp32
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

import benchmark_load
from benchmark import wait_until_ready

from wyoming_polytts.engines.triton.bundled import Tritonserver, bundled_tritonserver
from wyoming_polytts.launch import RunningServer, free_port, start_server

_LOGGER = logging.getLogger("benchmark")

CLIENTS = (1, 4, 8)  # short answers asked at the same instant
SHORT_TEXTS = ("lights", "timer", "door", "long")  # of `benchmark_texts.json`, in turn
ENGINES = ("local", "triton")
FRONT_OPTIONS = ("--no-zipvoice", "--no-download", "--no-transcriber")
REPOSITORY_SECONDS = 300.0  # writing the repository (the model is split once, if not yet)
# Options of the fronts that choose the model: the repository is written with them too.
MODEL_OPTIONS = ("--kokoro-model", "--kokoro-precision")


def write_repository(data_dir: Path, folder: Path, server_args: Sequence[str]) -> None:
    """The python-backend repository of the data dir's Kokoro model (the fronts' model)."""
    command = [
        sys.executable,
        "-m",
        "wyoming_polytts",
        "triton-repository",
        str(folder),
        "--backend",
        "python",
        "--data-dir",
        str(data_dir),
        "--no-download",
        *_model_options(server_args),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=REPOSITORY_SECONDS, check=False
    )
    if done.returncode:
        raise RuntimeError(f"triton-repository failed:\n{done.stdout}{done.stderr}")


def _model_options(server_args: Sequence[str]) -> List[str]:
    found: List[str] = []
    for index, arg in enumerate(server_args):
        for option in MODEL_OPTIONS:
            if arg == option and index + 1 < len(server_args):
                found += [arg, server_args[index + 1]]
            elif arg.startswith(f"{option}="):
                found.append(arg)
    return found


@contextlib.contextmanager
def triton_urls(data_dir: Path, server_args: Sequence[str], urls: Sequence[str]) -> Iterator[dict]:
    """The Triton servers to use: `urls`, else the bundled `tritonserver` started here on
    127.0.0.1 (stopped on leaving) with the repository written into a temp dir."""
    if urls:
        yield {"urls": list(urls), "server": "given"}
        return
    dist = bundled_tritonserver()
    if dist is None:
        raise SystemExit(
            "No Triton server: --triton URL, or nvidia-pytriton's bundled tritonserver and "
            "tritonclient (script/setup installs both)"
        )
    with tempfile.TemporaryDirectory(prefix="polytts-triton-") as temp:
        repository = Path(temp) / "repository"
        started = time.monotonic()
        write_repository(data_dir, repository, server_args)
        written = time.monotonic() - started
        server = Tritonserver(dist, repository, Path(temp) / "work", free_port())
        try:
            started = time.monotonic()
            server.start()  # bounded (`START_SECONDS`)
            _LOGGER.info("Bundled tritonserver ready on %s", server.url)
            yield {
                "urls": [server.url],
                "server": "bundled (python backend, CPU)",
                "repository_s": written,
                "start_s": time.monotonic() - started,
            }
        finally:
            server.stop()


def start_fronts(
    data_dir: Path, server_args: Sequence[str], urls: Sequence[str], temp: Path
) -> Dict[str, RunningServer]:
    """The local and the Triton front, one after the other (each measures its decoder's
    speed at start-up), each ready (voices learnt) before the next starts."""
    options = {
        "local": [*server_args, *FRONT_OPTIONS],
        "triton": [*server_args, *FRONT_OPTIONS, *(f"--triton={url}" for url in urls)],
    }
    fronts: Dict[str, RunningServer] = {}
    try:
        for engine in ENGINES:
            fronts[engine] = start_server(data_dir, temp / f"{engine}.log", options[engine])
            wait_until_ready(fronts[engine])  # bounded
            _LOGGER.info("%s front ready", engine)
    except BaseException:
        for front in fronts.values():
            front.stop()
        raise
    return fronts


async def setting(
    server: RunningServer, texts: Dict[str, str], clients: int, voice: Optional[str]
) -> dict:
    """`clients` short answers at the same instant: the answers, the wall time from the first
    `synthesize` to the last `audio-stop`, the audio seconds and the throughput."""
    names = [SHORT_TEXTS[index % len(SHORT_TEXTS)] for index in range(clients)]
    answers = await benchmark_load.at_once(
        server, [(name, texts[name], 0.0) for name in names], voice
    )
    start = min(answer.sent_s for answer in answers)
    wall = max(answer.sent_s + answer.total_s for answer in answers) - start
    audio = sum(answer.audio_s for answer in answers)
    return {
        "answers": [asdict(answer) for answer in answers],
        "wall_s": wall,
        "audio_s": audio,
        "throughput": audio / wall,
    }


async def measure(
    fronts: Dict[str, RunningServer], texts: Dict[str, str], voice: Optional[str], rounds: int
) -> Dict[str, Dict[str, List[dict]]]:
    """`rounds` rounds of each number of clients on each front, the fronts taking turns."""
    for name in SHORT_TEXTS:  # warm-up: each text once on each front
        for front in fronts.values():
            await benchmark_load.at_once(front, [(name, texts[name], 0.0)], voice)
    results: Dict[str, Dict[str, List[dict]]] = {engine: {} for engine in fronts}
    engines = list(fronts)
    turn = 0
    for round_index in range(rounds):
        for clients in CLIENTS:
            shift = turn % len(engines)
            turn += 1
            for engine in engines[shift:] + engines[:shift]:
                found = await setting(fronts[engine], texts, clients, voice)
                results[engine].setdefault(str(clients), []).append(found)
        _LOGGER.info("triton: round %d of %d done", round_index + 1, rounds)
    return results


def summary(runs: List[dict]) -> Dict[str, float]:
    """Over the rounds of one setting: median and worst first audio over all answers, and
    the medians of the wall time, audio seconds and throughput."""
    firsts = [answer["first_audio_s"] for run in runs for answer in run["answers"]]
    return {
        "first_audio_median_s": statistics.median(firsts),
        "first_audio_worst_s": max(firsts),
        "wall_s": statistics.median(run["wall_s"] for run in runs),
        "audio_s": statistics.median(run["audio_s"] for run in runs),
        "throughput": statistics.median(run["throughput"] for run in runs),
    }


def run(
    data_dir: Path,
    server_args: Sequence[str],
    texts: Dict[str, str],
    voice: Optional[str],
    rounds: int,
    urls: Sequence[str] = (),
) -> dict:
    """Both fronts measured in one run: the raw figures, the summaries and the ratios."""
    with (
        triton_urls(data_dir, server_args, urls) as triton,
        tempfile.TemporaryDirectory(prefix="polytts-fronts-") as temp,
    ):
        fronts = start_fronts(data_dir, server_args, triton["urls"], Path(temp))
        try:
            raw = asyncio.run(measure(fronts, texts, voice, rounds))
            rss = {engine: front.peak_rss_mib() for engine, front in fronts.items()}
        finally:
            for front in fronts.values():
                front.stop()
    return figures(raw, rss, triton, server_args, rounds, voice)


def figures(
    raw: Dict[str, Dict[str, List[dict]]],
    rss: Dict[str, float],
    triton: dict,
    server_args: Sequence[str],
    rounds: int,
    voice: Optional[str],
) -> dict:
    """The raw figures of `measure` with their summaries and the ratios Triton / local."""
    summaries = {
        engine: {clients: summary(runs) for clients, runs in settings.items()}
        for engine, settings in raw.items()
    }
    ratios = {
        clients: {
            key: summaries["triton"][clients][key] / summaries["local"][clients][key]
            for key in summaries["local"][clients]
        }
        for clients in summaries["local"]
    }
    return {
        "raw": raw,
        "summary": summaries,
        "ratio": ratios,
        "front_peak_rss_mib": rss,
        "triton": triton,
        "options": {
            "server_args": list(server_args),
            "rounds": rounds,
            "voice": voice,
            "texts": list(SHORT_TEXTS),
        },
    }


def report(measured: dict) -> str:
    """The Markdown table and the note on the network hop."""
    options = measured["options"]
    triton = measured["triton"]
    lines = [
        f"Triton: {triton['server']} at {', '.join(triton['urls'])}; front options: "
        f"{' '.join(options['server_args']) or '(defaults)'} {' '.join(FRONT_OPTIONS)}; "
        f"{options['rounds']} rounds; short answers ({', '.join(options['texts'])} in turn) "
        "asked at the same instant. First audio: median and worst over all answers; wall, "
        "audio and throughput: medians over the rounds.",
        "",
        "| clients | engine | first audio median | first audio worst | wall | audio | "
        "audio s per s |",
        "|---|---|---|---|---|---|---|",
    ]
    for clients in measured["ratio"]:
        for engine in ENGINES:
            row = measured["summary"][engine][clients]
            lines.append(
                f"| {clients} | {engine} | {row['first_audio_median_s']:.3f} s | "
                f"{row['first_audio_worst_s']:.3f} s | {row['wall_s']:.2f} s | "
                f"{row['audio_s']:.2f} s | {row['throughput']:.2f} |"
            )
        ratio = measured["ratio"][clients]
        lines.append(
            f"| {clients} | Triton / local | {ratio['first_audio_median_s']:.2f} | "
            f"{ratio['first_audio_worst_s']:.2f} | {ratio['wall_s']:.2f} | "
            f"{ratio['audio_s']:.2f} | {ratio['throughput']:.2f} |"
        )
    lines += ["", hop_note(measured)]
    rss = measured["front_peak_rss_mib"]
    lines.append(
        f"Front peak RSS: local {rss['local']:.0f} MiB, Triton {rss['triton']:.0f} MiB "
        "(the Triton front loads no onnxruntime session)."
    )
    return "\n".join(lines)


def hop_note(measured: dict) -> str:
    """What the hop to Triton costs: the first audio of one answer alone, and throughput."""
    local, triton = measured["summary"]["local"], measured["summary"]["triton"]
    one = triton["1"]["first_audio_median_s"] - local["1"]["first_audio_median_s"]
    alone = triton["1"]["wall_s"] - local["1"]["wall_s"]
    most = max(measured["ratio"], key=int)
    return (
        f"The hop to Triton: one answer alone gets its first audio {_later(one)} "
        f"({measured['ratio']['1']['first_audio_median_s']:.2f}x) and ends "
        f"{_later(alone)}; with {most} clients the median first audio is "
        f"{measured['ratio'][most]['first_audio_median_s']:.2f}x and the throughput "
        f"{measured['ratio'][most]['throughput']:.2f}x the local engine's."
    )


def _later(seconds: float) -> str:
    return f"{abs(seconds) * 1000:.0f} ms {'later' if seconds >= 0 else 'earlier'}"


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--voice", default="af_heart")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--triton", action="append", default=[], metavar="URL")
    parser.add_argument("--output", type=Path, default=Path("build/benchmark"))
    parser.add_argument("server_args", nargs="*")
    cli = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    all_texts = json.loads(benchmark_load.TEXTS_PATH.read_text(encoding="utf-8"))
    found = run(cli.data_dir, cli.server_args, all_texts, cli.voice, cli.rounds, cli.triton)
    cli.output.mkdir(parents=True, exist_ok=True)
    (cli.output / "results.json").write_text(json.dumps({"triton": found}, indent=2), "utf-8")
    print(report(found))
