"""Kokoro-82M on the reference PyTorch implementation (`kokoro` package, `KModel`).

Everything but the model itself is the ONNX engine's: the same voice packs, the same G2P,
the same splitting of long phoneme strings and the same style lookup. Only `load` and `_run`
differ. Needs the `[torch]` extra.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, List, Optional

import numpy as np

from ...models import KOKORO_TORCH_REPO, KokoroFiles, KokoroTorchFiles
from .g2p import Phonemizer
from .runtime import KokoroEngine

_LOGGER = logging.getLogger(__name__)


def resolve_device(device: str) -> str:
    """`auto` is CUDA where torch sees a GPU, else the CPU."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda, but torch sees no CUDA GPU")
    return device


class KokoroTorchEngine(KokoroEngine):
    """Kokoro through `kokoro.KModel`, loaded once, on the CPU or a CUDA GPU."""

    def __init__(
        self,
        files: KokoroFiles,
        torch_files: KokoroTorchFiles,
        threads: int,
        phonemizer: Optional[Phonemizer] = None,
        device: str = "auto",
    ):
        super().__init__(files, threads, phonemizer, device)
        self.torch_files = torch_files
        self._model: Any = None
        self._torch_lock = threading.Lock()

    def load(self) -> None:
        with self._load_lock:
            if self._model is not None:
                return
            import torch
            from kokoro import KModel

            if self.device != "cuda":
                torch.set_num_threads(self._threads)
            device = resolve_device(self.device)
            model = KModel(
                repo_id=KOKORO_TORCH_REPO,
                config=str(self.torch_files.config),
                model=str(self.torch_files.weights),
            )
            self._model = model.to(device).eval()
            self.device = device
            _LOGGER.info(
                "Kokoro (PyTorch %s) loaded from %s on %s",
                torch.__version__,
                self.torch_files.weights,
                device,
            )

    def load_whole(self) -> None:
        """The PyTorch model has no split form: the same as `load`."""
        self.load()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _run(self, tokens: List[int], style: np.ndarray, speed: float) -> np.ndarray:
        import torch

        model = self._model
        with self._torch_lock, torch.inference_mode():
            input_ids = torch.tensor([[0, *tokens, 0]], dtype=torch.long, device=model.device)
            ref_s = torch.from_numpy(np.ascontiguousarray(style)).to(model.device)
            audio, _ = model.forward_with_tokens(input_ids, ref_s, speed)
        return np.asarray(audio.float().cpu().numpy(), dtype=np.float32).reshape(-1)
