"""The stall arithmetic of `script/benchmark_load.py`: when a listener runs out of audio."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wyoming.client import AsyncTcpClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "script"))
import benchmark_load  # noqa: E402
from benchmark_load import stalls  # noqa: E402

RATE = 1000.0  # bytes per second: 100 bytes are 0.1 s of audio


def test_no_chunks_and_one_chunk_never_stall() -> None:
    assert stalls([], RATE) == (0, 0.0)
    assert stalls([(5.0, 100)], RATE) == (0, 0.0)


def test_chunks_that_arrive_before_the_audio_runs_out_do_not_stall() -> None:
    # 0.1 s of audio each; each arrives as (or before) the one before finishes playing.
    assert stalls([(1.0, 100), (1.1, 100), (1.15, 100), (1.3, 100)], RATE) == (0, 0.0)


def test_a_chunk_after_the_audio_ran_out_is_a_stall_and_playback_restarts_from_it() -> None:
    count, total = stalls([(1.0, 100), (1.3, 100), (1.4, 100), (1.7, 100)], RATE)
    # runs out at 1.1 (0.2 s until 1.3), then plays 1.3-1.4, 1.4-1.5, runs out until 1.7
    assert count == 2
    assert total == pytest.approx(0.4)


def test_first_audio_is_not_a_stall() -> None:
    assert stalls([(10.0, 100), (10.1, 100)], RATE) == (0, 0.0)


def test_gaps_under_the_threshold_are_ignored_until_they_add_up() -> None:
    # each chunk 6 ms late: not a stall by itself; playback is taken to go on, so the
    # second chunk is 12 ms behind and counts, with all 12 ms.
    count, total = stalls([(0.0, 100), (0.106, 100), (0.212, 100)], RATE, min_gap=0.010)
    assert count == 1
    assert total == pytest.approx(0.012)
    assert stalls([(0.0, 100), (0.106, 100)], RATE, min_gap=0.010) == (0, 0.0)


def test_a_long_buffer_absorbs_a_late_chunk() -> None:
    # 2 s of audio at once: the next chunk 1.5 s later is in time.
    assert stalls([(0.0, 2000), (1.5, 100)], RATE) == (0, 0.0)


@given(
    st.lists(
        st.tuples(st.floats(0, 5, allow_nan=False), st.integers(0, 10_000)),
        min_size=1,
        max_size=30,
    )
)
def test_stalled_time_is_at_most_the_wall_time_without_audio(chunks: list) -> None:
    chunks = sorted(chunks)
    count, total = stalls(chunks, RATE)
    assert 0 <= count <= len(chunks) - 1
    assert 0.0 <= total <= chunks[-1][0] - chunks[0][0] + 1e-9


class _SilentServer:
    """A Wyoming port that reads requests and never answers (`RunningServer.client`)."""

    def __init__(self, port: int) -> None:
        self.port = port

    def client(self) -> AsyncTcpClient:
        return AsyncTcpClient("127.0.0.1", self.port)


async def test_a_request_without_audio_fails_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setattr(benchmark_load, "FIRST_AUDIO_TIMEOUT", 0.2)
    try:
        with pytest.raises(benchmark_load.LoadError, match="lights: no audio within 0 s"):
            await asyncio.wait_for(
                benchmark_load.at_once(
                    cast(Any, _SilentServer(port)), [("lights", "Hello.", 0.0)], "af_heart"
                ),
                5,
            )
    finally:
        server.close()
