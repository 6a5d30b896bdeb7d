"""Kokoro's voice packs: reading them, and blending them by name."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict

import numpy as np

from ..base import SynthesisError

STYLE_DIM = 256
_BLEND_PART = re.compile(r"^\s*([a-z]{2}_[a-z0-9_]+)\s*(?:\(\s*(\d+(?:\.\d+)?)\s*\))?\s*$")


def load_voice_packs(path: Path) -> Dict[str, np.ndarray]:
    """Voice packs from an .npz archive (`voices-v1.0.bin` is one) or a folder of packs:
    `.bin` (raw float32, as the ONNX export and kokoro-js publish them), `.npy`, or `.pt`
    (Kokoro's PyTorch packs; needs torch)."""
    packs: Dict[str, np.ndarray] = {}
    if path.is_dir():
        for item in sorted(path.iterdir()):
            if item.suffix == ".bin":
                packs[item.stem] = np.fromfile(item, dtype=np.float32)
            elif item.suffix == ".npy":
                packs[item.stem] = np.load(item)
            elif item.suffix == ".pt":
                packs[item.stem] = _torch_pack(item)
    else:
        with np.load(path) as archive:
            packs = {name: archive[name] for name in archive.files}
    shaped = {}
    for name, pack in packs.items():
        array = np.asarray(pack, np.float32)
        if array.size == 0 or array.size % STYLE_DIM:
            raise ValueError(f"voice pack {name} in {path} is not a Kokoro pack ({array.shape})")
        shaped[name] = array.reshape(-1, STYLE_DIM)
    if not shaped:
        raise FileNotFoundError(f"no Kokoro voice packs in {path}")
    return shaped


def _torch_pack(path: Path) -> np.ndarray:
    """A `.pt` pack (a tensor of shape (510, 1, 256)), read with torch's safe loader."""
    try:
        import torch
    except ImportError as err:
        raise ValueError(f"{path.name} is a PyTorch pack: install torch, or use .bin") from err
    tensor = torch.load(path, map_location="cpu", weights_only=True)
    return np.asarray(tensor.detach().float().numpy(), np.float32)


def parse_blend(name: str) -> Dict[str, float]:
    """`af_sarah(1)+am_adam(3)` -> {"af_sarah": 0.25, "am_adam": 0.75}; no weight means 1."""
    weights: Dict[str, float] = {}
    for part in name.split("+"):
        match = _BLEND_PART.match(part)
        if match is None:
            raise SynthesisError(
                f"Cannot read voice blend {name!r}: write it as voice(weight)+voice(weight), "
                "e.g. af_sarah(1)+am_adam(2)"
            )
        weights[match.group(1)] = weights.get(match.group(1), 0.0) + float(match.group(2) or 1)
    total = sum(weights.values())
    if total <= 0:
        raise SynthesisError(f"The weights of voice blend {name!r} add up to zero")
    return {voice: weight / total for voice, weight in weights.items()}
