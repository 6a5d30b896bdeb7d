"""The contract every engine fulfils."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np


@dataclass(frozen=True)
class VoiceSpec:
    """One voice as an engine offers it."""

    name: str
    languages: Sequence[str]
    description: str
    installed: bool
    attribution_name: str
    attribution_url: str


class SynthesisError(Exception):
    """Text that an engine cannot speak, with a message a person can act on."""


class Engine(Protocol):
    """Turns text into float32 mono samples at `sample_rate`; never touches the event loop."""

    name: str
    sample_rate: int

    def voices(self) -> Sequence[VoiceSpec]:
        """The voices this engine offers (cheap; no model load needed)."""

    def load(self) -> None:
        """Load the model (slow, once)."""

    def synthesize(self, text: str, voice: str, speed: float) -> np.ndarray:
        """Speak one sentence; returns float32 samples in [-1, 1]."""
