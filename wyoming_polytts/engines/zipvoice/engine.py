"""ZipVoice voice clones on sherpa-onnx: the registered prompts speak new text."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ...audio import resample, shorten_pauses
from ...registry import PROMPT_RATE, VoiceNotFound, VoiceRegistry
from ..base import SynthesisError, VoiceSpec
from ..clones import CloneSettings, PromptAudio
from .model import ZipVoiceFiles
from .text import ZipVoiceTokenizer

_LOGGER = logging.getLogger(__name__)

ATTRIBUTION = ("k2-fsa (ZipVoice, Apache-2.0)", "https://github.com/k2-fsa/ZipVoice")
LANGUAGES = ("en-US", "en-GB", "zh")  # what the released ZipVoice models speak


@dataclass(frozen=True)
class ZipVoiceOptions:
    """Sampling settings (upstream's defaults per variant) and runtime threads."""

    steps: int = 8
    guidance_scale: float = 3.0
    t_shift: float = 0.5
    threads: int = 1
    provider: str = "cpu"  # "cuda" with a CUDA build of sherpa-onnx


@dataclass(frozen=True)
class _Prompt:
    samples: List[float]
    tokens: List[str]
    transcript: str


class ZipVoiceEngine:
    """Lists every registered clone; speaks them when a ZipVoice model is installed."""

    name = "zipvoice"
    sample_rate = PROMPT_RATE

    def __init__(
        self,
        registry: VoiceRegistry,
        files: Optional[ZipVoiceFiles] = None,
        options: Optional[ZipVoiceOptions] = None,
    ) -> None:
        self.registry = registry
        self.files = files
        self.options = options or ZipVoiceOptions()
        self._tts: Any = None  # sherpa_onnx.OfflineTts, imported when loading
        self._tokenizer: Optional[ZipVoiceTokenizer] = None
        self._failure: Optional[str] = None if files else "the ZipVoice model is not installed"
        self._load_lock = threading.Lock()
        self._generate_lock = threading.Lock()  # one generation at a time per sherpa object
        self._prompts: Dict[str, _Prompt] = {}
        self._prompts_version = 0  # moves on at every registry change
        self._prompts_lock = threading.Lock()
        registry.on_change(self.forget_prompts)

    def attach(self, files: Optional[ZipVoiceFiles], reason: str = "") -> None:
        """Use `files` (found after start-up), or say why there are none."""
        with self._load_lock:
            self.files = files
            self._failure = None if files else reason or "the ZipVoice model is not installed"

    @property
    def installed(self) -> bool:
        return self._failure is None

    def voices(self) -> Sequence[VoiceSpec]:
        specs = []
        for clone in self.registry.list():
            description = f"{clone.name} (voice clone, {clone.language})"
            if self._failure is not None:
                description += f" - {self._failure}"
            specs.append(
                VoiceSpec(
                    name=clone.name,
                    languages=(clone.language,),
                    description=description,
                    installed=self.installed,
                    attribution_name=ATTRIBUTION[0],
                    attribution_url=ATTRIBUTION[1],
                )
            )
        return specs

    def custom_voice(self, name: str) -> Optional[VoiceSpec]:
        return None

    def forget_prompts(self) -> None:
        """Drop cached prompts (the registry changed)."""
        with self._prompts_lock:
            self._prompts.clear()
            self._prompts_version += 1

    def load(self) -> None:
        """Create the sherpa-onnx runtime once; a failure disables clones with its reason."""
        with self._load_lock:
            if self._tts is not None or self.files is None:
                return
            import sherpa_onnx

            files = self.files
            model = sherpa_onnx.OfflineTtsZipvoiceModelConfig(
                tokens=str(files.tokens),
                encoder=str(files.encoder),
                decoder=str(files.decoder),
                vocoder=str(files.vocoder),
                lexicon=str(files.lexicon or ""),
                t_shift=self.options.t_shift,
                guidance_scale=self.options.guidance_scale,
            )
            config = sherpa_onnx.OfflineTtsConfig(
                model=sherpa_onnx.OfflineTtsModelConfig(
                    zipvoice=model, num_threads=self.options.threads, provider=self.options.provider
                ),
            )
            if not config.validate():
                self._failure = f"the ZipVoice model in {files.encoder.parent} is incomplete"
                raise SynthesisError(self._failure)
            try:
                self._tokenizer = ZipVoiceTokenizer(files.tokens, files.lexicon)
                self._tts = sherpa_onnx.OfflineTts(config)
            except Exception as err:
                self._failure = f"the ZipVoice model could not be loaded ({err})"
                raise SynthesisError(self._failure) from err
            _LOGGER.info(
                "ZipVoice loaded from %s (%s): %d steps, guidance %.1f, %d threads",
                files.encoder.parent,
                files.source,
                self.options.steps,
                self.options.guidance_scale,
                self.options.threads,
            )

    def synthesize(self, text: str, voice: str, speed: float) -> np.ndarray:
        return self.generate(text, voice, speed, CloneSettings())

    def prompt_spec(self, kind: str) -> VoiceSpec:
        """The voice of an unregistered prompt (`url` or `base64`): its input's script decides
        the language it reads."""
        return VoiceSpec(
            name=f"{kind}-prompt",
            languages=("en-US", "zh"),
            description=f"a {kind} voice prompt",
            installed=True,
            attribution_name=ATTRIBUTION[0],
            attribution_url=ATTRIBUTION[1],
        )

    def tuned(self, settings: CloneSettings, prompt: Optional[PromptAudio] = None) -> TunedZipVoice:
        """This engine with one request's settings, speaking a registered voice or `prompt`."""
        return TunedZipVoice(self, settings, prompt)

    def generate(
        self,
        text: str,
        voice: str,
        speed: float,
        settings: CloneSettings,
        prompt_audio: Optional[PromptAudio] = None,
    ) -> np.ndarray:
        """Speak `text` with the registered `voice`, or with `prompt_audio` when given."""
        if self._failure is not None:
            raise SynthesisError(f"Voice {voice!r} is a clone, and {self._failure}")
        self.load()
        if prompt_audio is None:
            prompt = self._prompt(voice)
        else:
            prompt = _Prompt(
                prompt_audio.samples.tolist(),
                self._tokens(prompt_audio.transcript),
                prompt_audio.transcript,
            )
        tokens = self._tokens(text)
        if not tokens:
            raise SynthesisError(f"ZipVoice cannot pronounce any word of {text!r}")
        import sherpa_onnx

        generation = sherpa_onnx.GenerationConfig()
        generation.reference_audio = prompt.samples
        generation.reference_sample_rate = PROMPT_RATE
        generation.reference_text = prompt.transcript
        generation.tokens = [prompt.tokens, tokens]
        generation.num_steps = settings.steps or self.options.steps
        generation.speed = speed
        generation.silence_scale = 1.0  # pauses are shortened below, not scaled
        if settings.guidance_scale is not None:
            generation.extra = {"guidance_scale": str(settings.guidance_scale)}
        with self._generate_lock:
            audio = self._tts.generate(text, generation)
        samples = np.asarray(audio.samples, dtype=np.float32)
        samples = resample(samples, int(audio.sample_rate), self.sample_rate)
        return (
            shorten_pauses(samples, self.sample_rate) if settings.remove_long_silence else samples
        )

    def _tokens(self, text: str) -> List[str]:
        assert self._tokenizer is not None
        tokens, spelled, dropped = self._tokenizer.tokenize(text)
        if spelled:
            _LOGGER.debug("Not in the ZipVoice lexicon, spelled by espeak-ng: %s", spelled)
        if dropped:
            _LOGGER.warning("ZipVoice cannot pronounce and skips: %s", ", ".join(dropped))
        return tokens

    def _prompt(self, name: str) -> _Prompt:
        with self._prompts_lock:
            cached = self._prompts.get(name)
            version = self._prompts_version
        if cached is not None:
            return cached
        try:
            clone = self.registry.get(name)
            samples = self.registry.prompt_samples(name)
        except VoiceNotFound as err:
            raise SynthesisError(str(err)) from err
        tokens = self._tokens(clone.transcript)
        prompt = _Prompt(samples.tolist(), tokens, clone.transcript)
        with self._prompts_lock:
            if version == self._prompts_version:  # else the clone changed while it was read
                self._prompts[name] = prompt
        return prompt


class TunedZipVoice:
    """A `ZipVoiceEngine` with one request's settings (and maybe its own prompt): an engine
    for the speech pipeline, which calls `synthesize(text, voice, speed)`."""

    name = ZipVoiceEngine.name
    sample_rate = ZipVoiceEngine.sample_rate

    def __init__(
        self, engine: ZipVoiceEngine, settings: CloneSettings, prompt: Optional[PromptAudio]
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._prompt = prompt

    def voices(self) -> Sequence[VoiceSpec]:
        return self._engine.voices()

    def custom_voice(self, name: str) -> Optional[VoiceSpec]:
        return None

    def load(self) -> None:
        self._engine.load()

    def synthesize(self, text: str, voice: str, speed: float) -> np.ndarray:
        return self._engine.generate(text, voice, speed, self._settings, self._prompt)
