"""A tiny, randomly initialised Kokoro `KModel` (shrunken config, real `kokoro` code).

Same vocabulary and style width as Kokoro-82M, so the real voice packs and G2P drive it; one
layer everywhere and at most 4 frames (100 ms) per token, so a sentence takes well under a
second on the CPU. The weights mean nothing: tests check shapes, rates and streaming.
"""

from __future__ import annotations

import json
from pathlib import Path

FRAME_SAMPLES = 600  # 24 kHz samples per duration frame, as in Kokoro-82M


def tiny_config() -> dict:
    from wyoming_polytts.engines.kokoro.runtime import load_vocab

    vocab = load_vocab(None)
    return {
        "vocab": vocab,
        "n_token": 178,
        "hidden_dim": 512,  # the decoder fixes 512 channels
        "style_dim": 128,
        "n_layer": 1,
        "max_dur": 4,
        "dropout": 0.0,
        "text_encoder_kernel_size": 5,
        "n_mels": 80,
        "plbert": {
            "hidden_size": 64,
            "num_attention_heads": 2,
            "intermediate_size": 128,
            "max_position_embeddings": 512,
            "num_hidden_layers": 1,
            "dropout": 0.0,
        },
        "istftnet": {
            "upsample_kernel_sizes": [20, 12],
            "upsample_rates": [10, 6],
            "gen_istft_hop_size": 5,
            "gen_istft_n_fft": 20,
            "resblock_dilation_sizes": [[1, 3, 5]],
            "resblock_kernel_sizes": [3],
            "upsample_initial_channel": 512,
        },
    }


def build_tiny_kokoro(folder: Path) -> Path:
    """Write `config.json` and `tiny.pth` into `folder` and return it."""
    import torch
    from kokoro import KModel

    folder.mkdir(parents=True, exist_ok=True)
    config = tiny_config()
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    empty = folder / "empty.pth"
    torch.manual_seed(0)
    torch.save({}, empty)  # nothing to load: KModel keeps its random initialisation
    model = KModel(repo_id="hexgrad/Kokoro-82M", config=config, model=str(empty))
    empty.unlink()
    parts = ("bert", "bert_encoder", "predictor", "text_encoder", "decoder")
    torch.save({name: getattr(model, name).state_dict() for name in parts}, folder / "tiny.pth")
    return folder
