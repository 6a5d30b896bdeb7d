"""Which Kokoro engine the settings ask for: the ONNX runtime or the PyTorch one."""

from __future__ import annotations

import logging

from ..models import KokoroFiles, resolve_kokoro, resolve_kokoro_torch
from ..settings import Settings
from .kokoro import KokoroEngine

_LOGGER = logging.getLogger(__name__)


def kokoro_files(settings: Settings) -> KokoroFiles:
    """The Kokoro model and voice packs that the settings point to (found or downloaded)."""
    return resolve_kokoro(
        settings.data_dir,
        model=settings.kokoro_model,
        voices=settings.kokoro_voices,
        precision=settings.kokoro_precision,
        download=settings.download,
    )


def kokoro_engine(settings: Settings, files: KokoroFiles, runtime: str = "") -> KokoroEngine:
    """The Kokoro engine on `runtime` (default: `--kokoro-runtime`) and `--device`."""
    parts = settings.data_dir / "kokoro" / "parts"
    if settings.triton:
        if (runtime or settings.kokoro_runtime) == "torch":
            raise SystemExit(
                "--triton runs the ONNX model: it cannot go with --kokoro-runtime torch"
            )
        try:
            import tritonclient.grpc  # noqa: F401
        except ImportError:
            raise SystemExit(
                "--triton needs tritonclient: pip install 'wyoming-polytts[triton]'"
            ) from None
        from .triton.client import TritonServers

        _LOGGER.info("Kokoro's model runs on Triton at %s", ", ".join(settings.triton))
        return KokoroEngine(
            files,
            threads=settings.threads,
            parts_dir=parts,
            remote=TritonServers(settings.triton),
            windows=settings.decode_windows,
        )
    if (runtime or settings.kokoro_runtime) == "torch":
        from .kokoro.torch_runtime import KokoroTorchEngine

        torch_files = resolve_kokoro_torch(
            settings.data_dir, folder=settings.kokoro_torch_model, download=settings.download
        )
        _LOGGER.info("Kokoro PyTorch weights: %s (%s)", torch_files.weights, torch_files.source)
        return KokoroTorchEngine(files, torch_files, settings.threads, device=settings.device)
    return KokoroEngine(
        files,
        threads=settings.threads,
        device=settings.device,
        parts_dir=parts if settings.decode_windows else None,
    )
