"""PCM conversion and chunking."""

from __future__ import annotations

import io

import numpy as np
import soundfile
from hypothesis import given, settings
from hypothesis import strategies as st

from wyoming_polytts.audio import (
    SilenceTrimmer,
    StreamResampler,
    iter_chunks,
    mono_blocks,
    resample,
    to_pcm16,
    trim_silence,
    trim_silence_span,
)


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


def test_trim_silence_keeps_short_pads() -> None:
    rate = 1000
    tone = 0.5 * np.sin(np.linspace(0, 200 * np.pi, 500))
    padded = np.concatenate([np.zeros(300), tone, np.zeros(700)]).astype(np.float32)
    trimmed = trim_silence(padded, rate, lead_seconds=0.05, trail_seconds=0.2)
    assert len(trimmed) == 50 + 500 + 200
    assert np.array_equal(trimmed[50:550], tone.astype(np.float32))


def test_trim_silence_span_says_where_the_kept_part_begins() -> None:
    rate = 1000
    tone = 0.5 * np.sin(np.linspace(0, 200 * np.pi, 500))
    padded = np.concatenate([np.zeros(300), tone, np.zeros(700)]).astype(np.float32)
    trimmed, start = trim_silence_span(padded, rate, lead_seconds=0.05, trail_seconds=0.2)
    assert start == 250 and np.array_equal(trimmed, padded[250 : 250 + len(trimmed)])
    trimmer = SilenceTrimmer(rate, lead_seconds=0.05, trail_seconds=0.2)
    for cut in range(0, padded.size, 70):  # in stretches: the same start
        trimmer.push(padded[cut : cut + 70])
    assert abs(trimmer.kept_start - 250) <= rate // 100
    assert trim_silence_span(np.zeros(1000, np.float32), rate)[1] == 0


def test_trim_silence_of_pure_silence_is_empty() -> None:
    assert trim_silence(np.zeros(1000, np.float32), 1000).size == 0
    assert trim_silence(np.zeros(3, np.float32), 1000).size == 3  # shorter than one frame


def test_prompt_audio_helpers() -> None:
    from wyoming_polytts.audio import normalize_loudness, resample, rms_dbfs, to_mono

    stereo = np.stack([np.full(100, 0.2), np.full(100, 0.4)], axis=1).astype(np.float32)
    assert np.allclose(to_mono(stereo), 0.3)
    tone = np.sin(2 * np.pi * 440 * np.arange(48000) / 48000).astype(np.float32)
    down = resample(tone, 48000, 24000)
    assert len(down) == 24000 and abs(rms_dbfs(down) - rms_dbfs(tone)) < 0.2
    assert abs(rms_dbfs(normalize_loudness(tone * 0.01)) - (-20.0)) < 0.01
    spiky = np.zeros(1000, np.float32)
    spiky[::100] = 0.5  # quiet overall, loud peaks: the peak limit wins
    assert np.max(np.abs(normalize_loudness(spiky))) <= 0.95 + 1e-6
    assert rms_dbfs(np.zeros(10, np.float32)) == float("-inf")


def test_long_pauses_are_shortened_and_short_ones_kept() -> None:
    from wyoming_polytts.audio import shorten_pauses

    rate = 1000
    tone = np.sin(np.arange(500) * 0.3).astype(np.float32) * 0.5  # 0.5 s of sound
    gap = np.zeros(int(1.2 * rate), np.float32)
    short = np.zeros(int(0.2 * rate), np.float32)
    audio = np.concatenate([tone, gap, tone, short, tone])
    result = shorten_pauses(audio, rate, max_pause=0.5, keep=0.3)
    assert len(result) == len(audio) - int(0.9 * rate)  # 1.2 s became 0.3 s; 0.2 s stays
    assert np.array_equal(result[:500], tone) and np.array_equal(result[-500:], tone)
    assert shorten_pauses(tone, rate) is tone


@settings(max_examples=200, deadline=None)
@given(
    lead=st.integers(0, 3000),
    loud=st.lists(st.integers(1, 2000), min_size=0, max_size=3),
    gap=st.integers(0, 2000),
    trail=st.integers(0, 3000),
    cuts=st.lists(st.integers(1, 5000), max_size=6),
)
def test_trimming_in_stretches_keeps_what_trimming_at_once_keeps(
    lead: int, loud: list, gap: int, trail: int, cuts: list
) -> None:
    """Audio pushed in stretches comes out as `trim_silence` of the whole, up to one 10 ms frame
    at each end (frames are counted from where each stretch's held-back audio begins)."""
    rate = 1000
    parts = [np.zeros(lead, np.float32)]
    for length in loud:
        parts += [np.full(length, 0.5, np.float32), np.zeros(gap, np.float32)]
    parts.append(np.zeros(trail, np.float32))
    whole = np.concatenate(parts)
    trimmer = SilenceTrimmer(rate, lead_seconds=0.05, trail_seconds=0.2)
    pieces, start = [], 0
    for cut in sorted(set(cuts)) + [whole.size]:
        if cut > start:
            pieces.append(trimmer.push(whole[start:cut]))
            start = cut
    pieces.append(trimmer.finish())
    streamed = np.concatenate(pieces)
    at_once = trim_silence(whole, rate, lead_seconds=0.05, trail_seconds=0.2)
    frame = rate // 100
    assert abs(streamed.size - at_once.size) <= 2 * frame
    assert np.count_nonzero(streamed) == np.count_nonzero(at_once)  # no loud sample lost


def test_mono_blocks_mix_the_channels_and_stop_at_the_limit_whatever_the_file_holds() -> None:
    left, right = np.full(10_000, 0.25, np.float32), np.full(10_000, -0.75, np.float32)
    buffer = io.BytesIO()
    soundfile.write(buffer, np.stack([left, right], axis=1), 8000, format="WAV", subtype="FLOAT")
    with soundfile.SoundFile(io.BytesIO(buffer.getvalue())) as sound:
        blocks = list(mono_blocks(sound, 3000, 7001))
    assert [len(block) for block in blocks] == [3000, 3000, 1001]  # never more than asked
    assert all(block.ndim == 1 and np.allclose(block, -0.25) for block in blocks)
    with soundfile.SoundFile(io.BytesIO(buffer.getvalue())) as sound:
        assert sum(len(block) for block in mono_blocks(sound, 3000, 50_000)) == 10_000


def test_resampling_in_stretches_gives_the_whole_resampled_at_once() -> None:
    samples = np.random.default_rng(1).uniform(-0.5, 0.5, 44_100).astype(np.float32)
    for rate in (44_100, 24_000):
        resampler = StreamResampler(44_100, rate)
        stretches = [resampler.push(samples[i : i + 5000]) for i in range(0, len(samples), 5000)]
        joined = np.concatenate([*stretches, resampler.finish()])
        assert joined.dtype == np.float32
        np.testing.assert_allclose(joined, resample(samples, 44_100, rate), atol=1e-6)
