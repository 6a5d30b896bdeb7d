"""Turn written text (Home Assistant responses, LLM output) into words a voice can say.

``normalize(text, language)`` runs before phonemization, one sentence (or any fragment) at
a time.  It is pure regular expressions plus ``num2words``: fast, deterministic, and it
never raises.  The steps, in order:

1. characters: HTML entities, no-break spaces, the minus sign, vulgar fractions;
2. Markdown (headings, quotes, lists, tables, code, emphasis, links, images) and emoji;
3. English only: addresses (e-mail, URL, IP), phone numbers, dates, times, currency,
   abbreviations, symbols before numbers, decades, ordinals, fractions, versions, then
   numbers with their unit (ranges, negatives, years), then the remaining symbols;
   other languages that ``num2words`` knows: URL hosts and plain cardinals/decimals;
   Japanese, Chinese and Korean: nothing beyond step 2;
4. whitespace and stray punctuation.

Choices (kept consistent, and pinned by ``tests/test_normalize.py``):
numbers keep num2words' "and" but drop its commas ("one thousand two hundred and fifty");
a unit is singular only after exactly "1"; years are four-digit integers 1100-2099 with no
unit; 24-hour times read "fourteen forty-five", "seven oh five", "eighteen hundred";
money reads "three dollars and fifty cents", "one pound and ninety-nine pence";
IP addresses and phone numbers are read digit by digit; a URL becomes its host.
"""

from __future__ import annotations

import html
import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Callable, Dict, Iterable, List, Match, Optional, Tuple

from num2words import CONVERTER_CLASSES, num2words

from ..settings import MAX_NUMBER_DIGITS
from . import units as T

__all__ = ["normalize", "clean_markdown", "remove_emoji"]

# Errors num2words and int()/Decimal() may raise on odd input; a step that meets one keeps
# the text it was given.
_SAFE_ERRORS = (
    ArithmeticError,
    ValueError,
    OverflowError,
    NotImplementedError,
    IndexError,
    KeyError,
    TypeError,
    InvalidOperation,
)


# ---------------------------------------------------------------------------------------
# language


class _Language:
    """What the steps need to know about a BCP-47 tag."""

    def __init__(self, tag: str) -> None:
        parts = [p for p in re.split(r"[-_]", (tag or "").strip()) if p]
        self.base = parts[0].lower() if parts else "en"
        region = ""
        for part in parts[1:]:
            if len(part) == 2 and part.isalpha() or len(part) == 3 and part.isdigit():
                region = part.upper()
                break
        self.region = region
        self.english = self.base == "en"
        # Month-first dates and US spellings: en-US, en without a region, a few others.
        self.us = self.english and region in ("", "US", "PH", "CA")
        self.keep_text = self.base in T.NO_NUMBER_LANGUAGES
        code: Optional[str] = None
        if not self.english and not self.keep_text:
            full = f"{self.base}_{region}"
            if region and full in CONVERTER_CLASSES:
                code = full
            elif self.base in CONVERTER_CLASSES:
                code = self.base
        self.num2words_code = code
        self.comma_decimal = self.base in T.COMMA_DECIMAL_LANGUAGES


# ---------------------------------------------------------------------------------------
# small helpers


def _alternation(words: Iterable[str]) -> str:
    """A regex alternation of literal words, longest first."""
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


def _at_end(match: Match[str]) -> bool:
    """True when nothing but whitespace follows the match."""
    return not match.string[match.end() :].strip()


def _keep_final_period(match: Match[str], words: str) -> str:
    """Abbreviations eat their period; give it back when it also ended the text."""
    if match.group(0).endswith(".") and _at_end(match):
        return words + "."
    return words


def _digits(text: str) -> str:
    return " ".join(T.DIGITS[int(c)] for c in text if c.isdigit())


def _plural(word: str) -> str:
    if word.endswith("y"):
        return word[:-1] + "ies"
    if word.endswith("s"):
        return word
    return word + "s"


def _capitalize_like(source: str, words: str) -> str:
    if source[:1].isupper() and words[:1].islower():
        return words[:1].upper() + words[1:]
    return words


# ---------------------------------------------------------------------------------------
# English numbers


def _en_int(digits: str) -> str:
    digits = digits.replace(",", "")
    if not digits:
        return ""
    if len(digits) > MAX_NUMBER_DIGITS or (len(digits) > 1 and digits.startswith("0")):
        return _digits(digits)
    return str(num2words(int(digits))).replace(",", "")


def _en_year(value: int) -> str:
    return str(num2words(value, to="year")).replace("oh-", "oh ").replace(",", "")


def _is_year(number: str) -> bool:
    return len(number) == 4 and number.isdigit() and 1100 <= int(number) <= 2099


def _en_number(number: str, year_ok: bool = False) -> str:
    """Words for an unsigned number as written ("1,250", "21.5", "2024")."""
    if year_ok and _is_year(number):
        return _en_year(int(number))
    whole, _, fraction = number.partition(".")
    words = _en_int(whole) if whole else "zero"
    if fraction:
        words += " point " + _digits(fraction)
    return words


def _en_ordinal(number: str) -> str:
    number = number.replace(",", "")
    if len(number) > MAX_NUMBER_DIGITS:
        return _digits(number)
    return str(num2words(int(number), to="ordinal")).replace(",", "")


def _en_fraction(numerator: int, denominator: int, article: bool = False) -> str:
    if denominator in T.FRACTION_NAMES:
        singular, plural = T.FRACTION_NAMES[denominator]
    elif 3 <= denominator <= 100:
        singular = _en_ordinal(str(denominator))
        plural = singular + "s"
    else:
        return f"{_en_int(str(numerator))} over {_en_int(str(denominator))}"
    if numerator == 1:
        return f"{'a' if article else 'one'} {singular}"
    return f"{_en_int(str(numerator))} {plural}"


def _en_time(hour: int, minute: int, twelve_hour: bool = False) -> str:
    hour_words = _en_int(str(hour))
    if minute == 0:
        if twelve_hour:
            return hour_words
        if hour == 0:
            return "midnight"
        if hour <= 12:
            return f"{hour_words} o'clock"
        return f"{hour_words} hundred"
    if hour == 0 and not twelve_hour:
        hour_words = "zero"
    if minute < 10:
        return f"{hour_words} oh {_en_int(str(minute))}"
    return f"{hour_words} {_en_int(str(minute))}"


def _en_date(year: Optional[int], month: int, day: int, lang: _Language) -> Optional[str]:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    name = T.MONTHS[month - 1]
    ordinal = _en_ordinal(str(day))
    if lang.us:
        words = f"{name} {ordinal}"
        return f"{words}, {_en_year(year)}" if year is not None else words
    words = f"the {ordinal} of {name}"
    return f"{words} {_en_year(year)}" if year is not None else words


# ---------------------------------------------------------------------------------------
# patterns shared by the English steps

_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_UNIT_ALT = _alternation(T.UNITS)
_MONTH_ALT = _alternation(list(T.MONTHS) + list(T.MONTH_ABBREVIATIONS))
_WEEKDAY_ALT = _alternation(T.WEEKDAYS)
_END = r"(?![\w]|[.,]\d)"  # a number ends here: no word character, no decimal part

# ---------------------------------------------------------------------------------------
# step 1: characters

_CHAR_RE = re.compile(_alternation(T.CHARACTER_MAP))


def _map_characters(text: str) -> str:
    if "&" in text and ";" in text:
        text = html.unescape(text)
    text = _CHAR_RE.sub(lambda m: T.CHARACTER_MAP[m.group(0)], text)
    return re.sub(r"°\s+([CF])\b", r"°\1", text)


# ---------------------------------------------------------------------------------------
# step 2: Markdown and emoji

_FENCE_RE = re.compile(r"^(```|~~~)")
_HRULE_RE = re.compile(r"^(?:[-*_]\s*){3,}$")
_TABLE_SEP_RE = re.compile(r"^\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?$")
_HEADING_RE = re.compile(r"^#{1,6}\s+(.*?)(?:\s+#+)?$")
_QUOTE_RE = re.compile(r"^(?:>\s?)+")
_LIST_RE = re.compile(r"^(?:[-*+•‣◦▪]|\d{1,3}[.)]|[a-zA-Z][.)](?=\s))\s+")
_IMAGE_RE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK_RE = re.compile(r"\[([^\]]+)\]\((?:[^()]|\([^)]*\))*\)")
_REF_LINK_RE = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_AUTOLINK_RE = re.compile(r"<((?:https?://|mailto:|www\.)[^>\s]+)>")
_BR_RE = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAG_RE = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?>")
_CODE_RE = re.compile(r"(`+)(.+?)\1")
_STRONG_RE = re.compile(r"(\*\*\*|\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EM_STAR_RE = re.compile(r"\*(?=\S)([^*\n]+?)(?<=\S)\*")
_EM_UNDER_RE = re.compile(r"(?<!\w)_(?=\S)([^_\n]+?)(?<=\S)_(?!\w)")
_STRIKE_RE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_TIMES_STAR_RE = re.compile(r"(?<=\d)\s+\*\s+(?=\d)")
_ENDS_CLAUSE = tuple(".,;:!?…。！？、")


def _inline_markdown(line: str) -> str:
    line = _IMAGE_RE.sub("", line)
    line = _LINK_RE.sub(r"\1", line)
    line = _REF_LINK_RE.sub(r"\1", line)
    line = _AUTOLINK_RE.sub(r"\1", line)
    line = _BR_RE.sub(" ", line)
    line = _TAG_RE.sub("", line)
    line = _CODE_RE.sub(lambda m: m.group(2).strip(), line)
    for _ in range(2):  # ***x*** and nested emphasis
        line = _STRONG_RE.sub(r"\2", line)
    line = _EM_STAR_RE.sub(r"\1", line)
    line = _EM_UNDER_RE.sub(r"\1", line)
    line = _STRIKE_RE.sub(r"\1", line)
    line = _TIMES_STAR_RE.sub(" × ", line)
    return line.replace("*", "")


def clean_markdown(text: str) -> str:
    """Markdown as an LLM writes it -> plain text, one line per block joined by spaces.

    List items and table rows that end without punctuation get a comma (when another item
    follows) or a period, so that they do not run together when spoken.
    """
    lines: List[Tuple[str, str]] = []  # (text, kind): kind is "", "item" or "block"
    for raw in text.splitlines():
        line = raw.strip()
        if not line or _FENCE_RE.match(line) or _HRULE_RE.match(line):
            lines.append(("", ""))
            continue
        if "|" in line and _TABLE_SEP_RE.match(line):
            continue
        kind = ""
        line = _QUOTE_RE.sub("", line)
        heading = _HEADING_RE.match(line)
        if heading:
            line, kind = heading.group(1), "block"
        else:
            listed = _LIST_RE.match(line)
            if listed:
                line, kind = line[listed.end() :], "item"
        if line.count("|") >= 2 or (line.startswith("|") or line.endswith("|")):
            cells = [c.strip() for c in line.strip("|").split("|")]
            line, kind = ", ".join(c for c in cells if c), "block"
        lines.append((_inline_markdown(line).strip(), kind))

    out: List[str] = []
    for index, (line, kind) in enumerate(lines):
        if not line:
            continue
        if kind and not line.endswith(_ENDS_CLAUSE):
            following = next((k for t, k in lines[index + 1 :] if t), None)
            line += "," if kind == "item" and following == "item" else "."
        out.append(line)
    return " ".join(out)


# Emoji live in these blocks; within them only symbols (So, Sk, Sm) are removed, so CJK,
# letters and digits in neighbouring blocks are untouched.  Joiners and selectors go too.
_EMOJI_BLOCKS_RE = re.compile(
    "[\u2190-\u21ff\u2300-\u23ff\u25a0-\u27bf\u2900-\u297f\u2b00-\u2bff"
    "\U0001f000-\U0001faff\u2139\u24c2\u3030\u303d\u3297\u3299]"
)
_EMOJI_JOINERS_RE = re.compile("[\u200d\u20e3\ufe0e\ufe0f\U000e0020-\U000e007f]")


def remove_emoji(text: str, keep: Iterable[str] = ()) -> str:
    """Remove emoji and pictographs (by Unicode block and category), keeping ``keep``."""
    kept = set(keep)

    def drop(match: Match[str]) -> str:
        char = match.group(0)
        if char in kept or not unicodedata.category(char).startswith("S"):
            return char
        return " "

    text = _EMOJI_JOINERS_RE.sub("", text)
    return _EMOJI_BLOCKS_RE.sub(drop, text)


# ---------------------------------------------------------------------------------------
# step 3a: addresses (e-mail, URL, IP) and phone numbers

_EMAIL_RE = re.compile(
    r"(?:mailto:)?(?<![\w.+-])([A-Za-z0-9][A-Za-z0-9._%+-]*)@"
    r"([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)(?!\w)"
)
_URL_RE = re.compile(r"\b(?:(?:https?|ftp|wss?)://|www\.)[^\s<>\"'`]+", re.IGNORECASE)
_TLD_ALT = _alternation(T.TOP_LEVEL_DOMAINS)
_DOMAIN_RE = re.compile(
    rf"(?<![\w@./-])((?:[A-Za-z0-9][A-Za-z0-9-]*\.)+(?:{_TLD_ALT}))(?![\w-]|\.\w)(/[^\s]*[^\s.,;:!?)\]'\"])?"
)
_IP_RE = re.compile(r"(?<![\w.])((?:\d{1,3}\.){3}\d{1,3})(?::(\d{1,5}))?(?![\w]|\.\d)")
_URL_TRAIL = ".,;:!?)]}'\""


def _spell_address(text: str) -> str:
    out = []
    for char in text:
        word = T.ADDRESS_CHARACTERS.get(char)
        out.append(f" {word} " if word else char)
    return re.sub(r"\s+", " ", "".join(out)).strip()


def _spell_ip(address: str, port: Optional[str]) -> Optional[str]:
    parts = address.split(".")
    if any(int(p) > 255 for p in parts):
        return None
    words = " dot ".join(_digits(p) for p in parts)
    if port:
        words += " port " + _digits(port)
    return words


def _host_of(url: str) -> str:
    host = re.sub(r"^[a-z]+://", "", url, flags=re.IGNORECASE)
    host = re.split(r"[/?#]", host, maxsplit=1)[0]
    host = host.rsplit("@", 1)[-1]
    host = re.sub(r":\d*$", "", host)
    if host.lower().startswith("www."):
        host = host[4:]
    return host


def _url_repl(spoken: bool) -> Callable[[Match[str]], str]:
    def repl(match: Match[str]) -> str:
        url = match.group(0)
        trail = ""
        while url and url[-1] in _URL_TRAIL:
            if url[-1] == ")" and url.count("(") >= url.count(")"):
                break
            trail = url[-1] + trail
            url = url[:-1]
        host = _host_of(url)
        if not host:
            return match.group(0)
        if not spoken:
            return host + trail
        if re.fullmatch(r"(?:\d{1,3}\.){3}\d{1,3}", host):
            return (_spell_ip(host, None) or host) + trail
        return _spell_address(host) + trail

    return repl


def _email_repl(match: Match[str]) -> str:
    return f"{_spell_address(match.group(1))} at {_spell_address(match.group(2))}"


def _ip_repl(match: Match[str]) -> str:
    return _spell_ip(match.group(1), match.group(2)) or match.group(0)


def _addresses(text: str, lang: _Language) -> str:
    text = _EMAIL_RE.sub(_email_repl, text)
    text = _URL_RE.sub(_url_repl(True), text)
    text = _DOMAIN_RE.sub(lambda m: _spell_address(m.group(1)), text)
    return _IP_RE.sub(_ip_repl, text)


_PHONE_INTL_RE = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}" + _END)
_PHONE_US_RE = re.compile(r"(?<![\w+.-])(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[.-]\d{4}" + _END)
_PHONE_LOCAL_RE = re.compile(
    rf"(?<![\w.,/-])[2-9]\d{{2}}-\d{{4}}(?![\w-]|[.,]\d)(?!\s?(?:{_UNIT_ALT})(?!\w))"
)


def _phone_repl(match: Match[str]) -> str:
    text = match.group(0)
    groups = re.findall(r"\d+", text)
    if sum(len(g) for g in groups) < 7:
        return text
    words = ", ".join(_digits(g) for g in groups)
    return ("plus " + words) if text.startswith("+") else words


def _phones(text: str, lang: _Language) -> str:
    for pattern in (_PHONE_INTL_RE, _PHONE_US_RE, _PHONE_LOCAL_RE):
        text = pattern.sub(_phone_repl, text)
    return text


# ---------------------------------------------------------------------------------------
# step 3b: special tokens, abbreviations

_SPECIAL_RE = re.compile(rf"(?<![\w/])(?:{_alternation(T.SPECIAL_TOKENS)})(?![\w/])")


def _abbreviation_pattern(keys: Iterable[str], dot_optional: Iterable[str] = ()) -> str:
    optional = set(dot_optional)
    parts = []
    for key in sorted(keys, key=len, reverse=True):
        if key.endswith(".") and key in optional:
            parts.append(re.escape(key[:-1]) + r"\.?")
        else:
            parts.append(re.escape(key))
    return "|".join(parts)


_ABBR_KEYS = {k.lower(): v for k, v in T.ABBREVIATIONS.items()}
_ABBR_RE = re.compile(
    rf"(?<![\w.])(?:{_abbreviation_pattern(T.ABBREVIATIONS, T.ABBREVIATIONS)})(?!\w)",
    re.IGNORECASE,
)
_TITLE_RE = re.compile(
    rf"(?<![\w.])(?:{_abbreviation_pattern(T.TITLES, T.TITLES_DOT_OPTIONAL)})(?!\w)"
)
_CONTEXT_RE = re.compile(
    rf"(?<![\w.])(?:{_abbreviation_pattern(T.CONTEXT_ABBREVIATIONS, T.TITLES_DOT_OPTIONAL)})"
    r"(?!\w)"
)


def _lookup_abbreviation(match: Match[str]) -> str:
    found = match.group(0)
    key = found.lower()
    words = _ABBR_KEYS.get(key) or _ABBR_KEYS.get(key + ".", found)
    return _keep_final_period(match, _capitalize_like(found, words))


def _lookup_title(match: Match[str]) -> str:
    found = match.group(0)
    return T.TITLES.get(found) or T.TITLES.get(found + ".", found)


def _context_abbreviation(match: Match[str]) -> str:
    found = match.group(0)
    key = found if found.endswith(".") else found + "."
    before_name, after_name = T.CONTEXT_ABBREVIATIONS[key]
    following = match.string[match.end() :]
    preceding = match.string[: match.start()]
    if re.match(r"\s+[A-Z]", following):
        return before_name
    if not found.endswith("."):
        return found  # "St" / "Dr" without period and no name after: leave it
    if re.search(r"(?:[A-Z][\w'-]*|\d+)\s+$", preceding):
        return _keep_final_period(match, after_name)
    return _keep_final_period(match, before_name)


def _abbreviations(text: str, lang: _Language) -> str:
    text = _SPECIAL_RE.sub(lambda m: T.SPECIAL_TOKENS[m.group(0)], text)
    text = _ABBR_RE.sub(_lookup_abbreviation, text)
    text = _CONTEXT_RE.sub(_context_abbreviation, text)
    return _TITLE_RE.sub(_lookup_title, text)


# ---------------------------------------------------------------------------------------
# step 3c: dates and times

_ISO_STAMP_RE = re.compile(
    r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?(?!\w)"
)
_ISO_DATE_RE = re.compile(r"(?<![\w.-])(\d{4})-(\d{2})-(\d{2})(?![\w-]|[.,]\d)")
_NUMERIC_DATE_RE = re.compile(
    r"(?<![\w/.,-])(\d{1,2})([/.])(\d{1,2})\2(\d{4}|\d{2})(?![\w/]|[.,]\d)"
)
_SHORT_DATE_RE = re.compile(r"(?<![\w/.,-])(\d{1,2})/(\d{1,2})(?![\w/]|[.,]\d)")
_MONTH_DAY_RE = re.compile(
    rf"\b({_MONTH_ALT})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?![\w:]|[.,]\d)"
    r"(?:,?\s+(\d{4})(?![\w:]|[.,]\d))?"
)
_DAY_MONTH_RE = re.compile(
    rf"(?<![\w.,])(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH_ALT})(?!\w)\.?"
    r"(?:,?\s+(\d{4})(?![\w:]|[.,]\d))?"
)
_MONTH_ABBR_RE = re.compile(rf"\b({_alternation(T.MONTH_ABBREVIATIONS)})(?:\.|(?=,?\s+\d))")
_WEEKDAY_ABBR_RE = re.compile(rf"\b({_alternation(T.WEEKDAY_ABBREVIATIONS)})\b\.?")
_AMBIGUOUS_DAY_RE = re.compile(
    rf"\b({_alternation(T.AMBIGUOUS_WEEKDAY_ABBREVIATIONS)})(?:\.|(?=,?\s+(?:\d|{_MONTH_ALT}))"
    rf"|(?=\s*[-–—]\s*(?:{_WEEKDAY_ALT}|Sat|Sun)\b))"
)
_WEEKDAY_RANGE_RE = re.compile(
    rf"\b({_WEEKDAY_ALT})\s*[-–—]\s*(?:({_WEEKDAY_ALT})\b|(Sat|Sun)\b\.?)"
)
_CLOCK_12_RE = re.compile(
    r"(?<![\w:.])(1[0-2]|0?[0-9])(?:[:.]([0-5]\d))?\s?([AaPp])\.?\s?[Mm](?:\.(?!\s*$))?(?!\w)"
)
_CLOCK_24_RE = re.compile(r"(?<![\w:.])([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?(?![\w:]|[.,]\d)")


def _date_repl(lang: _Language, month_first: bool) -> Callable[[Match[str]], str]:
    def repl(match: Match[str]) -> str:
        first, second = int(match.group(1)), int(match.group(3))
        year_text = match.group(4)
        year = int(year_text) + (2000 if len(year_text) == 2 else 0)
        month, day = (first, second) if month_first else (second, first)
        return _en_date(year, month, day, lang) or match.group(0)

    return repl


def _short_date_repl(lang: _Language) -> Callable[[Match[str]], str]:
    def repl(match: Match[str]) -> str:
        first, second = int(match.group(1)), int(match.group(2))
        if 0 < first < second <= 10:
            return match.group(0)  # a fraction: 1/2, 3/4, 5/8
        month, day = (first, second) if lang.us else (second, first)
        return _en_date(None, month, day, lang) or match.group(0)

    return repl


def _month_number(name: str) -> int:
    full = T.MONTH_ABBREVIATIONS.get(name, name)
    return T.MONTHS.index(full) + 1


def _month_day_repl(lang: _Language) -> Callable[[Match[str]], str]:
    def repl(match: Match[str]) -> str:
        year = int(match.group(3)) if match.group(3) else None
        words = _en_date(year, _month_number(match.group(1)), int(match.group(2)), lang)
        return words or match.group(0)

    return repl


def _day_month_repl(match: Match[str]) -> str:
    day = int(match.group(1))
    if not 1 <= day <= 31:
        return match.group(0)
    name = T.MONTH_ABBREVIATIONS.get(match.group(2), match.group(2))
    words = f"{_en_ordinal(str(day))} of {name}"
    if not re.search(r"\bthe\s+$", match.string[: match.start()], re.IGNORECASE):
        words = "the " + words
    if match.group(3):
        words += " " + _en_year(int(match.group(3)))
    return words


def _clock_12_repl(match: Match[str]) -> str:
    hour = int(match.group(1))
    minute = int(match.group(2) or 0)
    half = "a m" if match.group(3).lower() == "a" else "p m"
    if hour == 0:
        hour = 12
    return f"{_en_time(hour, minute, twelve_hour=True)} {half}"


def _clock_24_repl(match: Match[str]) -> str:
    words = _en_time(int(match.group(1)), int(match.group(2)))
    if match.group(3) and int(match.group(3)):
        seconds = int(match.group(3))
        words += f" and {_en_int(str(seconds))} second{'' if seconds == 1 else 's'}"
    return words


def _dates_and_times(text: str, lang: _Language) -> str:
    text = _ISO_STAMP_RE.sub(r"\1 at \2", text)
    text = _ISO_DATE_RE.sub(
        lambda m: _en_date(int(m.group(1)), int(m.group(2)), int(m.group(3)), lang) or m.group(0),
        text,
    )
    text = _NUMERIC_DATE_RE.sub(lambda m: _date_repl(lang, lang.us and m.group(2) == "/")(m), text)
    text = _SHORT_DATE_RE.sub(_short_date_repl(lang), text)
    text = _MONTH_DAY_RE.sub(_month_day_repl(lang), text)
    text = _DAY_MONTH_RE.sub(_day_month_repl, text)
    text = _MONTH_ABBR_RE.sub(lambda m: T.MONTH_ABBREVIATIONS[m.group(1)], text)
    text = _WEEKDAY_ABBR_RE.sub(
        lambda m: _keep_final_period(m, T.WEEKDAY_ABBREVIATIONS[m.group(1)]), text
    )
    text = _AMBIGUOUS_DAY_RE.sub(
        lambda m: _keep_final_period(m, T.AMBIGUOUS_WEEKDAY_ABBREVIATIONS[m.group(1)]), text
    )
    text = _WEEKDAY_RANGE_RE.sub(
        lambda m: (
            f"{m.group(1)} to "
            + (m.group(2) or T.AMBIGUOUS_WEEKDAY_ABBREVIATIONS[m.group(3) or "Sun"])
        ),
        text,
    )
    text = _CLOCK_12_RE.sub(_clock_12_repl, text)
    return _CLOCK_24_RE.sub(_clock_24_repl, text)


# ---------------------------------------------------------------------------------------
# step 3d: money

_CURRENCY_PREFIX_ALT = _alternation(T.CURRENCIES)
_CURRENCY_SUFFIX_ALT = _alternation(k for k in T.CURRENCIES if k not in ("US$",))
_SCALE_ALT = _alternation(T.SCALES)
_MONEY_PREFIX_RE = re.compile(
    rf"(?<![\w.])(-\s?)?({_CURRENCY_PREFIX_ALT})\s?(-)?({_NUM})"
    rf"(?:\s?({_SCALE_ALT})(?![\w]))?(?![\w]|[.,]\d)"
)
_MONEY_SUFFIX_RE = re.compile(
    rf"(?<![\w.])(-)?({_NUM})(?:\s?({_SCALE_ALT}))?\s?({_CURRENCY_SUFFIX_ALT})(?!\w)"
)


def _money_words(number: str, currency: str, scale: Optional[str], negative: bool) -> str:
    major, majors, minor, minors = T.CURRENCIES[currency]
    sign = "minus " if negative else ""
    number = number.replace(",", "")
    if scale:
        return f"{sign}{_en_number(number)} {T.SCALES[scale]} {majors}"
    whole, _, cents = number.partition(".")
    if cents and (not minor or len(cents) > 2):
        return f"{sign}{_en_number(number)} {majors}"
    whole_value = int(whole) if whole else 0
    cents_value = int(cents.ljust(2, "0")) if cents else 0
    major_words = f"{_en_int(whole or '0')} {major if whole_value == 1 else majors}"
    if not cents_value:
        return sign + major_words
    minor_words = f"{_en_int(str(cents_value))} {minor if cents_value == 1 else minors}"
    if whole_value == 0:
        return sign + minor_words
    return f"{sign}{major_words} and {minor_words}"


def _money(text: str, lang: _Language) -> str:
    text = _MONEY_PREFIX_RE.sub(
        lambda m: _money_words(m.group(4), m.group(2), m.group(5), bool(m.group(1) or m.group(3))),
        text,
    )
    return _MONEY_SUFFIX_RE.sub(
        lambda m: _money_words(m.group(2), m.group(4), m.group(3), bool(m.group(1))), text
    )


# ---------------------------------------------------------------------------------------
# step 3e: numbers: symbols before numbers, decades, ordinals, fractions, versions,
# quantities (number or range, with optional unit)

_BEFORE_NUMBER_RE = re.compile(
    rf"(?<![\w<>=~#])({_alternation(T.SYMBOLS_BEFORE_NUMBER)})\s?(?=[-]?\d)"
)
_DECADE_RE = re.compile(r"(?<![\w.'])(1[1-9]|20)(\d)0'?s(?!\w)")
_SHORT_DECADE_RE = re.compile(r"(?<![\w.])'([2-9])0s(?!\w)")
_ORDINAL_RE = re.compile(r"(?<![\w.,])(\d+)(st|nd|rd|th)(?!\w)", re.IGNORECASE)
_MIXED_FRACTION_RE = re.compile(r"(?<![\w./])(\d+)\s+(\d+)/(\d+)(?![\w/]|[.,]\d)")
_FRACTION_RE = re.compile(r"(?<![\w./])(\d+)/(\d+)(?![\w/]|[.,]\d)")
_VERSION_RE = re.compile(r"(?<![\w.])\d+(?:\.\d+){2,}(?![\w]|\.\d)")
_QUANTITY_RE = re.compile(
    rf"(?<![\w.])(?:(?<![)\]%°])(-)(?=\d))?({_NUM})"
    rf"(?:\s?[-–—]\s?({_NUM}))?"
    rf"(?:\s?({_UNIT_ALT}))?(?![\w])(?!\.\d)"
)

# "per kWh", "cents/kWh": a rate after a quantity; "per" needs a unit of two letters or more.
_LONG_UNIT_ALT = _alternation(unit for unit in T.UNITS if len(unit) > 1)
_PER_UNIT_RE = re.compile(rf"(?:\s+per\s+({_LONG_UNIT_ALT})|(?<=[^\W\d_])/({_UNIT_ALT}))(?![\w/])")


def _decade_repl(match: Match[str]) -> str:
    return _plural(_en_year(int(match.group(1) + match.group(2) + "0")))


def _mixed_fraction_repl(match: Match[str]) -> str:
    numerator, denominator = int(match.group(2)), int(match.group(3))
    if not 0 < numerator < denominator:
        return match.group(0)
    whole = _en_int(match.group(1))
    return f"{whole} and {_en_fraction(numerator, denominator, article=True)}"


def _fraction_repl(match: Match[str]) -> str:
    numerator, denominator = int(match.group(1)), int(match.group(2))
    if denominator == 0:
        return f"{_en_int(match.group(1))} over zero"
    if numerator >= denominator:
        return f"{_en_int(match.group(1))} over {_en_int(match.group(2))}"
    return _en_fraction(numerator, denominator)


def _quantity_repl(lang: _Language) -> Callable[[Match[str]], str]:
    def repl(match: Match[str]) -> str:
        negative, first, second, unit = match.groups()
        year_ok = unit is None and not negative
        words = _en_number(first, year_ok=year_ok and (second is None or _is_year(second)))
        if negative:
            words = "minus " + words
        if second is not None:
            words += " to " + _en_number(second, year_ok=year_ok and _is_year(first))
        if unit:
            singular, plural = T.UNITS[unit]
            name = singular if second is None and first == "1" else plural
            if not lang.us:
                name = name.replace("meter", "metre").replace("liter", "litre")
            words += " " + name
        return words

    return repl


def _numbers(text: str, lang: _Language) -> str:
    text = _BEFORE_NUMBER_RE.sub(lambda m: T.SYMBOLS_BEFORE_NUMBER[m.group(1)] + " ", text)
    text = _DECADE_RE.sub(_decade_repl, text)
    text = _SHORT_DECADE_RE.sub(lambda m: _plural(_en_int(m.group(1) + "0")), text)
    text = _ORDINAL_RE.sub(lambda m: _en_ordinal(m.group(1)), text)
    text = _MIXED_FRACTION_RE.sub(_mixed_fraction_repl, text)
    text = _FRACTION_RE.sub(_fraction_repl, text)
    text = _VERSION_RE.sub(
        lambda m: " point ".join(_en_int(p) for p in m.group(0).split(".")), text
    )
    text = _QUANTITY_RE.sub(_quantity_repl(lang), text)
    return _PER_UNIT_RE.sub(lambda m: " per " + T.UNITS[m.group(1) or m.group(2)][0], text)


# ---------------------------------------------------------------------------------------
# step 3f: the symbols left over

_SYMBOL_RE = re.compile(_alternation(T.SYMBOLS))
_SLASH_WORDS_RE = re.compile(r"(?<=[^\W\d_])/(?=[^\W\d_])")
_UNDERSCORE_WORDS_RE = re.compile(r"(?<=[^\W_])_(?=[^\W_])")


def _symbols(text: str, lang: _Language) -> str:
    text = _SLASH_WORDS_RE.sub(" or ", text)
    text = _UNDERSCORE_WORDS_RE.sub(" ", text)
    text = _SYMBOL_RE.sub(lambda m: f" {T.SYMBOLS[m.group(0)]} ", text)
    text = text.replace("%", " percent ")
    return re.sub(r"[~#*_^|`]", " ", text)


# ---------------------------------------------------------------------------------------
# other languages: plain cardinals and decimals through num2words

_POINT_NUMBER_RE = re.compile(
    r"(?<![\w.,])(-)?(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?![\w]|[.,]\d)"
)
_COMMA_NUMBER_RE = re.compile(
    r"(?<![\w.,])(-)?(\d{1,3}(?:\.\d{3})+(?:,\d+)?|\d+(?:[.,]\d+)?)(?![\w]|[.,]\d)"
)


def _foreign_numbers(text: str, lang: _Language) -> str:
    code = lang.num2words_code
    if not code:
        return text

    def repl(match: Match[str]) -> str:
        number = match.group(2)
        if lang.comma_decimal:
            if re.fullmatch(r"\d{1,3}(?:\.\d{3})+(?:,\d+)?", number):
                number = number.replace(".", "")
            number = number.replace(",", ".")
        else:
            number = number.replace(",", "")
        if len(number.split(".")[0]) > MAX_NUMBER_DIGITS:
            return match.group(0)
        sign = -1 if match.group(1) else 1
        value = sign * Decimal(number) if "." in number else sign * int(number)
        try:
            return str(num2words(value, lang=code))
        except _SAFE_ERRORS:
            return match.group(0)

    pattern = _COMMA_NUMBER_RE if lang.comma_decimal else _POINT_NUMBER_RE
    return pattern.sub(repl, text)


# ---------------------------------------------------------------------------------------
# the pipeline

_Step = Callable[[str, _Language], str]

_ENGLISH_STEPS: Tuple[_Step, ...] = (
    _addresses,
    _phones,
    _abbreviations,
    _dates_and_times,
    _money,
    _numbers,
    _symbols,
)

_SPACE_RE = re.compile(r"[ \t\r\n\f\v]+")
_SPACE_BEFORE_PUNCT_RE = re.compile(r"\s+([,.;:!?])")
_REPEATED_COMMA_RE = re.compile(r",(?:\s*,)+")


def _tidy(text: str) -> str:
    text = _SPACE_RE.sub(" ", text)
    text = _SPACE_BEFORE_PUNCT_RE.sub(r"\1", text)
    text = _REPEATED_COMMA_RE.sub(",", text)
    text = re.sub(r"\(\s*\)|\[\s*\]", "", text)
    return _SPACE_RE.sub(" ", text).strip()


def _run(step: _Step, text: str, lang: _Language) -> str:
    try:
        return step(text, lang)
    except _SAFE_ERRORS:
        return text


def normalize(text: str, language: str = "en-US") -> str:
    """Written text -> the words a voice should say (see the module docstring).

    ``language`` is a BCP-47 tag.  English gets every rule; languages num2words knows get
    Markdown/emoji/URL clean-up and plain numbers; Japanese, Chinese and Korean get only
    Markdown/emoji clean-up.  Never raises; plain words come back unchanged.
    """
    if not isinstance(text, str):
        return ""
    if not text.strip():
        return ""
    lang = _Language(language if isinstance(language, str) else "en-US")
    text = _run(lambda t, _lang: _map_characters(t), text, lang)
    text = _run(lambda t, _lang: clean_markdown(t), text, lang)
    keep: Dict[str, str] = T.SYMBOLS if lang.english else {}
    text = _run(lambda t, _lang: remove_emoji(t, keep), text, lang)
    if lang.english:
        for step in _ENGLISH_STEPS:
            text = _run(step, text, lang)
    elif not lang.keep_text:
        text = _run(lambda t, _lang: _URL_RE.sub(_url_repl(False), t), text, lang)
        text = _run(_foreign_numbers, text, lang)
    return _tidy(text)
