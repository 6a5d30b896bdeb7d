"""The limited Wyoming frame reader: every malformed or oversized frame is a FrameError."""

from __future__ import annotations

import asyncio
import json
from typing import Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wyoming.event import Event

from wyoming_polytts.frames import FrameError, FrameLimits, read_frame

LIMITS = FrameLimits(header_bytes=1024, data_bytes=2048, payload_bytes=4096)


async def read(raw: bytes, limits: FrameLimits = LIMITS) -> Optional[Event]:
    reader = asyncio.StreamReader(limit=64 * 1024)
    reader.feed_data(raw)
    reader.feed_eof()
    return await asyncio.wait_for(read_frame(reader, limits), timeout=5)


def header(**fields: object) -> bytes:
    return json.dumps(fields).encode() + b"\n"


async def test_a_valid_frame_with_data_and_payload() -> None:
    data = json.dumps({"text": "Hello."}).encode()
    raw = header(type="synthesize", data_length=len(data), payload_length=3) + data + b"abc"
    event = await read(raw)
    assert event is not None
    assert (event.type, event.data, event.payload) == ("synthesize", {"text": "Hello."}, b"abc")
    assert await read(b"") is None  # a clean end of stream


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"not json\n", "not valid JSON"),
        (b"[1, 2]\n", "must be a JSON object"),
        (header(data={"text": "x"}), "no 'type'"),
        (header(type=7), "no 'type'"),
        (header(type="synthesize", data=[1]), "'data' must be"),
        (header(type="synthesize", data_length=10**12), "at most 2048"),
        (header(type="synthesize", payload_length=10**12), "at most 4096"),
        (header(type="synthesize", data_length=-1), "non-negative"),
        (header(type="synthesize", data_length="12"), "non-negative"),
        (header(type="synthesize", data_length=True), "non-negative"),
        (header(type="synthesize", data_length=20) + b"{}", "ended inside a frame"),
        (header(type="synthesize", data_length=2) + b"[]", "must be a JSON object"),
        (b'{"type": "describe"', "ended inside a frame header"),
        (b'{"type": "' + b"x" * 2000 + b'"}\n', "longer than 1024"),
        (b"\xff\xfe\n", "not valid JSON"),
    ],
)
async def test_bad_frames_are_refused(raw: bytes, words: str) -> None:
    with pytest.raises(FrameError, match=words):
        await read(raw)


async def test_a_header_without_a_newline_cannot_fill_memory() -> None:
    reader = asyncio.StreamReader(limit=64 * 1024)
    reader.feed_data(b"{" * (200 * 1024))  # never a newline
    with pytest.raises(FrameError, match="longer than"):
        await asyncio.wait_for(read_frame(reader, LIMITS), timeout=5)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_any_bytes_give_an_event_the_end_or_a_frame_error(raw: bytes) -> None:
    async def check() -> None:
        try:
            event = await read(raw)
        except FrameError:
            return
        assert event is None or isinstance(event.type, str)

    asyncio.run(check())


frames = st.fixed_dictionaries(
    {"type": st.one_of(st.text(max_size=20), st.integers(), st.none())},
    optional={
        "data": st.one_of(
            st.dictionaries(st.text(max_size=5), st.text(max_size=20), max_size=3),
            st.lists(st.integers(), max_size=2),
            st.text(max_size=5),
        ),
        "data_length": st.one_of(st.integers(-5, 5000), st.text(max_size=3), st.none()),
        "payload_length": st.one_of(st.integers(-5, 9000), st.none()),
    },
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(frames, st.binary(max_size=300))
def test_any_header_gives_an_event_or_a_frame_error(fields: dict, body: bytes) -> None:
    async def check() -> None:
        try:
            event = await read(json.dumps(fields).encode() + b"\n" + body)
        except FrameError:
            return
        assert event is not None and isinstance(event.type, str) and event.type
        assert isinstance(event.data, dict)

    asyncio.run(check())
