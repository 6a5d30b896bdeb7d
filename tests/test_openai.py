"""The OpenAI-style speech API, driven by the official `openai` SDK against the real web app
on 127.0.0.1, with the fake engine behind the real pipeline and scheduler (shared with an
in-process Wyoming handler)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import os
import socket
import threading
from pathlib import Path
from typing import AsyncIterator, Callable, Dict, List, Tuple

import aiohttp
import httpx
import numpy as np
import openai
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from wyoming.tts import Synthesize, SynthesizeVoice

from wyoming_polytts.engines.clones import PromptAudio
from wyoming_polytts.engines.zipvoice import ZipVoiceEngine
from wyoming_polytts.engines.zipvoice.model import ZipVoiceFiles
from wyoming_polytts.http import openai as openai_module
from wyoming_polytts.http.app import create_app
from wyoming_polytts.http.auth import Guard
from wyoming_polytts.http.download import UrlCache, UrlPolicy
from wyoming_polytts.http.encoder import FORMATS, AudioEncoder
from wyoming_polytts.http.openai import MODELS
from wyoming_polytts.http.prompts import PromptCache
from wyoming_polytts.presets import PresetStore
from wyoming_polytts.registry import VoiceRegistry
from wyoming_polytts.settings import (
    ENCODE_SLICE_SECONDS,
    MAX_PIECE_CHARS,
    MAX_TEXT_CHARS,
    MAX_WHOLE_ANSWER_CHARS,
)

from .fake_engine import (
    ADMIN,
    RATE,
    InProcessServer,
    StreamingFakeEngine,
    http_context,
    read_until,
    serve_fake,
    serve_http,
)
from .helpers import decode_audio, describe, encode, voice_like

Served = Tuple[InProcessServer, str]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with serve_fake() as running, serve_http(running, tmp_path) as url:
        yield running, url


def sdk(url: str, key: str = "no-key-needed") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


def spoken_seconds(running: InProcessServer) -> float:
    """How long the fake engine's answer is: 10 ms per character it was given."""
    return sum(len(text) for text in running.engine.calls) * running.engine.seconds_per_char


@pytest.mark.parametrize("response_format", list(FORMATS))
async def test_a_streamed_answer_sends_its_first_bytes_before_the_rest_exists(
    served: Served, response_format: str
) -> None:
    running, url = served
    running.engine.hold.clear()  # the second sentence cannot be spoken until this is set
    text = "The first sentence is short. HOLD the second one until the first is heard."
    speech = sdk(url).audio.speech.with_streaming_response.create(
        model="tts-1", voice="fake_one", input=text, response_format=response_format
    )
    async with speech as response:
        assert response.headers["content-type"] == FORMATS[response_format].content_type
        chunks = response.iter_bytes()
        first = await asyncio.wait_for(chunks.__anext__(), 20)  # the engine is still held
        running.engine.hold.set()
        rest = b"".join([chunk async for chunk in chunks])
    assert first
    audio = decode_audio(first + rest, response_format)
    # AAC and MP3 streams add up to two frames of encoder delay and padding.
    assert len(audio) / RATE == pytest.approx(spoken_seconds(running), abs=0.1)
    assert np.sqrt(np.mean(audio**2)) > 0.1  # the tone, not silence


@pytest.mark.parametrize("response_format", ["mp3", "opus", "aac"])
async def test_a_lossy_stream_sends_its_first_frames_before_its_first_piece_is_encoded(
    served: Served, response_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    running, url = served
    given: List[int] = []  # samples handed to the encoder, call by call
    release = threading.Event()

    class HeldEncoder(AudioEncoder):
        def encode(self, samples: np.ndarray) -> bytes:
            if given:
                release.wait(timeout=30)  # every call after the first waits
            given.append(len(samples))
            return super().encode(samples)

    monkeypatch.setattr(openai_module, "AudioEncoder", HeldEncoder)
    text = "One sentence that is spoken for more than half a second."  # one piece
    speech = sdk(url).audio.speech.with_streaming_response.create(
        model="tts-1", voice="fake_one", input=text, response_format=response_format
    )
    async with speech as response:
        chunks = response.iter_bytes()
        first = await asyncio.wait_for(chunks.__anext__(), 20)
        assert given == [int(ENCODE_SLICE_SECONDS * RATE)]  # the rest of the piece waits
        release.set()
        rest = b"".join([chunk async for chunk in chunks])
    assert first and sum(given) > 5 * given[0]
    audio = decode_audio(first + rest, response_format)
    assert len(audio) / RATE == pytest.approx(spoken_seconds(running), abs=0.1)


@pytest.mark.parametrize("response_format", list(FORMATS))
async def test_a_whole_answer_is_one_file_of_the_right_length(
    served: Served, response_format: str
) -> None:
    running, url = served
    answer = await sdk(url).audio.speech.create(
        model="tts-1",
        voice="fake_two",
        input="One sentence. And another one.",
        response_format=response_format,
        extra_body={"stream": False},
    )
    assert answer.response.headers.get("content-length") == str(len(answer.content))
    audio = decode_audio(answer.content, response_format)
    assert len(audio) / RATE == pytest.approx(spoken_seconds(running), abs=0.06)
    assert running.engine.voices_used == ["fake_two", "fake_two"]


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("response_format", list(FORMATS))
async def test_nothing_to_say_is_a_short_silent_file(
    served: Served, response_format: str, stream: bool
) -> None:
    """Only symbols, emoji or dots: 200 and a file every decoder plays (silence), not an
    error and not an empty body (an MP3 or Opus file without a frame does not decode)."""
    running, url = served
    for text in ("🙂 *", "...", "   "):
        answer = await sdk(url).audio.speech.create(
            model="tts-1",
            voice="fake_one",
            input=text,
            response_format=response_format,
            extra_body={"stream": stream},
        )
        audio = decode_audio(answer.content, response_format)
        assert audio.size > 0 and np.abs(audio).max() < 1e-3
    assert running.engine.calls == []


async def test_speed_and_blended_or_openai_voice_names(served: Served) -> None:
    running, url = served
    client = sdk(url)
    answer = await client.audio.speech.create(
        model="gpt-4o-mini-tts", voice="alloy", input="Quick.", speed=2.0, response_format="pcm"
    )
    assert running.engine.voices_used == ["fake_one"]  # no af_alloy here: the default voice
    assert len(decode_audio(answer.content, "pcm")) / RATE == pytest.approx(
        spoken_seconds(running) / 2, abs=0.02
    )


async def test_voices_and_models_are_listed(served: Served) -> None:
    _, url = served
    listed = await sdk(url).models.list()
    assert [model.id for model in listed.data] == list(MODELS)
    async with httpx.AsyncClient(base_url=url) as http:
        voices = (await http.get("/v1/audio/voices")).json()
    assert voices == {"voices": ["fake_one", "fake_two"]}


@pytest.mark.parametrize(
    ("change", "code", "param"),
    [
        ({"voice": "nobody"}, "voice_not_found", "voice"),
        ({"input": ""}, "invalid_value", "input"),
        ({"input": "x" * (MAX_TEXT_CHARS + 1)}, "input_too_long", "input"),
        ({"response_format": "ogg"}, "invalid_value", "response_format"),
        ({"model": "whisper-1"}, "model_not_found", "model"),
        ({"model": "zipvoice"}, "model_mismatch", "voice"),
        ({"speed": 9.0}, "invalid_value", "speed"),
        ({"input": "<speak><oops></speak>"}, "invalid_ssml", "input"),
        (
            {"input": "<speak>" + "<s>" * 1200 + "Hi." + "</s>" * 1200 + "</speak>"},
            "invalid_ssml",
            "input",
        ),
    ],
)
async def test_bad_requests_get_openai_errors(
    served: Served, change: dict, code: str, param: str
) -> None:
    running, url = served
    request = {"model": "tts-1", "voice": "fake_one", "input": "Hello.", **change}
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk(url).audio.speech.create(**request)
    error = caught.value
    assert error.status_code == 400 and error.code == code and error.param == param
    assert error.type == "invalid_request_error" and isinstance(error.body, dict)
    assert error.body["message"]
    assert running.engine.calls == []


async def test_an_engine_failure_is_a_json_error_or_cuts_the_stream(served: Served) -> None:
    running, url = served
    client = sdk(url)
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        await client.audio.speech.create(model="tts-1", voice="fake_one", input="FAIL at once.")
    assert caught.value.code == "synthesis_failed"
    speech = client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="fake_one", input="A good start. Then FAIL.", response_format="pcm"
    )
    async with speech as response:
        # Never a short answer that looks whole: the chunked body ends without its last chunk.
        with pytest.raises(Exception, match="incomplete chunked read"):
            async for _ in response.iter_bytes():
                pass


async def test_http_and_wyoming_clients_take_turns_and_describe_stays_instant(
    served: Served,
) -> None:
    running, url = served
    running.engine.gate.clear()  # every synthesis waits
    text = "Alpha one. Alpha two. Alpha three. Alpha four."
    http = asyncio.create_task(
        sdk(url).audio.speech.create(
            model="tts-1", voice="fake_one", input=text, response_format="pcm"
        )
    )
    while running.engine.running == 0:
        await asyncio.sleep(0.01)
    async with running.client() as client:
        info = await asyncio.wait_for(describe(client), 5)  # not queued behind the speech
        assert [voice.name for voice in info.tts[0].voices] == ["fake_one", "fake_two"]
        voice = SynthesizeVoice(name="fake_two")
        await client.write_event(Synthesize(text="Bravo.", voice=voice).event())
        while len(running.scheduler._queues) < 2:  # both clients are waiting their turn
            await asyncio.sleep(0.01)
        running.engine.gate.set()
        await read_until(client, "audio-stop")
    await http
    calls = running.engine.calls
    assert calls.index("Bravo.") < calls.index("Alpha four.")


async def test_with_api_keys_speech_needs_one(tmp_path: Path) -> None:
    async with serve_fake() as running, serve_http(running, tmp_path, ["key-1", "key-2"]) as url:
        request = {"model": "tts-1", "voice": "fake_one", "input": "Hi.", "response_format": "pcm"}
        with pytest.raises(openai.AuthenticationError) as caught:
            await sdk(url, "wrong").audio.speech.create(**request)
        assert caught.value.code == "invalid_api_key"
        for key in ("key-2", ADMIN):
            answer = await sdk(url, key).audio.speech.create(**request)
            assert len(answer.content) > 0
        assert [model.id for model in (await sdk(url, "wrong").models.list()).data]


async def test_wrong_keys_lock_a_client_out_even_with_the_right_key(tmp_path: Path) -> None:
    async with serve_fake() as running, serve_http(running, tmp_path, ["key-1"]) as url:
        request = {"model": "tts-1", "voice": "fake_one", "input": "Hi.", "response_format": "pcm"}
        for _ in range(5):
            with pytest.raises(openai.AuthenticationError):
                await sdk(url, "guess").audio.speech.create(**request)
        with pytest.raises(openai.RateLimitError) as caught:
            await sdk(url, "key-1").audio.speech.create(**request)
        assert caught.value.code == "rate_limit_exceeded"
        assert 1 <= int(caught.value.response.headers["Retry-After"]) <= 60
        assert [model.id for model in (await sdk(url, "key-1").models.list()).data]  # open


async def test_registering_and_deleting_through_v1_needs_a_key_or_the_token(
    tmp_path: Path,
) -> None:
    async with (
        serve_fake() as running,
        serve_http(running, tmp_path, ["key-1"]) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        form = {"name": "grandma", "transcription": "Hello there, this is grandma."}
        files = {"audio_file": ("grandma.wav", encode(voice_like(3.0)), "audio/wav")}
        refused = await http.post("/v1/zipvoice/voices/register", data=form, files=files)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
        key = {"Authorization": "Bearer key-1"}
        created = await http.post(
            "/v1/zipvoice/voices/register", data=form, files=files, headers=key
        )
        assert created.status_code == 201, created.text
        assert created.json()["language"] == "en-US" and created.json()["duration"] > 2

        public = (await http.get("/v1/zipvoice/voices")).json()
        assert public["total"] == 1 and public["voices"][0]["transcription"] is None
        private = (await http.get("/v1/zipvoice/voices/grandma", headers=key)).json()
        assert private["transcription"] == "Hello there, this is grandma."

        assert (await http.delete("/v1/zipvoice/voices/grandma")).status_code == 401
        token = {"X-Admin-Token": ADMIN}
        assert (await http.delete("/v1/zipvoice/voices/grandma", headers=token)).json() == {
            "deleted": "grandma"
        }
        missing = await http.get("/v1/zipvoice/voices/grandma")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not-found"


def test_the_prompt_cache_is_bounded_in_size_and_age() -> None:
    now = [0.0]
    cache = PromptCache(max_entries=2, max_age_seconds=60, clock=lambda: now[0])
    prompt = PromptAudio(np.zeros(10, np.float32), "hello")
    for source in ("url+a", "url+b", "url+c"):
        cache.put(source, prompt)
    assert len(cache) == 2 and cache.get("url+a") is None and cache.get("url+c") is prompt
    now[0] = 61.0
    assert cache.get("url+c") is None and len(cache) == 0


def test_the_download_cache_is_bounded_in_size_and_age(tmp_path: Path) -> None:
    cache = UrlCache(tmp_path, max_entries=2, max_age_seconds=3600)
    cache.put("http://a", b"a")
    old = cache._path("http://a")
    os.utime(old, (1, 1))  # downloaded long ago
    assert cache.get("http://a") is None
    for url in ("http://b", "http://c", "http://d"):
        cache.put(url, url.encode())
    assert not old.exists() and len(cache) == 2
    assert cache.get("http://d") == b"http://d" and cache.get("http://b") is None


async def test_a_client_that_stops_reading_is_dropped(tmp_path: Path) -> None:
    sentences = 300
    text = " ".join(f"Sentence number {n} is said." for n in range(sentences))
    body = json.dumps(
        {"model": "tts-1", "voice": "fake_one", "input": text, "response_format": "pcm"}
    ).encode()
    request = (
        b"POST /v1/audio/speech HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    async with serve_fake() as running:
        running.engine.seconds_per_char = 0.05  # 22 MB of PCM: more than socket buffers hold
        context = dataclasses.replace(http_context(running, tmp_path), write_seconds=0.5)
        async with TestServer(create_app(context), host="127.0.0.1") as server:
            assert server.runner is not None and server.runner.server is not None
            web_server = server.runner.server
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.setblocking(False)
                loop = asyncio.get_running_loop()
                await loop.sock_connect(sock, ("127.0.0.1", server.port))
                await loop.sock_sendall(sock, request)
                while not web_server.connections:
                    await asyncio.sleep(0.01)
                for _ in range(400):  # never read: the server must let the connection go
                    if not web_server.connections:
                        break
                    await asyncio.sleep(0.05)
                assert not web_server.connections, "the server still holds a client that never read"
                calls = len(running.engine.calls)
                assert calls < sentences
                await asyncio.sleep(0.3)
                assert len(running.engine.calls) == calls, "still working for it"


async def test_a_preset_speaks_its_voice_at_its_speed_and_is_listed(tmp_path: Path) -> None:
    presets = PresetStore(tmp_path / "presets.json")
    async with (
        serve_fake(presets=presets) as running,
        serve_http(running, tmp_path) as url,
        httpx.AsyncClient(base_url=url, headers={"X-Admin-Token": ADMIN}) as http,
    ):
        saved = await http.put("/api/presets/slow-two", json={"voice": "fake_two", "speed": 0.5})
        assert saved.status_code == 201, saved.text
        voices = (await http.get("/v1/audio/voices")).json()["voices"]
        assert voices == ["fake_one", "fake_two", "slow-two"]
        client = sdk(url)
        for speed, times in ((1.0, 2.0), (2.0, 1.0)):  # the request's speed times the preset's
            running.engine.calls.clear()
            answer = await client.audio.speech.create(
                model="tts-1",
                voice="slow-two",
                input="Slowly now.",
                speed=speed,
                response_format="pcm",
            )
            seconds = len(decode_audio(answer.content, "pcm")) / RATE
            assert seconds == pytest.approx(spoken_seconds(running) * times, abs=0.02)
        assert running.engine.voices_used == ["fake_two", "fake_two"]


async def test_every_stretch_of_a_streamed_piece_is_sent_as_it_is_made(tmp_path: Path) -> None:
    engine = StreamingFakeEngine(stretches=3)
    async with serve_fake(engine=engine) as running, serve_http(running, tmp_path) as url:
        engine.later_gate.clear()  # only the first stretch of each piece can be made
        speech = sdk(url).audio.speech.with_streaming_response.create(
            model="tts-1", voice="fake_one", input="One piece in three stretches.",
            response_format="pcm",
        )  # fmt: skip
        async with speech as response:
            chunks = response.iter_bytes()
            first = await asyncio.wait_for(chunks.__anext__(), 20)  # stretches 2-3 are held
            assert first and len(engine.stretches_made) == 1
            engine.later_gate.set()
            rest = b"".join([chunk async for chunk in chunks])
    assert len(engine.stretches_made) == 3
    audio = decode_audio(first + rest, "pcm")  # every stretch, its model silence trimmed
    assert len(audio) / RATE == pytest.approx(sum(engine.stretches_made) / RATE, abs=0.02)


async def test_the_ingress_proxy_needs_no_key_and_other_clients_still_do(tmp_path: Path) -> None:
    request = {"model": "tts-1", "voice": "fake_one", "input": "Hi.", "response_format": "pcm"}
    # The client connects from 127.0.0.1: trusted as the proxy, or not.
    for proxy, passes in (("127.0.0.1", True), ("172.30.32.2", False)):
        guard = Guard(ADMIN, api_keys=["key-1"], trusted_proxies=[proxy])
        async with (
            serve_fake() as running,
            serve_http(running, tmp_path / proxy, ["key-1"], guard=guard) as url,
        ):
            if passes:
                assert len((await sdk(url, "no-key").audio.speech.create(**request)).content)
            else:
                with pytest.raises(openai.AuthenticationError):
                    await sdk(url, "no-key").audio.speech.create(**request)
            assert len((await sdk(url, "key-1").audio.speech.create(**request)).content)


def ready_clones(root: Path) -> ZipVoiceEngine:
    """A ZipVoice engine that says it can speak (its model files are never read here)."""
    missing = root / "no-model"
    files = ZipVoiceFiles(missing, missing, missing, missing, None, "test")
    return ZipVoiceEngine(VoiceRegistry(root / "clones", ("en-US", "zh")), files)


async def post(url: str, path: str, **kwargs: object) -> Tuple[int, Dict[str, object]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}{path}", **kwargs) as response,  # type: ignore[arg-type]
    ):
        return response.status, await response.json()


async def test_a_hostile_prompt_recording_is_refused_by_both_zipvoice_routes(
    tmp_path: Path,
) -> None:
    # FLAC's highest rate with 8 channels: 2.6 million samples a second from a tiny file.
    tone = 0.1 * np.sin(np.linspace(0, 2000 * np.pi, 65_535, dtype=np.float32))
    audio = encode(np.stack([tone] * 8, axis=1), 655_350, "FLAC")
    speech = {"input": "Hello.", "voice": "base64+" + base64.b64encode(audio).decode()}
    form = aiohttp.FormData({"name": "hostile", "transcription": "Hello."})
    form.add_field("audio_file", audio, filename="hostile.flac")
    async with (
        serve_fake() as running,
        serve_http(running, tmp_path, clones=ready_clones(tmp_path)) as url,
    ):
        answers = [
            await post(url, "/v1/zipvoice/audio/speech", json={**speech, "prompt_text": "Hi."}),
            await post(
                url, "/v1/zipvoice/voices/register", data=form, headers={"X-Admin-Token": ADMIN}
            ),
        ]
    for status, body in answers:
        error = body["error"]
        assert isinstance(error, dict), body
        assert status == 400 and error["code"] == "unsupported-audio", body
        assert "655350 Hz" in str(error["message"]) and error["type"] == "invalid_request_error"
    assert running.engine.calls == []


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda limit: {"input": "x" * (limit + 1)}, "input_too_long"),
        (lambda limit: {"input": "<speak><oops></speak>"}, "invalid_ssml"),
        (lambda limit: {"prompt_text": "x" * 501}, "bad-transcript"),
    ],
    ids=["too-long", "bad-ssml", "transcript-too-long"],
)
async def test_zipvoice_speech_checks_its_fields_before_it_touches_the_prompt(
    tmp_path: Path, change: Callable[[int], Dict[str, str]], code: str
) -> None:
    fetched: List[str] = []

    async def recording(request: web.Request) -> web.Response:
        fetched.append(request.path)
        return web.Response(body=encode(voice_like(2.0)), content_type="audio/wav")

    source = web.Application()
    source.router.add_get("/voice.wav", recording)
    async with (
        TestServer(source, host="127.0.0.1") as files,
        serve_fake() as running,
        serve_http(
            running,
            tmp_path,
            clones=ready_clones(tmp_path),
            allow_url_download=True,
            url_policy=UrlPolicy(allow_private=True),
        ) as url,
    ):
        limit = running.context.limits.text_chars
        prompts = [f"url+{files.make_url('/voice.wav')}", "base64+bm90IGF1ZGlv"]  # "not audio"
        for prompt in prompts:
            body = {"input": "Hello.", "voice": prompt, "prompt_text": "Hello.", **change(limit)}
            status, answer = await post(url, "/v1/zipvoice/audio/speech", json=body)
            error = answer["error"]
            assert isinstance(error, dict) and status == 400, answer
            assert error["code"] == code, answer
            assert fetched == []  # the URL was never fetched (and the base64 never decoded)
        # A good request with that prompt fetches it, and gets as far as the (absent) model.
        good = {"input": "Hello.", "voice": prompts[0], "prompt_text": "Hello.", "stream": False}
        status, answer = await post(url, "/v1/zipvoice/audio/speech", json=good)
        assert fetched == ["/voice.wav"]
        assert status == 422 and "model" in str(answer["error"]), answer
    assert running.engine.calls == []


async def test_a_long_input_streams_in_short_calls_and_only_a_whole_answer_is_bounded(
    served: Served,
) -> None:
    """Inputs up to --max-text (100,000 characters, about 2 hours) are spoken piece by piece;
    an answer sent whole is held in memory until its end, so its input is held to less."""
    running, url = served
    running.engine.seconds_per_char = 0.0005
    text = "Dr. " * (MAX_WHOLE_ANSWER_CHARS // 4 + 1)  # no sentence end the detector believes
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk(url).audio.speech.create(
            model="tts-1", voice="fake_one", input=text, extra_body={"stream": False}
        )
    assert caught.value.code == "input_too_long" and "stream: false" in caught.value.message
    assert running.engine.calls == []
    answer = await sdk(url).audio.speech.create(
        model="tts-1", voice="fake_one", input=text, response_format="pcm"
    )
    assert len(decode_audio(answer.content, "pcm")) / RATE == pytest.approx(
        spoken_seconds(running), abs=0.1
    )
    assert all(len(call) <= MAX_PIECE_CHARS for call in running.engine.calls)
    words = " ".join(running.engine.calls).replace(".", "").split()
    assert words == ["Doctor"] * (len(text) // 4)


async def test_an_input_is_cut_off_the_event_loop(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Wyoming `describe` is answered while an HTTP input is being cut into pieces."""
    running, url = served
    entered, release, released = threading.Event(), threading.Event(), []
    cut = openai_module.text_pieces

    def blocked(*args: object) -> object:
        entered.set()
        released.append(release.wait(timeout=5))
        return cut(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(openai_module, "text_pieces", blocked)
    http = asyncio.create_task(
        sdk(url).audio.speech.create(
            model="tts-1", voice="fake_one", input="Hello there.", response_format="pcm"
        )
    )
    assert await asyncio.to_thread(entered.wait, 5)
    async with running.client() as client:
        assert (await describe(client)).tts
    release.set()
    assert len((await http).content) > 0
    assert released == [True]  # describe was answered while the input was held
