"""The HTTP speech API of a real server process (`python -m wyoming_polytts`) with the
embedded Kokoro model and the tiny ZipVoice model: the official `openai` SDK in every format,
and the origin document's curl and httpx examples as written."""

from __future__ import annotations

import base64
import functools
import http.server
import json
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Iterator

import httpx
import numpy as np
import openai
import pytest

from wyoming_polytts.http.encoder import FORMATS

from .helpers import (
    ADMIN_TOKEN,
    RunningServer,
    assert_speech,
    decode_audio,
    encode,
    serve_for_tests,
    voice_like,
    wait_until_ready,
)
from .zipvoice_tiny import build_tiny_zipvoice

RATE = 24000
TEXT = "The kitchen lights are now off."


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    model = build_tiny_zipvoice(tmp_path_factory.mktemp("zipvoice") / "model")
    args = ["--no-download", "--no-transcriber", "--admin-token", ADMIN_TOKEN]
    args += ["--zipvoice-model", str(model), "--allow-url-download", "--allow-private-urls"]
    yield from serve_for_tests(data_dir, tmp_path_factory, args)


def sdk(server: RunningServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{server.http_url}/v1", api_key="none", max_retries=0)


def as_pcm16(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()


async def test_every_format_decodes_to_the_same_speech(server: RunningServer) -> None:
    client = sdk(server)
    lengths = {}
    for response_format in FORMATS:
        answer = await client.audio.speech.create(
            model="kokoro", voice="af_heart", input=TEXT, response_format=response_format
        )
        assert answer.response.headers["content-type"] == FORMATS[response_format].content_type
        audio = decode_audio(answer.content, response_format)
        assert_speech(as_pcm16(audio), RATE, 1.2, 4.0)
        lengths[response_format] = len(audio) / RATE
    for response_format, seconds in lengths.items():  # codec delay and padding at most
        assert seconds == pytest.approx(lengths["pcm"], abs=0.1), response_format


async def test_a_streamed_answer_is_the_whole_answer(server: RunningServer) -> None:
    text = "Good morning. It is sunny, and the garden was watered at six."
    speech = sdk(server).audio.speech.with_streaming_response.create(
        model="tts-1", voice="af_heart(1)+am_michael(1)", input=text, response_format="mp3"
    )
    async with speech as response:
        assert response.headers.get("transfer-encoding") == "chunked"
        data = b"".join([chunk async for chunk in response.iter_bytes()])
    assert_speech(as_pcm16(decode_audio(data, "mp3")), RATE, 2.5, 8.0)


# The origin document's examples, as written there (only its host and port are this test
# server's; the calls that change voices add the admin token; the URL example's file is
# served here, as this machine has no internet).
REGISTER = """curl -X POST "http://localhost:8880/v1/zipvoice/voices/register" \\
  -F "name=my_voice" \\
  -F "transcription=This is my voice sample." \\
  -F "audio_file=@sample.wav\""""
SPEECH = """curl -X POST "http://localhost:8880/v1/zipvoice/audio/speech" \\
  -H "Content-Type: application/json" \\
  -d '{
    "model": "zipvoice",
    "input": "Hello, world!",
    "voice": "my_voice",
    "prompt_text": "This is my voice sample."
  }' --output output.mp3"""
URL_VOICE = """curl -X POST "http://localhost:8880/v1/zipvoice/audio/speech" \\
  -H "Content-Type: application/json" \\
  -d '{
    "model": "zipvoice",
    "input": "Hello!",
    "voice": "url+https://example.com/voice.wav",
    "prompt_text": "Transcription here."
  }'"""


async def example_httpx(base: str) -> None:
    """The document's Python client, in an async function."""
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{base}/v1/zipvoice/audio/speech",
            json={
                "model": "zipvoice",
                "input": "Test speech",
                "voice": "my_voice",
                "prompt_text": "Sample.",
            },
        )

        with open("output.mp3", "wb") as f:
            f.write(response.content)


def run(example: str, server: RunningServer, cwd: Path, token: bool = False) -> bytes:
    command = example.replace("http://localhost:8880", str(server.http_url))
    if token:
        command = command.replace("curl -X POST", f'curl -X POST -H "X-Admin-Token: {ADMIN_TOKEN}"')
    return subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, check=True).stdout


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl (script/setup --browser)")
async def test_the_origin_documents_examples_run_as_written(
    server: RunningServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sample.wav").write_bytes(encode(voice_like(3.0)))
    registered = json.loads(run(REGISTER, server, tmp_path, token=True))
    assert registered["name"] == "my_voice" and registered["transcription"]
    await wait_until_ready(str(server.http_url), "clone", "my_voice")

    run(SPEECH, server, tmp_path)
    hello = decode_audio((tmp_path / "output.mp3").read_bytes(), "mp3")
    assert 0.5 < len(hello) / RATE < 3 and np.sqrt(np.mean(hello**2)) > 1e-3

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    files = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=files.serve_forever, daemon=True).start()
    try:
        local = f"http://127.0.0.1:{files.server_address[1]}/sample.wav"
        spoken = run(URL_VOICE.replace("https://example.com/voice.wav", local), server, tmp_path)
    finally:
        files.shutdown()
    assert len(decode_audio(spoken, "mp3")) / RATE > 0.2

    monkeypatch.chdir(tmp_path)
    (tmp_path / "output.mp3").unlink()
    await example_httpx(str(server.http_url))
    assert len(decode_audio((tmp_path / "output.mp3").read_bytes(), "mp3")) / RATE > 0.2

    headers = {"X-Admin-Token": ADMIN_TOKEN}
    async with httpx.AsyncClient(base_url=str(server.http_url), headers=headers) as http_client:
        listed = (await http_client.get("/v1/zipvoice/voices")).json()
        assert [voice["name"] for voice in listed["voices"]] == ["my_voice"]
        one = (await http_client.get("/v1/zipvoice/voices/my_voice")).json()
        assert one["installed"] is True and one["language"] == "en-US"
        cleared = (await http_client.post("/v1/zipvoice/voices/cache/clear")).json()
        assert cleared["downloads"] == 1 and cleared["url_and_base64_prompts"] == 1
        deleted = await http_client.delete("/v1/zipvoice/voices/my_voice")
        assert deleted.json() == {"deleted": "my_voice"}
        gone = await http_client.get("/v1/zipvoice/voices/my_voice")
        assert gone.status_code == 404


async def test_a_base64_prompt_speaks_with_the_requests_settings(server: RunningServer) -> None:
    prompt = "base64+" + base64.b64encode(encode(voice_like(2.5))).decode()
    body = {
        "model": "zipvoice",
        "input": "Hello world. Good morning, world! The lights are off.",
        "voice": prompt,
        "prompt_text": "Hello world.",
        "num_steps": 2,
        "guidance_scale": 2.0,
        "remove_long_silence": False,
        "max_duration": 1.0,
        "response_format": "wav",
    }
    async with httpx.AsyncClient(base_url=str(server.http_url), timeout=60) as http:
        await wait_until_ready(str(server.http_url), "zipvoice")
        capped = await http.post("/v1/zipvoice/audio/speech", json=body)
        assert capped.status_code == 200, capped.text
        whole = await http.post("/v1/zipvoice/audio/speech", json={**body, "max_duration": None})
        untranscribed = await http.post(
            "/v1/zipvoice/audio/speech", json={**body, "prompt_text": None}
        )
    assert len(decode_audio(capped.content, "wav")) / RATE == pytest.approx(1.0, abs=0.01)
    assert len(decode_audio(whole.content, "wav")) / RATE > 2.0
    assert untranscribed.status_code == 501  # this server runs without speech recognition
    assert untranscribed.json()["error"]["code"] == "no-transcriber"


async def test_a_preset_of_a_clone_speaks_through_the_zipvoice_route(server: RunningServer) -> None:
    url = str(server.http_url)
    headers = {"X-Admin-Token": ADMIN_TOKEN}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
        files = {"audio_file": ("aunt.wav", encode(voice_like(2.5)), "audio/wav")}
        form = {"name": "aunt", "transcription": "Hello world."}
        registered = await http.post("/v1/zipvoice/voices/register", data=form, files=files)
        assert registered.status_code == 201, registered.text
        await wait_until_ready(url, "clone", "aunt")
        saved = await http.put("/api/presets/slow-aunt", json={"voice": "aunt", "speed": 0.5})
        assert saved.status_code == 201, saved.text
        body = {
            "model": "zipvoice",
            "input": "Good morning, the lights are off.",
            "num_steps": 2,
            "remove_long_silence": False,
            "response_format": "wav",
            "stream": False,
        }
        # The route speaks the preset's clone with the request's settings (the speed is the
        # pipeline's to apply, tested with the fake engine in test_openai.py).
        answer = await http.post("/v1/zipvoice/audio/speech", json={**body, "voice": "slow-aunt"})
        assert (await http.delete("/api/presets/slow-aunt")).status_code == 200
        assert (await http.delete("/v1/zipvoice/voices/aunt")).status_code == 200
    assert answer.status_code == 200, answer.text
    assert len(decode_audio(answer.content, "wav")) / RATE > 0.5
