"""Latency, real-time factor, concurrency and memory of the server, over a real socket.

Starts `python -m wyoming_polytts` on 127.0.0.1 with the given server options and drives it
with the `wyoming` client, for each text of `script/benchmark_texts.json`:

- time to first audio, total time, audio seconds and real-time factor for `synthesize`, for
  streamed text sent all at once, and for streamed text arriving at an LLM's pace;
- the same texts synthesized by the engine in this process (no server), sentence by sentence;
- 1, 2 and 4 concurrent clients: total throughput and time to first audio per client;
- `describe` round trips while two long syntheses run;
- the server's peak RSS;
- the word error rate of each text as Whisper hears the server say it (with the [asr] extra);
- the streaming Kokoro decoder (`benchmark_decoder.py`): first audio of the first sentence
  with sentences decoded whole, in windows with the first clause cut, and in windows with
  sentences whole (three servers), against the raw model's whole-sentence decode; PESQ, the
  steps at the joins between windows, Whisper's word error rate and the decode time of
  streamed against whole-decoded sentences; the worst lateness of an audio chunk.
- load as users make it (`benchmark_load.py`): short answers at once, short answers during a
  long one, two three-sentence answers at once: first audio against alone, stalls, `describe`
  round trips, and a three-sentence answer against the raw model (`--only load`: only this).
- word timings against Whisper's word timestamps, and against the audio at the words after a
  pause (`benchmark_captions.py`; `--only captions` runs only this, in process, without a
  server).
- Kokoro on Triton Inference Server against the local engine (`benchmark_triton.py`; only
  with `--only triton`): 1, 4 and 8 short answers at once on a local and a `--triton` front,
  first audio and throughput of both and their ratio; the bundled CPU `tritonserver` unless
  `--triton URL` names servers.

Medians over `--rounds` rounds with min and max. Prints Markdown tables and the targets;
writes `results.json`, `chart.png` and `first_audio.png` (matplotlib) into `--output`.
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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import benchmark_decoder
import benchmark_http
from wyoming.info import Describe
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

from wyoming_polytts.__main__ import WARM_UP_TEXTS
from wyoming_polytts.audio import trim_silence
from wyoming_polytts.engines.select import kokoro_engine, kokoro_files
from wyoming_polytts.launch import RunningServer, start_server
from wyoming_polytts.settings import parse_settings
from wyoming_polytts.text import split_sentences

TEXTS_PATH = Path(__file__).with_name("benchmark_texts.json")
RATE, WIDTH = 24000, 2
MODES = ("synthesize", "stream-at-once", "stream-llm")
CONCURRENCY = (1, 2, 4)
CONCURRENT_TEXT = "weather"
SHORT_TEXT = "lights"  # the first request after start-up: a typical short answer
_LOGGER = logging.getLogger("benchmark")


@dataclass
class Sample:
    """One request: seconds to the first audio chunk and to the end, seconds of audio, the
    worst lateness of a chunk (`benchmark_decoder.Playback`) and the number of chunks."""

    first_audio_s: float
    total_s: float
    audio_s: float
    late_s: float = 0.0
    chunks: int = 0

    @property
    def rtf(self) -> float:
        return self.total_s / self.audio_s if self.audio_s else float("inf")


def spread(values: Sequence[float]) -> Dict[str, float]:
    """Median, min and max."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _cell(values: Sequence[float]) -> str:
    summary = spread(values)
    return f"{summary['median']:.3f} ({summary['min']:.3f}-{summary['max']:.3f})"


# -- requests over the socket ---------------------------------------------------------------


async def request(
    server: RunningServer, text: str, mode: str, tokens_per_second: float, voice: Optional[str]
) -> Sample:
    """Send `text` the way `mode` says and time the audio that comes back."""
    from wyoming.tts import SynthesizeVoice

    wanted = SynthesizeVoice(name=voice) if voice else None
    async with server.client() as client:
        started = time.perf_counter()
        if mode == "synthesize":
            await client.write_event(Synthesize(text=text, voice=wanted).event())
            end_type, sender = "audio-stop", None
        else:
            pieces = [text] if mode == "stream-at-once" else _tokens(text)
            delay = 0.0 if mode == "stream-at-once" else 1 / tokens_per_second
            sender = asyncio.create_task(_send_stream(client, pieces, delay, wanted))
            end_type = "synthesize-stopped"
        first: Optional[float] = None
        audio_bytes = 0
        playback = benchmark_decoder.Playback(RATE * WIDTH)
        while True:
            event = await client.read_event()
            if event is None:
                raise RuntimeError("the server closed the connection")
            if event.type == "audio-chunk":
                arrived = time.perf_counter() - started
                if first is None:
                    first = arrived
                playback.arrived(arrived, len(event.payload or b""))
                audio_bytes += len(event.payload or b"")
            elif event.type == "error":
                raise RuntimeError(f"the server answered an error: {event.data}")
            elif event.type == end_type:
                break
        total = time.perf_counter() - started
        if sender is not None:
            await sender
    return Sample(
        first if first is not None else total,
        total,
        audio_bytes / (RATE * WIDTH),
        playback.late_s,
        playback.chunks,
    )


async def _send_stream(client: Any, pieces: List[str], delay: float, voice: Any) -> None:
    """Streamed text as Home Assistant sends it, while the caller reads audio."""
    await client.write_event(SynthesizeStart(voice=voice).event())
    for piece in pieces:
        await client.write_event(SynthesizeChunk(text=piece).event())
        if delay:
            await asyncio.sleep(delay)
    await client.write_event(Synthesize(text="".join(pieces), voice=voice).event())
    await client.write_event(SynthesizeStop().event())


def _tokens(text: str) -> List[str]:
    """About four characters per token, as LLM deltas arrive."""
    return [text[i : i + 4] for i in range(0, len(text), 4)]


async def concurrent(server: RunningServer, text: str, clients: int, voice: Optional[str]) -> dict:
    """`clients` requests at once: per-client samples and total audio seconds per second."""
    started = time.perf_counter()
    samples = await asyncio.gather(
        *(request(server, text, "synthesize", 0, voice) for _ in range(clients))
    )
    wall = time.perf_counter() - started
    return {
        "samples": [asdict(sample) for sample in samples],
        "throughput": sum(sample.audio_s for sample in samples) / wall,
        "wall_s": wall,
    }


async def describe_latency(server: RunningServer, text: str, voice: Optional[str]) -> dict:
    """`describe` round trips on a third connection while two syntheses run."""
    latencies: List[float] = []
    busy = asyncio.gather(*(request(server, text, "synthesize", 0, voice) for _ in range(2)))
    async with server.client() as client:
        await asyncio.sleep(0.2)  # let both syntheses start
        while not busy.done():
            started = time.perf_counter()
            await client.write_event(Describe().event())
            while (event := await client.read_event()) is not None and event.type != "info":
                pass
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.02)
    await busy
    import benchmark_load  # not above: it imports this module

    found = benchmark_load.percentiles(latencies)
    assert found is not None, "no describe round trip while the syntheses ran"
    return found


# -- the engine alone -----------------------------------------------------------------------


def engine_direct(
    data_dir: Path,
    server_args: Sequence[str],
    texts: Dict[str, str],
    voice: str,
    rounds: int,
    runtime: str = "",
    pairs: Optional[Dict[str, List[benchmark_decoder.SentencePair]]] = None,
) -> Dict[str, dict]:
    """Each text sentence by sentence through the engine itself, in this process.

    Where the engine streams and `pairs` is given, each sentence is also decoded whole by
    the raw model (a second engine without the split decoder), in the same rounds (the long
    texts of `benchmark_decoder.ONE_ROUND` in the first only), and the first round's audio
    of both goes into `pairs`.
    """
    settings = parse_settings(["--data-dir", str(data_dir), *server_args])
    files = kokoro_files(settings)
    engine = kokoro_engine(settings, files, runtime)
    engine.load()
    for warm_up in WARM_UP_TEXTS:  # as the server does: the decoder learns the voice
        engine.synthesize(warm_up, voice, settings.speed)
    whole = None
    if pairs is not None and getattr(engine, "streaming", False):
        whole_settings = parse_settings(
            ["--data-dir", str(data_dir), *server_args, "--decode-whole"]
        )
        whole = kokoro_engine(whole_settings, files, runtime)
        whole.load()
        whole.synthesize("The living room lights are now off.", voice, settings.speed)
    results: Dict[str, dict] = {}
    for name, text in texts.items():
        totals, firsts, chunks, audio = [], [], [], 0.0
        whole_totals, whole_firsts, ratios = [], [], []
        for round_index in range(rounds):
            total, audio, whole_total = 0.0, 0.0, 0.0
            compare = whole is not None and (
                round_index == 0 or name not in benchmark_decoder.ONE_ROUND
            )
            for index, sentence in enumerate(split_sentences(text)):
                streamed = benchmark_decoder.stream_timed(engine, sentence, voice, settings.speed)
                total += streamed.total_s
                if index == 0:
                    firsts.append(streamed.total_s)
                    chunks.append(streamed.seconds[0])
                audio += len(trim_silence(streamed.audio, RATE)) / RATE
                if compare:
                    samples, seconds = benchmark_decoder.whole_timed(
                        whole, sentence, voice, settings.speed
                    )
                    whole_total += seconds
                    if index == 0:
                        whole_firsts.append(seconds)
                    if round_index == 0 and pairs is not None:
                        pair = benchmark_decoder.SentencePair(sentence, streamed, samples)
                        pairs.setdefault(name, []).append(pair)
            totals.append(total)
            if compare:
                whole_totals.append(whole_total)
                ratios.append(total / whole_total)
        results[name] = {
            "total_s": spread(totals),
            "first_sentence_s": spread(firsts),
            "first_chunk_s": spread(chunks),
            "audio_s": audio,
            "rtf": statistics.median(totals) / audio,
        }
        if whole_totals:
            results[name].update(
                whole_total_s=spread(whole_totals),
                whole_first_sentence_s=spread(whole_firsts),
                decode_ratio=spread(ratios),
            )
        _LOGGER.info("engine: %s done", name)
    return results


# -- the run --------------------------------------------------------------------------------


async def measure_server(
    server: RunningServer, texts: Dict[str, str], args: argparse.Namespace
) -> dict:
    voice = args.voice
    await request(server, texts[CONCURRENT_TEXT], "synthesize", 0, voice)  # warm-up
    requests: Dict[str, Dict[str, List[dict]]] = {}
    for name, text in texts.items():
        requests[name] = {}
        for mode in MODES:
            rows = []
            for _ in range(args.rounds):
                rows.append(
                    asdict(await request(server, text, mode, args.tokens_per_second, voice))
                )
            requests[name][mode] = rows
            _LOGGER.info("%s / %s done", name, mode)
    concurrency = {
        str(clients): [
            await concurrent(server, texts[CONCURRENT_TEXT], clients, voice)
            for _ in range(args.rounds)
        ]
        for clients in CONCURRENCY
    }
    _LOGGER.info("concurrency done")
    describe = await describe_latency(server, texts["paragraph"], voice)
    spoken = {name: await capture(server, text, voice) for name, text in texts.items()}
    http = await benchmark_http.measure(server, texts, voice, args.rounds, request)
    return {
        "http": http,
        "requests": requests,
        "concurrency": concurrency,
        "describe": describe,
        "spoken": spoken,
    }


async def measure_configs(
    servers: Dict[str, RunningServer], texts: Dict[str, str], args: argparse.Namespace
) -> Dict[str, Dict[str, List[dict]]]:
    """`synthesize` of each text on each server configuration, the configurations taking
    turns (in a rotating order) so that a change in the machine's load hits all alike."""
    for server in servers.values():
        await request(server, texts[SHORT_TEXT], "synthesize", 0, args.voice)  # warm-up
    results: Dict[str, Dict[str, List[dict]]] = {config: {} for config in servers}
    configs = list(servers)
    for round_index in range(args.rounds):
        for name, text in texts.items():
            if round_index and name in benchmark_decoder.ONE_ROUND:
                continue
            shift = round_index % len(configs)
            for config in configs[shift:] + configs[:shift]:
                sample = await request(servers[config], text, "synthesize", 0, args.voice)
                results[config].setdefault(name, []).append(asdict(sample))
        _LOGGER.info("server configurations: round %d done", round_index + 1)
    return results


async def capture(server: RunningServer, text: str, voice: Optional[str]) -> bytes:
    """The PCM the server sends for `text`."""
    from wyoming.tts import SynthesizeVoice

    async with server.client() as client:
        wanted = SynthesizeVoice(name=voice) if voice else None
        await client.write_event(Synthesize(text=text, voice=wanted).event())
        pcm = b""
        while (event := await client.read_event()) is not None and event.type != "audio-stop":
            if event.type == "audio-chunk":
                pcm += event.payload or b""
    return pcm


def intelligibility(
    data_dir: Path, texts: Dict[str, str], *spoken: Dict[str, bytes]
) -> List[Dict[str, float]]:
    """Word error rate per text of each set of PCM, as Whisper base hears it (empty without
    the [asr] extra)."""
    import numpy as np

    from wyoming_polytts import transcriber
    from wyoming_polytts.intelligibility import word_error_rate

    if not transcriber.available():
        _LOGGER.warning("No WER: the [asr] extra is not installed")
        return [{} for _ in spoken]
    whisper = transcriber.Transcriber(transcriber.embedded_whisper(data_dir))
    found = []
    for pcms in spoken:
        rates = {}
        for name, pcm in pcms.items():
            audio = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768
            heard = whisper.transcribe(audio, RATE, language="en")
            rates[name] = word_error_rate(texts[name], heard.text)
        found.append(rates)
    return found


def main(argv: Sequence[str] = ()) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens-per-second", type=float, default=20.0)
    parser.add_argument("--voice", default="af_heart", help="voice of every request")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--texts", type=Path, default=TEXTS_PATH)
    parser.add_argument("--output", type=Path, default=Path("build/benchmark"))
    parser.add_argument("--kokoro-runtime", choices=("onnx", "torch"), help="passed to the server")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="passed to the server")
    parser.add_argument(
        "--compare-runtimes",
        action="store_true",
        help="also time the engine alone on both runtimes (torch needs its weights)",
    )
    parser.add_argument(
        "--only",
        choices=("load", "captions", "triton"),
        help="run only this part (writes only its figures)",
    )
    parser.add_argument(
        "--triton",
        action="append",
        default=[],
        metavar="URL",
        help="--only triton: these Triton servers (repeatable) instead of the bundled one",
    )
    parser.add_argument("server_args", nargs="*", help="server options (after --)")
    args = parser.parse_args(argv)
    for option in ("kokoro_runtime", "device"):
        if getattr(args, option):
            args.server_args += [f"--{option.replace('_', '-')}", getattr(args, option)]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    texts: Dict[str, str] = json.loads(args.texts.read_text(encoding="utf-8"))
    import benchmark_load  # not above: it imports this module

    if args.only == "captions":
        import benchmark_captions

        rows = benchmark_captions.run(args.data_dir, args.voice)
        args.output.mkdir(parents=True, exist_ok=True)
        (args.output / "results.json").write_text(json.dumps({"captions": rows}, indent=2))
        print(benchmark_captions.report(rows))
        return
    if args.only == "triton":
        import benchmark_triton

        found = benchmark_triton.run(
            args.data_dir, args.server_args, texts, args.voice, args.rounds, args.triton
        )
        args.output.mkdir(parents=True, exist_ok=True)
        (args.output / "results.json").write_text(json.dumps({"triton": found}, indent=2), "utf-8")
        print(benchmark_triton.report(found))
        return
    if args.only == "load":
        load = benchmark_load.run(args.data_dir, args.server_args, texts, args.voice, args.rounds)
        args.output.mkdir(parents=True, exist_ok=True)
        (args.output / "results.json").write_text(json.dumps({"load": load}, indent=2), "utf-8")
        print(benchmark_load.report(load) + "\n\nTargets:\n")
        print(
            "\n".join(f"- [{'x' if met else ' '}] {text}" for text, met in targets({"load": load}))
        )
        return

    raw_model = benchmark_load.RawModel(
        args.data_dir, args.server_args, texts[benchmark_load.THREE_SENTENCES], args.voice
    )
    with tempfile.TemporaryDirectory() as temp:
        launched = time.monotonic()
        server = start_server(args.data_dir, Path(temp) / "server.log", args.server_args)
        describe_ready = time.monotonic() - launched
        try:
            first = asyncio.run(request(server, texts[SHORT_TEXT], "synthesize", 0, args.voice))
            startup = {
                "describe_s": describe_ready,
                "first_audio_s": time.monotonic() - launched - first.total_s + first.first_audio_s,
            }
            wait_until_ready(server)  # the first answer above is the start-up's; then steady
            measured = asyncio.run(measure_server(server, texts, args))
            measured["load"] = asyncio.run(
                benchmark_load.measure_server(server, texts, args.voice, args.rounds, raw_model)
            )
            del raw_model  # its memory back before the engine alone is measured
            measured["startup"] = startup
            measured["peak_rss_mib"] = server.peak_rss_mib()
            measured["streaming"] = measure_streaming_servers(server, texts, args, Path(temp))
        finally:
            server.stop()
    _LOGGER.info("server done; now the engine alone")
    pairs: Dict[str, List[benchmark_decoder.SentencePair]] = {}
    measured["engine"] = engine_direct(
        args.data_dir, args.server_args, texts, args.voice, args.rounds, pairs=pairs
    )
    if args.compare_runtimes:
        measured["runtimes"] = {
            runtime: engine_direct(
                args.data_dir, args.server_args, texts, args.voice, args.rounds, runtime
            )["weather"]
            for runtime in ("onnx", "torch")
        }
    benchmark_load.complete(measured["load"], args.server_args, args.voice, args.rounds)
    measured["streaming"]["quality"] = benchmark_decoder.quality(pairs)
    streamed, whole = benchmark_decoder.spoken(pairs)
    measured["wer"], wer_streamed, wer_whole = intelligibility(
        args.data_dir, texts, measured.pop("spoken"), streamed, whole
    )
    measured["streaming"]["wer"] = {"streamed": wer_streamed, "whole": wer_whole}
    measured["options"] = {"server_args": list(args.server_args), "rounds": args.rounds}

    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.json").write_text(json.dumps(measured, indent=2), encoding="utf-8")
    print(report(measured, texts))
    chart(measured, args.output / "chart.png")
    benchmark_decoder.chart(measured, args.output / "first_audio.png")
    print(
        f"\nRaw figures and charts: {args.output}/results.json, {args.output}/chart.png, "
        f"{args.output}/first_audio.png"
    )


def measure_streaming_servers(
    server: RunningServer, texts: Dict[str, str], args: argparse.Namespace, temp: Path
) -> dict:
    """`measure_configs` on `server` (the benchmark's options) and one more server for each
    other configuration of `benchmark_decoder.CONFIGS`, started now and stopped after; and
    the decoder speed each server measured at start-up."""
    servers = {}
    try:
        for config, options in benchmark_decoder.CONFIGS.items():
            if options:
                extra = [*args.server_args, *options]
                servers[config] = start_server(args.data_dir, temp / f"{config}.log", extra)
                # One at a time: a server measures its decoder's speed at start-up, and two
                # loading at once would each measure the other's load.
                wait_until_ready(servers[config])
            else:
                servers[config] = server
        return {
            "servers": asyncio.run(measure_configs(servers, texts, args)),
            "decoder_ms_per_frame": {
                config: benchmark_decoder.decoder_speed(running.log())
                for config, running in servers.items()
            },
        }
    finally:
        for started in servers.values():
            if started is not server:
                started.stop()


def wait_until_ready(server: RunningServer, timeout: float = 300.0) -> None:
    """Until the server's log says its streaming decoder is prepared and warmed up (it
    speaks whole sentences before) and the voices it learns at start (the default voice,
    which is decoded whole until learnt) are learnt: the steady state users meet."""
    deadline = time.monotonic() + timeout
    while True:
        log = server.log()
        if "sentences are decoded whole" in log or "Voices learnt: none waits" in log:
            return
        if time.monotonic() > deadline or server.process.poll() is not None:
            raise RuntimeError(f"The server did not get ready:\n{log[-2000:]}")
        time.sleep(0.2)


# -- output ---------------------------------------------------------------------------------


def report(measured: dict, texts: Dict[str, str]) -> str:
    """The Markdown tables and the targets."""
    import benchmark_load

    options = " ".join(measured["options"]["server_args"]) or "(defaults)"
    lines = [
        f"Server options: {options}; {measured['options']['rounds']} rounds; "
        "median (min-max), seconds.",
        "",
        "| text | request | first audio | total | audio | real-time factor | engine alone | WER |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, modes in measured["requests"].items():
        engine = measured["engine"][name]
        for mode, rows in modes.items():
            cells = [_cell([row[key] for row in rows]) for key in ("first_audio_s", "total_s")]
            audio = statistics.median(row["audio_s"] for row in rows)
            rtf = _cell([row["total_s"] / row["audio_s"] for row in rows])
            wer = measured["wer"].get(name)
            lines.append(
                f"| {name} | {mode} | {cells[0]} | {cells[1]} | {audio:.2f} | {rtf} | "
                f"{engine['total_s']['median']:.3f} (RTF {engine['rtf']:.3f}) | "
                f"{'' if wer is None else f'{wer:.3f}'} |"
            )
    lines += [
        "",
        f"Concurrent clients, each sending the {CONCURRENT_TEXT} text:",
        "",
        "| clients | first audio per client | total per client | audio s per s |",
        "|---|---|---|---|",
    ]
    for clients, rounds in measured["concurrency"].items():
        samples = [sample for run in rounds for sample in run["samples"]]
        lines.append(
            f"| {clients} | {_cell([s['first_audio_s'] for s in samples])} | "
            f"{_cell([s['total_s'] for s in samples])} | "
            f"{_cell([run['throughput'] for run in rounds])} |"
        )
    for runtime, figures in measured.get("runtimes", {}).items():
        lines.append(
            f"\nEngine alone on the {CONCURRENT_TEXT} text, {runtime} runtime: "
            f"{figures['total_s']['median']:.3f} s ({figures['total_s']['min']:.3f}-"
            f"{figures['total_s']['max']:.3f}), RTF {figures['rtf']:.3f}"
        )
    describe = measured["describe"]
    lines += [
        "",
        f"`describe` during two syntheses: p50 {describe['p50_s'] * 1000:.1f} ms, "
        f"p99 {describe['p99_s'] * 1000:.1f} ms, max {describe['max_s'] * 1000:.1f} ms "
        f"({describe['count']} requests)",
        f"Server peak RSS: {measured['peak_rss_mib']:.0f} MiB",
        f"Start-up: `describe` answered {measured['startup']['describe_s']:.2f} s after launch, "
        f"first audio of a short answer {measured['startup']['first_audio_s']:.2f} s after launch",
        *benchmark_http.report(measured["http"]),
        "",
        benchmark_load.report(measured["load"]),
        "",
        "Targets:",
        "",
    ]
    lines += [f"- [{'x' if met else ' '}] {text}" for text, met in targets(measured)]
    lines += benchmark_decoder.report(measured, texts)
    return "\n".join(lines)


def targets(measured: dict) -> List[tuple]:
    """Each target of the performance issue, with the figures and whether it is met."""
    import benchmark_load

    if "requests" not in measured:  # `--only load`
        return benchmark_load.targets(measured["load"])
    weather = measured["requests"]["weather"]
    engine = measured["engine"]["weather"]
    server_total = statistics.median(row["total_s"] for row in weather["synthesize"])
    overhead = server_total / engine["total_s"]["median"]
    first = statistics.median(row["first_audio_s"] for row in weather["synthesize"])
    # the raw model's whole decode of the sentence where the engine streams
    first_sentence = engine.get("whole_first_sentence_s", engine["first_sentence_s"])["median"]
    first_ratio = first / first_sentence
    single = statistics.median(run["throughput"] for run in measured["concurrency"]["1"])
    runs4 = measured["concurrency"]["4"]
    four = statistics.median(run["throughput"] for run in runs4)
    waited = any(
        max(s["first_audio_s"] for s in run["samples"]) >= min(s["total_s"] for s in run["samples"])
        for run in runs4
    )
    p99 = measured["describe"]["p99_s"]
    rss = measured["peak_rss_mib"]
    return [
        (
            f"server time / engine time on the weather text: {overhead:.3f} (<= 1.05)",
            overhead <= 1.05,
        ),
        (
            f"first audio / engine's first sentence (whole decode): {first:.3f} s / "
            f"{first_sentence:.3f} s = {first_ratio:.2f} (<= 0.50)",
            first_ratio <= 0.50,
        ),
        (
            f"4 clients' throughput / 1 client's: {four / single:.2f} (>= 0.90)",
            four / single >= 0.90,
        ),
        (
            f"no client of 4 waits for another's whole text before its first audio: "
            f"{'no' if waited else 'yes'}",
            not waited,
        ),
        (f"describe p99 during two syntheses: {p99 * 1000:.1f} ms (<= 50)", p99 <= 0.050),
        (f"peak RSS: {rss:.0f} MiB (<= 500)", rss <= 500),
        *benchmark_load.targets(measured["load"]),
    ]


def chart(measured: dict, path: Path) -> None:
    """Time to first audio and real-time factor per case, medians with min-max bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels: List[str] = []
    firsts: List[List[float]] = []
    rtfs: List[List[float]] = []
    for name, modes in measured["requests"].items():
        for mode, rows in modes.items():
            labels.append(f"{name}\n{mode}")
            firsts.append([row["first_audio_s"] for row in rows])
            rtfs.append([row["total_s"] / row["audio_s"] for row in rows])
    for clients, runs in measured["concurrency"].items():
        samples = [sample for run in runs for sample in run["samples"]]
        labels.append(f"{CONCURRENT_TEXT}\n{clients} clients")
        firsts.append([s["first_audio_s"] for s in samples])
        rtfs.append([s["total_s"] / s["audio_s"] for s in samples])

    figure, axes = plt.subplots(2, 1, figsize=(max(8, len(labels) * 0.7), 8), sharex=True)
    positions = range(len(labels))
    for axis, values, title in (
        (axes[0], firsts, "time to first audio (s)"),
        (axes[1], rtfs, "real-time factor (lower is faster)"),
    ):
        medians = [statistics.median(v) for v in values]
        errors = [
            [m - min(v) for m, v in zip(medians, values, strict=True)],
            [max(v) - m for m, v in zip(medians, values, strict=True)],
        ]
        axis.bar(positions, medians, yerr=errors, capsize=3, color="#4a7ab5")
        axis.set_ylabel(title)
        axis.grid(axis="y", alpha=0.3)
    axes[1].set_xticks(list(positions), labels, rotation=60, ha="right", fontsize=8)
    options = " ".join(measured["options"]["server_args"]) or "default options"
    figure.suptitle(f"wyoming-polytts, {options}: medians, min-max bars")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


if __name__ == "__main__":
    main(sys.argv[1:])
