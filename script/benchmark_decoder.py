"""The streaming Kokoro decoder's part of `script/benchmark`.

Three server configurations are compared over the socket (`CONFIGS`): sentences decoded whole
before they are sent, a long first sentence's first clause cut (the old defaults), windows with
the first clause cut, and windows with every sentence whole (the defaults). In this process,
each sentence is decoded both ways by the engine itself: the streamed audio is measured against
the whole-sentence decode (PESQ wideband at 16 kHz, the largest sample step around each join
between windows, Whisper's word error rate) and the decode times are compared.

This module measures and reports; `benchmark.py` runs the servers and the engine.
"""

from __future__ import annotations

import logging
import re
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from wyoming_polytts.audio import resample, to_pcm16, trim_silence
from wyoming_polytts.engines.base import audio_stream
from wyoming_polytts.text import split_sentences

RATE = 24000
PESQ_RATE = 16000
# Server options of each configuration, added to the benchmark's own; "whole-sentences" (the
# defaults) is the benchmark's main server.
CONFIGS: Dict[str, List[str]] = {
    "decode-whole": ["--decode-whole", "--first-clause"],
    "streaming": ["--first-clause"],
    "whole-sentences": [],
}
BEFORE, AFTER = "decode-whole", "whole-sentences"
LABELS = {
    "decode-whole": "before (whole decodes, first clause cut)",
    "streaming": "windows, first clause cut",
    "whole-sentences": "windows, sentences whole",
}
ONE_ROUND = frozenset({"paragraph"})  # long: one round of it is enough (and costs ~25 s)
JOIN_SPAN = 0.005  # seconds either side of a join
STEP_PERCENTILE = 99.9
# First audio, x the raw whole-sentence decode: of a one-sentence answer, and of a first
# sentence of `LONG_SENTENCE` words or more (other texts have no target).
FIRST_AUDIO_SHORT, FIRST_AUDIO_LONG = 0.50, 0.30
LONG_SENTENCE = 15
MIN_PESQ = 3.9
MAX_DECODE_RATIO = 1.35
_LOGGER = logging.getLogger("benchmark")


# -- decoding in this process ---------------------------------------------------------------


@dataclass
class Streamed:
    """One sentence from an engine's audio stream: its stretches and each call's seconds."""

    chunks: List[np.ndarray] = field(default_factory=list)
    seconds: List[float] = field(default_factory=list)

    @property
    def audio(self) -> np.ndarray:
        return np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.float32)

    @property
    def total_s(self) -> float:
        return sum(self.seconds)

    @property
    def joins(self) -> List[int]:
        """Sample positions where one stretch ends and the next begins."""
        ends = np.cumsum([len(chunk) for chunk in self.chunks if len(chunk)])
        return [int(end) for end in ends[:-1]]


@dataclass
class SentencePair:
    """A sentence streamed and decoded whole, for the quality measures."""

    text: str
    streamed: Streamed
    whole: np.ndarray


def stream_timed(engine: Any, text: str, voice: str, speed: float) -> Streamed:
    """`text` through the engine's stream, each `next_chunk` call timed."""
    stream = audio_stream(engine, text, voice, speed)
    result = Streamed()
    while not stream.finished:
        started = time.perf_counter()
        chunk = stream.next_chunk()
        result.seconds.append(time.perf_counter() - started)
        result.chunks.append(np.asarray(chunk, np.float32))
    return result


def whole_timed(engine: Any, text: str, voice: str, speed: float) -> Tuple[np.ndarray, float]:
    """`text` decoded whole, and the seconds it took."""
    started = time.perf_counter()
    samples = engine.synthesize(text, voice, speed)
    return np.asarray(samples, np.float32), time.perf_counter() - started


def first_sentence_words(text: str) -> int:
    return len(split_sentences(text)[0].split())


def first_audio_target(text: str) -> Optional[float]:
    """The most first audio may be, x the raw decode of the first sentence (None: no target)."""
    if first_sentence_words(text) >= LONG_SENTENCE:
        return FIRST_AUDIO_LONG
    return FIRST_AUDIO_SHORT if len(split_sentences(text)) == 1 else None


_SPEED_LOG = re.compile(r"Kokoro decoder: ([\d.]+) ms per 25 ms frame")


def decoder_speed(server_log: str) -> Optional[float]:
    """Milliseconds per 25 ms frame that a server's decoder measured at start-up (its log)."""
    match = _SPEED_LOG.search(server_log)
    return float(match.group(1)) if match else None


# -- lateness over the socket ---------------------------------------------------------------


class Playback:
    """Audio chunks as they arrive, played from the first one on: how late the worst was.

    A chunk is late by how much it arrives after the audio before it would have finished
    playing, had playback run without a pause since the first chunk arrived.
    """

    def __init__(self, bytes_per_second: float) -> None:
        self._bytes_per_second = bytes_per_second
        self._first: Optional[float] = None
        self._received = 0
        self.chunks = 0
        self.late_s = 0.0

    def arrived(self, at: float, size: int) -> None:
        if self._first is None:
            self._first = at
        played = at - self._first
        self.late_s = max(self.late_s, played - self._received / self._bytes_per_second)
        self._received += size
        self.chunks += 1


# -- quality --------------------------------------------------------------------------------


def _slice_start(full: np.ndarray, part: np.ndarray) -> int:
    """Where `part`, an exact slice of `full` (as `trim_silence` returns), starts in it."""
    if part.size == 0:
        return 0
    for start in np.flatnonzero(full[: full.size - part.size + 1] == part[0]):
        if np.array_equal(full[start : start + part.size], part):
            return int(start)
    raise ValueError("not a slice")


def _lag(reference: np.ndarray, signal: np.ndarray) -> int:
    """The shift that lines `signal` up with `reference` (cross-correlation peak)."""
    size = reference.size + signal.size
    spectrum = np.fft.rfft(reference, size) * np.conj(np.fft.rfft(signal, size))
    peak = int(np.argmax(np.fft.irfft(spectrum, size)))
    return peak if peak < reference.size else peak - size


def _join_steps(samples: np.ndarray, joins: Sequence[int]) -> Dict[str, Any]:
    """Around each join, the largest sample-to-sample step / the 99.9th percentile step."""
    steps = np.abs(np.diff(samples))
    if not joins or steps.size == 0:
        return {"max_ratio": None, "over": 0, "ratios": []}
    reference = float(np.percentile(steps, STEP_PERCENTILE))
    span = int(JOIN_SPAN * RATE)
    ratios = [float(np.max(steps[max(0, join - span) : join + span])) / reference for join in joins]
    return {
        "max_ratio": max(ratios),
        "over": sum(ratio > 1 for ratio in ratios),
        "ratios": [round(ratio, 3) for ratio in ratios],
    }


def _pesq(reference: np.ndarray, degraded: np.ndarray) -> Optional[float]:
    try:
        from pesq import pesq
    except ImportError:
        _LOGGER.warning("No PESQ: the `pesq` package is not installed (dev extra)")
        return None
    try:
        return float(
            pesq(
                PESQ_RATE,
                resample(reference, RATE, PESQ_RATE),
                resample(degraded, RATE, PESQ_RATE),
                "wb",
            )
        )
    except Exception as error:  # noqa: BLE001 - too short or silent: no score
        _LOGGER.warning("No PESQ for a sentence: %s", error)
        return None


def aligned(pair: SentencePair) -> Tuple[np.ndarray, np.ndarray, List[int]]:
    """Both decodes trimmed as the pipeline trims them, cut to the stretch they share and
    lined up; and the joins between windows in that stretch."""
    streamed = pair.streamed.audio
    lag = _lag(pair.whole, streamed)  # streamed[i] is whole[i + lag]
    sent = trim_silence(streamed, RATE)
    reference = trim_silence(pair.whole, RATE)
    sent_at = lag + _slice_start(streamed, sent)
    reference_at = _slice_start(pair.whole, reference)
    start = max(sent_at, reference_at)
    end = min(sent_at + sent.size, reference_at + reference.size)
    sent = sent[start - sent_at : end - sent_at]
    reference = reference[start - reference_at : end - reference_at]
    joins = [lag + join - start for join in pair.streamed.joins]
    return sent, reference, [join for join in joins if 0 < join < sent.size]


def sentence_quality(pair: SentencePair) -> Dict[str, Any]:
    sent, reference, joins = aligned(pair)
    return {
        "text": pair.text,
        "pesq": _pesq(reference, sent),
        "joins": len(joins),
        "streamed": _join_steps(sent, joins),
        "whole": _join_steps(reference, joins),  # the same places in the whole decode
    }


def quality(pairs: Dict[str, List[SentencePair]]) -> Dict[str, dict]:
    """Per text: PESQ (lowest and median sentence) and the join steps, per sentence too."""
    results: Dict[str, dict] = {}
    for name, sentences in pairs.items():
        rows = [sentence_quality(pair) for pair in sentences]
        scores = [row["pesq"] for row in rows if row["pesq"] is not None]
        summary: Dict[str, Any] = {
            "pesq_min": min(scores) if scores else None,
            "pesq_median": statistics.median(scores) if scores else None,
            "joins": sum(row["joins"] for row in rows),
            "windows": sum(len(pair.streamed.joins) + 1 for pair in sentences),
            "sentences": rows,
        }
        for side in ("streamed", "whole"):
            ratios = [row[side]["max_ratio"] for row in rows if row[side]["max_ratio"] is not None]
            summary[f"{side}_max_ratio"] = max(ratios) if ratios else None
            summary[f"{side}_over"] = sum(row[side]["over"] for row in rows)
        results[name] = summary
        _LOGGER.info("quality of %s done", name)
    return results


def spoken(pairs: Dict[str, List[SentencePair]]) -> Tuple[Dict[str, bytes], Dict[str, bytes]]:
    """Each text's streamed and whole-decoded sentences, trimmed and joined, as PCM."""
    streamed, whole = {}, {}
    for name, sentences in pairs.items():
        streamed[name] = b"".join(
            to_pcm16(trim_silence(pair.streamed.audio, RATE)) for pair in sentences
        )
        whole[name] = b"".join(to_pcm16(trim_silence(pair.whole, RATE)) for pair in sentences)
    return streamed, whole


# -- report ---------------------------------------------------------------------------------


def _median(rows: Sequence[dict], key: str) -> float:
    return statistics.median(row[key] for row in rows)


def _span(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def _summary(summary: Optional[Dict[str, float]]) -> str:
    """A `spread` (median, min, max) as a cell."""
    if not summary:
        return "-"
    return f"{summary['median']:.3f} ({summary['min']:.3f}-{summary['max']:.3f})"


def _number(value: Optional[float], digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def first_audio_ratios(measured: dict) -> Dict[str, Dict[str, float]]:
    """Per config and text: median first audio / the raw whole decode of the first sentence."""
    servers = measured["streaming"]["servers"]
    ratios: Dict[str, Dict[str, float]] = {}
    for config, texts in servers.items():
        ratios[config] = {}
        for name, rows in texts.items():
            raw = measured["engine"][name].get("whole_first_sentence_s")
            if raw and rows:
                ratios[config][name] = _median(rows, "first_audio_s") / raw["median"]
    return ratios


def report(measured: dict, texts: Dict[str, str]) -> List[str]:
    """The "Streaming decoder" section: tables and the targets."""
    streaming = measured["streaming"]
    servers: Dict[str, Dict[str, List[dict]]] = streaming["servers"]
    engine = measured["engine"]
    configs = list(servers)
    ratios = first_audio_ratios(measured)
    lines = [
        "",
        "## Streaming decoder",
        "",
        "First audio of the first sentence over the socket (`synthesize`, the whole text), "
        "per server configuration, and its ratio to the raw model's whole-sentence decode of "
        "that sentence (engine alone, in this process, warm). `decode-whole`: "
        "`--decode-whole --first-clause` (the old defaults); `streaming`: windows, "
        "`--first-clause`; `whole-sentences`: windows, sentences whole (the defaults). Engine "
        "first chunk: the streaming engine's first `next_chunk` call. Seconds, median "
        "(min-max).",
        "",
        "Decoder speed each server measured at start-up, ms per 25 ms frame (at 25 or more, "
        "or where the first window would not come much sooner, a sentence is decoded whole): "
        + ", ".join(
            f"{config} {_number(speed, 1)}"
            for config, speed in streaming.get("decoder_ms_per_frame", {}).items()
        ),
        "",
        "| text | words | raw whole decode | "
        + " | ".join(f"{config} | ratio" for config in configs)
        + " | engine first chunk |",
        "|---|---|---|" + "---|---|" * len(configs) + "---|",
    ]
    for name in texts:
        figures = engine[name]
        cells = []
        for config in configs:
            rows = servers[config].get(name, [])
            cells.append(_span([row["first_audio_s"] for row in rows]) if rows else "-")
            cells.append(_number(ratios[config].get(name)))
        lines.append(
            f"| {name} | {first_sentence_words(texts[name])} | "
            f"{_summary(figures.get('whole_first_sentence_s'))} | "
            + " | ".join(cells)
            + f" | {_summary(figures.get('first_chunk_s'))} |"
        )
    quality_rows = streaming.get("quality", {})
    wer = streaming.get("wer", {})
    lines += [
        "",
        "Streamed against whole-sentence decodes of the same sentences (engine alone): PESQ "
        "wideband at 16 kHz, both trimmed as the server trims them and lined up (lowest and "
        "median sentence); around each join between windows (5 ms either side), the largest "
        "sample step / the 99.9th percentile step of the sentence, in the streamed audio and "
        "at the same places in the whole decode (largest ratio; joins over 1 of all joins); "
        "Whisper's word error rate; total decode time, streamed / whole (median over rounds).",
        "",
        "| text | sentences | stretches | PESQ lowest | PESQ median | join step streamed | "
        "same places, whole | joins over, streamed | over, whole | WER streamed | "
        "WER whole | decode time ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in texts:
        row = quality_rows.get(name)
        if row is None:
            continue
        joins = row["joins"]
        lines.append(
            f"| {name} | {len(row['sentences'])} | {row['windows']} | "
            f"{_number(row['pesq_min'])} | "
            f"{_number(row['pesq_median'])} | {_number(row['streamed_max_ratio'])} | "
            f"{_number(row['whole_max_ratio'])} | {row['streamed_over']}/{joins} | "
            f"{row['whole_over']}/{joins} | "
            f"{_number(wer.get('streamed', {}).get(name), 3)} | "
            f"{_number(wer.get('whole', {}).get(name), 3)} | "
            f"{_summary(engine[name].get('decode_ratio'))} |"
        )
    lines += [
        "",
        "No stall: the worst lateness of an audio chunk (how long after the audio before it "
        "would have finished playing, playback starting at the first chunk), milliseconds, "
        "worst of the rounds.",
        "",
        "| text | " + " | ".join(configs) + " |",
        "|---|" + "---|" * len(configs),
    ]
    for name in texts:
        late = [
            _number(max(row["late_s"] for row in servers[c][name]) * 1000, 1)
            if servers[c].get(name)
            else "-"
            for c in configs
        ]
        lines.append(f"| {name} | " + " | ".join(late) + " |")
    lines += ["", "Streaming decoder targets:", ""]
    lines += [f"- [{'x' if met else ' '}] {text}" for text, met in targets(measured, texts)]
    return lines


def targets(measured: dict, texts: Dict[str, str]) -> List[Tuple[str, bool]]:
    """The streaming decoder's targets, each with its figures per text."""
    streaming = measured["streaming"]
    servers = streaming["servers"]
    ratios = first_audio_ratios(measured)
    found: List[Tuple[str, bool]] = []
    for limit, which in (
        (FIRST_AUDIO_SHORT, "one-sentence answers"),
        (FIRST_AUDIO_LONG, f"a first sentence of {LONG_SENTENCE}+ words"),
    ):
        names = [
            name
            for name in texts
            if first_audio_target(texts[name]) == limit and name in ratios.get(AFTER, {})
        ]
        if not names:
            continue
        figures = ", ".join(
            f"{name} {ratios[AFTER][name]:.2f} (first clause cut "
            f"{_number(ratios['streaming'].get(name))}"
            f", before {_number(ratios[BEFORE].get(name))})"
            for name in names
        )
        found.append(
            (
                f"first audio <= {limit:.2f} x the raw whole decode, {which}, sentences whole "
                f"(the defaults): {figures}",
                all(ratios[AFTER][name] <= limit for name in names),
            )
        )
    rows = streaming.get("quality", {})
    if rows:
        scores = {name: row["pesq_min"] for name, row in rows.items()}
        found.append(
            (
                f"PESQ >= {MIN_PESQ} on every text (lowest sentence): "
                + ", ".join(f"{name} {_number(score)}" for name, score in scores.items()),
                all(score is not None and score >= MIN_PESQ for score in scores.values()),
            )
        )
        found.append(
            (
                "no join's step above the 99.9th percentile (whole decode at the same places "
                "in brackets): "
                + ", ".join(
                    f"{name} {row['streamed_over']}/{row['joins']} ({row['whole_over']})"
                    for name, row in rows.items()
                ),
                all(row["streamed_over"] == 0 for row in rows.values()),
            )
        )
    wer = streaming.get("wer", {})
    if wer.get("streamed"):
        found.append(
            (
                "Whisper WER streamed <= whole: "
                + ", ".join(
                    f"{name} {rate:.3f} / {wer['whole'][name]:.3f}"
                    for name, rate in wer["streamed"].items()
                ),
                all(rate <= wer["whole"][name] for name, rate in wer["streamed"].items()),
            )
        )
    decode = {
        name: figures["decode_ratio"]["median"]
        for name, figures in measured["engine"].items()
        if "decode_ratio" in figures
    }
    if decode:
        found.append(
            (
                f"total decode <= {MAX_DECODE_RATIO} x whole: "
                + ", ".join(f"{name} {ratio:.2f}" for name, ratio in decode.items()),
                all(ratio <= MAX_DECODE_RATIO for ratio in decode.values()),
            )
        )
    for config in ("streaming", AFTER):
        late = {name: max(row["late_s"] for row in rows) for name, rows in servers[config].items()}
        found.append(
            (
                f"no stall ({config}), worst lateness ms: "
                + ", ".join(f"{name} {seconds * 1000:.1f}" for name, seconds in late.items()),
                all(seconds <= 0 for seconds in late.values()),
            )
        )
    return found


def chart(measured: dict, path: Path) -> None:
    """First audio per text: each server configuration and the raw whole-sentence decode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    servers = measured["streaming"]["servers"]
    engine = measured["engine"]
    names = [name for name in engine if "whole_first_sentence_s" in engine[name]]
    raw = [engine[name]["whole_first_sentence_s"] for name in names]
    series: List[Tuple[str, List[List[float]]]] = [
        ("raw whole-sentence decode (engine)", [[s["median"], s["min"], s["max"]] for s in raw])
    ]
    for config, texts in servers.items():
        label = f"{config}: {LABELS.get(config, '')}"
        series.append(
            (label, [[row["first_audio_s"] for row in texts.get(n, [])] or [0.0] for n in names])
        )
    width = 0.8 / len(series)
    figure, axis = plt.subplots(figsize=(max(8, len(names) * 1.6), 5))
    for index, (label, values) in enumerate(series):
        medians = [statistics.median(v) for v in values]
        errors = [
            [m - min(v) for m, v in zip(medians, values, strict=True)],
            [max(v) - m for m, v in zip(medians, values, strict=True)],
        ]
        positions = [i + (index - (len(series) - 1) / 2) * width for i in range(len(names))]
        axis.bar(positions, medians, width, yerr=errors, capsize=2, label=label)
    axis.set_xticks(range(len(names)), names)
    axis.set_ylabel("first audio of the first sentence (s)")
    axis.grid(axis="y", alpha=0.3)
    axis.legend(fontsize=8, loc="upper left")
    figure.suptitle("First audio: before (decode-whole) and after (streaming), medians, min-max")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
