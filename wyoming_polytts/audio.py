"""PCM conversion and chunking of engine output."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Optional, Tuple

import numpy as np

if TYPE_CHECKING:
    import soundfile
    import soxr

SAMPLE_WIDTH = 2  # 16-bit PCM
CHANNELS = 1
UNKNOWN_FRAMES = 2**63 - 1  # libsndfile's frame count of a file whose header does not say


def silent_answer(rate: int) -> np.ndarray:
    """The answer to a text with nothing to say: a moment of silence, which every client and
    decoder takes as valid audio (an MP3 or Opus file without a frame is not)."""
    from .settings import SILENT_ANSWER_SECONDS

    return np.zeros(int(SILENT_ANSWER_SECONDS * rate), np.float32)


def to_pcm16(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] to 16-bit little-endian PCM (clipped, not wrapped)."""
    clipped = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    return (clipped * 32767.0).round().astype("<i2").tobytes()


def iter_chunks(pcm: bytes, samples_per_chunk: int) -> Iterator[bytes]:
    """Consecutive pieces of `pcm` holding `samples_per_chunk` samples (the last may be short)."""
    step = samples_per_chunk * SAMPLE_WIDTH * CHANNELS
    for start in range(0, len(pcm), step):
        yield pcm[start : start + step]


def frame_levels(samples: np.ndarray, rate: int) -> Tuple[int, np.ndarray]:
    """The 10 ms frame length in samples, and the RMS of each whole frame of `samples`."""
    frame = max(1, rate // 100)
    usable = len(samples) // frame * frame
    blocks = np.asarray(samples[:usable], dtype=np.float64).reshape(-1, frame)
    return frame, np.sqrt(np.mean(np.square(blocks), axis=1))


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    """Mono float samples as a 16-bit PCM WAV file."""
    import io

    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


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
    return trim_silence_span(samples, rate, lead_seconds, trail_seconds, threshold_db)[0]


def trim_silence_span(
    samples: np.ndarray,
    rate: int,
    lead_seconds: float = 0.05,
    trail_seconds: float = 0.25,
    threshold_db: float = -45.0,
) -> Tuple[np.ndarray, int]:
    """`trim_silence`, and where in `samples` what it kept begins (0 when it kept nothing)."""
    trimmer = SilenceTrimmer(rate, lead_seconds, trail_seconds, threshold_db)
    kept = np.concatenate([trimmer.push(samples), trimmer.finish()])
    return kept, trimmer.kept_start


class SilenceTrimmer:
    """`trim_silence` for audio that arrives in stretches: `push` each, then `finish`.

    Leading silence is dropped (but `lead_seconds` of it) and quiet audio is held back until
    louder audio follows it, so the result is the same as trimming the whole at once.
    """

    def __init__(
        self,
        rate: int,
        lead_seconds: float = 0.05,
        trail_seconds: float = 0.25,
        threshold_db: float = -45.0,
    ) -> None:
        self._rate = rate
        self._lead = int(lead_seconds * rate)
        self._trail = int(trail_seconds * rate)
        self._threshold = 10 ** (threshold_db / 20)
        self._pending = np.zeros(0, np.float32)  # quiet audio (or part of a frame) held back
        self._started = False  # whether loud audio was seen
        self._total = 0
        self.kept_start = 0  # where the kept audio begins, in samples of all that was pushed

    def push(self, samples: np.ndarray) -> np.ndarray:
        """The part of `samples` (with what was held back) that is sure to be kept."""
        offset = self._total - len(self._pending)  # where `buffer` begins
        self._total += len(samples)
        buffer = np.concatenate([self._pending, np.asarray(samples, dtype=np.float32)])
        frame, rms = frame_levels(buffer, self._rate)
        loud = np.flatnonzero(rms > self._threshold)
        if loud.size == 0:
            if not self._started:  # still leading silence: keep only what the lead may need
                self._pending = buffer[max(0, rms.size * frame - self._lead) :]
            else:
                self._pending = buffer
            return buffer[:0]
        start = 0
        if not self._started:
            start = max(0, loud[0] * frame - self._lead)
            self._started = True
            self.kept_start = offset + start
        end = (loud[-1] + 1) * frame
        self._pending = buffer[end:]
        return buffer[start:end]

    def finish(self) -> np.ndarray:
        """What is left: up to `trail_seconds` of trailing silence."""
        pending, self._pending = self._pending, self._pending[:0]
        if not self._started:
            frame = max(1, self._rate // 100)
            return pending if self._total < frame else pending[:0]  # too short to judge
        return pending[: self._trail]


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Average the channels of a (frames, channels) array; mono passes through."""
    samples = np.asarray(samples, dtype=np.float32)
    return samples.mean(axis=1) if samples.ndim == 2 else samples


def resample(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """Mono float samples from `rate` to `target_rate` (soxr, high quality)."""
    if rate == target_rate:
        return np.asarray(samples, dtype=np.float32)
    import soxr

    return np.asarray(soxr.resample(samples, rate, target_rate, quality="HQ"), dtype=np.float32)


def mono_blocks(
    sound: soundfile.SoundFile, block_frames: int, max_frames: int
) -> Iterator[np.ndarray]:
    """The mono mix of an open file, `block_frames` frames at a time, until its end or until
    `max_frames` frames were read, whatever its header says: one block is decoded at a time,
    so memory follows `block_frames` x channels, never the length the file declares."""
    left = max_frames
    while left > 0:
        block = sound.read(min(block_frames, left), dtype="float32", always_2d=True)
        if len(block) == 0:
            return
        left -= len(block)
        yield to_mono(block)


class StreamResampler:
    """`resample` for mono audio that arrives in stretches: `push` each, then `finish`.

    soxr's streaming resampler at the same quality, so the result is the same as resampling
    the whole at once, while only one stretch is held.
    """

    def __init__(self, rate: int, target_rate: int) -> None:
        self._stream: Optional[soxr.ResampleStream] = None
        if rate != target_rate:
            import soxr

            self._stream = soxr.ResampleStream(rate, target_rate, 1, quality="HQ")

    def push(self, samples: np.ndarray) -> np.ndarray:
        """The resampled audio that `samples` completes."""
        samples = np.asarray(samples, dtype=np.float32)
        if self._stream is None:
            return samples
        return np.asarray(self._stream.resample_chunk(samples), dtype=np.float32)

    def finish(self) -> np.ndarray:
        """What the resampler still holds."""
        if self._stream is None:
            return np.zeros(0, np.float32)
        tail = self._stream.resample_chunk(np.zeros(0, np.float32), last=True)
        return np.asarray(tail, dtype=np.float32)


def rms_dbfs(samples: np.ndarray) -> float:
    """Loudness as RMS in dBFS (-inf for silence)."""
    if samples.size == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return 20 * float(np.log10(rms)) if rms > 0 else float("-inf")


def normalize_loudness(
    samples: np.ndarray, target_dbfs: float = -20.0, peak_limit: float = 0.95
) -> np.ndarray:
    """Scale to `target_dbfs` RMS, less if that would push a peak above `peak_limit`."""
    level = rms_dbfs(samples)
    if level == float("-inf"):
        return samples
    gain = 10 ** ((target_dbfs - level) / 20)
    peak = float(np.max(np.abs(samples)))
    if peak * gain > peak_limit:
        gain = peak_limit / peak
    return np.asarray(samples * gain, dtype=np.float32)


def shorten_pauses(
    samples: np.ndarray,
    rate: int,
    max_pause: float = 0.5,
    keep: float = 0.3,
    threshold_db: float = -45.0,
) -> np.ndarray:
    """Cut every silence longer than `max_pause` seconds inside `samples` down to `keep`."""
    frame, rms = frame_levels(samples, rate)
    frames = rms.size
    if frames == 0:
        return samples
    quiet = rms <= 10 ** (threshold_db / 20)
    longest, kept = int(max_pause * 100), int(keep * 100)
    pieces, start = [], 0
    index = 0
    while index < frames:
        if not quiet[index]:
            index += 1
            continue
        end = index
        while end < frames and quiet[end]:
            end += 1
        if end - index > longest:
            pieces.append(samples[start * frame : (index + kept // 2) * frame])
            start = end - (kept - kept // 2)
        index = end
    pieces.append(samples[start * frame :])
    return np.concatenate(pieces) if len(pieces) > 1 else samples
