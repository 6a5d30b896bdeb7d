"""The server's own figures: `/metrics` parses as Prometheus' text format and its counters move
as the Wyoming port, the HTTP speech API and the page's previews answer (fake engine, real
handler, pipeline and scheduler on 127.0.0.1); `/api/status` keeps a bounded history."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import AsyncIterator, Dict, List, Optional, Tuple

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeVoice,
)

from wyoming_polytts.background import Supervisor
from wyoming_polytts.http.schemas import Status
from wyoming_polytts.metrics import History, Metrics
from wyoming_polytts.settings import STATUS_HISTORY_SECONDS, STATUS_INTERVAL_SECONDS

from .fake_engine import ADMIN, InProcessServer, read_until, serve_fake, serve_http

Served = Tuple[InProcessServer, str]
Labels = Tuple[Tuple[str, str], ...]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with serve_fake() as running, serve_http(running, tmp_path) as url:
        yield running, url


async def scrape(url: str, headers: Optional[Dict[str, str]] = None) -> Dict[str, float]:
    """Every sample of `/metrics`, parsed by prometheus_client's own parser, by name and
    labels: `name{a="x",b="y"}`."""
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics", headers=headers) as got:
        assert got.status == 200, await got.text()
        assert got.headers["Content-Type"].startswith("text/plain")
        text = await got.text()
    samples: Dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


def value(samples: Dict[str, float], name: str, **labels: str) -> float:
    key = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return samples.get(f"{name}{{{key}}}", 0.0)


async def wyoming_say(running: InProcessServer, text: str) -> List[str]:
    async with running.client() as client:
        await client.write_event(Synthesize(text=text).event())
        return [event.type for event in await read_until(client, "audio-stop")]


async def http_say(url: str, text: str, **fields: object) -> int:
    body = {"input": text, "response_format": "pcm", **fields}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/v1/audio/speech", json=body) as got,
    ):
        await got.read()
        return got.status


async def test_metrics_parse_and_move_with_wyoming_http_and_preview_answers(
    served: Served,
) -> None:
    running, url = served
    before = await scrape(url)
    assert value(before, "polytts_first_audio_seconds_count", door="wyoming", engine="fake") == 0
    assert "process_resident_memory_bytes{}" in before  # the process's memory

    assert "audio-chunk" in await wyoming_say(running, "Hello there. How are you today?")
    assert await http_say(url, "Hello over HTTP.") == 200
    assert await http_say(url, "And streamed whole.", stream=False) == 200
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{url}/api/voices/fake_one/preview", json={}, headers={"X-Admin-Token": ADMIN}
        ) as got,
    ):
        assert got.status == 200

    after = await scrape(url)
    for door, answers in (("wyoming", 1), ("http", 2), ("preview", 1)):
        labels = {"door": door, "engine": "fake"}
        assert value(after, "polytts_answers_total", **labels) == answers
        assert value(after, "polytts_first_audio_seconds_count", **labels) == answers
        assert value(after, "polytts_real_time_factor_count", **labels) == answers
        assert value(after, "polytts_audio_seconds_total", **labels) > 0
        assert value(after, "polytts_answers_in_progress", door=door) == 0
    # every engine call of those answers waited for a worker, and said how long
    assert value(after, "polytts_queue_wait_seconds_count") >= 4
    assert value(after, "polytts_queued_calls") == 0
    assert value(after, "polytts_busy_refusals_total") == 0


async def test_errors_are_counted_by_door_and_code(served: Served) -> None:
    running, url = served
    async with running.client() as client:
        voice = SynthesizeVoice(name="nobody")
        await client.write_event(Synthesize(text="Hello.", voice=voice).event())
        assert "error" in [e.type for e in await read_until(client, "audio-stop")]
    assert await http_say(url, "Hello.", voice="nobody") == 400
    assert await http_say(url, "Please FAIL now.") == 422

    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/api/voices/nobody") as got:
            assert got.status == 404  # a route's answer: counted
        async with http.get(f"{url}/favicon.ico") as got:
            assert got.status == 404  # no route: not the server's error

    after = await scrape(url)
    assert value(after, "polytts_errors_total", door="admin", code="not-found") == 1
    assert value(after, "polytts_errors_total", door="admin", code="http-error") == 0
    assert value(after, "polytts_errors_total", door="wyoming", code="unknown-voice") == 1
    assert value(after, "polytts_errors_total", door="http", code="voice_not_found") == 1
    assert value(after, "polytts_errors_total", door="http", code="synthesis_failed") == 1

    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/api/status") as got:
            status = await got.json()
        async with http.get(f"{url}/api/status", headers={"X-Admin-Token": ADMIN}) as got:
            private = await got.json()
    Status.model_validate(status)  # as the OpenAPI document describes it
    codes = [error["code"] for error in status["errors"]]
    assert codes == ["not-found", "synthesis_failed", "voice_not_found", "unknown-voice"]
    assert all("message" not in error for error in status["errors"])  # may quote a text
    assert "FAIL" in private["errors"][1]["message"]
    assert sum(status["history"]["errors"]) == 4


async def test_a_busy_refusal_is_counted(tmp_path: Path) -> None:
    async with serve_fake(max_queue=1) as running, serve_http(running, tmp_path) as url:
        engine = running.engine
        engine.gate.clear()  # the first answer's call runs and holds the worker
        first = asyncio.create_task(wyoming_say(running, "The first answer."))
        while not engine.running:
            await asyncio.sleep(0.01)
        second = asyncio.create_task(wyoming_say(running, "The second answer."))
        while running.scheduler.queued < 1:  # the second waits: the queue is full
            await asyncio.sleep(0.01)
        assert await http_say(url, "A third, refused.") == 503
        samples = await scrape(url)
        assert value(samples, "polytts_queued_calls") == 1
        engine.gate.set()
        await asyncio.gather(first, second)
        samples = await scrape(url)
    assert value(samples, "polytts_busy_refusals_total") == 1
    assert value(samples, "polytts_errors_total", door="http", code="busy") == 1
    assert value(samples, "polytts_first_audio_seconds_count", door="wyoming", engine="fake") == 2


async def test_a_streamed_text_is_timed_from_its_first_sentence(served: Served) -> None:
    running, url = served
    async with running.client() as client:
        await client.write_event(SynthesizeStart().event())
        await asyncio.sleep(1.0)  # the client thinks before its first sentence
        await client.write_event(SynthesizeChunk(text="Hello there. ").event())
        await client.write_event(SynthesizeStop().event())
        await read_until(client, "synthesize-stopped")
    samples = await scrape(url)
    labels = {"door": "wyoming", "engine": "fake"}
    assert value(samples, "polytts_first_audio_seconds_count", **labels) == 1
    # the second before the text is not the server's: first audio is timed from the text
    assert value(samples, "polytts_first_audio_seconds_bucket", le="1.0", **labels) == 1


async def test_readiness_is_that_of_the_start_up_jobs(tmp_path: Path) -> None:
    jobs = Supervisor()
    started = asyncio.Event()
    jobs.start("kokoro", asyncio.sleep(0))
    jobs.start("zipvoice", started.wait())
    async with serve_fake() as running, serve_http(running, tmp_path, jobs=jobs) as url:
        await asyncio.sleep(0.05)
        samples = await scrape(url)
        assert value(samples, "polytts_ready", job="kokoro") == 1
        assert value(samples, "polytts_ready", job="zipvoice") == 0
        started.set()
        await jobs.wait()
        assert value(await scrape(url), "polytts_ready", job="zipvoice") == 1
        async with aiohttp.ClientSession() as http, http.get(f"{url}/api/status") as got:
            assert (await got.json())["ready"]["zipvoice"]["state"] == "ready"


async def test_metrics_private_needs_the_token_or_an_api_key(tmp_path: Path) -> None:
    async with (
        serve_fake() as running,
        serve_http(running, tmp_path, api_keys=["scraper-key"], metrics_private=True) as url,
    ):
        async with aiohttp.ClientSession() as http:
            for path in ("/metrics", "/api/status"):
                async with http.get(f"{url}{path}") as got:
                    assert got.status == 401
            async with http.get(f"{url}/api/health") as got:
                assert got.status == 200  # health stays open
        assert await scrape(url, {"Authorization": "Bearer scraper-key"})
        assert await scrape(url, {"X-Admin-Token": ADMIN})


async def test_two_servers_in_one_process_keep_their_own_metrics(tmp_path: Path) -> None:
    async with (
        serve_fake() as one,
        serve_fake() as two,
        serve_http(one, tmp_path / "one") as one_url,
        serve_http(two, tmp_path / "two") as two_url,
    ):
        await wyoming_say(one, "Only the first server speaks.")
        labels = {"door": "wyoming", "engine": "fake"}
        assert value(await scrape(one_url), "polytts_answers_total", **labels) == 1
        assert value(await scrape(two_url), "polytts_answers_total", **labels) == 0
    assert Metrics.of(one.scheduler) is not Metrics.of(two.scheduler)


# -- the answer's figures and the history, on a clock of the test's own -----------------------


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_stalls_first_audio_and_real_time_factor_of_one_answer() -> None:
    clock = Clock()
    metrics = Metrics(clock=clock, wall=clock)
    with metrics.answer("wyoming", "kokoro") as watch:
        clock.now += 0.25
        watch.sent(1.0)  # first audio after 0.25 s; plays until +1.25
        clock.now += 0.75
        watch.sent(0.5)  # in time (0.25 s to spare); plays until +1.75
        clock.now += 0.755
        watch.sent(0.5)  # 5 ms late: under the 10 ms that make a stall; until +2.25
        clock.now += 0.695
        watch.sent(0.25)  # 200 ms late: a stall
    text = metrics.exposition().decode()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families.values()
        for sample in family.samples
    }
    labels: Labels = (("door", "wyoming"), ("engine", "kokoro"))
    assert samples[("polytts_stalls_total", labels)] == 1
    assert samples[("polytts_stall_seconds_total", labels)] == pytest.approx(0.2)
    assert samples[("polytts_first_audio_seconds_sum", labels)] == pytest.approx(0.25)
    assert samples[("polytts_audio_seconds_total", labels)] == pytest.approx(2.25)
    # from the request to the last audio (2.45 s), per second of audio (2.25 s)
    assert samples[("polytts_real_time_factor_sum", labels)] == pytest.approx(2.45 / 2.25)
    assert samples[("polytts_answers_in_progress", (("door", "wyoming"),))] == 0
    point = metrics.status(private=False)["history"]
    assert point["answers"][-1] == 1 and point["stalls"][-1] == 1
    assert point["in_progress"][-1] == 1  # the peak while it ran


def test_the_history_keeps_one_point_per_interval_for_an_hour() -> None:
    clock = Clock(0.0)
    history = History(wall=clock)
    history.first_audio(0.4)
    history.first_audio(0.2)
    history.first_audio(0.3)
    history.load(in_progress=2, queued=3)
    clock.now += STATUS_INTERVAL_SECONDS * 3  # two idle intervals pass
    columns = history.columns()
    assert columns["time"] == [0.0, 10.0, 20.0, 30.0]
    assert columns["answers"] == [3, 0, 0, 0]
    assert columns["first_audio_p50"] == [0.3, None, None, None]
    assert columns["first_audio_max"] == [0.4, None, None, None]
    assert columns["in_progress"] == [2, 2, 2, 2]  # the load the last event left
    assert columns["queued"] == [3, 3, 3, 3]

    clock.now += 2 * STATUS_HISTORY_SECONDS  # two hours: bounded
    history.load(in_progress=0, queued=0)
    columns = history.columns()
    assert len(columns["time"]) == int(STATUS_HISTORY_SECONDS / STATUS_INTERVAL_SECONDS)
    assert columns["time"][-1] - columns["time"][0] == STATUS_HISTORY_SECONDS - 10.0
    assert columns["answers"] == [0] * len(columns["time"])
