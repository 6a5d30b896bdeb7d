"""Word timings against forced alignment: where the server says each word starts, against
where the on-board Whisper base model hears it start (its word timestamps).

Each benchmark text (and an SSML answer with a break and a slower sentence) is spoken through
the speech pipeline with the real Kokoro model, as `/dev/captioned_speech` speaks it; the
words that Whisper hears are matched with the server's in order (the same letters), and the
difference of their starts is reported: median, 95th percentile, largest, and the share
within 80 ms.

Whisper's word timestamps are themselves off by hundreds of milliseconds in places (a word
after a pause is often put where the pause begins), so the figures against it are a bound on
the sum of both errors. Where a word's true start can be read from the audio, it is checked
against that too: every word spoken after a pause starts where the sound comes back
(`onsets`: a stretch of at least `PAUSE` that is `SILENCE_DB` below the answer's loudest
10 ms, then sound). Each onset is paired with the word the server starts nearest it, within
`PAIRING`; an onset no word starts near is reported as missed. Server and Whisper are both
scored on those words.

    cd script && ../.venv/bin/python benchmark_captions.py --data-dir ../data
    script/benchmark --only captions       (the same, its figures in build/benchmark)
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import logging
import re
import statistics
import sys
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

from wyoming_polytts.captions import AnswerClock, TimedWord
from wyoming_polytts.engines.kokoro.runtime import KokoroEngine
from wyoming_polytts.engines.kokoro.stream import SAMPLE_RATE
from wyoming_polytts.models import resolve_kokoro
from wyoming_polytts.pipeline import SpeechPipeline
from wyoming_polytts.scheduler import Scheduler
from wyoming_polytts.speech.pieces import text_pieces
from wyoming_polytts.text import ClausePolicy
from wyoming_polytts.transcriber import embedded_whisper
from wyoming_polytts.voices import Voice

_LOGGER = logging.getLogger("benchmark")
TEXTS = json.loads((Path(__file__).parent / "benchmark_texts.json").read_text())
SSML = (
    '<speak>Good night. <break time="700ms"/> The doors are locked. '
    '<prosody rate="slow">Sleep well, and see you tomorrow.</prosody></speak>'
)
WITHIN = 0.080  # seconds: the target for every word's start
SILENCE_DB = 40.0  # a 10 ms frame this far below the answer's loudest is silent
PAUSE = 0.100  # seconds of silence after which the sound coming back is a word's start
PAIRING = 0.300  # seconds: an onset belongs to the word the server starts nearest it
FRAME = 0.010  # seconds: the energy frames of `onsets`
WORD = re.compile(r"[a-z0-9]+")


def _key(word: str) -> str:
    return "".join(WORD.findall(word.lower()))


async def _spoken(
    pipeline: SpeechPipeline, voice: Voice, text: str
) -> Tuple[np.ndarray, List[TimedWord]]:
    clock, words, audio = AnswerClock(), [], []
    pieces = text_pieces(text, None, ClausePolicy())
    async for spoken in pipeline.speak(voice, pieces, client="captions"):
        words.extend(clock.words(spoken))
        audio.append(spoken.samples)
    return np.concatenate(audio), words


def _heard(model: object, audio: np.ndarray) -> List[Tuple[str, float]]:
    from wyoming_polytts.audio import resample

    samples = resample(audio, SAMPLE_RATE, 16000)
    segments, _ = model.transcribe(  # type: ignore[attr-defined]
        samples, language="en", beam_size=5, word_timestamps=True, condition_on_previous_text=False
    )
    return [(word.word, float(word.start)) for segment in segments for word in segment.words or []]


def _matched(words: Sequence[TimedWord], heard: Sequence[Tuple[str, float]]) -> Dict[int, float]:
    """Whisper's start of each of the server's words it heard, by the word's index, the
    words matched in order by their letters."""
    ours = [_key(word.word) for word in words]
    theirs = [_key(word) for word, _ in heard]
    matcher = difflib.SequenceMatcher(a=ours, b=theirs, autojunk=False)
    return {
        block.a + offset: heard[block.b + offset][1]
        for block in matcher.get_matching_blocks()
        for offset in range(block.size)
    }


def onsets(audio: np.ndarray, rate: int) -> List[float]:
    """Seconds where sound comes back after at least `PAUSE` of silence."""
    size = int(FRAME * rate)
    count = len(audio) // size
    if count == 0:
        return []
    frames = audio[: count * size].astype(np.float64).reshape(count, size)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    silent = level < level.max() - SILENCE_DB
    found, quiet = [], 0
    for index, is_silent in enumerate(silent):
        if is_silent:
            quiet += 1
            continue
        if quiet * FRAME >= PAUSE - 1e-9:
            found.append(index * FRAME)
        quiet = 0
    return found


def at_onsets(
    words: Sequence[TimedWord], starts: Sequence[float]
) -> Tuple[List[Tuple[int, float]], int]:
    """Each onset with the index of the word the server starts nearest it (within
    `PAIRING`), and how many onsets no word starts near."""
    paired, missed = [], 0
    for onset in starts:
        nearest = min(range(len(words)), key=lambda i: abs(words[i].start_time - onset), default=-1)
        if nearest < 0 or abs(words[nearest].start_time - onset) > PAIRING:
            missed += 1
        else:
            paired.append((nearest, onset))
    return paired, missed


def run(data_dir: Path, voice_name: str = "af_heart") -> Dict[str, Dict[str, float]]:
    """Each text's figures against Whisper, `all` of them together, and the server's and
    Whisper's at the words after a pause against the audio (`onsets_server`,
    `onsets_whisper`)."""
    from faster_whisper import WhisperModel

    whisper = WhisperModel(str(embedded_whisper(data_dir)), device="cpu", compute_type="int8")
    files = resolve_kokoro(data_dir, download=False)
    engine = KokoroEngine(files, threads=2, parts_dir=data_dir / "parts")
    engine.load()
    voice = Voice(next(spec for spec in engine.voices() if spec.name == voice_name), engine)
    pipeline = SpeechPipeline(Scheduler(1))
    every: List[float] = []
    ours_at_onsets: List[float] = []
    whisper_at_onsets: List[float] = []
    missed = 0
    rows: Dict[str, Dict[str, float]] = {}
    for name, text in [*TEXTS.items(), ("ssml", SSML)]:
        audio, words = asyncio.run(_spoken(pipeline, voice, text))
        heard = _matched(words, _heard(whisper, audio))
        found = [abs(words[index].start_time - start) for index, start in heard.items()]
        every.extend(found)
        rows[name] = _summary(found, len(words))
        _LOGGER.info("%-10s %s", name, _line(rows[name]))
        pairs, unpaired = at_onsets(words, onsets(audio, SAMPLE_RATE))
        missed += unpaired
        ours_at_onsets.extend(abs(words[index].start_time - onset) for index, onset in pairs)
        whisper_at_onsets.extend(
            abs(heard[index] - onset) for index, onset in pairs if index in heard
        )
    rows["all"] = _summary(every, len(every))
    # the words after a pause, against where the sound comes back
    rows["onsets_server"] = {**_summary(ours_at_onsets, len(ours_at_onsets)), "missed": missed}
    rows["onsets_whisper"] = _summary(whisper_at_onsets, len(ours_at_onsets))
    return rows


def report(rows: Dict[str, Dict[str, float]]) -> str:
    """The figures as lines of text."""
    lines = [f"{name:10s} {_line(row)}" for name, row in rows.items() if name in _AGAINST_WHISPER]
    lines.append("against the audio, at the words after a pause (where the sound comes back):")
    server, whisper = rows["onsets_server"], rows["onsets_whisper"]
    lines.append(f"  server   {_line(server)}, onsets no word starts near: {server['missed']}")
    lines.append(f"  Whisper  {_line(whisper)}")
    return "\n".join(lines)


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../data"))
    parser.add_argument("--voice", default="af_heart")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = run(args.data_dir, args.voice)
    print(report(rows))
    print(json.dumps(rows, indent=2))


_AGAINST_WHISPER = (*TEXTS, "ssml", "all")


def _summary(found: List[float], words: int) -> Dict[str, float]:
    if not found:
        return {"words": words, "matched": 0}
    ordered = sorted(found)
    return {
        "words": words,
        "matched": len(found),
        "median_ms": round(1000 * statistics.median(found), 1),
        "p95_ms": round(1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
        "max_ms": round(1000 * ordered[-1], 1),
        "within_80ms": round(sum(1 for value in found if value <= WITHIN) / len(found), 3),
    }


def _line(row: Dict[str, float]) -> str:
    if not row.get("matched"):
        return f"{row['words']} words, none matched"
    return (
        f"{row['matched']}/{row['words']} words matched, start difference median "
        f"{row['median_ms']} ms, p95 {row['p95_ms']} ms, max {row['max_ms']} ms, "
        f"within 80 ms: {100 * row['within_80ms']:.0f} %"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
