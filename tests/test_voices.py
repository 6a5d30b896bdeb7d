"""Voice lookup by name and language, and the Wyoming `Info` built from the list."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pytest

from wyoming_polytts.engines.base import VoiceSpec
from wyoming_polytts.voices import VoiceCatalog, VoiceNotFoundError


class ListedVoices:
    """An engine that only lists voices: the catalog never calls synthesis."""

    name = "listed"
    sample_rate = 24000

    def __init__(self, *specs: VoiceSpec) -> None:
        self._specs = specs

    def voices(self) -> Sequence[VoiceSpec]:
        return self._specs

    def custom_voice(self, name: str) -> None:
        return None

    def load(self) -> None:
        raise AssertionError("not used")

    def synthesize(self, text: str, voice: str, speed: float) -> np.ndarray:
        raise AssertionError("not used")


def spec(name: str, *languages: str, installed: bool = True) -> VoiceSpec:
    return VoiceSpec(name, languages, f"{name} voice", installed, "someone", "")


ENGINE = ListedVoices(
    spec("jf_alpha", "ja", "en-US"),
    spec("bf_emma", "en-GB"),
    spec("af_heart", "en-US"),
    spec("zf_xiaobei", "zh", installed=False),
)


def test_lookup_by_name_then_language_then_default() -> None:
    catalog = VoiceCatalog([ENGINE])
    assert catalog.resolve("bf_emma").name == "bf_emma"
    assert catalog.resolve().name == "af_heart"
    assert catalog.resolve(language="en_GB").name == "bf_emma"
    assert catalog.resolve(language="ja").name == "jf_alpha"
    assert catalog.resolve(language="en").name == "af_heart"  # the default speaks it


def test_default_voice_option() -> None:
    catalog = VoiceCatalog([ENGINE], default_voice="jf_alpha")
    assert catalog.resolve().name == "jf_alpha"
    assert catalog.resolve(language="en-GB").name == "bf_emma"
    with pytest.raises(VoiceNotFoundError, match="choose"):
        VoiceCatalog([ENGINE], default_voice="nobody")


def test_unknown_voice_and_language() -> None:
    catalog = VoiceCatalog([ENGINE])
    with pytest.raises(VoiceNotFoundError, match="Available voices: jf_alpha, bf_emma"):
        catalog.resolve("nobody")
    with pytest.raises(VoiceNotFoundError, match="sw"):
        catalog.resolve(language="sw")
    with pytest.raises(VoiceNotFoundError):  # listed, but cannot speak
        catalog.resolve(language="zh")


def test_info_lists_every_voice() -> None:
    info = VoiceCatalog([ENGINE]).info()
    program = info.tts[0]
    assert program.supports_synthesize_streaming
    assert [voice.name for voice in program.voices] == [
        "jf_alpha",
        "bf_emma",
        "af_heart",
        "zf_xiaobei",
    ]
    assert program.voices[0].languages == ["ja", "en-US"]
    assert program.voices[3].installed is False


EMBEDDED_LIKE = ListedVoices(
    spec("jf_alpha", "ja", "en-US"),
    spec("jf_nezumi", "ja", "en-US"),
    spec("jm_kumo", "ja", "en-US"),
)


def test_defaults_are_chosen_per_language_not_by_the_alphabet() -> None:
    catalog = VoiceCatalog([EMBEDDED_LIKE])
    assert catalog.resolve().name == "jm_kumo"  # the clearest English voice of the set
    assert catalog.resolve(language="en-US").name == "jm_kumo"
    assert catalog.resolve(language="ja").name == "jf_alpha"
    full = VoiceCatalog([ListedVoices(spec("am_adam", "en-US"), *ENGINE.voices())])
    assert full.resolve().name == "af_heart"
    assert full.resolve(language="en-gb").name == "bf_emma"


def test_a_refresh_that_began_earlier_cannot_overwrite_a_later_one() -> None:
    """Two threads refresh at once: the older voice list must not win."""
    import threading

    class Registry:
        """A list of voices that changes while a slow refresh is reading it."""

        name = "clones"
        sample_rate = 24000
        reading = threading.Event()
        release = threading.Event()

        def __init__(self) -> None:
            self.names = ["old_clone"]
            self.slow = False

        def voices(self) -> Sequence[VoiceSpec]:
            names = list(self.names)
            if self.slow:
                self.slow = False
                self.reading.set()
                self.release.wait(10)
            return [spec(name, "en-US") for name in names]

        def custom_voice(self, name: str) -> None:
            return None

    registry = Registry()
    catalog = VoiceCatalog([registry])  # type: ignore[list-item]
    registry.slow = True
    stale = threading.Thread(target=catalog.refresh)
    stale.start()
    assert registry.reading.wait(10)
    registry.names.append("new_clone")
    catalog.refresh()  # the refresh that saw the new clone
    registry.release.set()
    stale.join(10)
    assert catalog.resolve("new_clone").name == "new_clone"


def test_an_engine_that_failed_is_listed_as_not_installed_with_the_reason() -> None:
    catalog = VoiceCatalog([ENGINE])
    catalog.mark_unavailable("listed", "the model could not be loaded (IncompleteRead)")
    voices = {voice.name: voice for voice in catalog.info().tts[0].voices}
    assert not voices["af_heart"].installed
    assert "IncompleteRead" in (voices["af_heart"].description or "")
