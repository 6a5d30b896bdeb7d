"""Two real servers on one data dir behind Debian's haproxy, as a household scales out.

Both servers (`python -m wyoming_polytts`, the tiny ZipVoice model so that clones speak
offline) share one data dir; haproxy, started by the test on 127.0.0.1 with a generated
configuration, balances TCP by least connections: one frontend for Wyoming, one for HTTP. A
clone registered through one server speaks through the other and through haproxy; presets and
words saved through haproxy reach both; one name registered through both at once goes to one;
eight Wyoming clients at once through haproxy all get audio, and both servers answer some.
Skipped without haproxy unless POLYTTS_REQUIRE_BROWSER=1 or POLYTTS_REQUIRE_NETNS=1 (as in
CI, where `script/setup --browser` installs it).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from wyoming.client import AsyncClient, AsyncTcpClient
from wyoming.tts import Synthesize, SynthesizeVoice

from wyoming_polytts.models import resolve_kokoro
from wyoming_polytts.settings import REREAD_SECONDS

from .helpers import (
    ADMIN_TOKEN,
    RunningServer,
    collect,
    describe,
    encode,
    free_port,
    start_server,
    voice_like,
    wait_until_ready,
)
from .zipvoice_tiny import build_tiny_zipvoice

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
CLONE = "shared-clone"
RATE = 24000
CLIENTS = 8
# How long a change made through one server may take to show in the other: the watcher's
# interval, and room for a machine busy with eight answers.
SEEN_WITHIN = 4 * REREAD_SECONDS
HEADERS = {"X-Admin-Token": ADMIN_TOKEN}


def _haproxy_or_skip() -> None:
    if Path(HAPROXY).exists():
        return
    message = "needs Debian's haproxy (script/setup --browser installs it)"
    required = ("POLYTTS_REQUIRE_BROWSER", "POLYTTS_REQUIRE_NETNS")
    if any(os.environ.get(name) == "1" for name in required):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def fronts(
    data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Tuple[RunningServer, RunningServer]]:
    """Two servers on one fresh data dir (Kokoro's model files shared with the session)."""
    _haproxy_or_skip()
    resolve_kokoro(data_dir, download=False)  # the embedded model, assembled once
    shared = tmp_path_factory.mktemp("shared-data")
    (shared / "kokoro").symlink_to(data_dir / "kokoro")
    model = build_tiny_zipvoice(tmp_path_factory.mktemp("zipvoice") / "model")
    args = [
        "--no-download",
        "--no-transcriber",
        "--decode-whole",  # no first-start preparation of the windowed decoder
        "--admin-token",
        ADMIN_TOKEN,
        "--zipvoice-model",
        str(model),
    ]
    logs = tmp_path_factory.mktemp("logs")
    one = start_server(shared, logs / "one.log", args)
    try:
        two = start_server(shared, logs / "two.log", args)
        try:
            yield one, two
        finally:
            two.stop()
    finally:
        one.stop()


@dataclass
class Balancer:
    """haproxy in front of both servers."""

    wyoming_port: int
    http_url: str
    log_path: Path

    def client(self) -> AsyncClient:
        return AsyncTcpClient("127.0.0.1", self.wyoming_port)


def haproxy_config(wyoming_port: int, http_port: int, servers: List[RunningServer]) -> str:
    """TCP, least connections, a frontend and a backend each for Wyoming and for HTTP (the
    README's sample, on loopback ports)."""
    wyoming = "\n".join(
        f"    server front{n} 127.0.0.1:{server.port}" for n, server in enumerate(servers, 1)
    )
    http = "\n".join(
        f"    server front{n} {str(server.http_url).split('//')[1]}"
        for n, server in enumerate(servers, 1)
    )
    return f"""
global
    maxconn 256
    log stdout format raw local0 info

defaults
    mode tcp
    log global
    option tcplog
    balance leastconn
    timeout connect 5s
    timeout client 10m
    timeout server 10m

frontend wyoming
    bind 127.0.0.1:{wyoming_port}
    default_backend wyoming_fronts

backend wyoming_fronts
{wyoming}

frontend http
    bind 127.0.0.1:{http_port}
    default_backend http_fronts

backend http_fronts
{http}
"""


@pytest.fixture(scope="module")
def balancer(
    fronts: Tuple[RunningServer, RunningServer], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Balancer]:
    folder = tmp_path_factory.mktemp("haproxy")
    wyoming_port, http_port = free_port(), free_port()
    config = folder / "haproxy.cfg"
    config.write_text(haproxy_config(wyoming_port, http_port, list(fronts)), encoding="utf-8")
    checked = subprocess.run(
        [HAPROXY, "-c", "-f", str(config)], capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    log_path = folder / "haproxy.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [HAPROXY, "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 20
        for port in (wyoming_port, http_port):
            while True:
                assert process.poll() is None, log_path.read_text()
                with socket.socket() as probe:
                    if probe.connect_ex(("127.0.0.1", port)) == 0:
                        break
                assert time.monotonic() < deadline, "haproxy did not start"
                time.sleep(0.1)
        yield Balancer(wyoming_port, f"http://127.0.0.1:{http_port}", log_path)
    finally:
        process.terminate()
        process.wait(timeout=20)


async def _register_clone(fronts: Tuple[RunningServer, RunningServer]) -> None:
    for server in fronts:  # the models load after the port opens
        await wait_until_ready(str(server.http_url), "zipvoice")
        await wait_until_ready(str(server.http_url), "kokoro")
    form = aiohttp.FormData()
    form.add_field("name", CLONE)
    form.add_field("language", "en-US")
    form.add_field("transcript", "Hello world.")
    form.add_field("audio", encode(voice_like(3.0)), filename="grandma.wav")
    async with (
        aiohttp.ClientSession(str(fronts[0].http_url), headers=HEADERS) as http,
        http.post("/api/voices", data=form) as response,
    ):
        assert response.status == 201, await response.text()


async def _delete_clone(balancer: Balancer) -> None:
    async with (
        aiohttp.ClientSession(balancer.http_url, headers=HEADERS) as http,
        http.delete(f"/api/voices/{CLONE}") as response,
    ):
        assert response.status in (200, 404)


@pytest.fixture(scope="module")
def clone(fronts: Tuple[RunningServer, RunningServer], balancer: Balancer) -> Iterator[str]:
    """The clone, registered through the first server's own port; removed at the end."""
    asyncio.run(_register_clone(fronts))
    yield CLONE
    asyncio.run(_delete_clone(balancer))


async def voice_names(server: RunningServer) -> List[str]:
    async with server.client() as client:
        info = await describe(client)
    return [voice.name for voice in info.tts[0].voices]


async def seen_after(server: RunningServer, name: str, deadline: float) -> float:
    """Seconds until `describe` of `server` lists `name` (fails after `deadline`)."""
    began = time.monotonic()
    while name not in await voice_names(server):
        assert time.monotonic() - began < deadline, f"{name} not listed within {deadline} s"
        await asyncio.sleep(0.05)
    return time.monotonic() - began


async def say(client: AsyncClient, text: str, voice: str) -> Tuple[int, bytes]:
    """One `synthesize`: the audio's rate and PCM; fails on an error."""
    async with client:
        await client.write_event(Synthesize(text=text, voice=SynthesizeVoice(name=voice)).event())
        answer = await collect(client, "audio-stop")
    assert "error" not in answer.types(), answer.events
    return int(answer.events[0].data["rate"]), answer.pcm()


async def answers(server: RunningServer) -> float:
    """Wyoming answers the server has begun (its `/metrics`, every engine)."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{server.http_url}/metrics") as response,
    ):
        assert response.status == 200
        text = await response.text()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "polytts_answers_total" and sample.labels.get("door") == "wyoming"
    )


async def test_a_clone_registered_through_one_front_speaks_through_the_other(
    fronts: Tuple[RunningServer, RunningServer], balancer: Balancer, clone: str
) -> None:
    one, two = fronts
    seconds = await seen_after(two, clone, SEEN_WITHIN)
    print(f"the clone was listed by the other server after {seconds:.2f} s")
    rate, pcm = await say(two.client(), "Hello world.", clone)
    assert rate == RATE and len(pcm) / 2 / RATE > 0.5
    rate, pcm = await say(balancer.client(), "Hello world.", clone)
    assert rate == RATE and len(pcm) / 2 / RATE > 0.5
    async with aiohttp.ClientSession(balancer.http_url) as http:
        for _ in range(2):  # least connections: one each, most likely
            body = {"input": "Hello world.", "voice": clone, "response_format": "pcm"}
            async with http.post("/v1/audio/speech", json=body) as response:
                assert response.status == 200, await response.text()
                assert len(await response.read()) / 2 / RATE > 0.5


async def test_a_name_registered_through_both_fronts_at_once_goes_to_one(
    fronts: Tuple[RunningServer, RunningServer], clone: str
) -> None:
    async def register(server: RunningServer) -> Tuple[int, Dict[str, Any]]:
        form = aiohttp.FormData()
        form.add_field("name", "twice")
        form.add_field("language", "en-US")
        form.add_field("transcript", "Hello world.")
        form.add_field("audio", encode(voice_like(2.0)), filename="twice.wav")
        async with (
            aiohttp.ClientSession(str(server.http_url), headers=HEADERS) as http,
            http.post("/api/voices", data=form) as response,
        ):
            return response.status, await response.json()

    outcomes = sorted(await asyncio.gather(*(register(server) for server in fronts)))
    assert [status for status, _ in outcomes] == [201, 409], outcomes
    assert outcomes[1][1]["code"] == "name-taken"
    for server in fronts:
        await seen_after(server, "twice", SEEN_WITHIN)
    async with (
        aiohttp.ClientSession(str(fronts[1].http_url), headers=HEADERS) as http,
        http.delete("/api/voices/twice") as response,
    ):
        assert response.status == 200
    deadline = time.monotonic() + SEEN_WITHIN
    while "twice" in await voice_names(fronts[0]):
        assert time.monotonic() < deadline, "a deletion through one server never reached the other"
        await asyncio.sleep(0.05)


async def test_presets_and_words_saved_through_the_balancer_reach_both_fronts(
    fronts: Tuple[RunningServer, RunningServer], balancer: Balancer, clone: str
) -> None:
    async with aiohttp.ClientSession(balancer.http_url, headers=HEADERS) as http:
        body = {"voice": clone, "speed": 0.8}
        async with http.put("/api/presets/slow-clone", json=body) as response:
            assert response.status == 201, await response.text()
        async with http.put("/api/lexicon/en/Zigbee", json={"say": "zig bee"}) as response:
            assert response.status == 200, await response.text()
    for server in fronts:
        await seen_after(server, "slow-clone", SEEN_WITHIN)
        deadline = time.monotonic() + SEEN_WITHIN
        async with aiohttp.ClientSession(str(server.http_url)) as http:
            while True:
                async with http.get("/api/lexicon") as response:
                    words = [entry["word"] for entry in await response.json()]
                if "Zigbee" in words:
                    break
                assert time.monotonic() < deadline, "the word never reached every server"
                await asyncio.sleep(0.05)
    async with aiohttp.ClientSession(balancer.http_url, headers=HEADERS) as http:
        async with http.delete("/api/presets/slow-clone") as response:
            assert response.status == 200
        async with http.delete("/api/lexicon/en/Zigbee") as response:
            assert response.status == 200


async def test_eight_clients_through_the_balancer_all_get_audio_from_both_fronts(
    fronts: Tuple[RunningServer, RunningServer], balancer: Balancer, clone: str
) -> None:
    for server in fronts:
        await seen_after(server, clone, SEEN_WITHIN)
    before = [await answers(server) for server in fronts]
    voices = [clone, "af_heart"] * (CLIENTS // 2)
    texts = [f"Client {n} says the lights are off." for n in range(CLIENTS)]
    results = await asyncio.wait_for(
        asyncio.gather(*(say(balancer.client(), t, v) for t, v in zip(texts, voices, strict=True))),
        timeout=300,
    )
    for rate, pcm in results:
        assert rate == RATE and len(pcm) / 2 / RATE > 0.5
    served = [
        await answers(server) - earlier for server, earlier in zip(fronts, before, strict=True)
    ]
    print(f"answers per server: {served}")
    assert sum(served) == CLIENTS and min(served) > 0, served
