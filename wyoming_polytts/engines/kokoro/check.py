"""How far a sentence decoded in windows is from its whole decode, cheaply (numpy only).

The voice check (`KokoroEngine.check_voice`) compares the windows of a voice's learning
sentence with its whole decode by segmental SNR: per 20 ms segment of speech, the whole
decode's energy over that of the difference, in dB, clipped to [-10, 35] dB (the usual
bounds, so that one silent or exact segment does not dominate), averaged. Segments more than
40 dB below the loudest are pauses and left out. Calibrated against PESQ (wideband, 16 kHz) on
every voice (`settings.MIN_WINDOW_SNR`).
"""

from __future__ import annotations

import numpy as np

SEGMENT = 480  # samples: 20 ms at 24 kHz
FLOOR_DB, CEILING_DB = -10.0, 35.0
SPEECH_DB = -40.0  # segments quieter than this below the loudest are pauses


def segmental_snr(windowed: np.ndarray, whole: np.ndarray) -> float:
    """Segmental SNR (dB) of `windowed` against `whole`, the whole decode of the same sentence
    (the windows leave out its leading padding: they are lined up with its end)."""
    if windowed.size > whole.size:
        raise ValueError("the windowed decode is longer than the whole one")
    reference = whole[whole.size - windowed.size :].astype(np.float64)
    segments = reference.size // SEGMENT
    if segments == 0:
        return CEILING_DB
    reference = reference[: segments * SEGMENT].reshape(segments, SEGMENT)
    difference = reference - windowed[: segments * SEGMENT].reshape(segments, SEGMENT)
    energy = (reference**2).sum(axis=1)
    error = (difference**2).sum(axis=1)
    speech = energy > energy.max() * 10 ** (SPEECH_DB / 10)
    if not speech.any():
        return CEILING_DB
    ratio = 10 * np.log10(energy[speech] / np.maximum(error[speech], 1e-20))
    return float(np.clip(ratio, FLOOR_DB, CEILING_DB).mean())
