"""The face of a voice-cloning engine, as the doors see it: one request's settings, a prompt
that is not registered, and what the engine offers for them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Protocol

import numpy as np

from .base import Engine, VoiceSpec


@dataclass(frozen=True)
class CloneSettings:
    """One request's cloning settings; None keeps the server's."""

    steps: Optional[int] = None
    guidance_scale: Optional[float] = None
    remove_long_silence: bool = True  # shorten pauses longer than half a second


@dataclass(frozen=True)
class PromptAudio:
    """A prompt that is not registered (a URL or base64 voice): samples at the registry's
    prompt rate, and what they say."""

    samples: np.ndarray
    transcript: str


class Cloner(Protocol):
    """An engine that speaks registered clones and unregistered prompts."""

    @property
    def installed(self) -> bool:
        """Whether it can speak now (its model is there)."""

    def prompt_spec(self, kind: str) -> VoiceSpec:
        """The voice of an unregistered prompt of `kind` (`url`, `base64`)."""

    def tuned(self, settings: CloneSettings, prompt: Optional[PromptAudio] = None) -> Engine:
        """This engine with one request's settings, speaking a registered voice or `prompt`."""
