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


def fitted_map() -> StatisticsMap:
    rng = np.random.default_rng(1)
    pairs = [
        (
            statistics(rng.random(3), rng.random(3), 1.0),
            statistics(rng.random(3), rng.random(3), 1.0),
        )
        for _ in range(3)
    ]
    return StatisticsMap.fit(pairs)


def offset_of(value: float) -> dict:
    return {MEAN: np.full((1, 3, 1), value, np.float32), VARIANCE: np.zeros((1, 3, 1), np.float32)}


def learn(offsets: VoiceOffsets, voice: str, value: float) -> None:
    for _ in range(VOICE_SENTENCES):
        offsets.learn(voice, offset_of(value))


def test_offsets_are_saved_when_learnt_and_read_back_in_order(tmp_path: Path) -> None:
    path = tmp_path / "offsets.npz"
    offsets = VoiceOffsets(limit=3)
    offsets.bind(path, fitted_map())
    learn(offsets, "af_heart", 1.0)
    offsets.learn("jm_kumo", offset_of(5.0))  # half learnt: not kept
    learn(offsets, "af_sky(1)+am_adam(2)", 2.0)
    again = VoiceOffsets(limit=2)
    again.bind(path, fitted_map())
    assert again.count("jm_kumo") == 0
    kept = again.get("af_heart")
    assert kept is not None and np.allclose(kept[MEAN], 1.0)
    blend = again.get("af_sky(1)+am_adam(2)")
    assert blend is not None and np.allclose(blend[MEAN], 2.0)
    learn(again, "jf_alpha", 3.0)  # the oldest of the file goes first
    assert again.get("af_heart") is None and again.get("af_sky(1)+am_adam(2)") is not None


@pytest.mark.parametrize("content", [b"not offsets", b"PK\x03\x04broken zip"])
def test_an_unreadable_offsets_file_is_ignored(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "offsets.npz"
    path.write_bytes(content)
    offsets = VoiceOffsets()
    offsets.bind(path, fitted_map())
    assert offsets.learnt() == {}
    learn(offsets, "af_heart", 1.0)  # learnt again, and the file is whole again
    again = VoiceOffsets()
    again.bind(path, fitted_map())
    assert again.get("af_heart") is not None


def test_the_check_verdicts_are_saved_with_the_offsets(tmp_path: Path) -> None:
    path = tmp_path / "offsets.npz"
    offsets = VoiceOffsets()
    offsets.bind(path, fitted_map())
    learn(offsets, "af_heart", 1.0)
    learn(offsets, "ef_dora", 2.0)
    learn(offsets, "jm_kumo", 3.0)
    assert offsets.streams("af_heart") is None  # learnt, not checked yet
    offsets.judge("af_heart", offset_of(1.5), True)  # relearnt and checked
    offsets.judge("ef_dora", offset_of(2.0), False)
    again = VoiceOffsets()
    again.bind(path, fitted_map())
    assert again.streams("af_heart") is True
    assert again.streams("ef_dora") is False
    assert again.streams("jm_kumo") is None
    heart, dora = again.get("af_heart"), again.get("ef_dora")  # the offsets are kept too
    assert heart is not None and np.allclose(heart[MEAN], 1.5)
    assert dora is not None and np.allclose(dora[MEAN], 2.0)


def test_an_offsets_file_from_before_the_check_loads_unchecked(tmp_path: Path) -> None:
    path = tmp_path / "offsets.npz"
    offsets = VoiceOffsets()
    offsets.bind(path, fitted_map())
    offsets.judge("af_heart", offset_of(1.0), False)
    with np.load(path) as saved:  # as written before the check: no verdicts
        arrays = {name: saved[name] for name in saved.files if name != "streams"}
    np.savez(path, **arrays)  # type: ignore[arg-type]
    again = VoiceOffsets()
    again.bind(path, fitted_map())
    kept = again.get("af_heart")
    assert kept is not None and np.allclose(kept[MEAN], 1.0)
    assert again.count("af_heart") == VOICE_SENTENCES and again.streams("af_heart") is None


def test_offsets_that_do_not_fit_the_map_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "offsets.npz"
    offsets = VoiceOffsets()
    offsets.bind(path, fitted_map())
    learn(offsets, "af_heart", 1.0)
    other = fitted_map()
    other.offset[MEAN] = np.zeros(5, np.float32)  # another map: five channels
    again = VoiceOffsets()
    again.bind(path, other)
    assert again.learnt() == {}


def test_a_voice_not_learnt_gets_the_mean_of_the_voices_most_like_it() -> None:
    offsets = VoiceOffsets()
    assert offsets.prior({"af_nova": 1.0}) is None  # nothing learnt: no prior
    learn(offsets, "af_heart", 1.0)
    learn(offsets, "af_bella", 3.0)
    learn(offsets, "am_adam", 5.0)
    learn(offsets, "jm_kumo", 10.0)
    learn(offsets, "af_bella(1)+am_adam(1)", 100.0)  # a blend is no voice's kin
    offsets.learn("af_sky", offset_of(100.0))  # half learnt: left out
    expected = {
        "af_nova": 2.0,  # American women
        "am_eric": 5.0,  # American men
        "jf_alpha": 10.0,  # no Japanese woman: the Japanese voices
        "ef_dora": 19 / 4,  # no Spanish voice: all voices
    }
    for voice, value in expected.items():
        prior = offsets.prior({voice: 1.0})
        assert prior is not None and np.allclose(prior[MEAN], value), voice
    prior = offsets.prior({"jm_kumo": 0.25, "af_sky": 0.75})  # a blend: per pack, weighted
    assert prior is not None and np.allclose(prior[MEAN], 0.25 * 10 + 0.75 * 2)
