"""A stereo dialogue from a real server process (`python -m wyoming_polytts`): two Kokoro voices
(the embedded model) placed left and right and a clone spoken by the tiny ZipVoice model
through the real sherpa-onnx runtime, over HTTP; Whisper hears each Kokoro turn."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Dict, Iterator, Tuple

import httpx
import numpy as np
import pytest

from wyoming_polytts import transcriber
from wyoming_polytts.dialogue import gains
from wyoming_polytts.intelligibility import word_error_rate
from wyoming_polytts.transcriber import Transcriber

from .helpers import ADMIN_TOKEN, RunningServer, encode, serve_for_tests, voice_like
from .helpers import wait_until_ready as ready
from .test_dialogue import balance_db, decode_stereo
from .zipvoice_tiny import build_tiny_zipvoice

pytestmark = pytest.mark.skipif(
    not transcriber.available(), reason="needs the [asr] extra (script/setup installs it)"
)
RATE = 24000
CLONE = "tiny-aunt"
PAUSE = 0.6
CLONE_PAN = 0.5
TURNS = [
    {"voice": "af_heart", "text": "The kitchen lights are now off.", "place": "left"},
    {"voice": "am_michael", "text": "Thank you. The front door is locked.", "place": "right"},
    {"voice": CLONE, "text": "Hello world. The lights are off.", "place": CLONE_PAN},
]
FRAME = RATE // 50  # 20 ms


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    model = build_tiny_zipvoice(tmp_path_factory.mktemp("zipvoice") / "model")
    args = ["--no-download", "--no-transcriber", "--admin-token", ADMIN_TOKEN]
    for running in serve_for_tests(
        data_dir, tmp_path_factory, [*args, "--zipvoice-model", str(model)]
    ):
        yield running
        # the data dir is the session's: the next module's server must not find the clone
        httpx.delete(
            f"{running.http_url}/api/voices/{CLONE}", headers={"X-Admin-Token": ADMIN_TOKEN}
        )


def turn_spans(audio: np.ndarray) -> Dict[str, Tuple[int, int]]:
    """Where each turn sounds, in samples, told apart by its channels: the left voice has
    nothing on the right (exact zeros), the right voice nothing on the left, the clone is on
    both."""
    frames = len(audio) // FRAME
    level = np.sqrt(np.mean(audio[: frames * FRAME].reshape(frames, FRAME, 2) ** 2, axis=1))
    loud = level > 10 ** (-60 / 20)  # the tiny clone model speaks quietly
    silent = level == 0.0
    kinds = {
        "left": loud[:, 0] & silent[:, 1],
        "right": loud[:, 1] & silent[:, 0],
        "both": loud[:, 0] & loud[:, 1],
    }
    spans = {}
    for name, where in kinds.items():
        found = np.flatnonzero(where)
        assert found.size, f"no {name} audio"
        spans[name] = (int(found[0]) * FRAME, (int(found[-1]) + 1) * FRAME)
    return spans


@pytest.mark.intelligibility
async def test_a_stereo_dialogue_places_each_voice_and_is_heard_turn_by_turn(
    server: RunningServer, whisper: Transcriber
) -> None:
    url = str(server.http_url)
    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        files = {"audio": ("aunt.wav", encode(voice_like(3.0)), "audio/wav")}
        form = {"name": CLONE, "language": "en-US", "transcript": "Hello world."}
        headers = {"X-Admin-Token": ADMIN_TOKEN}
        registered = await http.post("/api/voices", data=form, files=files, headers=headers)
        assert registered.status_code == 201, registered.text
        await ready(url, "clone", CLONE)  # the ZipVoice model loads in the background
        body = {"turns": TURNS, "pause": PAUSE, "response_format": "wav", "stream": True}
        async with http.stream("POST", "/v1/audio/dialogue", json=body) as response:
            assert response.status_code == 200, await response.aread()
            assert response.headers.get("transfer-encoding") == "chunked"
            data = b"".join([chunk async for chunk in response.aiter_bytes()])
    audio = decode_stereo(data, "wav")
    spans = turn_spans(audio)
    (left_start, left_end), (right_start, right_end) = spans["left"], spans["right"]
    clone_start, clone_end = spans["both"]
    assert left_end <= right_start and right_end <= clone_start, spans  # in order
    # The pauses asked for, give or take the model's kept lead and the 20 ms frames here.
    for gap in (right_start - left_end, clone_start - right_end):
        assert gap / RATE == pytest.approx(PAUSE, abs=0.1), spans

    heard = {}
    for name, (start, end), side, text in (
        ("left", (left_start, left_end), 0, TURNS[0]["text"]),
        ("right", (right_start, right_end), 1, TURNS[1]["text"]),
    ):
        turn = audio[start:end]
        assert balance_db(turn) * (1 if side == 0 else -1) >= 10, name  # where it was placed
        heard[name] = whisper.transcribe(turn[:, side], RATE, language="en").text
        assert word_error_rate(str(text), heard[name]) <= 0.2, heard

    gaps = [(right_start - left_end) / RATE, (clone_start - right_end) / RATE]
    clone = audio[clone_start:clone_end]
    print(f"heard {heard}; pauses {gaps} s; the clone at {balance_db(clone):.2f} dB")
    # The tiny ZipVoice model speaks noise shaped by the prompt (its weights mean nothing), so
    # Whisper has nothing to hear: its turn is checked for being there, long enough for its
    # text, and at its place (a pan of 0.5: right louder by the constant-power gains).
    assert (clone_end - clone_start) / RATE > 0.5
    assert float(np.sqrt(np.mean(clone**2))) > 1e-3
    left, right = gains(CLONE_PAN)
    assert balance_db(clone) == pytest.approx(20 * math.log10(left / right), abs=1.0)
