"""Text to ZipVoice tokens: the model's lexicon first, espeak-ng for the words it lacks.

sherpa-onnx's own ZipVoice front end silently skips every word its `lexicon.txt` lacks. Here
each word is looked up the same way (lowercase, NFC; Chinese by longest match, then by
character; hyphenated words by part), and an English word the lexicon lacks is spelled by
espeak-ng, whose phoneme set the English side of ZipVoice's lexicon uses. Only what neither
can spell is dropped, and the caller is told which words those were.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from ..base import split_phonemes_runs

_LOGGER = logging.getLogger(__name__)

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_PIECES = re.compile(
    rf"[{_CJK}]+|(?:(?![{_CJK}])[^\W_])+(?:['’-](?:(?![{_CJK}])[^\W_])+)*|[,.;:!?]"
)
_PUNCTUATION = str.maketrans(
    {"，": ",", "。": ".", "！": "!", "？": "?", "；": ";", "：": ":", "、": ",", "’": "'"}
)
_ALNUM_END = re.compile(r"[0-9a-zA-Z]$")


def _phones(phones: List[str]) -> List[str]:
    """Multi-character phones not ending in a letter or digit are single code points."""
    result: List[str] = []
    for phone in phones:
        if len(phone) > 1 and not _ALNUM_END.search(phone):
            result.extend(phone)
        else:
            result.append(phone)
    return result


def read_symbols(path: Path) -> Dict[str, int]:
    """`tokens.txt`: `symbol id` per line; a line with only an id is the space."""
    symbols: Dict[str, int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if len(fields) == 1:
            symbols[" "] = int(fields[0])
        elif len(fields) == 2:
            symbols[fields[0]] = int(fields[1])
    return symbols


def read_lexicon(path: Optional[Path]) -> Dict[str, List[str]]:
    """`lexicon.txt`: `word p1 p2 ...` or `word words || p1 p2 ...`; `#` starts a comment."""
    lexicon: Dict[str, List[str]] = {}
    if path is None:
        return lexicon
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if "||" in line:
            head, _, tail = line.partition("||")
            word, phones = head.split()[0], tail.split()
        else:
            word, *phones = line.split()
        key = unicodedata.normalize("NFC", word).lower()
        lexicon.setdefault(key, _phones(phones))
    return lexicon


def espeak_english() -> Callable[[str], str]:
    """espeak-ng (American English, with stress) through phonemizer and espeakng-loader."""
    import misaki.espeak  # noqa: F401 - points phonemizer at espeakng-loader's library
    from phonemizer.backend import EspeakBackend

    backend = EspeakBackend("en-us", with_stress=True, preserve_punctuation=False)
    lock = threading.Lock()

    def spell(word: str) -> str:
        with lock:
            return str(backend.phonemize([word], strip=True)[0])

    return spell


class ZipVoiceTokenizer:
    """Turns text into the token symbols of one ZipVoice model."""

    def __init__(
        self,
        tokens: Path,
        lexicon: Optional[Path],
        spell: Optional[Callable[[str], str]] = None,
    ) -> None:
        self.symbols = read_symbols(tokens)
        self.lexicon = read_lexicon(lexicon)
        self._longest = max((len(key) for key in self.lexicon), default=1)
        self._spell = spell
        self._spell_lock = threading.Lock()

    def tokenize(self, text: str) -> Tuple[List[str], List[str], List[str]]:
        """Tokens, the words espeak-ng spelled, and the words nothing could spell."""
        tokens: List[str] = []
        spelled: List[str] = []
        dropped: List[str] = []
        for is_phonemes, part in split_phonemes_runs(text):
            if is_phonemes:  # IPA: ZipVoice's English side uses espeak-ng's IPA symbols
                tokens += [symbol for symbol in part if symbol in self.symbols]
            else:
                tokens += self._text_tokens(part, spelled, dropped)
        return [token for token in tokens if token in self.symbols], spelled, dropped

    def _text_tokens(self, text: str, spelled: List[str], dropped: List[str]) -> List[str]:
        text = unicodedata.normalize("NFC", text).translate(_PUNCTUATION).lower()
        tokens: List[str] = []
        for match in _PIECES.finditer(text):
            piece = match.group()
            if piece in ",.;:!?":
                tokens += [piece] if piece in self.symbols else []
            elif "\u3400" <= piece[0] <= "\ufaff":
                tokens += self._chinese(piece, dropped)
            else:
                tokens += self._word(piece, spelled, dropped)
        return tokens

    def _chinese(self, run: str, dropped: List[str]) -> List[str]:
        tokens: List[str] = []
        start = 0
        while start < len(run):
            for end in range(min(len(run), start + self._longest), start, -1):
                phones = self.lexicon.get(run[start:end])
                if phones is not None:
                    tokens += phones
                    start = end
                    break
            else:
                dropped.append(run[start])
                start += 1
        return tokens

    def _word(self, word: str, spelled: List[str], dropped: List[str]) -> List[str]:
        if word in self.lexicon:
            return self.lexicon[word]
        parts = re.split(r"[-]", word)
        if len(parts) > 1 and all(part in self.lexicon for part in parts):
            return [phone for part in parts for phone in self.lexicon[part]]
        phones = self._espeak(word)
        if phones:
            spelled.append(word)
            return phones
        dropped.append(word)
        return []

    def _espeak(self, word: str) -> List[str]:
        if not word.isascii():
            return []
        with self._spell_lock:
            if self._spell is None:
                try:
                    self._spell = espeak_english()
                except Exception as err:  # noqa: BLE001 - the lexicon alone still works
                    _LOGGER.warning("espeak-ng is not available for ZipVoice: %s", err)
                    self._spell = lambda word: ""
        return [s for s in self._spell(word) if s in self.symbols and not s.isspace()]
