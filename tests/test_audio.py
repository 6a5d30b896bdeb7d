"""PCM conversion and chunking."""

from __future__ import annotations

import numpy as np

from wyoming_polytts.audio import iter_chunks, to_pcm16


def test_to_pcm16_scales_and_clips() -> None:
    pcm = to_pcm16(np.array([0.0, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0], dtype=np.float32))
    values = np.frombuffer(pcm, dtype="<i2").tolist()
    assert values == [0, 16384, -16384, 32767, -32767, 32767, -32767]


def test_chunks_hold_the_requested_samples() -> None:
    pcm = bytes(range(256)) * 10  # 1280 samples
    chunks = list(iter_chunks(pcm, 500))
    assert [len(chunk) for chunk in chunks] == [1000, 1000, 560]
    assert b"".join(chunks) == pcm
    assert list(iter_chunks(b"", 500)) == []
