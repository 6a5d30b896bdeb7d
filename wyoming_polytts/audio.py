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


def trim_silence(
    samples: np.ndarray,
    rate: int,
    lead_seconds: float = 0.05,
    trail_seconds: float = 0.25,
    threshold_db: float = -45.0,
) -> np.ndarray:
    """Cut the silence a model pads a piece with, keeping `lead_seconds` / `trail_seconds`.

    Silence is 10 ms frames whose RMS stays below `threshold_db` dBFS. The kept trail plus
    the next piece's lead is the pause between two sentences of one answer.
    """
    frame = max(1, rate // 100)
    usable = len(samples) // frame * frame
    if usable == 0:
        return samples
    rms = np.sqrt(np.mean(np.square(samples[:usable].reshape(-1, frame), dtype=np.float64), axis=1))
    loud = np.flatnonzero(rms > 10 ** (threshold_db / 20))
    if loud.size == 0:
        return samples[:0]
    start = max(0, loud[0] * frame - int(lead_seconds * rate))
    end = min(len(samples), (loud[-1] + 1) * frame + int(trail_seconds * rate))
    return samples[start:end]
