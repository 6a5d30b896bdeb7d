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
(`VoiceOffsets`). Until a voice has one, its sentences are decoded whole, or streamed with a
prior offset (the mean of the learnt voices most like it; `stream.PRIOR_OFFSETS`). The
offsets are kept beside the map they are errors of (`offsets-<map key>.npz`), so a voice is
learnt once per model and map, not once per start.

Each voice is checked as it is learnt in the background (`KokoroEngine.learn_voice`): its
offset is learnt from its language's learning sentences, which are then decoded in windows with
it and compared with their whole decodes. A voice that fails is kept as one to decode whole
(`VoiceOffsets.judge`), beside its offset; one not checked yet (learnt from its first answers)
is decoded whole as a voice not learnt is, until the background learning checks it.

Measured on the embedded model against the whole decode (PESQ, 16 kHz wideband, windows of
16-30 frames, every 8th column): the raw sparse statistics give 2.5-3.4, the mapped ones 4.1-4.4
for voices in the fit and 3.7-4.2 for voices left out of it; with its offset learnt from two
other sentences, the voice the map fitted worst went from 3.1-3.5 to 4.2-4.4.
"""

from __future__ import annotations

import io
import logging
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Tuple

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


@dataclass
class _Learnt:
    """One voice: the sum of its sentences' errors, how many, and whether its windows passed
    the check (None: not checked yet)."""

    total: Statistics
    count: int
    streams: Optional[bool] = None


# How the check's verdict is saved (an old file without verdicts: every voice unchecked).
_VERDICTS = {None: -1, False: 0, True: 1}


class VoiceOffsets:
    """Per voice, the mean error of the map on its sentences decoded whole, and whether its
    windows passed the check (thread-safe).

    Once `bind` gives it a file (beside the map it is an error of), the offsets are read
    from it, and written to it each time a voice's offset is complete or judged.
    """

    def __init__(self, limit: int = MAX_VOICES) -> None:
        self._sums: OrderedDict[str, _Learnt] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()
        self._path: Optional[Path] = None
        self._save_lock = threading.Lock()  # one write at a time, of the latest offsets

    def learn(self, voice: str, error: Statistics) -> None:
        """Add one sentence's `whole - map(sparse)` for `voice`."""
        with self._lock:
            entry = self._sums.pop(voice, None) or _Learnt({}, 0)
            completed = False
            if entry.count < VOICE_SENTENCES:
                entry.total = {
                    name: entry.total.get(name, 0) + value for name, value in error.items()
                }
                entry.count += 1
                completed = entry.count == VOICE_SENTENCES
            self._sums[voice] = entry
            while len(self._sums) > self._limit:
                self._sums.popitem(last=False)
        if completed:
            self.save()

    def count(self, voice: str) -> int:
        """How many of the voice's sentences were learnt (at most `VOICE_SENTENCES`)."""
        with self._lock:
            return self._sums[voice].count if voice in self._sums else 0

    def streams(self, voice: str) -> Optional[bool]:
        """Whether the voice's windows passed the check: True, False (its sentences are
        decoded whole), None (not learnt or not checked yet)."""
        with self._lock:
            entry = self._sums.get(voice)
            return entry.streams if entry is not None else None

    def judge(self, voice: str, offset: Statistics, streams: bool) -> None:
        """Keep the voice's offset (replacing one learnt before) with the check's verdict on
        it; saved."""
        with self._lock:
            self._sums.pop(voice, None)
            total = {name: value * np.float32(VOICE_SENTENCES) for name, value in offset.items()}
            self._sums[voice] = _Learnt(total, VOICE_SENTENCES, streams)
            while len(self._sums) > self._limit:
                self._sums.popitem(last=False)
        self.save()

    def get(self, voice: str) -> Optional[Statistics]:
        """The voice's offset once `VOICE_SENTENCES` of its sentences were learnt, else None."""
        with self._lock:
            if voice not in self._sums:
                return None
            self._sums.move_to_end(voice)
            entry = self._sums[voice]
        if entry.count < VOICE_SENTENCES:
            return None
        return {
            name: (value / entry.count).astype(np.float32) for name, value in entry.total.items()
        }

    def learnt(self) -> Dict[str, Statistics]:
        """Every voice's complete offset, by voice."""
        with self._lock:
            complete = [
                voice for voice, entry in self._sums.items() if entry.count >= VOICE_SENTENCES
            ]
        found = {voice: self.get(voice) for voice in complete}
        return {voice: offset for voice, offset in found.items() if offset is not None}

    def prior(self, weights: Mapping[str, float]) -> Optional[Statistics]:
        """An offset for a voice not learnt yet, whose packs are `weights` (one pack, or a
        blend's): per pack, its own offset, else the mean of the learnt voices most like it
        (the same language and gender, `af_`; else language, `a`; else all), weighted.
        None when no voice is learnt."""
        learnt = self.learnt()
        if not learnt:
            return None
        single = {voice: value for voice, value in learnt.items() if voice.isidentifier()}
        prior: Statistics = {}
        for pack, weight in weights.items():
            offset = learnt.get(pack)
            if offset is None:
                kin = next(
                    (
                        found
                        for prefix in (pack[:2], pack[:1], "")
                        if (found := [v for k, v in single.items() if k.startswith(prefix)])
                    ),
                    list(learnt.values()),
                )
                offset = _mean(kin)
            for name, value in offset.items():
                prior[name] = prior.get(name, 0) + np.float32(weight) * value
        return {name: value.astype(np.float32) for name, value in prior.items()}

    def bind(self, path: Path, statistics: StatisticsMap) -> None:
        """Read the offsets saved at `path` (errors of `statistics`), and save there from now
        on. An unreadable file, or one that does not fit the map, is ignored: the voices are
        learnt again."""
        saved = _read_offsets(path, statistics)
        with self._lock:
            self._path = path
            for voice, entry in reversed(saved.items()):  # oldest first, before this run's
                if voice not in self._sums:
                    self._sums[voice] = entry
                    self._sums.move_to_end(voice, last=False)
            while len(self._sums) > self._limit:
                self._sums.popitem(last=False)
        if saved:
            _LOGGER.info("Kokoro decoder: %d voice offsets read from %s", len(saved), path.name)

    def save(self) -> None:
        """Write the complete offsets to the bound file (atomically); nothing when unbound."""
        with self._save_lock:
            with self._lock:
                path = self._path
                entries = [
                    (voice, entry.total, entry.count, entry.streams)
                    for voice, entry in self._sums.items()
                    if entry.count >= VOICE_SENTENCES
                ]
            if path is None:
                return
            arrays: Dict[str, np.ndarray] = {
                "voices": np.array([entry[0] for entry in entries], str),
                "streams": np.array([_VERDICTS[entry[3]] for entry in entries], np.int8),
            }
            for index, (_, total, count, _) in enumerate(entries):
                for name, value in total.items():  # the offset itself: the mean
                    arrays[f"{index}:{name}"] = np.asarray(value / count, np.float32)
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)  # type: ignore[arg-type]
            try:
                atomic_write_bytes(path, buffer.getvalue())
            except OSError as error:
                _LOGGER.warning("Cannot save the voice offsets to %s: %s", path, error)


def _mean(offsets: Sequence[Statistics]) -> Statistics:
    return {
        name: np.mean([offset[name] for offset in offsets], axis=0).astype(np.float32)
        for name in offsets[0]
    }


def _read_offsets(path: Path, statistics: StatisticsMap) -> Dict[str, _Learnt]:
    """The voices' offsets saved at `path`, as sums of `VOICE_SENTENCES` sentences with the
    check's verdicts (none in a file older than the check: not checked); empty when there is
    no file, it cannot be read, or its statistics are not the map's."""
    if not path.is_file():
        return {}
    sizes = {name: offset.size for name, offset in statistics.offset.items()}
    verdicts = {code: verdict for verdict, code in _VERDICTS.items()}
    found: Dict[str, _Learnt] = {}
    try:
        with np.load(path, allow_pickle=False) as saved:
            voices = [str(voice) for voice in saved["voices"]]
            codes = saved["streams"] if "streams" in saved.files else np.full(len(voices), -1)
            if len(codes) != len(voices):
                raise ValueError("the verdicts do not match the voices")
            for index, voice in enumerate(voices):
                offset = {name: saved[f"{index}:{name}"] for name in sizes}
                if any(offset[name].size != size for name, size in sizes.items()):
                    raise ValueError(f"the offset of {voice} does not fit the statistics map")
                if not all(np.isfinite(value).all() for value in offset.values()):
                    raise ValueError(f"the offset of {voice} is not finite")
                sums = {name: value * np.float32(VOICE_SENTENCES) for name, value in offset.items()}
                found[voice] = _Learnt(sums, VOICE_SENTENCES, verdicts.get(int(codes[index])))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        _LOGGER.warning("Ignoring unreadable voice offsets %s (learnt again): %s", path, error)
        return {}
    return found
