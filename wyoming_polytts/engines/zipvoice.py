"""ZipVoice voice clones: the voices registered in the registry, spoken by ZipVoice."""

from __future__ import annotations

import logging
from typing import Optional, Sequence

import numpy as np

from ..registry import PROMPT_RATE, VoiceRegistry
from .base import SynthesisError, VoiceSpec

_LOGGER = logging.getLogger(__name__)

ATTRIBUTION = ("k2-fsa (ZipVoice, Apache-2.0)", "https://github.com/k2-fsa/ZipVoice")
LANGUAGES = ("en-US", "en-GB", "zh")  # what the released ZipVoice models speak


class ZipVoiceEngine:
    """Lists every registered clone; speaks them once a ZipVoice model is installed."""

    name = "zipvoice"
    sample_rate = PROMPT_RATE

    def __init__(self, registry: VoiceRegistry) -> None:
        self.registry = registry
        self.model_installed = False

    def voices(self) -> Sequence[VoiceSpec]:
        specs = []
        for clone in self.registry.list():
            description = f"{clone.name} (voice clone, {clone.language})"
            if not self.model_installed:
                description += " - the ZipVoice model is not installed"
            specs.append(
                VoiceSpec(
                    name=clone.name,
                    languages=(clone.language,),
                    description=description,
                    installed=self.model_installed,
                    attribution_name=ATTRIBUTION[0],
                    attribution_url=ATTRIBUTION[1],
                )
            )
        return specs

    def custom_voice(self, name: str) -> Optional[VoiceSpec]:
        return None

    def load(self) -> None:
        """Nothing to load while no ZipVoice model is installed."""

    def synthesize(self, text: str, voice: str, speed: float) -> np.ndarray:
        raise SynthesisError(
            f"Voice {voice!r} is a clone, and the ZipVoice model that speaks clones is not "
            "installed"
        )
