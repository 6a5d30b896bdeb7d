"""PCM conversion and chunking of engine output."""

from __future__ import annotations

from typing import Iterator

import numpy as np

SAMPLE_WIDTH = 2  # 16-bit PCM
CHANNELS = 1


def to_pcm16(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] to 16-bit little-endian PCM (clipped, not wrapped)."""
    clipped = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    return (clipped * 32767.0).round().astype("<i2").tobytes()


def iter_chunks(pcm: bytes, samples_per_chunk: int) -> Iterator[bytes]:
    """Consecutive pieces of `pcm` holding `samples_per_chunk` samples (the last may be short)."""
    step = samples_per_chunk * SAMPLE_WIDTH * CHANNELS
    for start in range(0, len(pcm), step):
        yield pcm[start : start + step]
