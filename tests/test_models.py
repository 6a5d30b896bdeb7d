"""Model files: the embedded model, local paths, and the offline fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

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
