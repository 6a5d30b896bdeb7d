"""The speech check used by the socket tests rejects what is not speech."""

from __future__ import annotations

import numpy as np
import pytest

from wyoming_polytts.audio import to_pcm16

from .helpers import assert_speech

RATE = 24000


def test_silence_is_not_speech() -> None:
    with pytest.raises(AssertionError):
        assert_speech(to_pcm16(np.zeros(RATE * 3)), RATE, 1.0, 5.0)


def test_a_steady_tone_is_not_speech() -> None:
    t = np.arange(RATE * 3) / RATE
    with pytest.raises(AssertionError):
        assert_speech(to_pcm16(0.3 * np.sin(2 * np.pi * 220 * t)), RATE, 1.0, 5.0)


def test_white_noise_is_not_speech() -> None:
    noise = np.random.default_rng(1).uniform(-0.3, 0.3, RATE * 3)
    with pytest.raises(AssertionError):
        assert_speech(to_pcm16(noise), RATE, 1.0, 5.0)


def test_too_short_is_refused() -> None:
    with pytest.raises(AssertionError):
        assert_speech(to_pcm16(np.zeros(RATE // 10)), RATE, 1.0, 5.0)
