"""Where the ZipVoice model lives: a local folder, the data dir, or the official download.

The official exports are archives of sherpa-onnx's `tts-models` release plus the separate
Vocos 24 kHz vocoder (`vocoder-models/vocos_24khz.onnx`). What each archive holds:

- `sherpa-onnx-zipvoice-distill-int8-zh-en-emilia`: `encoder.int8.onnx`, `decoder.int8.onnx`,
  `tokens.txt`, `lexicon.txt`, `espeak-ng-data/`, `test_wavs/` (sherpa-onnx's
  `.github/workflows/upload-zipvoice-models.yaml` builds it);
- `sherpa-onnx-zipvoice-zh-en-emilia` (the full model, fp32, about 605 MB): `text_encoder.onnx`,
  `fm_decoder.onnx` (and their int8 versions), `tokens.txt`, `pinyin.raw`, `espeak-ng-data/`,
  and no `lexicon.txt`: English words are then all spelled by espeak-ng, and Chinese cannot
  be spoken.

Downloads show progress, are checked against the SHA-256 digests GitHub publishes for release
assets when it publishes one, and are unpacked into `DATA_DIR/zipvoice/VARIANT/`, marked
complete only at the end.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Dict, Optional

from ...fileio import SharedLock, atomic_write
from ...models import ModelNotFoundError, is_complete, mark_complete
from ...settings import MODEL_LOCK_SECONDS

_LOGGER = logging.getLogger(__name__)

RELEASES_URL = os.environ.get(
    "POLYTTS_ZIPVOICE_RELEASES", "https://github.com/k2-fsa/sherpa-onnx/releases/download"
)
GITHUB_API = os.environ.get("POLYTTS_GITHUB_API", "https://api.github.com")
REPOSITORY = "k2-fsa/sherpa-onnx"
VOCODER = ("vocoder-models", "vocos_24khz.onnx")


@dataclass(frozen=True)
class Variant:
    """An official ZipVoice export and the sampling settings upstream recommends for it."""

    archive: str
    steps: int
    guidance_scale: float


VARIANTS = {
    "zipvoice_distill": Variant("sherpa-onnx-zipvoice-distill-int8-zh-en-emilia", 8, 3.0),
    "zipvoice": Variant("sherpa-onnx-zipvoice-zh-en-emilia", 16, 1.0),
}


@dataclass(frozen=True)
class ZipVoiceFiles:
    """The files sherpa-onnx needs for one ZipVoice model."""

    encoder: Path
    decoder: Path
    vocoder: Path
    tokens: Path
    lexicon: Optional[Path]
    source: str


def find_zipvoice_files(folder: Path, source: str) -> ZipVoiceFiles:
    """The model files in `folder` (or one level below), by the names the exports use."""

    def one(*patterns: str) -> Optional[Path]:
        for pattern in patterns:
            for match in sorted(folder.glob(pattern)) + sorted(folder.glob(f"*/{pattern}")):
                return match
        return None

    encoder = one("encoder.int8.onnx", "encoder.onnx", "text_encoder*.onnx")
    decoder = one("decoder.int8.onnx", "decoder.onnx", "fm_decoder*.onnx")
    vocoder = one("vocos*.onnx", "vocoder*.onnx")
    tokens = one("tokens.txt")
    missing = [
        name
        for name, path in (
            ("encoder", encoder),
            ("decoder", decoder),
            ("vocoder", vocoder),
            ("tokens.txt", tokens),
        )
        if path is None
    ]
    if missing or encoder is None or decoder is None or vocoder is None or tokens is None:
        raise ModelNotFoundError(f"{folder} is not a ZipVoice export: no {', '.join(missing)}")
    lexicon = one("lexicon.txt")
    if lexicon is None:
        _LOGGER.warning(
            "The ZipVoice model in %s has no lexicon.txt: English words are spelled by "
            "espeak-ng and Chinese cannot be spoken (the distilled exports have one)",
            folder,
        )
    return ZipVoiceFiles(encoder, decoder, vocoder, tokens, lexicon, source)


def resolve_zipvoice(
    data_dir: Path,
    *,
    model: Optional[Path] = None,
    variant: str = "zipvoice_distill",
    download: bool = True,
) -> Optional[ZipVoiceFiles]:
    """`model` (`--zipvoice-model`), else an earlier download of `variant`, else a download
    (unless `download` is False); None when none."""
    if model is not None:
        return find_zipvoice_files(model, f"local folder {model}")
    export = VARIANTS[variant]
    folder = data_dir / "zipvoice" / variant
    if is_complete(folder):
        return find_zipvoice_files(folder, f"downloaded {export.archive}")
    if not download:
        return None
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Another server sharing the data dir may be downloading it: one download, the other waits.
    with SharedLock(folder.with_name(f"{folder.name}.lock")).hold(MODEL_LOCK_SECONDS):
        if not is_complete(folder):
            try:
                download_zipvoice(folder, export)
            except (OSError, ValueError, tarfile.TarError, ModelNotFoundError) as err:
                _LOGGER.warning("Could not download the ZipVoice model %s: %s", export.archive, err)
                shutil.rmtree(folder, ignore_errors=True)
                return None
    return find_zipvoice_files(folder, f"downloaded {export.archive}")


def download_zipvoice(folder: Path, variant: Variant) -> None:
    """Fetch, check and unpack the archive and the vocoder into `folder`."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    archive_name = f"{variant.archive}.tar.bz2"
    archive = folder / archive_name
    _fetch("tts-models", archive_name, archive)
    with tarfile.open(archive, "r:bz2") as bundle:
        bundle.extractall(folder, filter="data")
    archive.unlink()
    tag, vocoder_name = VOCODER
    _fetch(tag, vocoder_name, folder / vocoder_name)
    find_zipvoice_files(folder, variant.archive)  # complete?
    mark_complete(folder)
    _LOGGER.info("ZipVoice model %s downloaded into %s", variant.archive, folder)


def _fetch(tag: str, name: str, target: Path) -> None:
    """Download one release asset with a progress bar and check its published digest."""
    from tqdm.auto import tqdm

    expected = _published_digests(tag).get(name)
    url = f"{RELEASES_URL}/{tag}/{name}"
    _LOGGER.info("Downloading %s", url)

    def download(out: BinaryIO) -> None:
        digest = hashlib.sha256()
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - https base
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=name) as progress:
                while block := response.read(1 << 20):
                    out.write(block)
                    digest.update(block)
                    progress.update(len(block))
        if expected is None:
            _LOGGER.warning("No SHA-256 is published for %s; it is used unverified", name)
        elif digest.hexdigest() != expected:
            raise ModelNotFoundError(f"{name} does not match its published SHA-256; removed")

    atomic_write(target, download)


def _published_digests(tag: str) -> Dict[str, str]:
    """Asset name -> SHA-256, as GitHub lists them for a release (empty if unavailable)."""
    url = f"{GITHUB_API}/repos/{REPOSITORY}/releases/tags/{tag}"
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310
            release = json.load(response)
    except (OSError, ValueError) as err:
        _LOGGER.warning("Could not read the published checksums (%s)", err)
        return {}
    digests = {}
    for asset in release.get("assets", []):
        value = str(asset.get("digest") or "")
        if value.startswith("sha256:"):
            digests[str(asset.get("name"))] = value[len("sha256:") :]
    return digests
