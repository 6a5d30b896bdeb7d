"""Word timings against forced alignment: where the server says each word starts, against
where the on-board Whisper base model hears it start (its word timestamps).

Each benchmark text (and an SSML answer with a break and a slower sentence) is spoken through
the speech pipeline with the real Kokoro model, as `/dev/captioned_speech` speaks it; the
words that Whisper hears are matched with the server's in order (the same letters), and the
difference of their starts is reported: median, 95th percentile, largest, and the share
within 80 ms.

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

    samples = resample(audio, 24000, 16000)
    segments, _ = model.transcribe(  # type: ignore[attr-defined]
        samples, language="en", beam_size=5, word_timestamps=True, condition_on_previous_text=False
    )
    return [(word.word, float(word.start)) for segment in segments for word in segment.words or []]


def _differences(words: Sequence[TimedWord], heard: Sequence[Tuple[str, float]]) -> List[float]:
    """|server start - Whisper start| of each word both have, matched in order."""
    ours = [_key(word.word) for word in words]
    theirs = [_key(word) for word, _ in heard]
    matcher = difflib.SequenceMatcher(a=ours, b=theirs, autojunk=False)
    found = []
    for block in matcher.get_matching_blocks():
        for offset in range(block.size):
            found.append(abs(words[block.a + offset].start_time - heard[block.b + offset][1]))
    return found


def run(data_dir: Path, voice_name: str = "af_heart") -> Dict[str, Dict[str, float]]:
    """Each text's figures, and `all` of them together."""
    from faster_whisper import WhisperModel

    whisper = WhisperModel(str(embedded_whisper(data_dir)), device="cpu", compute_type="int8")
    files = resolve_kokoro(data_dir, download=False)
    engine = KokoroEngine(files, threads=2, parts_dir=data_dir / "parts")
    engine.load()
    voice = Voice(next(spec for spec in engine.voices() if spec.name == voice_name), engine)
    pipeline = SpeechPipeline(Scheduler(1))
    every: List[float] = []
    rows: Dict[str, Dict[str, float]] = {}
    for name, text in [*TEXTS.items(), ("ssml", SSML)]:
        audio, words = asyncio.run(_spoken(pipeline, voice, text))
        found = _differences(words, _heard(whisper, audio))
        every.extend(found)
        rows[name] = _summary(found, len(words))
        _LOGGER.info("%-10s %s", name, _line(rows[name]))
    rows["all"] = _summary(every, len(every))
    return rows


def report(rows: Dict[str, Dict[str, float]]) -> str:
    """The figures as lines of text."""
    return "\n".join(f"{name:10s} {_line(row)}" for name, row in rows.items())


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../data"))
    parser.add_argument("--voice", default="af_heart")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = run(args.data_dir, args.voice)
    print(report(rows))
    print(json.dumps(rows, indent=2))


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
