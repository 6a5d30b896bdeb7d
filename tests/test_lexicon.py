"""The pronunciation lexicon: storage, validation, durability and applying it to text."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wyoming_polytts.engines.base import (
    PHONEMES_END,
    PHONEMES_START,
    PHONEMES_WRITTEN,
    split_phonemes_runs,
)
from wyoming_polytts.lexicon import Lexicon, LexiconEntry, LexiconError

from .helpers import in_processes

LANGUAGES = ("en-US", "en-GB", "zh", "ja")


@pytest.fixture
def lexicon(tmp_path: Path) -> Lexicon:
    return Lexicon(tmp_path / "lexicon.json", LANGUAGES)


def ipa(phonemes: str, written: str = "") -> str:
    said = f"{PHONEMES_WRITTEN}{written}" if written else ""
    return f"{PHONEMES_START}{phonemes}{said}{PHONEMES_END}"


# -- storing --------------------------------------------------------------------------------


def test_put_get_and_delete(lexicon: Lexicon) -> None:
    changes = []
    lexicon.on_change(lambda: changes.append(1))
    entry = lexicon.put("en-us", "Zigbee", say="zig bee")
    assert entry == LexiconEntry("en-US", "Zigbee", "zig bee", None, False)
    assert entry.to_dict() == {
        "language": "en-US",
        "word": "Zigbee",
        "say": "zig bee",
        "phonemes": None,
        "case_sensitive": False,
    }
    assert lexicon.get("en-US", "zigbee") == entry
    assert lexicon.entries() == [entry]
    replaced = lexicon.put("en-US", "ZIGBEE", phonemes="/ˈzɪɡbiː/")
    assert replaced.phonemes == "ˈzɪɡbiː"  # one entry per word; slashes dropped
    assert lexicon.entries() == [replaced]
    assert lexicon.delete("en-US", "Zigbee") == replaced
    assert lexicon.entries() == []
    assert len(changes) == 3
    with pytest.raises(LexiconError) as caught:
        lexicon.delete("en-US", "Zigbee")
    assert caught.value.code == "not-found"


def test_a_case_sensitive_entry_stands_beside_a_plain_one(lexicon: Lexicon) -> None:
    lexicon.put("en", "us", say="us")
    lexicon.put("en", "US", say="you ess", case_sensitive=True)
    assert len(lexicon.entries()) == 2
    assert lexicon.apply("the US and us", "en-US") == "the you ess and us"
    assert lexicon.delete("en", "US").case_sensitive
    assert [e.word for e in lexicon.entries()] == ["us"]


def test_entries_survive_a_restart_and_the_file_is_plain_json(tmp_path: Path) -> None:
    path = tmp_path / "data" / "lexicon.json"
    first = Lexicon(path, LANGUAGES)
    first.put("en", "HVAC", say="H vac", case_sensitive=True)
    first.put("zh", "小明", phonemes="ɕjɑʊmiŋ")
    again = Lexicon(path, LANGUAGES)
    assert again.entries() == first.entries()
    assert json.loads(path.read_text("utf-8"))["entries"][0]["word"] == "HVAC"
    # no temp files; the lock file that servers sharing the data dir take stays
    assert sorted(p.name for p in path.parent.iterdir()) == ["lexicon.json", "lexicon.json.lock"]


def test_entries_of_languages_no_longer_spoken_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "lexicon.json"
    Lexicon(path, ("de-DE",)).put("de", "Zigbee", say="tsig bee")
    english_only = Lexicon(path, ("en-US",))
    assert [e.language for e in english_only.entries()] == ["de"]
    english_only.put("en", "Zigbee", say="zig bee")
    assert len(Lexicon(path, ("de-DE",)).entries()) == 2


@pytest.mark.parametrize("content", [b"{not json", b"[]", b'{"entries": 3}', b"\xff\xfe"])
def test_an_unreadable_file_is_set_aside_not_lost(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "lexicon.json"
    path.write_bytes(content)
    lexicon = Lexicon(path, LANGUAGES)
    assert lexicon.entries() == []
    [aside] = tmp_path.glob("lexicon.json.corrupt-*")
    assert aside.read_bytes() == content and not path.exists()
    assert "unreadable" in caplog.text
    lexicon.put("en", "Zigbee", say="zig bee")
    assert len(Lexicon(path, LANGUAGES).entries()) == 1


def test_invalid_entries_are_set_aside_and_the_valid_ones_kept(tmp_path: Path) -> None:
    path = tmp_path / "lexicon.json"
    good = {"language": "en", "word": "Zigbee", "say": "zig bee", "phonemes": None}
    document: Dict[str, Any] = {"version": 1, "entries": [good, {"word": 3}, "junk"]}
    path.write_text(json.dumps(document))
    assert [e.word for e in Lexicon(path, LANGUAGES).entries()] == ["Zigbee"]
    [aside] = tmp_path.glob("lexicon.json.corrupt-*")
    assert json.loads(aside.read_text()) == document
    assert [e.word for e in Lexicon(path, LANGUAGES).entries()] == ["Zigbee"]


def test_parallel_puts_all_land(tmp_path: Path) -> None:
    path = tmp_path / "lexicon.json"
    lexicon = Lexicon(path, LANGUAGES)
    words = [f"Room {letter}" for letter in "ABCDEFGHIJKLMNOP"]
    threads = [
        threading.Thread(target=lexicon.put, args=("en", w), kwargs={"say": w}) for w in words
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(Lexicon(path, LANGUAGES).entries()) == len(words)


# -- several servers on one data dir ---------------------------------------------------------


def test_two_servers_on_one_file_see_each_others_entries_after_a_reread(tmp_path: Path) -> None:
    path = tmp_path / "lexicon.json"
    one, two = Lexicon(path, LANGUAGES), Lexicon(path, LANGUAGES)
    heard: List[int] = []
    two.on_change(lambda: heard.append(len(two.entries())))
    assert two.apply("Zigbee", "en-US") == "Zigbee"  # the pattern is compiled and kept

    one.put("en", "Zigbee", say="zig bee")
    assert two.apply("Zigbee", "en-US") == "Zigbee"  # not polled yet
    assert two.reread() and heard == [1]  # the watcher's poll
    assert two.apply("Zigbee", "en-US") == "zig bee"  # the kept pattern was dropped
    assert not two.reread()  # nothing moved since

    two.delete("en", "Zigbee")
    two.put("en", "HVAC", say="H vac", case_sensitive=True)
    assert one.reread()
    assert [entry.word for entry in one.entries()] == ["HVAC"]
    assert one.apply("Zigbee and HVAC", "en-GB") == "Zigbee and H vac"


def _put_words(path: Path, prefix: str, count: int, start: float) -> None:
    """One server adding `count` words as fast as it can (in a process of its own)."""
    lexicon = Lexicon(path, LANGUAGES)
    while time.time() < start:
        time.sleep(0.001)
    for index in range(count):
        lexicon.put("en", f"{prefix} {index}", say=f"{prefix} number {index}")


def test_two_servers_adding_words_at_once_both_keep_every_one(tmp_path: Path) -> None:
    path = tmp_path / "lexicon.json"
    start = time.time() + 0.5
    in_processes(_put_words, [(path, prefix, 25, start) for prefix in ("Kitchen", "Garage")])
    words = {entry.word for entry in Lexicon(path, LANGUAGES).entries()}
    assert words == {f"{prefix} {index}" for prefix in ("Kitchen", "Garage") for index in range(25)}

    # Two lexicons of one process (each its own lock file descriptor), from threads.
    one, two = Lexicon(path, LANGUAGES), Lexicon(path, LANGUAGES)
    with ThreadPoolExecutor(4) as pool:
        for index in range(20):
            pool.submit(one.put, "en", f"Attic {index}", say="attic")
            pool.submit(two.delete, "en", f"Garage {index}")
    words = {entry.word for entry in Lexicon(path, LANGUAGES).entries()}
    assert len(words) == 50 and not any(word.startswith("Garage 1") for word in words)


def test_a_broken_or_half_written_file_keeps_the_last_good_entries(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "lexicon.json"
    one, two = Lexicon(path, LANGUAGES), Lexicon(path, LANGUAGES)
    one.put("en", "Zigbee", say="zig bee")
    assert two.reread()
    whole = path.read_bytes()
    for damaged in (whole[: len(whole) // 2], b"\xff\xfe", b"[]"):
        path.write_bytes(damaged)  # written in place, as no server writes it
        assert not two.reread() and not two.reread(force=True)
        assert two.apply("Zigbee", "en-US") == "zig bee"
    assert caplog.text.count("unreadable") == 3  # once per damaged version, not per poll

    # A change under the lock sets the damaged file aside and writes the last good entries
    # with the change, for every server.
    two.put("en", "HVAC", say="H vac")
    assert len(list(tmp_path.glob("lexicon.json.corrupt-*"))) == 1
    assert one.reread() and [e.word for e in one.entries()] == ["HVAC", "Zigbee"]


BAD_PUTS = [
    ({"language": "de"}, "bad-language"),
    ({"language": "en-AU"}, "bad-language"),
    ({"language": ""}, "bad-language"),
    ({"language": 3}, "bad-language"),
    ({"word": ""}, "bad-word"),
    ({"word": "   "}, "bad-word"),
    ({"word": "x" * 65}, "bad-word"),
    ({"word": "123"}, "bad-word"),
    ({"word": "--"}, "bad-word"),
    ({"word": "a\nb"}, "bad-word"),
    ({"word": "a\x00"}, "bad-word"),
    ({"word": "Zig/bee"}, "bad-word"),
    ({"word": "Zig_bee"}, "bad-word"),
    ({"word": "<b>"}, "bad-word"),
    ({"word": f"a{PHONEMES_START}"}, "bad-word"),
    ({"word": None}, "bad-word"),
    ({"say": None}, "bad-request"),
    ({"say": "zig bee", "phonemes": "zɪɡbiː"}, "bad-request"),
    ({"say": ""}, "bad-say"),
    ({"say": "x" * 201}, "bad-say"),
    ({"say": "zig\tbee"}, "bad-say"),
    ({"say": 5}, "bad-say"),
    ({"say": None, "phonemes": ""}, "bad-phonemes"),
    ({"say": None, "phonemes": "zɪɡbiː1"}, "bad-phonemes"),
    ({"say": None, "phonemes": "[zɪɡbiː]"}, "bad-phonemes"),
    ({"say": None, "phonemes": "zɪɡ/biː"}, "bad-phonemes"),
    ({"say": None, "phonemes": f"zɪɡ{PHONEMES_END}"}, "bad-phonemes"),
    ({"say": None, "phonemes": "ɪ" * 201}, "bad-phonemes"),
    ({"case_sensitive": "yes"}, "bad-request"),
]


@pytest.mark.parametrize(("change", "code"), BAD_PUTS)
def test_bad_entries_are_refused_with_a_reason(
    lexicon: Lexicon, change: Dict[str, Any], code: str
) -> None:
    fields: Dict[str, Any] = {"language": "en-US", "word": "Zigbee", "say": "zig bee"}
    fields.update(change)
    with pytest.raises(LexiconError) as caught:
        lexicon.put(**fields)
    assert caught.value.code == code and str(caught.value)
    assert lexicon.entries() == []
    assert not lexicon.path.exists()


@pytest.mark.parametrize(
    "word", ["Zigbee", "O'Brien", "Living room", "Dr.", "Wi-Fi", "Ölstraße", "小明", "R2-D2"]
)
def test_household_words_are_accepted(lexicon: Lexicon, word: str) -> None:
    assert lexicon.put("en", f"  {word} ", say="x").word == word


def test_words_with_several_spaces_are_collapsed(lexicon: Lexicon) -> None:
    assert lexicon.put("en", "living    room", say="lounge").word == "living room"
    assert lexicon.get("en", "living room").say == "lounge"


# -- applying -------------------------------------------------------------------------------


def test_only_whole_words_are_replaced(lexicon: Lexicon) -> None:
    lexicon.put("en", "Zigbee", say="zig bee")
    assert lexicon.apply("Zigbee, zigbee! Zigbees ZigbeeHub", "en-US") == (
        "zig bee, zig bee! Zigbees ZigbeeHub"
    )
    assert lexicon.apply("my Zigbee's range; (Zigbee)-based", "en-US") == (
        "my zig bee's range; (zig bee)-based"
    )
    lexicon.put("en", "Zigbees", say="zig beez")
    assert lexicon.apply("two Zigbees", "en-US") == "two zig beez"


def test_case_sensitive_entries_match_only_their_spelling(lexicon: Lexicon) -> None:
    lexicon.put("en", "HVAC", say="H vac", case_sensitive=True)
    lexicon.put("en", "Nest", say="nest thermostat")
    assert lexicon.apply("HVAC hvac Hvac", "en-US") == "H vac hvac Hvac"
    assert lexicon.apply("NEST nest", "en-US") == "nest thermostat nest thermostat"


def test_the_longest_entry_wins_and_phrases_span_any_spacing(lexicon: Lexicon) -> None:
    lexicon.put("en", "living", say="LIVING")
    lexicon.put("en", "living room", say="lounge")
    assert lexicon.apply("the Living\n  room and living area", "en-GB") == (
        "the lounge and LIVING area"
    )


def test_entries_apply_to_their_language_and_its_variants(lexicon: Lexicon) -> None:
    lexicon.put("en", "tomato", say="to-may-to")
    lexicon.put("en-GB", "tomato", say="to-mah-to")
    lexicon.put("en-GB", "aluminium", say="al-you-min-ium")
    lexicon.put("zh", "HVAC", say="暖通空调")
    assert lexicon.apply("tomato aluminium", "en-US") == "to-may-to aluminium"
    assert lexicon.apply("tomato aluminium", "en_gb") == "to-mah-to al-you-min-ium"
    assert lexicon.apply("tomato aluminium", "en") == "to-may-to aluminium"
    assert lexicon.apply("HVAC", "zh-CN") == "暖通空调"
    assert lexicon.apply("HVAC tomato", "ja") == "HVAC tomato"
    assert lexicon.apply("HVAC tomato", "") == "HVAC tomato"


def test_phoneme_entries_are_marked_for_the_engine(lexicon: Lexicon) -> None:
    lexicon.put("en", "Siobhan", phonemes="ʃɪˈvɔːn")
    spoken = lexicon.apply("Call Siobhan now.", "en-US")
    assert spoken == f"Call {ipa('ʃɪˈvɔːn', 'Siobhan')} now."  # the word, for captions
    assert split_phonemes_runs(spoken) == [(False, "Call "), (True, "ʃɪˈvɔːn"), (False, " now.")]


def test_replacements_are_not_replaced_again(lexicon: Lexicon) -> None:
    lexicon.put("en", "bee", say="BEE")
    lexicon.put("en", "Zigbee", say="zig bee")
    assert lexicon.apply("Zigbee bee", "en-US") == "zig bee BEE"


def test_a_change_rebuilds_the_pattern(lexicon: Lexicon) -> None:
    assert lexicon.apply("Zigbee", "en-US") == "Zigbee"
    lexicon.put("en", "Zigbee", say="zig bee")
    assert lexicon.apply("Zigbee", "en-US") == "zig bee"
    lexicon.delete("en", "Zigbee")
    assert lexicon.apply("Zigbee", "en-US") == "Zigbee"


@given(text=st.text(), language=st.sampled_from(["en-US", "en", "zh", "xx", "", "EN_gb"]))
def test_apply_never_raises(text: str, language: str) -> None:
    result = FUZZ_LEXICON.apply(text, language)
    assert isinstance(result, str)
    if language in ("xx", ""):
        assert result == text


def _fuzz_lexicon() -> Lexicon:
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="lexicon-fuzz-"))
    lexicon = Lexicon(folder / "lexicon.json", LANGUAGES)
    lexicon.put("en", "Zigbee", say="zig bee")
    lexicon.put("en", "HVAC", say="H vac", case_sensitive=True)
    lexicon.put("en-US", "living room", phonemes="ˈlɪvɪŋ ɹuːm")
    lexicon.put("en", "O'Brien", say="oh bryan")
    lexicon.put("en", "Dr.", say="doctor")
    lexicon.put("zh", "小明", say="xiao ming")
    lexicon.put("en", "straße", say="strasse")
    lexicon.put("en", "İstanbul", say="istanbul")
    return lexicon


FUZZ_LEXICON = _fuzz_lexicon()
