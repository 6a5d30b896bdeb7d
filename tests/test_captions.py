"""Word timings of whole answers and captions (`captions.py`), and the captioned speech route
(`http/captions.py`) in process with the fake engine over a real socket."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import List

import httpx
import numpy as np
import pytest
import soundfile

from wyoming_polytts.captions import (
    AnswerClock,
    Cue,
    TimedWord,
    cues,
    srt,
    webvtt,
    whole_with_words,
)
from wyoming_polytts.pipeline import SpokenPiece, SpokenWord
from wyoming_polytts.text import Piece

from .fake_engine import ADMIN, StreamingFakeEngine, serve_fake, serve_http
from .helpers import decode_audio

RATE = 24000
TEXT = "Good evening. The front door is locked now."
WORDS = ["Good", "evening", "The", "front", "door", "is", "locked", "now"]


def stretch(seconds: float, *words: SpokenWord, first: bool = False) -> SpokenPiece:
    return SpokenPiece(
        Piece("x"), np.zeros(int(seconds * RATE), np.float32), RATE, first, True, words
    )


def test_the_clock_times_words_from_the_answers_start_in_order() -> None:
    clock = AnswerClock()
    timed = clock.words(stretch(0.5, SpokenWord("one", 0.1, 0.3), first=True))
    timed += clock.words(stretch(0.2))
    # a word handed out with the stretch its audio ends in began in the one before
    timed += clock.words(stretch(0.4, SpokenWord("two", -0.1, 0.2)))
    timed += clock.words(stretch(0.3, SpokenWord("three", 0.0, 0.1), first=True))
    assert [(w.word, round(w.start_time, 3), round(w.end_time, 3), w.opens) for w in timed] == [
        ("one", 0.1, 0.3, True),
        ("two", 0.6, 0.9, False),
        ("three", 1.1, 1.2, True),
    ]
    assert round(clock.seconds, 3) == 1.4
    # times never go backwards: a word said before the last one ended starts where it ended
    late = clock.words(stretch(0.1, SpokenWord("four", -0.5, -0.05)))
    assert late[0].start_time == pytest.approx(1.2) and late[0].end_time >= late[0].start_time


async def test_an_answer_sent_whole_is_its_stretches_joined_at_one_rate_with_their_words() -> None:
    async def spoken():  # type: ignore[no-untyped-def]
        yield stretch(0.5, SpokenWord("one", 0.1, 0.3), first=True)
        yield SpokenPiece(Piece("y"), np.ones(4800, np.float32), 48000, False, True, ())
        yield stretch(0.25, SpokenWord("two", 0.0, 0.2), first=True)

    samples, words = await whole_with_words(spoken(), RATE)
    assert samples.dtype == np.float32 and samples.size == int(0.85 * RATE)
    assert np.all(samples[: int(0.5 * RATE)] == 0) and samples[int(0.55 * RATE)] > 0.9
    assert [(w.word, round(w.start_time, 3), w.opens) for w in words] == [
        ("one", 0.1, True),
        ("two", 0.6, True),
    ]
    empty, none = await whole_with_words(_nothing(), RATE)
    assert empty.size == 0 and empty.dtype == np.float32 and none == []


async def _nothing():  # type: ignore[no-untyped-def]
    return
    yield


def word(text: str, start: float, end: float, opens: bool = False) -> TimedWord:
    return TimedWord(text, start, end, opens)


def test_a_sentence_starts_a_caption_and_none_grows_past_its_bounds() -> None:
    words = [word("Good", 0.0, 0.3, True), word("evening", 0.4, 0.9)]
    words += [word("The", 1.2, 1.3, True), word("door", 1.4, 1.7), word("is", 1.8, 1.9)]
    assert cues(words) == [Cue(0.0, 0.9, "Good evening"), Cue(1.2, 1.9, "The door is")]
    assert [c.text for c in cues(words, max_chars=8)] == ["Good", "evening", "The door", "is"]
    long = [word(f"w{n}", n * 1.0, n * 1.0 + 0.5) for n in range(8)]
    assert [c.text for c in cues(long, max_seconds=2.6)] == ["w0 w1 w2", "w3 w4 w5", "w6 w7"]


def test_webvtt_and_srt_documents() -> None:
    made = [Cue(0.05, 1.5, "Good <evening> & night"), Cue(3661.25, 3662.0, "later")]
    assert webvtt(made) == (
        "WEBVTT\n\n00:00:00.050 --> 00:00:01.500\nGood &lt;evening&gt; &amp; night\n\n"
        "01:01:01.250 --> 01:01:02.000\nlater\n"
    )
    assert srt(made) == (
        "1\n00:00:00,050 --> 00:00:01,500\nGood <evening> & night\n\n"
        "2\n01:01:01,250 --> 01:01:02,000\nlater\n"
    )
    assert webvtt([]) == "WEBVTT\n" and srt([]) == ""


@pytest.fixture
async def url(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = StreamingFakeEngine(stretches=3)
    engine.lead_seconds = 0.3  # trimmed to the trimmer's 50 ms lead
    async with serve_fake(engine=engine) as running, serve_http(running, tmp_path) as base:
        yield base


async def post(url: str, body: dict) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        return await http.post("/dev/captioned_speech", json=body)


def check_words(timestamps: List[dict], audio_seconds: float) -> None:
    """The text's words in order, each a span inside the audio, none overlapping the next."""
    assert [t["word"] for t in timestamps] == WORDS
    end = 0.0
    for timed in timestamps:
        assert end <= timed["start_time"] <= timed["end_time"] <= audio_seconds + 1e-3
        end = timed["end_time"]


async def test_a_streamed_answer_is_one_json_object_per_line_with_its_words(url: str) -> None:
    answer = await post(url, {"input": TEXT, "voice": "fake_one", "response_format": "wav"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in answer.text.splitlines()]
    assert len(lines) > 2 and all(line["audio_format"] == "audio/wav" for line in lines)
    audio = b"".join(base64.b64decode(line["audio"]) for line in lines)
    samples, rate = soundfile.read(io.BytesIO(audio), dtype="float32")
    timestamps = [timed for line in lines for timed in line["timestamps"]]
    check_words(timestamps, len(samples) / rate)
    # the fake speaks 10 ms a character after 0.3 s of silence, of which 50 ms is kept
    assert timestamps[0]["start_time"] == pytest.approx(0.05, abs=0.011)
    assert timestamps[1]["start_time"] == pytest.approx(0.05 + 0.05, abs=0.011)  # "Good "
    # every line carries words (each with the stretch its audio ends in), not the last alone
    assert sum(1 for line in lines if line["timestamps"]) > 1


async def test_an_answer_sent_whole_has_all_its_words(url: str) -> None:
    body = {"input": TEXT, "voice": "fake_one", "response_format": "mp3", "stream": False}
    answer = await post(url, body)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith(
        "application/json"
    )
    whole = answer.json()
    assert whole["audio_format"] == "audio/mpeg"
    samples = decode_audio(base64.b64decode(whole["audio"]), "mp3")
    check_words(whole["timestamps"], len(samples) / RATE)
    quiet = await post(url, {**body, "return_timestamps": False})
    assert quiet.json()["timestamps"] is None and quiet.json()["audio"]


async def test_captions_come_as_webvtt_or_srt(url: str) -> None:
    vtt = await post(url, {"input": TEXT, "voice": "fake_one", "response_format": "vtt"})
    assert vtt.headers["content-type"].startswith("text/vtt")
    blocks = vtt.text.strip().split("\n\n")
    assert blocks[0] == "WEBVTT" and [b.split("\n")[1] for b in blocks[1:]] == [
        "Good evening",
        "The front door is locked now",
    ]
    subrip = await post(url, {"input": TEXT, "voice": "fake_one", "response_format": "srt"})
    assert subrip.headers["content-type"].startswith("application/x-subrip")
    assert subrip.text.startswith("1\n00:00:00,0") and "\n\n2\n" in subrip.text


async def test_nothing_to_say_is_a_moment_of_silence_without_words(url: str) -> None:
    answer = await post(url, {"input": "...", "response_format": "wav", "stream": False})
    assert answer.status_code == 200 and answer.json()["timestamps"] == []
    samples, _ = soundfile.read(io.BytesIO(base64.b64decode(answer.json()["audio"])))
    assert len(samples) > 0 and not np.any(samples)


async def test_bad_requests_get_openai_shaped_errors(url: str) -> None:
    unknown = await post(url, {"input": TEXT, "voice": "nobody"})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "voice_not_found"
    wrong = await post(url, {"input": TEXT, "response_format": "txt"})
    assert wrong.status_code == 400 and wrong.json()["error"]["param"] == "response_format"
    failed = await post(url, {"input": "FAIL now", "voice": "fake_one"})
    assert failed.status_code == 422 and failed.json()["error"]["code"] == "synthesis_failed"


async def test_a_dialogue_tells_the_speaker_of_each_word(url: str) -> None:
    turns = [
        {"voice": "fake_one", "text": "Good evening.", "place": "left"},
        {"voice": "fake_two", "text": "Hello there.", "place": "right"},
    ]
    body = {"turns": turns, "response_format": "wav", "return_timestamps": True, "stream": False}
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        answer = await http.post("/v1/audio/dialogue", json=body)
    assert answer.status_code == 200
    timestamps = answer.json()["timestamps"]
    assert [(t["word"], t["speaker"]) for t in timestamps] == [
        ("Good", "fake_one"),
        ("evening", "fake_one"),
        ("Hello", "fake_two"),
        ("there", "fake_two"),
    ]
    samples, _ = soundfile.read(io.BytesIO(base64.b64decode(answer.json()["audio"])))
    assert samples.ndim == 2 and samples.shape[1] == 2
    # the second turn's first word starts after the pause, where its voice is on the right
    hello = int(timestamps[2]["start_time"] * RATE)
    assert timestamps[2]["start_time"] > timestamps[1]["end_time"] + 0.3
    assert np.abs(samples[hello : hello + 2400, 1]).max() > 0.1
    assert np.abs(samples[hello : hello + 2400, 0]).max() < 1e-3


async def test_the_pages_listen_gets_the_words_with_the_audio(url: str) -> None:
    async with httpx.AsyncClient(
        base_url=url, timeout=30, headers={"X-Admin-Token": ADMIN}
    ) as http:
        answer = await http.post("/api/voices/fake_one/preview", json={"text": TEXT, "words": True})
        plain = await http.post("/api/voices/fake_one/preview", json={"text": TEXT})
    assert answer.status_code == 200 and answer.json()["audio_format"] == "audio/wav"
    wav = base64.b64decode(answer.json()["audio"])
    samples, rate = soundfile.read(io.BytesIO(wav))
    check_words(answer.json()["timestamps"], len(samples) / rate)
    assert plain.headers["content-type"] == "audio/wav" and len(plain.content) == len(wav)


def test_another_speaker_starts_a_caption_that_names_them() -> None:
    words = [
        TimedWord("Hi", 0.0, 0.2, True, "af_heart"),
        TimedWord("there", 0.3, 0.5, False, "af_heart"),
    ]
    words += [TimedWord("Hello", 0.9, 1.2, False, "am_michael")]  # no sentence start: a new voice
    made = cues(words)
    assert made == [Cue(0.0, 0.5, "Hi there", "af_heart"), Cue(0.9, 1.2, "Hello", "am_michael")]
    assert "\n<v af_heart>Hi there\n" in webvtt(made) and "\nam_michael: Hello\n" in srt(made)


async def test_a_dialogues_captions_name_each_speaker(url: str) -> None:
    turns = [
        {"voice": "fake_one", "text": "Good evening."},
        {"voice": "fake_two", "text": "Hello there."},
    ]
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        vtt = await http.post("/v1/audio/dialogue", json={"turns": turns, "response_format": "vtt"})
    assert vtt.status_code == 200 and vtt.headers["content-type"].startswith("text/vtt")
    lines = vtt.text.strip().split("\n\n")[1:]
    assert [cue.split("\n")[1] for cue in lines] == [
        "<v fake_one>Good evening",
        "<v fake_two>Hello there",
    ]
