"""Kokoro-82M: the ONNX runtime engine, its windowed decoder, G2P and voice packs."""

from .runtime import SAMPLE_RATE, KokoroEngine

__all__ = ["SAMPLE_RATE", "KokoroEngine"]
