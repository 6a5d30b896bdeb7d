"""Model files: the embedded model, local paths, and the offline fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from wyoming_polytts import models
from wyoming_polytts.models import ModelNotFoundError, resolve_kokoro, sha256_file

from .helpers import free_port, start_server

EMBEDDED_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"


def test_embedded_model_is_assembled_and_verified(tmp_path: Path) -> None:
    files = resolve_kokoro(tmp_path, download=False)
    assert files.model == tmp_path / "kokoro" / "embedded" / "kokoro-v1.0.int8.onnx"
    assert sha256_file(files.model) == EMBEDDED_SHA256
    assert "embedded" in files.source
    assert [p.name for p in files.model.parent.iterdir()] == [files.model.name]  # no temp file


def test_a_damaged_embedded_model_is_rebuilt(tmp_path: Path) -> None:
    model = resolve_kokoro(tmp_path, download=False).model
    with open(model, "r+b") as handle:
        handle.seek(1000)
        handle.write(b"damage")
    assert sha256_file(resolve_kokoro(tmp_path, download=False).model) == EMBEDDED_SHA256


def test_local_paths_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="not a file"):
        resolve_kokoro(tmp_path, model=tmp_path / "none.onnx")
    model = tmp_path / "model.onnx"
    model.write_bytes(b"x")
    with pytest.raises(ModelNotFoundError, match="--kokoro-voices"):
        resolve_kokoro(tmp_path, model=model)


def test_offline_download_falls_back_to_the_embedded_model(data_dir: Path, tmp_path: Path) -> None:
    """With the hub unreachable (a closed local port), the server starts on the embedded model."""
    hub = f"http://127.0.0.1:{free_port()}"
    server = start_server(
        data_dir,
        tmp_path / "server.log",
        env={"HF_ENDPOINT": hub, "HF_HUB_ETAG_TIMEOUT": "2", "HF_HUB_DOWNLOAD_TIMEOUT": "2"},
    )
    try:
        log = server.log()
        assert "Could not download Kokoro" in log
        assert "embedded" in log
    finally:
        assert server.stop() == 0


# The files the downloads ask the Hugging Face hub for, as others publish and use them (never
# downloaded here), with where each name is used.
PUBLISHED_KOKORO_ONNX = {
    # hexgrad/kokoro kokoro.js/demo/src/worker.js:9 (the repository kokoro-js loads)
    "repo": "onnx-community/Kokoro-82M-v1.0-ONNX",
    # nico-martin/kitt src/brain/borcasArea/kokoro/constants.ts:6 (with its size, 325532232)
    "fp32": "onnx/model.onnx",
    # transformers.js's names for its `fp16` and `q8` dtypes (kokoro-js passes the dtype,
    # hexgrad/kokoro kokoro.js/src/kokoro.js:42): seen in public code found by content, with no
    # repository path to cite, so not confirmed from a source file.
    "fp16": "onnx/model_fp16.onnx",
    "int8": "onnx/model_quantized.onnx",
    # nico-martin/kitt src/brain/borcasArea/kokoro/constants.ts:7
    "tokenizer": "tokenizer.json",
    # hexgrad/kokoro kokoro.js/src/voices.js:425 (base URL `.../resolve/main/voices`) and 459
    # (`voices/${id}.bin`); neodyland/kokoro-api scripts/init.sh:2 (`voices/jf_*.bin`)
    "voices": "voices/*.bin",
}
# hexgrad/kokoro kokoro/model.py:27 (the weights' name), :46 (config.json)
PUBLISHED_KOKORO_TORCH = ("hexgrad/Kokoro-82M", "config.json", "kokoro-v1_0.pth")


def test_the_kokoro_downloads_ask_for_published_files() -> None:
    asked = {
        "repo": models.KOKORO_REPO_ID,
        **models.KOKORO_ONNX_FILES,
        "tokenizer": models.KOKORO_TOKENIZER_FILE,
        "voices": models.KOKORO_VOICES_PATTERN,
    }
    assert asked == PUBLISHED_KOKORO_ONNX
    assert (models.KOKORO_TORCH_REPO, *models.KOKORO_TORCH_FILES) == PUBLISHED_KOKORO_TORCH
