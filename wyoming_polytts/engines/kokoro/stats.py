"""The whole sentence's generator statistics, predicted from a cheap decode of part of it.

A window of Kokoro's generator sounds as the whole-sentence decode does only when it is handed
the whole sentence's statistics: the mean and variance of every instance norm, per channel,
and the range of every int8 activation. Computing them exactly costs the whole decode.

They are estimated from a sparse decode: every `STATS_STRIDE`-th generator input column
(an eighth of the work). The int8 ranges of that decode are used as they are. The instance
norm statistics of the decimated signal are biased, differently in each channel, so they go
through a per-channel linear map,
`whole ~ slope * sparse + offset`, fitted once per model and voice set on calibration
sentences decoded both ways, and kept beside the model's parts.

Voices far from the calibration voices keep an offset of their own: the map's error on a
voice's first sentences (`VOICE_SENTENCES`, decoded whole, so they cost an eighth more and
sound exactly as the unsplit model's), averaged, is added to its later estimates
(`VoiceOffsets`). Until a voice has one, its sentences are decoded whole.

Measured on the embedded model against the whole decode (PESQ, 16 kHz wideband, windows of
16-30 frames, every 8th column): the raw sparse statistics give 2.5-3.4, the mapped ones 4.1-4.4
for voices in the fit and 3.7-4.2 for voices left out of it; with its offset learnt from two
other sentences, the voice the map fitted worst went from 3.1-3.5 to 4.2-4.4.
"""

from __future__ import annotations

import io
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from ...fileio import atomic_write_bytes

_LOGGER = logging.getLogger(__name__)

STATS_STRIDE = 8  # the sparse decode takes every eighth generator input column
MAX_SLOPE = 3.0
VOICE_SENTENCES = 2  # sentences decoded whole before a voice's offset is used
MAX_VOICES = 64  # voices (and blends) whose offsets are kept, the least recently used dropped

# Sentences decoded at calibration, each with one of the installed voices in turn: varied
# lengths, voiced and unvoiced sounds, a question and an exclamation.
CALIBRATION_TEXTS = (
    "Turn on the kitchen lights please.",
    "The garage door is open.",
    "It is currently twelve degrees outside.",
    "I added milk and eggs to your shopping list.",
    "Your next meeting starts at three thirty in the afternoon.",
    "Sorry, I could not find a device called bedroom lamp.",
    "The washing machine has finished its cycle.",
    "Good morning! It is seven o'clock and the sun is shining over the hills today.",
    "Playing your favourite songs from the seventies.",
    "Which room do you mean?",
    "The front door has been locked for the night, and the alarm is armed.",
    "Alright.",
)

Statistics = Dict[str, np.ndarray]


def is_norm_statistic(name: str) -> bool:
    """Instance norm means and variances; the rest are int8 activation ranges."""
    return not (name.endswith("_scale") or name.endswith("_zero_point"))


def sparse_columns(columns: int) -> np.ndarray:
    """The generator input columns the sparse decode takes (an even count: whole frames)."""
    keep = np.arange(0, columns, STATS_STRIDE)
    return keep[: 2 * (keep.size // 2)]


@dataclass
class StatisticsMap:
    """Per statistic and channel, `whole ~ slope * sparse + offset`; `floor` keeps variances
    (statistics never negative at calibration) from going below zero."""

    slope: Dict[str, np.ndarray]
    offset: Dict[str, np.ndarray]
    floor: Dict[str, float]

    @classmethod
    def fit(cls, pairs: Sequence[Tuple[Statistics, Statistics]]) -> StatisticsMap:
        """Least squares per channel over calibration pairs of (whole, sparse) statistics."""
        if len(pairs) < 2:
            raise ValueError("Fitting the statistics map needs at least two sentences")
        slope, offset, floor = {}, {}, {}
        for name in (name for name in pairs[0][0] if is_norm_statistic(name)):
            whole = np.stack([w[name].reshape(-1) for w, _ in pairs]).astype(np.float64)
            sparse = np.stack([s[name].reshape(-1) for _, s in pairs]).astype(np.float64)
            spread = sparse - sparse.mean(axis=0)
            covariance = (spread * (whole - whole.mean(axis=0))).sum(axis=0)
            variance = (spread**2).sum(axis=0)
            fitted = np.clip(covariance / np.maximum(variance, 1e-12), 0.0, MAX_SLOPE)
            slope[name] = fitted.astype(np.float32)
            offset[name] = (whole.mean(axis=0) - fitted * sparse.mean(axis=0)).astype(np.float32)
            floor[name] = 0.0 if whole.min() >= 0 else -np.inf
        return cls(slope, offset, floor)

    def apply(self, sparse: Statistics, voice: Optional[Statistics] = None) -> Statistics:
        """The whole sentence's statistics from a sparse decode's, with a voice's offset."""
        mapped = dict(sparse)
        for name, slope in self.slope.items():
            value = sparse[name]
            estimate = slope * value.reshape(-1) + self.offset[name]
            if voice is not None:
                estimate = estimate + voice[name].reshape(-1)
            mapped[name] = np.maximum(estimate, self.floor[name]).reshape(value.shape)
        return {name: value.astype(sparse[name].dtype) for name, value in mapped.items()}

    def save(self, path: Path) -> None:
        arrays: Dict[str, np.ndarray] = {}
        for name in self.slope:
            arrays[f"slope:{name}"] = self.slope[name]
            arrays[f"offset:{name}"] = self.offset[name]
            arrays[f"floor:{name}"] = np.array(self.floor[name], np.float32)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> Optional[StatisticsMap]:
        """The map saved at `path`; None when there is none or it cannot be read."""
        if not path.is_file():
            return None
        try:
            with np.load(path) as saved:
                names = [key[len("slope:") :] for key in saved.files if key.startswith("slope:")]
                return cls(
                    {name: saved[f"slope:{name}"] for name in names},
                    {name: saved[f"offset:{name}"] for name in names},
                    {name: float(saved[f"floor:{name}"]) for name in names},
                )
        except (OSError, ValueError, KeyError) as error:
            _LOGGER.warning("Ignoring unreadable statistics map %s: %s", path, error)
            return None


class VoiceOffsets:
    """Per voice, the mean error of the map on its sentences decoded whole (thread-safe)."""

    def __init__(self, limit: int = MAX_VOICES) -> None:
        self._sums: OrderedDict[str, Tuple[Statistics, int]] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def learn(self, voice: str, error: Statistics) -> None:
        """Add one sentence's `whole - map(sparse)` for `voice`."""
        with self._lock:
            total, count = self._sums.pop(voice, ({}, 0))
            if count < VOICE_SENTENCES:
                total = {name: total.get(name, 0) + value for name, value in error.items()}
                count += 1
            self._sums[voice] = (total, count)
            while len(self._sums) > self._limit:
                self._sums.popitem(last=False)

    def get(self, voice: str) -> Optional[Statistics]:
        """The voice's offset once `VOICE_SENTENCES` of its sentences were learnt, else None."""
        with self._lock:
            if voice not in self._sums:
                return None
            self._sums.move_to_end(voice)
            total, count = self._sums[voice]
        if count < VOICE_SENTENCES:
            return None
        return {name: (value / count).astype(np.float32) for name, value in total.items()}
