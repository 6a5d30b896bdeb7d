"""The one voice list: lookup by name or language, and the Wyoming `Info` built from it.

It holds every engine's voices and the presets (a base voice at a speed), which are listed
with their base's languages so that Home Assistant offers them like any other voice.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from wyoming.info import Attribution, Info, TtsProgram, TtsVoice

from . import __version__
from .engines.base import Engine, SynthesisError, VoiceSpec
from .language_tags import fold as _normalize
from .language_tags import primary as _primary
from .presets import Preset, PresetError, PresetStore

_LOGGER = logging.getLogger(__name__)

PROGRAM_NAME = "wyoming-polytts"
PROGRAM_DESCRIPTION = "Kokoro-82M voices and voice clones"
PROGRAM_URL = ""  # not published yet: no address to point to


# The voice a request in a language gets when it names none, best first: chosen for how clearly
# each speaks that language (Whisper base's word error rate on the six sentences of
# tests/test_transcriber.py: af_heart 0.017, jm_kumo 0.03, jf_alpha 0.17; af_heart 0.022 on the
# 25 answers of tests/test_intelligibility_ha.py), not by the alphabet. Voices not installed
# here are skipped.
PREFERRED_VOICES: Dict[str, Tuple[str, ...]] = {
    "en": ("af_heart", "af_bella", "am_michael", "bf_emma", "jm_kumo"),
    "en-gb": ("bf_emma", "bm_george", "af_heart"),
    "ja": ("jf_alpha", "jm_kumo"),
    "zh": ("zf_xiaobei", "zm_yunjian"),
    "es": ("ef_dora", "em_alex"),
    "fr": ("ff_siwis",),
    "hi": ("hf_alpha", "hm_omega"),
    "it": ("if_sara", "im_nicola"),
    "pt": ("pf_dora", "pm_alex"),
}
DEFAULT_LANGUAGE = "en"  # what a request without voice or language gets


class VoiceNotFoundError(LookupError):
    """No voice matches a request."""


@dataclass(frozen=True)
class Voice:
    """A voice in the list, bound to the engine that speaks it; a preset speaks its base
    voice at its speed."""

    spec: VoiceSpec
    engine: Engine
    preset: Optional[Preset] = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def engine_voice(self) -> str:
        """The name the engine knows this voice by (a preset's base voice)."""
        return self.preset.voice if self.preset else self.spec.name

    @property
    def speed(self) -> float:
        """The voice's own speaking rate, multiplied into every request's."""
        return self.preset.speed if self.preset else 1.0


def _preferred(language: str) -> Tuple[str, ...]:
    """The preference list for a tag: the exact one (`en-gb`), else its language (`en`)."""
    return PREFERRED_VOICES.get(_normalize(language)) or PREFERRED_VOICES.get(
        _primary(language), ()
    )


def _same_tag(voice: Voice, language: str) -> bool:
    return _normalize(language) in {_normalize(tag) for tag in voice.spec.languages}


def _same_language(voice: Voice, language: str) -> bool:
    return _primary(language) in {_primary(tag) for tag in voice.spec.languages}


class VoiceCatalog:
    """Every voice of every engine, in one list.

    `reread` is called when a name is not in the list: the stores read the disk again (a
    clone or preset another server sharing the data dir saved a moment ago), and refresh the
    list through their listeners if they changed; it says whether they did.
    """

    def __init__(
        self,
        engines: Sequence[Engine],
        default_voice: Optional[str] = None,
        presets: Optional[PresetStore] = None,
    ):
        self._engines = list(engines)
        self._default_name = default_voice
        self._presets = presets
        self._voices: Dict[str, Voice] = {}
        self._unavailable: Dict[str, str] = {}  # engine name -> why it cannot speak
        self._versions = itertools.count(1)
        self._shown_version = 0
        self._swap = threading.Lock()
        self.reread: Callable[[], bool] = lambda: False
        self.refresh()
        if presets is not None:
            presets.check = self.check_preset
            presets.on_change(self.refresh)
        if default_voice is not None and default_voice not in self._voices:
            choices = ", ".join(self.names())
            raise VoiceNotFoundError(f"--voice {default_voice!r} is not a voice; choose: {choices}")

    def refresh(self) -> None:
        """Read the voice lists of the engines again (safe to call from any thread).

        The lists are read without a lock; of two refreshes that overlap, the one that began
        last is kept, as it is the one that saw every change made before it began.
        """
        with self._swap:
            version = next(self._versions)
        voices = self._engine_voices()
        for preset in self._presets.list() if self._presets else ():
            if preset.name in voices:
                _LOGGER.warning("Preset %s is hidden by the voice of that name", preset.name)
                continue
            voices[preset.name] = self._preset_voice(preset, voices)
        with self._swap:
            if version > self._shown_version:
                self._shown_version = version
                self._voices = voices

    def _engine_voices(self) -> Dict[str, Voice]:
        """Every engine's voices as the engines list them now (the first of a name wins),
        marked as not installed where their engine cannot speak."""
        voices: Dict[str, Voice] = {}
        for engine in self._engines:
            reason = self._unavailable.get(engine.name)
            for spec in engine.voices():
                if reason is not None:
                    spec = dataclasses.replace(
                        spec, installed=False, description=f"{spec.description} - {reason}"
                    )
                voices.setdefault(spec.name, Voice(spec, engine))
        return voices

    def _preset_voice(self, preset: Preset, voices: Dict[str, Voice]) -> Voice:
        """A preset as a voice: its base's engine, languages and state."""
        description = (
            preset.description or f"{preset.name} ({preset.voice}, speed {preset.speed:g})"
        )
        try:
            base: Optional[Voice] = voices.get(preset.voice) or self._custom_voice(preset.voice)
        except VoiceNotFoundError:
            base = None
        if base is None:  # e.g. its Kokoro voice set is no longer installed
            spec = VoiceSpec(
                preset.name,
                (),
                f"{description} - its voice {preset.voice!r} is gone",
                False,
                "",
                "",
            )
            return Voice(spec, self._engines[0], preset)
        if not base.spec.installed:
            description += f" - {preset.voice} cannot speak yet"
        spec = dataclasses.replace(base.spec, name=preset.name, description=description)
        return Voice(spec, base.engine, preset)

    def check_preset(self, preset: Preset) -> None:
        """Refuse (`PresetError`) a preset named like a voice, or whose base cannot speak.

        It asks the engines, not the kept list, which is refreshed only after a change: a
        clone registered a moment ago already owns its name (the presets' lock, held here,
        is the one the registry holds while it takes a name).
        """
        voices = self._engine_voices()
        if preset.name in voices:
            raise PresetError(f"The name {preset.name!r} is already taken by a voice", "name-taken")
        try:
            base = voices.get(preset.voice) or self._custom_voice(preset.voice)
        except VoiceNotFoundError as err:
            raise PresetError(str(err), "unknown-voice") from err
        if base is None:
            raise PresetError(
                f"Unknown voice {preset.voice!r}: give a Kokoro voice, a blend such as "
                "af_sarah(1)+am_adam(2), or a clone",
                "unknown-voice",
            )
        if not base.spec.installed:
            raise PresetError(
                f"Voice {preset.voice!r} cannot speak: {base.spec.description}", "not-installed"
            )

    def mark_unavailable(self, engine_name: str, reason: str) -> None:
        """The voices of `engine_name` cannot speak: listed as not installed, with `reason`."""
        self._unavailable[engine_name] = reason
        self.refresh()

    def mark_available(self, engine_name: str) -> None:
        """The voices of `engine_name` can speak again (after `mark_unavailable`)."""
        if self._unavailable.pop(engine_name, None) is not None:
            self.refresh()

    def names(self) -> List[str]:
        return list(self._voices)

    def voices(self) -> List[Voice]:
        return list(self._voices.values())

    def default(self, language: Optional[str] = None) -> Voice:
        """The voice for a request that names none: `--voice` if it speaks `language`, else
        the preferred voice of `language` (English when none is given), else any that does."""
        language = language or DEFAULT_LANGUAGE
        installed = [voice for voice in self._voices.values() if voice.spec.installed]
        given = self._voices.get(self._default_name or "")
        preferred = [self._voices.get(name) for name in _preferred(language)]
        candidates = [v for v in (given, *preferred, *installed) if v and v.spec.installed]
        for speaks in (_same_tag, _same_language):  # the exact tag first, then the language
            for voice in candidates:
                if speaks(voice, language):
                    return voice
        if language == DEFAULT_LANGUAGE and self._voices:  # no English voice: any voice at all
            return given or (installed or list(self._voices.values()))[0]
        if not installed:
            raise VoiceNotFoundError("no voice is installed")
        raise VoiceNotFoundError(f"No voice speaks language {language!r}")

    def resolve(self, name: Optional[str] = None, language: Optional[str] = None) -> Voice:
        """A voice by name, else the default voice of `language` (see `default`)."""
        if name:
            voice = self._voices.get(name) or self._custom_voice(name)
            if voice is None and self.reread():
                voice = self._voices.get(name) or self._custom_voice(name)
            if voice is None:
                raise VoiceNotFoundError(
                    f"Unknown voice {name!r}. Available voices: {', '.join(self.names())}"
                )
            return voice
        return self.default(language)

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
