"""ZipVoice: zero-shot voice clones on sherpa-onnx, its tokenizer and its model files."""

from .engine import LANGUAGES, ZipVoiceEngine, ZipVoiceOptions

__all__ = ["LANGUAGES", "ZipVoiceEngine", "ZipVoiceOptions"]
