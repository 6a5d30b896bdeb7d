"""Dialogues: turns into pieces, panning, the stereo encoder, and `POST /v1/audio/dialogue`
served in process with the fake engine behind the real pipeline and scheduler."""

from __future__ import annotations

import asyncio
import io
import math
from pathlib import Path
from typing import AsyncIterator, List, Tuple

import httpx
import numpy as np
import pytest

from wyoming_polytts.dialogue import (
    Turn,
    TurnError,
    dialogue_pieces,
    gains,
    pan_of,
    placed,
    total_pause,
)
from wyoming_polytts.http.encoder import FORMATS, AudioEncoder
from wyoming_polytts.pipeline import SpeechPipeline
from wyoming_polytts.scheduler import Scheduler
from wyoming_polytts.settings import (
    DIALOGUE_MAX_TURNS,
    MAX_TEXT_CHARS,
    MAX_WHOLE_ANSWER_CHARS,
)
from wyoming_polytts.speech.pieces import LEAD_SECONDS
from wyoming_polytts.text import ClausePolicy
from wyoming_polytts.voices import VoiceCatalog

from .fake_engine import RATE, FakeEngine, InProcessServer, serve_fake, serve_http

LEAD = 0.1  # seconds of model silence before each text of `LeadingEngine`
FRAME = RATE // 100  # the trimmer's 10 ms frame


class LeadingEngine(FakeEngine):
    """The fake tone after `LEAD` seconds of silence, as a real model starts: the pipeline
    keeps `LEAD_SECONDS` of it, so the pauses heard are what a real answer has."""

    def synthesize(self, text: str, voice: str, speed: float) -> np.ndarray:
        tone = super().synthesize(text, voice, speed)
        return np.concatenate([np.zeros(int(LEAD * RATE), np.float32), tone])


Served = Tuple[InProcessServer, str]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with serve_fake(engine=LeadingEngine()) as running, serve_http(running, tmp_path) as url:
        yield running, url


def decode_stereo(data: bytes, response_format: str) -> np.ndarray:
    """An answer as float (frames, 2) samples at 24 kHz."""
    if response_format == "pcm":
        return np.frombuffer(data, "<i2").astype(np.float32).reshape(-1, 2) / 32768.0
    import av

    parts: List[np.ndarray] = []
    resampler = av.AudioResampler(format="flt", layout="stereo", rate=RATE)
    with av.open(io.BytesIO(data)) as container:
        assert container.streams.audio[0].channels == 2
        for frame in container.decode(audio=0):
            parts += [out.to_ndarray().reshape(-1, 2) for out in resampler.resample(frame)]
    parts += [out.to_ndarray().reshape(-1, 2) for out in resampler.resample(None)]
    return np.concatenate(parts)


def sounding(audio: np.ndarray, threshold: float = 1e-3) -> List[Tuple[int, int]]:
    """The stretches (start, end) in samples where either channel sounds, split at silences
    longer than 5 ms (a tone's zero crossings are shorter)."""
    level = np.abs(audio).max(axis=1) if audio.ndim == 2 else np.abs(audio)
    loud = np.flatnonzero(level > threshold)
    if loud.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(loud) > RATE // 200)
    starts = [loud[0], *loud[cuts + 1]]
    ends = [*loud[cuts] + 1, loud[-1] + 1]
    return list(zip(starts, ends, strict=True))


def balance_db(audio: np.ndarray) -> float:
    """How much louder the left channel is than the right, in dB (clipped at +-120)."""
    left, right = (float(np.sqrt(np.mean(audio[:, side] ** 2))) for side in (0, 1))
    return 20 * math.log10(max(left, 1e-6) / max(right, 1e-6))


async def post(url: str, body: dict) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        return await http.post("/v1/audio/dialogue", json=body)


# -- pure parts ------------------------------------------------------------------------------


def test_places_are_names_or_pans() -> None:
    assert [pan_of(p) for p in ("left", " Right", "center", None, 0.25, -1)] == [
        -1.0,
        1.0,
        0.0,
        0.0,
        0.25,
        -1.0,
    ]
    for bad in ("up", 1.5, float("nan")):
        with pytest.raises(ValueError):
            pan_of(bad)


@pytest.mark.parametrize("pan", [-1.0, -0.5, 0.0, 0.3, 1.0])
def test_panning_keeps_the_power_and_the_sides_are_silent_across(pan: float) -> None:
    left, right = gains(pan)
    assert left**2 + right**2 == pytest.approx(1.0)
    stereo = placed(np.ones(10, np.float32), pan)
    assert stereo.shape == (10, 2) and stereo.dtype == np.float32
    assert stereo[0].tolist() == pytest.approx([left, right])
    if pan == -1.0:
        assert right == 0.0
    if pan == 1.0:
        assert left == 0.0
    if pan == 0.0:
        assert left == pytest.approx(right)


def test_a_dialogue_is_its_turns_pieces_with_pauses_between() -> None:
    turns = [
        Turn("a", "Hello there, my friend, how are you doing on this fine morning?", -1, 0.8),
        Turn("b", "<speak>Fine. <voice name='c'>Me too.</voice><break time='1s'/></speak>", 1),
        Turn("a", "🙂", 0, 2.0),  # nothing to say: no pause after it either
        Turn("b", "Bye now. See you later.", 1),
    ]
    pieces = dialogue_pieces(turns, ClausePolicy())
    said = [(p.text, p.voice, p.turn, p.silence, p.pause) for p in pieces]
    pause = 0.4 - LEAD_SECONDS
    assert said == [
        ("Hello there, my friend,", "a", 0, 0.0, pytest.approx(0.12)),  # the first clause
        ("how are you doing on this fine morning?", "a", 0, 0.0, 0.0),
        ("", None, 0, pytest.approx(0.8 - LEAD_SECONDS), 0.0),
        ("Fine.", "b", 1, 0.0, 0.25),
        ("Me too.", "c", 1, 0.0, 0.0),  # SSML's own voice
        ("", "b", 1, pytest.approx(1 - LEAD_SECONDS), 0.0),  # the turn's own break
        ("", None, 1, pytest.approx(pause), 0.0),
        ("Bye now.", "b", 3, 0.0, 0.25),
        ("See you later.", "b", 3, 0.0, 0.25),
    ]
    assert total_pause(turns) == pytest.approx(0.8 + 0.4 + 2.0)
    no_pause = dialogue_pieces([Turn("a", "One.", 0, 0.0), Turn("b", "Two.")], ClausePolicy())
    assert [(p.text, p.pause) for p in no_pause] == [("One.", 0.0), ("Two.", 0.25)]


def test_a_turn_with_broken_ssml_is_named() -> None:
    with pytest.raises(TurnError) as caught:
        dialogue_pieces([Turn("a", "Fine."), Turn("b", "<speak><oops></speak>")], ClausePolicy())
    assert caught.value.index == 1


@pytest.mark.parametrize("response_format", list(FORMATS))
def test_the_encoder_keeps_each_channel_in_every_format(response_format: str) -> None:
    time_axis = np.arange(RATE, dtype=np.float32) / RATE
    tone = (0.3 * np.sin(2 * np.pi * 220 * time_axis)).astype(np.float32)
    stereo = np.concatenate([placed(tone, -1), placed(tone, 1), placed(tone, 0.5)])
    encoder = AudioEncoder(response_format, RATE, streaming=True, channels=2)
    data = b"".join(encoder.encode(part) for part in np.array_split(stereo, 7))
    audio = decode_stereo(data + encoder.finish(), response_format)
    assert len(audio) == pytest.approx(3 * RATE, abs=0.1 * RATE)  # codec delay at most
    middle = slice(RATE // 4, 3 * RATE // 4)  # away from the edges a codec blurs
    assert balance_db(audio[middle]) > 40
    assert balance_db(audio[RATE:][middle]) < -40
    left, right = gains(0.5)
    assert balance_db(audio[2 * RATE :][middle]) == pytest.approx(
        20 * math.log10(left / right), abs=0.5
    )
    with pytest.raises(ValueError):
        AudioEncoder(response_format, RATE, channels=3)


def test_mono_samples_given_to_a_stereo_encoder_go_to_both_channels() -> None:
    encoder = AudioEncoder("pcm", RATE, channels=2)
    pcm = np.frombuffer(encoder.encode(np.array([0.5, -0.25], np.float32)), "<i2")
    assert pcm.tolist() == [16384, 16384, -8192, -8192]


async def test_every_spoken_piece_knows_its_turn() -> None:
    """What word timings need: each part's turn, hence its speaker."""
    engine = FakeEngine()
    catalog = VoiceCatalog([engine])
    scheduler = Scheduler(1)
    try:
        pipeline = SpeechPipeline(scheduler)
        voices = {name: catalog.resolve(name) for name in ("fake_one", "fake_two")}
        pieces = dialogue_pieces(
            [Turn("fake_one", "First one. Again."), Turn("fake_two", "Second one.")],
            ClausePolicy(),
        )
        spoken = pipeline.speak(voices["fake_one"], pieces, client=object(), voices=voices)
        heard = [(part.piece.turn, part.piece.voice) async for part in spoken]
    finally:
        scheduler.shutdown()
    assert heard == [(0, "fake_one"), (0, "fake_one"), (0, None), (1, "fake_two")]
    assert engine.voices_used == ["fake_one", "fake_one", "fake_two"]


# -- the route -------------------------------------------------------------------------------


async def test_pauses_are_the_silences_asked_for_and_each_voice_is_at_its_place(
    served: Served,
) -> None:
    running, url = served
    body = {
        "turns": [
            {"voice": "fake_one", "text": "Good morning.", "pause": 1.0},
            {"voice": "fake_two", "text": "Morning! Coffee?"},
            {"voice": "fake_one", "text": "Yes please.", "place": 0.5},
        ],
        "places": {"fake_one": "left", "fake_two": "right"},
        "pause": 0.3,
        "response_format": "pcm",
    }
    answer = await post(url, body)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "audio/pcm"
    audio = decode_stereo(answer.content, "pcm")
    stretches = sounding(audio)
    # turn 1; turn 2 in two sentences (the tone has no trailing silence to keep, so only the
    # second's lead is between them); turn 3
    assert len(stretches) == 4, stretches
    gaps = [
        (start - end) / RATE
        for (_, end), (start, _) in zip(stretches[:-1], stretches[1:], strict=True)
    ]
    assert gaps == pytest.approx([1.0, LEAD_SECONDS, 0.3], abs=1.5 * FRAME / RATE)
    assert stretches[0][0] / RATE == pytest.approx(LEAD_SECONDS, abs=FRAME / RATE)
    one, two_a, two_b, three = (audio[start:end] for start, end in stretches)
    assert balance_db(one) > 60  # hard left: nothing on the right
    assert balance_db(two_a) < -60 and balance_db(two_b) < -60
    left, right = gains(0.5)  # the turn's own place wins over its voice's
    assert balance_db(three) == pytest.approx(20 * math.log10(left / right), abs=0.1)
    assert running.engine.voices_used == ["fake_one", "fake_two", "fake_two", "fake_one"]


@pytest.mark.parametrize("response_format", list(FORMATS))
async def test_every_format_carries_the_voices_places(served: Served, response_format: str) -> None:
    _, url = served
    body = {
        "turns": [
            {"voice": "fake_one", "text": "A first turn that is long enough.", "place": "left"},
            {"voice": "fake_two", "text": "And a second turn, as long too.", "place": "right"},
        ],
        "pause": 0.5,
        "response_format": response_format,
        "stream": False,
    }
    answer = await post(url, body)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == FORMATS[response_format].content_type
    audio = decode_stereo(answer.content, response_format)
    half = 0.1 * RATE  # away from the turns' edges, which lossy codecs blur
    middle = len(audio) // 2
    first = audio[int(half) : int(middle - 3 * half)]
    second = audio[int(middle + 3 * half) : int(len(audio) - half)]
    assert balance_db(first) >= 10 and balance_db(second) <= -10
    expected = (33 + 31) * 0.01 + 0.5 + LEAD_SECONDS
    assert len(audio) / RATE == pytest.approx(expected, abs=0.1)


async def test_without_places_a_dialogue_is_mono_unless_asked(served: Served) -> None:
    _, url = served
    turns = [{"voice": "fake_one", "text": "One."}, {"voice": "fake_two", "text": "Two."}]
    mono = await post(url, {"turns": turns, "response_format": "wav"})
    stereo = await post(url, {"turns": turns, "response_format": "wav", "channels": 2})
    placed_mono = await post(
        url, {"turns": turns, "response_format": "wav", "channels": 1, "places": {"x": "left"}}
    )
    import soundfile

    for answer, channels in ((mono, 1), (stereo, 2), (placed_mono, 1)):
        assert answer.status_code == 200, answer.text
        info = soundfile.info(io.BytesIO(answer.content))
        assert info.channels == channels and info.samplerate == RATE
    both = decode_stereo(stereo.content, "wav")
    assert abs(balance_db(both)) < 0.1  # center: the same on both sides


async def test_a_dialogue_streams_its_first_turn_before_the_next_is_spoken(
    served: Served,
) -> None:
    running, url = served
    running.engine.hold.clear()  # the second turn cannot be spoken until this is set
    body = {
        "turns": [
            {"voice": "fake_one", "text": "Short first turn.", "place": "left"},
            {"voice": "fake_two", "text": "HOLD this one until the first is heard."},
        ],
        "response_format": "mp3",
    }
    async with (
        httpx.AsyncClient(base_url=url, timeout=30) as http,
        http.stream("POST", "/v1/audio/dialogue", json=body) as response,
    ):
        assert response.status_code == 200
        assert response.headers.get("transfer-encoding") == "chunked"
        chunks = response.aiter_bytes()
        first = await asyncio.wait_for(chunks.__anext__(), 20)  # the engine is held
        running.engine.hold.set()
        rest = b"".join([chunk async for chunk in chunks])
    audio = decode_stereo(first + rest, "mp3")
    assert len(audio) / RATE > 0.5


@pytest.mark.parametrize(
    ("change", "code", "param"),
    [
        ({"turns": []}, "invalid_value", "turns"),
        ({"turns": [{"voice": "fake_one"}]}, "invalid_value", "turns.0.text"),
        ({"turns": [{"voice": "fake_one", "text": ""}]}, "invalid_value", "turns.0.text"),
        (
            {"turns": [{"voice": "fake_one", "text": "Hi."}] * (DIALOGUE_MAX_TURNS + 1)},
            "invalid_value",
            "turns",
        ),
        ({"turns": [{"voice": "nobody", "text": "Hi."}]}, "voice_not_found", "turns.0.voice"),
        ({"model": "kokoro"}, "model_mismatch", "turns.0.voice"),
        ({"model": "whisper-1"}, "model_not_found", "model"),
        ({"turns": [{"text": "Hi.", "place": "up"}]}, "invalid_value", "turns.0.place"),
        ({"turns": [{"text": "Hi.", "place": 1.5}]}, "invalid_value", "turns.0.place"),
        ({"places": {"fake_one": -2}}, "invalid_value", "places.fake_one"),
        ({"channels": 6}, "invalid_value", "channels"),
        ({"pause": -1}, "invalid_value", "pause"),
        ({"pause": 11}, "invalid_value", "pause"),
        ({"turns": [{"text": "Hi.", "pause": 11}]}, "invalid_value", "turns.0.pause"),
        ({"turns": [{"text": "Hi.", "pause": 9}] * 40}, "invalid_value", "pause"),
        ({"response_format": "ogg"}, "invalid_value", "response_format"),
        (
            {"turns": [{"text": "Hi."}, {"text": "<speak><oops></speak>"}]},
            "invalid_ssml",
            "turns.1.text",
        ),
        (
            {
                "turns": [
                    {"text": "Hi. "},
                    {"text": "<speak><voice name='nobody'>x</voice></speak>"},
                ]
            },
            "voice_not_found",
            "voice",
        ),
        (
            {"turns": [{"text": "x" * (MAX_TEXT_CHARS // 2 + 1)}] * 2},
            "input_too_long",
            "turns",
        ),
        (
            {"turns": [{"text": "x" * (MAX_WHOLE_ANSWER_CHARS // 2 + 1)}] * 2, "stream": False},
            "input_too_long",
            "turns",
        ),
    ],
)
async def test_bad_dialogues_get_openai_errors(
    served: Served, change: dict, code: str, param: str
) -> None:
    running, url = served
    body = {"turns": [{"voice": "fake_one", "text": "Hello."}], **change}
    answer = await post(url, body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["param"]) == (code, param), error
    assert error["type"] == "invalid_request_error" and error["message"]
    assert running.engine.calls == []


async def test_a_server_with_api_keys_needs_one_for_a_dialogue(tmp_path: Path) -> None:
    async with serve_fake() as running, serve_http(running, tmp_path, ["key"]) as url:
        body = {"turns": [{"text": "Hello."}], "response_format": "pcm"}
        async with httpx.AsyncClient(base_url=url) as http:
            refused = await http.post("/v1/audio/dialogue", json=body)
            allowed = await http.post(
                "/v1/audio/dialogue", json=body, headers={"Authorization": "Bearer key"}
            )
    assert refused.status_code == 401 and "error" in refused.json()
    assert allowed.status_code == 200 and allowed.content


async def test_an_ssml_turn_may_hand_a_sentence_to_another_voice_at_the_turns_place(
    served: Served,
) -> None:
    running, url = served
    ssml = "<speak>Mine first.<voice name='fake_two'>Then the other voice.</voice></speak>"
    body = {
        "turns": [{"voice": "fake_one", "text": ssml, "place": "right"}],
        "response_format": "pcm",
    }
    answer = await post(url, body)
    assert answer.status_code == 200, answer.text
    audio = decode_stereo(answer.content, "pcm")
    assert balance_db(audio) < -60  # all of the turn on the right
    assert running.engine.voices_used == ["fake_one", "fake_two"]


@pytest.mark.parametrize("response_format", ["mp3", "wav"])
async def test_a_dialogue_with_nothing_to_say_is_a_moment_of_stereo_silence(
    served: Served, response_format: str
) -> None:
    running, url = served
    body = {
        "turns": [{"text": "🙂", "place": "left"}, {"text": "...", "place": "right"}],
        "response_format": response_format,
    }
    answer = await post(url, body)
    assert answer.status_code == 200, answer.text
    audio = decode_stereo(answer.content, response_format)
    assert audio.size > 0 and np.abs(audio).max() < 1e-3
    assert running.engine.calls == []
