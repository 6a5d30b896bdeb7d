"""The map from sparse to whole-sentence statistics, and the voices' offsets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from wyoming_polytts.engines.kokoro.stats import (
    VOICE_SENTENCES,
    StatisticsMap,
    VoiceOffsets,
    sparse_columns,
)

MEAN = "/decoder/generator/resblocks.0/adain1/ReduceMean_output_0"
VARIANCE = "/decoder/generator/resblocks.0/adain1/ReduceMean_1_output_0"
SCALE = "/decoder/generator/resblocks.0/Mul_output_0_scale"


def statistics(mean: np.ndarray, variance: np.ndarray, scale: float) -> dict:
    return {
        MEAN: mean.reshape(1, -1, 1).astype(np.float32),
        VARIANCE: variance.reshape(1, -1, 1).astype(np.float32),
        SCALE: np.array(scale, np.float32),
    }


def test_the_map_learns_each_channels_line_and_keeps_variances_positive() -> None:
    rng = np.random.default_rng(1)
    slope, offset = np.array([0.5, 1.0, 2.0]), np.array([0.1, -0.2, 0.0])
    pairs = []
    for _ in range(6):
        sparse_mean, sparse_variance = rng.normal(0, 1, 3), rng.uniform(0.5, 2, 3)
        whole = statistics(slope * sparse_mean + offset, 0.8 * sparse_variance, 0.3)
        pairs.append((whole, statistics(sparse_mean, sparse_variance, 0.2)))
    fitted = StatisticsMap.fit(pairs)
    assert set(fitted.slope) == {MEAN, VARIANCE}  # int8 ranges are used as they are
    sparse = statistics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 4.0]), 0.25)
    mapped = fitted.apply(sparse)
    assert np.allclose(mapped[MEAN].reshape(-1), slope * [1.0, 2.0, 3.0] + offset, atol=1e-5)
    assert np.allclose(mapped[VARIANCE].reshape(-1), [0.8, 0.0, 3.2], atol=1e-5)
    assert mapped[SCALE] == sparse[SCALE] and mapped[MEAN].dtype == np.float32
    voice = {MEAN: np.full((1, 3, 1), 0.5, np.float32), VARIANCE: np.full((1, 3, 1), -9.0)}
    shifted = fitted.apply(sparse, voice)
    assert np.allclose(shifted[MEAN], mapped[MEAN] + 0.5)
    assert (shifted[VARIANCE] == 0).all()  # a variance never goes below zero
    with pytest.raises(ValueError):
        StatisticsMap.fit(pairs[:1])


def test_the_map_is_saved_and_read_back(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    pairs = [(statistics(rng.normal(0, 1, 4), rng.uniform(1, 2, 4), 1.0),) * 2 for _ in range(3)]
    fitted = StatisticsMap.fit(pairs)
    path = tmp_path / "statistics.npz"
    fitted.save(path)
    read = StatisticsMap.load(path)
    assert read is not None and read.floor == fitted.floor
    assert all(np.array_equal(read.slope[n], fitted.slope[n]) for n in fitted.slope)
    assert StatisticsMap.load(tmp_path / "missing.npz") is None
    path.write_bytes(b"not a map")
    assert StatisticsMap.load(path) is None


def test_a_voices_offset_is_the_mean_of_its_first_sentences_and_few_are_kept() -> None:
    offsets = VoiceOffsets(limit=2)
    error = {MEAN: np.ones((1, 3, 1), np.float32)}
    offsets.learn("a", error)
    assert offsets.get("a") is None  # one sentence is not enough
    for _ in range(VOICE_SENTENCES):  # later sentences no longer change it
        offsets.learn("a", {MEAN: 3 * error[MEAN]})
    learnt = offsets.get("a")
    assert learnt is not None and np.allclose(learnt[MEAN], 2.0)
    offsets.learn("b", error)
    offsets.learn("c", error)
    assert offsets.get("a") is None  # the least recently used voice is dropped


def test_the_sparse_decode_takes_whole_frames() -> None:
    assert sparse_columns(40).tolist() == [0, 8, 16, 24]
    assert sparse_columns(33).tolist() == [0, 8, 16, 24]
    assert sparse_columns(5).size == 0
