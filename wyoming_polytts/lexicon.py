"""A pronunciation lexicon: household words (names, rooms, brands) and how to say them.

Entries live in one JSON file, rewritten atomically on every change under a lock that every
server sharing the data dir takes (`fileio.SharedDocument`); `reread` picks up another
server's changes. An entry either
respells a word (`say`: "Zigbee" -> "zig bee") or gives its IPA (`phonemes`), which
`apply()` hands on between `PHONEMES_START` and `PHONEMES_END` for the engine to speak as
is. An entry's language is a tag the server speaks (`en-US`) or a bare language (`en`),
which applies to every variant of it (`en-US`, `en-GB`).
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from .engines.base import mark_phonemes
from .fileio import SharedDocument
from .language_tags import fold

_LOGGER = logging.getLogger(__name__)

MAX_WORD_CHARS = 64
MAX_VALUE_CHARS = 200
MAX_ENTRIES = 5000
FILE_VERSION = 1
_WORD_PUNCTUATION = frozenset(" '’-.")
_IPA_FORBIDDEN = frozenset("0123456789[](){}<>")


class LexiconError(ValueError):
    """A change the lexicon refuses, with a message for the person and a stable code."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class LexiconEntry:
    """How to say one word (or a few words) in one language."""

    language: str
    word: str
    say: Optional[str]
    phonemes: Optional[str]
    case_sensitive: bool = False

    def to_dict(self) -> Dict[str, object]:
        return asdict(self)

    @property
    def replacement(self) -> str:
        """What `apply()` puts in the word's place."""
        if self.phonemes is not None:
            return mark_phonemes(self.phonemes, self.word)
        return self.say or ""


_Key = Tuple[str, bool, str]  # language (lower case), case-sensitive, word (folded if not)


def _key(language: str, word: str, case_sensitive: bool) -> _Key:
    return (language.lower(), case_sensitive, word if case_sensitive else word.casefold())


class Lexicon:
    """The entries stored in `path`; safe to use from several threads and several servers.

    `languages` are the tags the server speaks; an entry's language must be one of them
    (any case) or the bare language of one of them. A change holds the file's lock (see
    `fileio.SharedLock`) and starts from the file as it is then, so changes made at once by
    two servers both stay.
    """

    def __init__(self, path: Path, languages: Sequence[str]) -> None:
        self.path = path
        self.languages = tuple(languages)
        self._lock = threading.Lock()  # the entries and patterns; held for moments only
        self._file = SharedDocument(path, FILE_VERSION, "entries", "lexicon")
        self._entries: Dict[_Key, LexiconEntry] = {}
        self._patterns: Dict[str, Tuple[Optional[re.Pattern[str]], List[str]]] = {}
        self._listeners: List[Callable[[], None]] = []
        with self._file.lock.hold():
            self._reload()
        _LOGGER.info("%d lexicon entries in %s", len(self._entries), self.path)

    # -- reading ------------------------------------------------------------------------

    def entries(self) -> List[LexiconEntry]:
        with self._lock:
            found = list(self._entries.values())
        return sorted(found, key=lambda e: (e.language.lower(), e.word.casefold(), e.word))

    def get(self, language: str, word: str) -> LexiconEntry:
        """The entry for `word` (a case-sensitive one first); raises code `not-found`."""
        with self._lock:
            return self._find(language, word)[1]

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every change, this server's or another's (`reread`)."""
        self._listeners.append(listener)

    def reread(self, force: bool = False) -> bool:
        """Take in what another server changed in the file (if it changed: `force` reads it
        anyway); whether the entries changed. Never waits for this server's own change."""
        with self._file.changes(force) as items:
            if items is None:
                return False
            entries, bad = _parse(items)
            if bad:
                _LOGGER.warning(
                    "%d entries of the lexicon %s are invalid; using the other %d",
                    bad,
                    self.path,
                    len(entries),
                )
            if not self._swap(entries):
                return False
        _LOGGER.info("Lexicon changed by another server: %d entries now", len(entries))
        self._changed()
        return True

    # -- changing -----------------------------------------------------------------------

    def put(
        self,
        language: object,
        word: object,
        say: object = None,
        phonemes: object = None,
        case_sensitive: object = False,
    ) -> LexiconEntry:
        """Add or replace the entry for `word`; raises `LexiconError` and changes nothing."""
        entry = self.validate(language, word, say, phonemes, case_sensitive)
        key = _key(entry.language, entry.word, entry.case_sensitive)
        with self._file.lock.hold():
            other = self._reload()
            try:
                if key not in self._entries and len(self._entries) >= MAX_ENTRIES:
                    raise LexiconError(f"The lexicon is full ({MAX_ENTRIES} entries)", "too-many")
                self._save({**self._entries, key: entry})
            finally:
                if other:
                    self._changed()
        _LOGGER.info("Lexicon: %s (%s) -> %s", entry.word, entry.language, entry.replacement)
        self._changed()
        return entry

    def delete(self, language: str, word: str) -> LexiconEntry:
        """Remove the entry for `word` (a case-sensitive one first); raises code `not-found`."""
        with self._file.lock.hold():
            other = self._reload()
            try:
                with self._lock:
                    key, entry = self._find(language, word)
                    entries = dict(self._entries)
                del entries[key]
                self._save(entries)
            finally:
                if other:
                    self._changed()
        _LOGGER.info("Lexicon: removed %s (%s)", entry.word, entry.language)
        self._changed()
        return entry

    # -- applying -----------------------------------------------------------------------

    def apply(self, text: str, language: str) -> str:
        """`text` with every whole-word occurrence of an entry for `language` replaced.

        Entries of the language itself and of its bare language (`en` for `en-US`) apply;
        the longest word wins, then the more specific language, then a case-sensitive
        entry. Never raises: on any failure the text comes back unchanged.
        """
        try:
            if not text or not self._entries:
                return text
            pattern, replacements = self._pattern_for(language)
            if pattern is None:
                return text
            return pattern.sub(lambda match: replacements[(match.lastindex or 1) - 1], text)
        except Exception:  # noqa: BLE001 - a lexicon must never stop speech
            _LOGGER.exception("Could not apply the lexicon to %r", text[:80])
            return text

    def _pattern_for(self, language: str) -> Tuple[Optional[re.Pattern[str]], List[str]]:
        wanted = fold(str(language or ""))
        with self._lock:
            cached = self._patterns.get(wanted)
            if cached is None:
                cached = self._patterns[wanted] = _compile(self._entries.values(), wanted)
            return cached

    # -- validation ---------------------------------------------------------------------

    def validate(
        self,
        language: object,
        word: object,
        say: object = None,
        phonemes: object = None,
        case_sensitive: object = False,
    ) -> LexiconEntry:
        """The entry these values make, or `LexiconError` saying what is wrong."""
        if not isinstance(case_sensitive, bool):
            raise LexiconError("case_sensitive must be true or false", "bad-request")
        if (say is None) == (phonemes is None):
            raise LexiconError(
                "Give exactly one of 'say' (a respelling) or 'phonemes' (IPA)", "bad-request"
            )
        return LexiconEntry(
            language=self.check_language(language),
            word=check_word(word),
            say=None if say is None else check_say(say),
            phonemes=None if phonemes is None else check_phonemes(phonemes),
            case_sensitive=case_sensitive,
        )

    def check_language(self, tag: object) -> str:
        """The lexicon's spelling of `tag`: one of `languages` or a bare language of one."""
        if isinstance(tag, str):
            wanted = fold(tag)
            for known in self.languages:
                if known.lower() == wanted:
                    return known
            if wanted and any(known.lower().split("-")[0] == wanted for known in self.languages):
                return wanted
        spoken = ", ".join(self.languages) or "none"
        raise LexiconError(f"Unknown language {tag!r}; the server speaks: {spoken}", "bad-language")

    # -- internals ----------------------------------------------------------------------

    def _find(self, language: str, word: str) -> Tuple[_Key, LexiconEntry]:
        """Call with the lock held."""
        lang = fold(str(language or ""))
        spelled = _collapse(word) if isinstance(word, str) else ""
        for case_sensitive in (True, False):
            key = _key(lang, spelled, case_sensitive)
            if key in self._entries:
                return key, self._entries[key]
        raise LexiconError(f"The lexicon has no entry {word!r} for {language!r}", "not-found")

    def _save(self, entries: Dict[_Key, LexiconEntry]) -> None:
        """Write `entries` to disk, then make them current; call with the file's lock held."""
        ordered = sorted(entries.values(), key=lambda e: (e.language.lower(), e.word.casefold()))
        self._file.write([e.to_dict() for e in ordered])
        self._swap(entries)

    def _swap(self, entries: Dict[_Key, LexiconEntry]) -> bool:
        """Make `entries` current; whether they differ from the entries before."""
        with self._lock:
            if entries == self._entries:
                return False
            self._entries = entries
            self._patterns = {}
        return True

    def _items(self) -> List[Dict[str, object]]:
        with self._lock:
            return [entry.to_dict() for entry in self._entries.values()]

    def _reload(self) -> bool:
        """With the file's lock held: the entries as the file has them now; whether they
        changed. Invalid entries are set aside with the file, and the valid ones saved."""
        items = self._file.read_locked(self._items)
        if items is None:
            return False
        entries, bad = _parse(items)
        if bad:
            aside = self._file.set_aside()
            _LOGGER.error(
                "%d entries of the lexicon %s are invalid; kept the file as %s and the other %d",
                bad,
                self.path,
                aside,
                len(entries),
            )
            self._save(entries)
            return True
        return self._swap(entries)

    def _changed(self) -> None:
        for listener in self._listeners:
            try:
                listener()
            except Exception:  # noqa: BLE001 - a listener must not undo a stored change
                _LOGGER.exception("A lexicon listener failed")


def _parse(items: List[Any]) -> Tuple[Dict[_Key, LexiconEntry], int]:
    """The entries of a file's items, and how many items are invalid."""
    entries: Dict[_Key, LexiconEntry] = {}
    bad = 0
    for item in items:
        try:
            entry = _entry_from_file(item)
        except (LexiconError, TypeError, AttributeError):
            bad += 1
            continue
        entries[_key(entry.language, entry.word, entry.case_sensitive)] = entry
    return entries, bad


def _entry_from_file(item: object) -> LexiconEntry:
    """An entry as stored; its language is kept even if the server no longer speaks it."""
    if not isinstance(item, dict):
        raise TypeError("not an object")
    language = item.get("language")
    if not isinstance(language, str) or not re.fullmatch(
        r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*", language
    ):
        raise LexiconError("bad language", "bad-language")
    say, phonemes = item.get("say"), item.get("phonemes")
    if (say is None) == (phonemes is None):
        raise LexiconError("say or phonemes", "bad-request")
    case_sensitive = item.get("case_sensitive", False)
    if not isinstance(case_sensitive, bool):
        raise TypeError("case_sensitive")
    return LexiconEntry(
        language=language,
        word=check_word(item.get("word")),
        say=None if say is None else check_say(say),
        phonemes=None if phonemes is None else check_phonemes(phonemes),
        case_sensitive=case_sensitive,
    )


def _collapse(value: str) -> str:
    return " ".join(value.split())


def _has_control(value: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in value)


def check_word(word: object) -> str:
    """A word or phrase: letters, digits, spaces, apostrophes, hyphens and dots."""
    if not isinstance(word, str):
        raise LexiconError("The word must be text", "bad-word")
    if _has_control(word):
        raise LexiconError("The word may not contain control characters", "bad-word")
    word = _collapse(word)
    if not 1 <= len(word) <= MAX_WORD_CHARS:
        raise LexiconError(f"The word must be 1 to {MAX_WORD_CHARS} characters long", "bad-word")
    if not any(c.isalpha() for c in word):
        raise LexiconError("The word must contain a letter", "bad-word")
    for c in word:
        if not (c in _WORD_PUNCTUATION or unicodedata.category(c)[0] in "LMN"):
            raise LexiconError(
                f"The word may not contain {c!r}: use letters, digits, spaces, "
                "apostrophes, hyphens and dots",
                "bad-word",
            )
    return word


def check_say(say: object) -> str:
    """A respelling: printable text of 1 to `MAX_VALUE_CHARS` characters."""
    if not isinstance(say, str):
        raise LexiconError("'say' must be text", "bad-say")
    say = say.strip()
    if not 1 <= len(say) <= MAX_VALUE_CHARS:
        raise LexiconError(f"'say' must be 1 to {MAX_VALUE_CHARS} characters long", "bad-say")
    if not say.isprintable():
        raise LexiconError("'say' may only contain printable characters", "bad-say")
    return say


def check_phonemes(phonemes: object) -> str:
    """IPA: printable, without digits or brackets; a surrounding /.../ is dropped."""
    if not isinstance(phonemes, str):
        raise LexiconError("'phonemes' must be text", "bad-phonemes")
    phonemes = phonemes.strip()
    if len(phonemes) >= 2 and phonemes[0] == phonemes[-1] == "/":
        phonemes = phonemes[1:-1].strip()
    if not 1 <= len(phonemes) <= MAX_VALUE_CHARS:
        raise LexiconError(
            f"'phonemes' must be 1 to {MAX_VALUE_CHARS} characters of IPA", "bad-phonemes"
        )
    if not phonemes.isprintable():  # also refuses private-use marks like PHONEMES_START
        raise LexiconError("'phonemes' may only contain printable characters", "bad-phonemes")
    wrong = sorted({c for c in phonemes if c in _IPA_FORBIDDEN or c == "/"})
    if wrong:
        raise LexiconError(
            f"'phonemes' must be plain IPA, without digits, brackets or slashes: {''.join(wrong)}",
            "bad-phonemes",
        )
    return phonemes


def _applies(entry_language: str, wanted: str) -> int:
    """0 when an entry of `entry_language` does not apply to `wanted`; 2 exact, 1 bare."""
    entry = entry_language.lower()
    if entry == wanted:
        return 2
    if "-" not in entry and entry == wanted.split("-")[0]:
        return 1
    return 0


def _compile(
    entries: Iterable[LexiconEntry], wanted: str
) -> Tuple[Optional[re.Pattern[str]], List[str]]:
    """One regex for all entries of `wanted`, one group per entry, and their replacements."""
    chosen: List[Tuple[int, LexiconEntry]] = []
    for entry in entries:
        rank = _applies(entry.language, wanted)
        if rank:
            chosen.append((rank, entry))
    if not chosen:
        return None, []
    # Longest word first, then the more specific language, then case-sensitive entries.
    chosen.sort(key=lambda item: (-len(item[1].word), -item[0], not item[1].case_sensitive))
    alternatives, replacements = [], []
    for _, entry in chosen:
        body = r"\s+".join(re.escape(part) for part in entry.word.split(" "))
        alternatives.append(f"({body})" if entry.case_sensitive else f"((?i:{body}))")
        replacements.append(entry.replacement)
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")
    return pattern, replacements
