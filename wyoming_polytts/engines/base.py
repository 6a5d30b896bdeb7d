"""The contract every engine fulfils."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Protocol, Sequence

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

    def custom_voice(self, name: str) -> Optional[VoiceSpec]:
        """A voice made on request from `name` (e.g. a blend), None if `name` is not one.

        Raises `SynthesisError` when `name` is meant as such a voice but is not valid.
        """

    def load(self) -> None:
        """Load the model (slow, once)."""

    def synthesize(self, text: str, voice: str, speed: float) -> np.ndarray:
        """Speak one sentence; returns float32 samples in [-1, 1]."""
