"""The one voice list: lookup by name or language, and the Wyoming `Info` built from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from wyoming.info import Attribution, Info, TtsProgram, TtsVoice

from . import __version__
from .engines.base import Engine, SynthesisError, VoiceSpec

PROGRAM_NAME = "wyoming-polytts"
PROGRAM_DESCRIPTION = "Kokoro-82M voices and voice clones"
PROGRAM_URL = ""  # not published yet: no address to point to


class VoiceNotFoundError(LookupError):
    """No voice matches a request."""


@dataclass(frozen=True)
class Voice:
    """A voice in the list, bound to the engine that speaks it."""

    spec: VoiceSpec
    engine: Engine

    @property
    def name(self) -> str:
        return self.spec.name


def _normalize(tag: str) -> str:
    return tag.replace("_", "-").lower()


def _primary(tag: str) -> str:
    return _normalize(tag).split("-")[0]


class VoiceCatalog:
    """Every voice of every engine, in one list."""

    def __init__(self, engines: Sequence[Engine], default_voice: Optional[str] = None):
        self._engines = list(engines)
        self._default_name = default_voice
        self._voices: Dict[str, Voice] = {}
        self.refresh()
        if default_voice is not None and default_voice not in self._voices:
            choices = ", ".join(self.names())
            raise VoiceNotFoundError(f"--voice {default_voice!r} is not a voice; choose: {choices}")

    def refresh(self) -> None:
        """Read the voice lists of the engines again (safe to call from any thread)."""
        voices: Dict[str, Voice] = {}
        for engine in self._engines:
            for spec in engine.voices():
                voices.setdefault(spec.name, Voice(spec, engine))
        self._voices = voices  # one assignment: readers see the old list or the new one

    def names(self) -> List[str]:
        return list(self._voices)

    def voices(self) -> List[Voice]:
        return list(self._voices.values())

    def default(self) -> Voice:
        """The `--voice` default, else af_heart, else the first installed voice."""
        for name in (self._default_name, "af_heart"):
            if name and name in self._voices:
                return self._voices[name]
        installed = [voice for voice in self._voices.values() if voice.spec.installed]
        if not installed:
            raise VoiceNotFoundError("no voice is installed")
        return installed[0]

    def resolve(self, name: Optional[str] = None, language: Optional[str] = None) -> Voice:
        """A voice by name, else the default if it speaks `language`, else any that does."""
        if name:
            voice = self._voices.get(name) or self._custom_voice(name)
            if voice is None:
                raise VoiceNotFoundError(
                    f"Unknown voice {name!r}. Available voices: {', '.join(self.names())}"
                )
            return voice
        if language:
            candidates = [self.default(), *self._voices.values()]
            installed = [voice for voice in candidates if voice.spec.installed]
            for same in (_normalize, _primary):  # exact tag first, then the language alone
                for voice in installed:
                    if same(language) in {same(tag) for tag in voice.spec.languages}:
                        return voice
            raise VoiceNotFoundError(f"No voice speaks language {language!r}")
        return self.default()

    def _custom_voice(self, name: str) -> Optional[Voice]:
        for engine in self._engines:
            try:
                spec = engine.custom_voice(name)
            except SynthesisError as err:
                raise VoiceNotFoundError(str(err)) from err
            if spec is not None:
                return Voice(spec, engine)
        return None

    def info(self) -> Info:
        """The `info` answer to `describe`."""
        voices = [
            TtsVoice(
                name=voice.spec.name,
                description=voice.spec.description,
                attribution=Attribution(
                    name=voice.spec.attribution_name, url=voice.spec.attribution_url
                ),
                installed=voice.spec.installed,
                version=None,
                languages=list(voice.spec.languages),
            )
            for voice in self._voices.values()
        ]
        program = TtsProgram(
            name=PROGRAM_NAME,
            description=PROGRAM_DESCRIPTION,
            attribution=Attribution(name="wyoming-polytts", url=PROGRAM_URL),
            installed=True,
            version=__version__,
            voices=voices,
            supports_synthesize_streaming=True,
        )
        return Info(tts=[program])
