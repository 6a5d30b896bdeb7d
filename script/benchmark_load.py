"""Load the way users make it, over the Wyoming socket, on one server in one run.

Every request is a `synthesize` event, as Home Assistant sends it, with `--voice` (af_heart):

1. **Short answers at once**: 1, 2, 4 and 8 different short answers asked at the same instant
   on as many connections: the worst and the median first audio, and the worst against the
   first audio of a short answer alone (each text alone in turn, median over the texts).
2. **Short answers during a long one**: a long answer (`--long-text`, the "paragraph" of
   `benchmark_texts.json`), then short answers on other connections 1, 8 and 16 s after it
   started: the first audio of each against the same text alone, and the long one's stalls.
3. **Two three-sentence answers at once** ("weather" and `EVENING`): the stalls in each.
4. **Stalls** of every request: the moments where a listener playing the audio at real time
   from its first chunk would run out of audio (`stalls`), per scenario.
5. **`describe`** round trips on another connection during all of it, one every 20 ms.
6. **The three-sentence answer alone**: its wall time over Wyoming against the raw model's
   time for the same sentences (the unsplit Kokoro model decoding each sentence whole in
   this process, `RawModel`), paired: each round the raw model decodes right after the
   server's answer, the server idle meanwhile, and the figure is the median of the rounds'
   ratios (this machine's speed drifts by a third between minutes, more than the target's
   margin).

Medians over `--rounds`, with min and max. Prints Markdown tables and the targets, writes
`load.json` into `--output`. Also part of `script/benchmark` (`--only load` runs only this):

    cd script && ../.venv/bin/python benchmark_load.py --rounds 3 --data-dir ../data -- ARGS
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Awaitable, Dict, List, Optional, Sequence, Tuple, TypeVar

from wyoming.info import Describe
from wyoming.tts import Synthesize, SynthesizeVoice

from wyoming_polytts.launch import RunningServer, start_server

_LOGGER = logging.getLogger("benchmark")
_T = TypeVar("_T")

TEXTS_PATH = Path(__file__).with_name("benchmark_texts.json")
# Short answers as Home Assistant's assistant gives them, of about the same length.
SHORT_ANSWERS: Dict[str, str] = {
    "lights": "The living room lights are now off.",
    "timer": "Okay, I set a timer for ten minutes.",
    "door": "The front door is locked.",
    "kitchen": "It is twenty-one degrees in the kitchen.",
    "shopping": "I added milk to your shopping list.",
    "garage": "The garage door is now closed.",
    "music": "Playing your morning playlist in the bedroom.",
    "alarm": "Your alarm is set for half past six.",
}
COUNTS = (1, 2, 4, 8)  # short answers asked at the same instant
# Seconds after the long answer's start: one short answer each, each spoken before the next
# comes (the first while the long one has little audio ahead, the others when it is far ahead).
ARRIVALS = (1.0, 8.0, 16.0)
LONG_TEXT = "paragraph"
THREE_SENTENCES = "weather"
# A second three-sentence answer of about the weather text's length.
EVENING = (
    "The dishwasher has finished and the laundry is dry. All doors are locked and the "
    "garage is closed for the night. Your first meeting is at nine, so your alarm is set "
    "for seven."
)
MIN_GAP = 0.010  # seconds: a shorter gap in the audio is not a stall
DESCRIBE_EVERY = 0.020  # seconds between `describe` round trips
START_DELAY = 0.2  # seconds from the scenario's start to its first request (connecting)
FIRST_AUDIO_TIMEOUT = 60.0  # seconds: a request with no audio by then fails its scenario
REQUEST_TIMEOUT = 300.0
DESCRIBE_TIMEOUT = 10.0
# Targets (issue 25, item 4)
MAX_WORST_OF_FOUR = 2.0  # the worst first audio of 4 at once, x a short answer alone
MAX_DURING_LONG = 1.2  # a short answer's first audio during a long one, x alone
MAX_DESCRIBE_P99 = 0.100
MAX_WALL_RATIO = 1.25  # the three-sentence answer over Wyoming, x the raw model


class LoadError(RuntimeError):
    """A request or round trip that failed or timed out: it fails its scenario."""


def stalls(
    chunks: Sequence[Tuple[float, int]], bytes_per_second: float, min_gap: float = MIN_GAP
) -> Tuple[int, float]:
    """How often, and for how many seconds in all, a listener runs out of audio.

    `chunks` are (arrival in seconds, size in bytes) in order of arrival. The listener plays
    from the first chunk's arrival on at real time; a chunk that arrives after everything
    before it has finished playing is a stall, and playback goes on from its arrival. A gap
    shorter than `min_gap` is not counted and playback is taken to go on without it (so
    short gaps that add up become a stall once they reach `min_gap`).
    """
    count, total = 0, 0.0
    played_until: Optional[float] = None  # when the audio received so far finishes playing
    for at, size in chunks:
        if played_until is None:
            played_until = at
        elif at - played_until >= min_gap:
            count += 1
            total += at - played_until
            played_until = at
        played_until += size / bytes_per_second
    return count, total


@dataclass
class Answer:
    """One request: when it was sent (seconds after its scenario's start), seconds from then
    to the first audio chunk and to `audio-stop`, seconds of audio, and its stalls."""

    name: str
    sent_s: float
    first_audio_s: float
    total_s: float
    audio_s: float
    chunks: int
    stall_count: int
    stall_s: float


async def answer(
    server: RunningServer, name: str, text: str, voice: Optional[str], origin: float, at: float
) -> Answer:
    """Connect, wait until `origin + at` (perf_counter seconds), send `synthesize` and time
    the audio that comes back."""
    wanted = SynthesizeVoice(name=voice) if voice else None
    async with server.client() as client:
        await asyncio.sleep(max(0.0, origin + at - time.perf_counter()))
        started = time.perf_counter()
        await client.write_event(Synthesize(text=text, voice=wanted).event())
        chunks: List[Tuple[float, int]] = []
        bytes_per_second = 24000 * 2.0
        while True:
            limit = FIRST_AUDIO_TIMEOUT if not chunks else REQUEST_TIMEOUT
            remaining = started + limit - time.perf_counter()
            try:
                event = await asyncio.wait_for(client.read_event(), max(remaining, 0.001))
            except TimeoutError:
                what = "no audio" if not chunks else "no audio-stop"
                raise LoadError(f"{name}: {what} within {limit:.0f} s of `synthesize`") from None
            if event is None:
                raise LoadError(f"{name}: the server closed the connection")
            if event.type == "audio-start":
                data = event.data or {}
                bytes_per_second = float(
                    data.get("rate", 24000) * data.get("width", 2) * data.get("channels", 1)
                )
            elif event.type == "audio-chunk":
                chunks.append((time.perf_counter() - started, len(event.payload or b"")))
            elif event.type == "error":
                raise LoadError(f"{name}: the server answered an error: {event.data}")
            elif event.type == "audio-stop":
                break
        total = time.perf_counter() - started
    if not chunks:
        raise LoadError(f"{name}: audio-stop without audio")
    count, stalled = stalls(chunks, bytes_per_second)
    return Answer(
        name=name,
        sent_s=started - origin,
        first_audio_s=chunks[0][0],
        total_s=total,
        audio_s=sum(size for _, size in chunks) / bytes_per_second,
        chunks=len(chunks),
        stall_count=count,
        stall_s=stalled,
    )


async def _all(*awaitables: Awaitable[_T]) -> List[_T]:
    """`asyncio.gather`, but a failure cancels the others (no request outlives its scenario)."""
    tasks = [asyncio.ensure_future(awaitable) for awaitable in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def at_once(
    server: RunningServer, requests: Sequence[Tuple[str, str, float]], voice: Optional[str]
) -> List[Answer]:
    """(name, text, seconds after the start) requests, each on its own connection."""
    origin = time.perf_counter() + START_DELAY
    return await _all(
        *(answer(server, name, text, voice, origin, at) for name, text, at in requests)
    )


class DescribePoller:
    """`describe` round trips on a connection of its own, one every `DESCRIBE_EVERY`
    seconds, filed under the scenario that runs (`label`); none while `label` is None. A
    round trip that fails or takes `DESCRIBE_TIMEOUT` ends the polling with an `error`."""

    def __init__(self, server: RunningServer) -> None:
        self._server = server
        self._stop = asyncio.Event()
        self.label: Optional[str] = None
        self.latencies: Dict[str, List[float]] = {}
        self.error: Optional[str] = None

    async def run(self) -> None:
        try:
            await self._poll()
        except TimeoutError:
            self.error = f"no info within {DESCRIBE_TIMEOUT:.0f} s"
        except (LoadError, OSError) as error:
            self.error = str(error)

    async def _poll(self) -> None:
        async with self._server.client() as client:
            while not self._stop.is_set():
                label = self.label
                if label is not None:
                    started = time.perf_counter()
                    await client.write_event(Describe().event())
                    await asyncio.wait_for(self._info(client), DESCRIBE_TIMEOUT)
                    self.latencies.setdefault(label, []).append(time.perf_counter() - started)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), DESCRIBE_EVERY)

    @staticmethod
    async def _info(client: Any) -> None:
        while (event := await client.read_event()) is not None:
            if event.type == "info":
                return
        raise LoadError("the server closed the connection")

    def stop(self) -> None:
        self._stop.set()


# -- the scenarios --------------------------------------------------------------------------


async def measure_server(
    server: RunningServer,
    texts: Dict[str, str],
    voice: Optional[str],
    rounds: int,
    model: RawModel,
) -> dict:
    """The scenarios on a running server, `rounds` times, with `describe` polled throughout,
    and `model`'s time for the three sentences right after each of the server's answers
    (`raw_model`, in step with `three_sentences_alone`).

    Raw figures: per scenario, one entry per round (a round whose scenario failed has none,
    and its error is in `failures`)."""
    long_text, three = texts[LONG_TEXT], texts[THREE_SENTENCES]
    for warm_up in (SHORT_ANSWERS["lights"], three):
        await at_once(server, [("warm-up", warm_up, 0.0)], voice)
    raw: Dict[str, Any] = {
        "alone": [],
        "three_sentences_alone": [],
        "at_once": {str(count): [] for count in COUNTS if count > 1},
        "during_long": [],
        "two_at_once": [],
        "raw_model": {"sentences": model.sentences, "total_s": []},
        "failures": [],
    }
    poller = DescribePoller(server)
    polling = asyncio.ensure_future(poller.run())
    names = list(SHORT_ANSWERS)

    async def scenario(label: str, round_index: int, work: Awaitable[_T]) -> Optional[_T]:
        poller.label = None if label == "three_sentences_alone" else label
        try:
            return await work
        except (LoadError, OSError) as error:
            _LOGGER.error("load: %s, round %d failed: %s", label, round_index + 1, error)
            raw["failures"].append({"scenario": label, "round": round_index, "error": str(error)})
            return None
        finally:
            poller.label = None

    try:
        for round_index in range(rounds):
            # The three-sentence answer alone, without `describe` polled (against the model).
            found: Any = await scenario(
                "three_sentences_alone",
                round_index,
                at_once(server, [(THREE_SENTENCES, three, 0.0)], voice),
            )
            if found:
                seconds = await scenario(
                    "three_sentences_alone",
                    round_index,
                    asyncio.get_running_loop().run_in_executor(None, model.total),
                )
                if seconds is not None:
                    raw["three_sentences_alone"].append(asdict(found[0]))
                    raw["raw_model"]["total_s"].append(seconds)
            # Each short answer alone, in an order that turns with the rounds.
            shift = round_index % len(names)
            alone: List[dict] = []
            for name in names[shift:] + names[:shift]:
                found = await scenario(
                    "alone", round_index, at_once(server, [(name, SHORT_ANSWERS[name], 0.0)], voice)
                )
                if found:
                    alone.append(asdict(found[0]))
            if len(alone) == len(names):
                raw["alone"].append(alone)
            for count in COUNTS[1:]:
                requests = [(name, SHORT_ANSWERS[name], 0.0) for name in names[:count]]
                found = await scenario("at_once", round_index, at_once(server, requests, voice))
                if found:
                    raw["at_once"][str(count)].append([asdict(item) for item in found])
            requests = [(LONG_TEXT, long_text, 0.0)] + [
                (name, SHORT_ANSWERS[name], at) for name, at in zip(names, ARRIVALS, strict=False)
            ]
            found = await scenario("during_long", round_index, at_once(server, requests, voice))
            if found:
                raw["during_long"].append([asdict(item) for item in found])
            requests = [(THREE_SENTENCES, three, 0.0), ("evening", EVENING, 0.0)]
            found = await scenario("two_at_once", round_index, at_once(server, requests, voice))
            if found:
                raw["two_at_once"].append([asdict(item) for item in found])
            _LOGGER.info("load: round %d done", round_index + 1)
    finally:
        poller.stop()
        await asyncio.wait_for(polling, DESCRIBE_TIMEOUT + 1)
        if poller.error:
            _LOGGER.error("load: %s", poller.error)
            raw["failures"].append({"scenario": "describe", "round": -1, "error": poller.error})
    raw["describe"] = poller.latencies
    return raw


class RawModel:
    """The unsplit Kokoro model in this process, decoding each sentence of `text` whole
    (loaded and warmed up before the server starts, so neither slows the other)."""

    def __init__(self, data_dir: Path, server_args: Sequence[str], text: str, voice: str):
        from wyoming_polytts.__main__ import WARM_UP_TEXTS
        from wyoming_polytts.engines.select import kokoro_engine, kokoro_files
        from wyoming_polytts.settings import parse_settings
        from wyoming_polytts.text import split_sentences

        _LOGGER.info("load: the raw model in this process")
        settings = parse_settings(["--data-dir", str(data_dir), *server_args, "--decode-whole"])
        self._engine = kokoro_engine(settings, kokoro_files(settings))
        self._engine.load()
        self._voice, self._speed = voice, settings.speed
        for warm_up in WARM_UP_TEXTS:
            self._engine.synthesize(warm_up, voice, settings.speed)
        self.sentences = split_sentences(text)

    def total(self) -> float:
        """Seconds to decode all the sentences, one after another."""
        import benchmark_decoder

        return sum(
            benchmark_decoder.whole_timed(self._engine, sentence, self._voice, self._speed)[1]
            for sentence in self.sentences
        )


def complete(load: dict, server_args: Sequence[str], voice: str, rounds: int) -> dict:
    """After the server: the options and the summary, into `load`."""
    load["options"] = {"server_args": list(server_args), "rounds": rounds, "voice": voice}
    load["summary"] = summarize(load)
    return load


def run(
    data_dir: Path,
    server_args: Sequence[str],
    texts: Dict[str, str],
    voice: str,
    rounds: int,
) -> dict:
    """One server of its own for the scenarios, the raw model in this process beside it."""
    from benchmark import wait_until_ready

    model = RawModel(data_dir, server_args, texts[THREE_SENTENCES], voice)
    with tempfile.TemporaryDirectory() as temp:
        server = start_server(data_dir, Path(temp) / "server.log", server_args)
        try:
            wait_until_ready(server)
            load = asyncio.run(measure_server(server, texts, voice, rounds, model))
        finally:
            server.stop()
    return complete(load, server_args, voice, rounds)


# -- figures --------------------------------------------------------------------------------


def _spread(values: Sequence[float]) -> Optional[Dict[str, float]]:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def percentiles(values: Sequence[float]) -> Optional[Dict[str, float]]:
    """Count, p50, p99 and max of round trips (None for none)."""
    if not values:
        return None
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "p50_s": ordered[len(ordered) // 2],
        "p99_s": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "max_s": ordered[-1],
    }


def _stall_totals(answers: Sequence[dict]) -> dict:
    return {
        "requests": len(answers),
        "stalled_requests": sum(1 for item in answers if item["stall_count"]),
        "stalls": sum(item["stall_count"] for item in answers),
        "stalled_s": sum(item["stall_s"] for item in answers),
        "worst_s": max((item["stall_s"] for item in answers), default=0.0),
    }


def _per_request(rounds: Sequence[Sequence[dict]], alone: Dict[str, float]) -> List[dict]:
    """Per request of a scenario (its place in the list), the spread over the rounds."""
    rows = []
    for index in range(len(rounds[0]) if rounds else 0):
        items = [found[index] for found in rounds]
        first = _spread([item["first_audio_s"] for item in items])
        name = items[0]["name"]
        rows.append(
            {
                "name": name,
                "sent_s": statistics.median(item["sent_s"] for item in items),
                "first_audio_s": first,
                "alone_s": alone.get(name),
                "ratio": first["median"] / alone[name] if first and name in alone else None,
                "total_s": _spread([item["total_s"] for item in items]),
                "audio_s": statistics.median(item["audio_s"] for item in items),
                "stall_count": _spread([item["stall_count"] for item in items]),
                "stall_s": _spread([item["stall_s"] for item in items]),
            }
        )
    return rows


def summarize(load: dict) -> dict:
    """The figures of the report and the targets, from `measure_server`'s raw figures."""
    alone_rounds: List[List[dict]] = load["alone"]
    # A short answer alone: per text, the median over the rounds; the N = 1 figure is the
    # median over the texts, per round.
    alone_by_text = {
        name: statistics.median(
            item["first_audio_s"]
            for found in alone_rounds
            for item in found
            if item["name"] == name
        )
        for name in SHORT_ANSWERS
        if alone_rounds
    }
    per_round_median = [statistics.median(i["first_audio_s"] for i in f) for f in alone_rounds]
    alone = statistics.median(per_round_median) if per_round_median else None
    at_once: Dict[str, dict] = {}
    for count in COUNTS:
        rounds = alone_rounds if count == 1 else load["at_once"][str(count)]
        worst = [max(item["first_audio_s"] for item in found) for found in rounds]
        middle = [statistics.median(item["first_audio_s"] for item in found) for found in rounds]
        at_once[str(count)] = {
            "rounds": len(rounds),
            "worst_s": _spread(worst),
            "median_s": _spread(middle),
            "ratio": statistics.median(worst) / alone if worst and alone else None,
            "stalls": _stall_totals([item for found in rounds for item in found]),
        }
    three_alone = [item["total_s"] for item in load["three_sentences_alone"]]
    model = load.get("raw_model", {}).get("total_s", [])
    paired = [server / raw for server, raw in zip(three_alone, model, strict=False)]
    wall = {
        "wyoming_s": _spread(three_alone),
        "raw_model_s": _spread(model),
        "ratio": statistics.median(paired) if paired and len(model) == len(three_alone) else None,
        "ratios": _spread(paired),
    }
    during = _per_request(load["during_long"], alone_by_text)
    shorts = [row["ratio"] for row in during[1:] if row["ratio"] is not None]
    every = [item for found in alone_rounds for item in found]
    scenarios = {
        "alone": _stall_totals(every + list(load["three_sentences_alone"])),
        **{f"{count} at once": at_once[str(count)]["stalls"] for count in COUNTS[1:]},
        "long": _stall_totals([found[0] for found in load["during_long"]]),
        "short during long": _stall_totals(
            [item for found in load["during_long"] for item in found[1:]]
        ),
        "two three-sentence at once": _stall_totals(
            [item for found in load["two_at_once"] for item in found]
        ),
    }
    describe = {label: percentiles(values) for label, values in load["describe"].items()}
    describe["all"] = percentiles([v for values in load["describe"].values() for v in values])
    return {
        "alone_s": alone,
        "alone_by_text_s": alone_by_text,
        "at_once": at_once,
        "during_long": during,
        "worst_during_long_ratio": max(shorts) if shorts else None,
        "two_at_once": _per_request(load["two_at_once"], {}),
        "three_sentences": wall,
        "stalls": scenarios,
        "describe": describe,
    }


def _cell(spread: Optional[Dict[str, float]], digits: int = 3) -> str:
    if spread is None:
        return "-"
    return f"{spread['median']:.{digits}f} ({spread['min']:.{digits}f}-{spread['max']:.{digits}f})"


def _ratio(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.2f} x"


def _ms(describe: Optional[dict], key: str) -> str:
    return "-" if describe is None else f"{describe[key] * 1000:.1f}"


def report(load: dict) -> str:
    """Markdown tables of the load figures (the targets: `targets`)."""
    summary = load["summary"]
    rounds = load["options"]["rounds"]
    lines = [
        f"### Load over Wyoming (voice {load['options']['voice']}; {rounds} rounds; "
        "median (min-max), seconds)",
        "",
        "Different short answers asked at the same instant (N = 1: each alone in turn):",
        "",
        "| answers at once | worst first audio | median first audio | worst / alone | stalls |",
        "|---|---|---|---|---|",
    ]
    for count, row in summary["at_once"].items():
        stalled = row["stalls"]
        lines.append(
            f"| {count} | {_cell(row['worst_s'])} | {_cell(row['median_s'])} | "
            f"{_ratio(row['ratio'])} | {stalled['stalls']} ({stalled['stalled_s']:.3f} s) |"
        )
    lines += [
        "",
        f"A long answer ({LONG_TEXT}) with short answers arriving during it:",
        "",
        "| request | sent at | first audio | alone | against alone | total | audio "
        "| stalls | stalled s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += _request_rows(summary["during_long"])
    lines += [
        "",
        f"Two three-sentence answers ({THREE_SENTENCES}, evening) asked at once:",
        "",
        "| request | sent at | first audio | alone | against alone | total | audio "
        "| stalls | stalled s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += _request_rows(summary["two_at_once"])
    lines += [
        "",
        "Stalls (a listener playing from the first chunk runs out of audio for "
        f"{MIN_GAP * 1000:.0f} ms or more), all rounds:",
        "",
        "| scenario | requests | requests with stalls | stalls | stalled s | worst request s |",
        "|---|---|---|---|---|---|",
    ]
    for scenario, row in summary["stalls"].items():
        lines.append(
            f"| {scenario} | {row['requests']} | {row['stalled_requests']} | {row['stalls']} | "
            f"{row['stalled_s']:.3f} | {row['worst_s']:.3f} |"
        )
    lines += [
        "",
        f"`describe` round trips on another connection, one every {DESCRIBE_EVERY * 1000:.0f} ms:",
        "",
        "| during | round trips | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|",
    ]
    for label, row in summary["describe"].items():
        lines.append(
            f"| {label} | {0 if row is None else row['count']} | {_ms(row, 'p50_s')} | "
            f"{_ms(row, 'p99_s')} | {_ms(row, 'max_s')} |"
        )
    wall = summary["three_sentences"]
    lines += [
        "",
        f"The {THREE_SENTENCES} answer alone: {_cell(wall['wyoming_s'])} s over Wyoming, "
        f"{_cell(wall['raw_model_s'])} s for the raw model decoding its sentences whole right "
        f"after each: {_ratio(wall['ratio'])}, the median of the rounds' ratios "
        f"({_cell(wall['ratios'], 2)})",
    ]
    for failure in load["failures"]:
        when = "throughout" if failure["round"] < 0 else f"round {failure['round'] + 1}"
        lines.append(f"\nFAILED: {failure['scenario']}, {when}: {failure['error']}")
    return "\n".join(lines)


def _request_rows(rows: Sequence[dict]) -> List[str]:
    return [
        f"| {row['name']} | {row['sent_s']:.2f} | {_cell(row['first_audio_s'])} | "
        f"{'-' if row['alone_s'] is None else format(row['alone_s'], '.3f')} | "
        f"{_ratio(row['ratio'])} | "
        f"{_cell(row['total_s'])} | {row['audio_s']:.2f} | {_cell(row['stall_count'], 0)} | "
        f"{_cell(row['stall_s'])} |"
        for row in rows
    ]


def targets(load: dict) -> List[Tuple[str, bool]]:
    """Each load target with its figures, and whether it is met (a failed scenario is not)."""
    summary = load["summary"]
    failed = {failure["scenario"] for failure in load["failures"]}
    four = summary["at_once"]["4"]
    during = summary["worst_during_long_ratio"]
    p99 = (summary["describe"]["all"] or {}).get("p99_s")
    wall = summary["three_sentences"]
    pair = summary["stalls"]["two three-sentence at once"]

    def met(value: Optional[float], limit: float, *scenarios: str) -> bool:
        return value is not None and value <= limit and not failed.intersection(scenarios)

    return [
        (
            f"worst first audio of 4 short answers at once / a short answer alone: "
            f"{_seconds(four['worst_s'])} / {_seconds(summary['alone_s'])} = "
            f"{_ratio(four['ratio'])} (<= {MAX_WORST_OF_FOUR})",
            met(four["ratio"], MAX_WORST_OF_FOUR, "alone", "at_once"),
        ),
        (
            f"first audio of a short answer during a long one / alone, worst of "
            f"{len(ARRIVALS)}: {_ratio(during)} (<= {MAX_DURING_LONG})",
            met(during, MAX_DURING_LONG, "alone", "during_long"),
        ),
        (
            f"describe p99 during the load: "
            f"{'-' if p99 is None else f'{p99 * 1000:.1f}'} ms (< {MAX_DESCRIBE_P99 * 1000:.0f})",
            p99 is not None and p99 < MAX_DESCRIBE_P99 and "describe" not in failed,
        ),
        (
            f"{THREE_SENTENCES} over Wyoming / the raw model's whole sentences: "
            f"{_seconds(wall['wyoming_s'])} / {_seconds(wall['raw_model_s'])}, paired by round: "
            f"{_ratio(wall['ratio'])} (<= {MAX_WALL_RATIO})",
            met(wall["ratio"], MAX_WALL_RATIO, "three_sentences_alone"),
        ),
        (
            f"two three-sentence answers at once, no stall: {pair['stalls']} stalls "
            f"({pair['stalled_s']:.3f} s) in {pair['requests']} answers",
            pair["requests"] > 0 and pair["stalls"] == 0 and "two_at_once" not in failed,
        ),
    ]


def _seconds(value: Any) -> str:
    if value is None:
        return "-"
    number = value["median"] if isinstance(value, dict) else value
    return f"{number:.3f} s"


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--voice", default="af_heart", help="voice of every request")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--texts", type=Path, default=TEXTS_PATH)
    parser.add_argument("--output", type=Path, default=Path("build/benchmark"))
    parser.add_argument("server_args", nargs="*", help="server options (after --)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    texts: Dict[str, str] = json.loads(args.texts.read_text(encoding="utf-8"))
    load = run(args.data_dir, args.server_args, texts, args.voice, args.rounds)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "load.json").write_text(json.dumps(load, indent=2), encoding="utf-8")
    print(report(load))
    print("\nTargets:\n")
    print("\n".join(f"- [{'x' if met else ' '}] {text}" for text, met in targets(load)))
    print(f"\nRaw figures: {args.output}/load.json")


if __name__ == "__main__":
    main(sys.argv[1:])
