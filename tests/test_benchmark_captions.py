"""The audio check of `script/benchmark_captions.py`: where sound comes back after a pause,
and which word it belongs to."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "script"))
from benchmark_captions import at_onsets, onsets  # noqa: E402

from wyoming_polytts.captions import TimedWord

RATE = 24000


def _tone(seconds: float, level: float = 0.3) -> np.ndarray:
    time = np.arange(int(seconds * RATE)) / RATE
    return (level * np.sin(2 * np.pi * 220 * time)).astype(np.float32)


def _silence(seconds: float, level: float = 0.0) -> np.ndarray:
    return np.full(int(seconds * RATE), level, dtype=np.float32)


def test_sound_after_a_pause_is_an_onset_and_a_short_gap_is_not() -> None:
    audio = np.concatenate(
        [_tone(0.3), _silence(0.15), _tone(0.2), _silence(0.05), _tone(0.2), _silence(0.12)]
    )
    assert onsets(audio, RATE) == [0.45]


def test_quiet_is_judged_against_the_loudest_part() -> None:
    # A soft stretch 30 dB down is still sound; 50 dB down it is a pause.
    soft = _tone(0.2, level=0.3 * 10 ** (-30 / 20))
    faint = _tone(0.2, level=0.3 * 10 ** (-50 / 20))
    assert onsets(np.concatenate([_tone(0.2), soft, _tone(0.2)]), RATE) == []
    assert onsets(np.concatenate([_tone(0.2), faint, _tone(0.2)]), RATE) == [0.4]


def test_silence_alone_and_no_audio_have_no_onset() -> None:
    assert onsets(_silence(1.0), RATE) == []
    assert onsets(np.zeros(0, dtype=np.float32), RATE) == []


def test_an_onset_goes_to_the_nearest_word_start_or_is_missed() -> None:
    words = [TimedWord("good", 0.0, 0.4), TimedWord("night", 0.5, 0.9), TimedWord("the", 1.6, 1.7)]
    paired, missed = at_onsets(words, [0.55, 1.52, 1.0])
    assert paired == [(1, 0.55), (2, 1.52)]
    assert missed == 1  # 1.0 s: no word starts within 0.3 s of it
    assert at_onsets([], [0.5]) == ([], 1)
