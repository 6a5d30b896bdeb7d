"""Voice presets: stored durably, validated by the voice list, listed and spoken as voices."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, List, Sequence

import numpy as np
import pytest
from wyoming.tts import Synthesize, SynthesizeVoice

from wyoming_polytts.__main__ import _share
from wyoming_polytts.engines.base import VoiceSpec
from wyoming_polytts.engines.zipvoice import ZipVoiceEngine
from wyoming_polytts.lexicon import Lexicon
from wyoming_polytts.presets import Preset, PresetError, PresetStore
from wyoming_polytts.registry import RegistryError, VoiceRegistry
from wyoming_polytts.voices import VoiceCatalog, VoiceNotFoundError
from wyoming_polytts.watcher import DataWatcher

from .fake_engine import FakeEngine, read_until, serve_fake, types
from .helpers import encode, in_processes, voice_like


class JapaneseEngine(FakeEngine):
    """Two voices: one speaks Japanese and English, one cannot speak (no G2P)."""

    name = "japanese"

    def voices(self) -> Sequence[VoiceSpec]:
        return [
            VoiceSpec("jf_fake", ("ja", "en-US"), "jf_fake (fake)", True, "tests", ""),
            VoiceSpec("zf_mute", ("zh",), "zf_mute - no G2P", False, "tests", ""),
        ]


def store_and_catalog(tmp_path: Path) -> tuple[PresetStore, VoiceCatalog]:
    presets = PresetStore(tmp_path / "presets.json")
    return presets, VoiceCatalog([JapaneseEngine()], presets=presets)


def test_a_preset_is_stored_durably_and_read_back_after_a_restart(tmp_path: Path) -> None:
    presets, _ = store_and_catalog(tmp_path)
    preset, created = presets.put("slow", "jf_fake", 0.8, "  Slow   and calm ")
    assert created and preset == Preset("slow", "jf_fake", 0.8, "Slow and calm")
    _, created = presets.put("slow", "jf_fake", 0.7)
    assert not created

    again, catalog = store_and_catalog(tmp_path)
    assert again.list() == [Preset("slow", "jf_fake", 0.7, "")]
    assert catalog.resolve("slow").speed == 0.7
    # no temp files; the lock file that servers sharing the data dir take stays
    assert sorted(p.name for p in tmp_path.iterdir()) == ["presets.json", "presets.json.lock"]

    again.delete("slow")
    assert PresetStore(tmp_path / "presets.json").list() == []


@pytest.mark.parametrize(
    ("name", "voice", "speed", "description", "code"),
    [
        ("Bad Name", "jf_fake", 1.0, None, "invalid-name"),
        ("ok", "", 1.0, None, "bad-voice"),
        ("ok", "jf_fake", 0.1, None, "bad-speed"),
        ("ok", "jf_fake", 5, None, "bad-speed"),
        ("ok", "jf_fake", "fast", None, "bad-speed"),
        ("ok", "jf_fake", True, None, "bad-speed"),
        ("ok", "jf_fake", float("nan"), None, "bad-speed"),
        ("ok", "jf_fake", 1.0, "x" * 201, "bad-description"),
        ("ok", "jf_fake", 1.0, 42, "bad-description"),
        ("jf_fake", "jf_fake", 1.0, None, "name-taken"),  # a voice's name
        ("ok", "nobody", 1.0, None, "unknown-voice"),
        ("ok", "zf_mute", 1.0, None, "not-installed"),  # exists but cannot speak
    ],
)
def test_bad_presets_are_refused_and_nothing_is_stored(
    tmp_path: Path, name: object, voice: object, speed: object, description: object, code: str
) -> None:
    presets, catalog = store_and_catalog(tmp_path)
    with pytest.raises(PresetError) as refused:
        presets.put(name, voice, speed, description)
    assert refused.value.code == code and str(refused.value)
    assert presets.list() == [] and not (tmp_path / "presets.json").exists()
    assert "ok" not in catalog.names()


def test_a_preset_cannot_be_made_of_a_preset_and_post_refuses_an_existing_name(
    tmp_path: Path,
) -> None:
    presets, _ = store_and_catalog(tmp_path)
    presets.put("calm", "jf_fake", 0.9)
    with pytest.raises(PresetError) as refused:
        presets.put("calmer", "calm", 0.9)
    assert refused.value.code == "bad-voice"
    with pytest.raises(PresetError) as refused:
        presets.put("calm", "jf_fake", 1.2, replace=False)
    assert refused.value.code == "name-taken"
    assert presets.get("calm").speed == 0.9


def test_the_voice_list_shows_a_preset_with_its_base_languages(tmp_path: Path) -> None:
    presets, catalog = store_and_catalog(tmp_path)
    presets.put("quick", "jf_fake", 1.25)
    presets.put("story", "jf_fake", 0.8, "Bedtime stories")
    voices = {voice.name: voice for voice in catalog.info().tts[0].voices}
    assert voices["quick"].languages == ["ja", "en-US"] and voices["quick"].installed
    assert voices["quick"].description == "quick (jf_fake, speed 1.25)"
    assert voices["story"].description == "Bedtime stories"
    voice = catalog.resolve("quick")
    assert (voice.engine_voice, voice.speed, voice.engine.name) == ("jf_fake", 1.25, "japanese")
    assert catalog.default("ja").name == "jf_fake"  # a preset is no one's default voice

    presets.delete("quick")
    with pytest.raises(VoiceNotFoundError):
        catalog.resolve("quick")


def test_a_preset_whose_base_is_gone_is_listed_as_not_installed(tmp_path: Path) -> None:
    path = tmp_path / "presets.json"
    path.write_text(json.dumps({"presets": [{"name": "lost", "voice": "af_gone", "speed": 1}]}))
    catalog = VoiceCatalog([JapaneseEngine()], presets=PresetStore(path))
    lost = next(voice for voice in catalog.info().tts[0].voices if voice.name == "lost")
    assert lost.installed is False and "af_gone" in (lost.description or "")


def test_an_unreadable_presets_file_is_set_aside_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "presets.json"
    path.write_text("{ not json")
    presets = PresetStore(path)
    assert presets.list() == []
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("presets.json.corrupt-")]
    assert len(kept) == 1 and kept[0].read_text() == "{ not json"


def test_a_clone_used_by_a_preset_cannot_be_deleted_nor_named_like_one(tmp_path: Path) -> None:
    presets = PresetStore(tmp_path / "presets.json")
    registry = VoiceRegistry(
        tmp_path / "voices",
        ("en-US",),
        is_reserved=presets.__contains__,
        removal_guard=presets.keeping_bases,
    )
    registry.load()
    registry.register("grandma", "Hello there.", "en-US", encode(voice_like(2.0)), "test")
    presets.put("slow-grandma", "grandma", 0.8)

    with pytest.raises(PresetError) as refused:
        registry.delete("grandma")
    assert refused.value.code == "in-use" and "slow-grandma" in str(refused.value)
    assert [clone.name for clone in registry.list()] == ["grandma"]
    with pytest.raises(RegistryError) as taken:
        registry.register("slow-grandma", "Hello.", "en-US", encode(voice_like(2.0)), "test")
    assert taken.value.code == "name-taken"

    presets.delete("slow-grandma")
    registry.delete("grandma")
    assert registry.list() == []


async def test_a_faster_preset_speaks_the_same_words_in_less_time(tmp_path: Path) -> None:
    presets = PresetStore(tmp_path / "presets.json")
    async with serve_fake(presets=presets) as server:
        presets.put("fast-one", "fake_one", 2.0)
        text = "The kitchen lights are on."
        lengths = {}
        async with server.client() as client:
            for name in ("fake_one", "fast-one"):
                voice = SynthesizeVoice(name=name)
                await client.write_event(Synthesize(text=text, voice=voice).event())
                events = await read_until(client, "audio-stop")
                assert "error" not in types(events)
                pcm = b"".join(e.payload or b"" for e in events if e.type == "audio-chunk")
                lengths[name] = len(np.frombuffer(pcm, "<i2"))
        assert server.engine.voices_used == ["fake_one", "fake_one"]  # the base voice speaks
        assert lengths["fast-one"] < 0.6 * lengths["fake_one"]


def shared_names(tmp_path: Path) -> tuple[PresetStore, VoiceRegistry]:
    """Presets and clones that share one voice list, wired as the server wires them."""
    presets = PresetStore(tmp_path / "presets.json")
    registry = VoiceRegistry(
        tmp_path / "voices",
        ("en-US",),
        is_reserved=presets.__contains__,
        removal_guard=presets.keeping_bases,
        claim_guard=presets.held,
    )
    registry.load()
    return presets, registry


def test_a_new_clone_owns_its_name_before_the_voice_list_is_refreshed(tmp_path: Path) -> None:
    presets, registry = shared_names(tmp_path)
    outcomes: List[str] = []

    def preset_of_the_same_name() -> None:
        try:
            presets.put("grandma", "jf_fake")
            outcomes.append("created")
        except PresetError as err:
            outcomes.append(err.code)

    registry.on_change(preset_of_the_same_name)  # runs before the list below is refreshed
    catalog = VoiceCatalog([JapaneseEngine(), ZipVoiceEngine(registry)], presets=presets)
    registry.on_change(catalog.refresh)
    registry.register("grandma", "Hello there.", "en-US", encode(voice_like(2.0)), "test")
    assert outcomes == ["name-taken"]
    assert presets.list() == [] and catalog.resolve("grandma").preset is None


RACE_ROUNDS = 100


def _attempt(start: threading.Barrier, delay: float, create: Callable[[], object]) -> str:
    """`create()` once every party is at `start`, `delay` s later: "created", or the
    refusal's code."""
    start.wait()
    time.sleep(delay)
    try:
        create()
    except (RegistryError, PresetError) as err:
        return err.code
    return "created"


def test_a_clone_and_a_preset_never_take_one_name(tmp_path: Path) -> None:
    """A clone and a preset of one name, created at the same instant: exactly one gets it.

    Each round starts both at once and holds the preset back a little longer than the round
    before (0 to 8 ms, longer than a registration takes), so many rounds meet where a
    registration claims its name.
    """
    presets, registry = shared_names(tmp_path)
    catalog = VoiceCatalog([JapaneseEngine(), ZipVoiceEngine(registry)], presets=presets)
    registry.on_change(catalog.refresh)
    audio = encode(voice_like(2.0))
    registry.prepare(audio)  # decoded once: every registration takes it from the cache

    shared: List[int] = []
    with ThreadPoolExecutor(2) as pool:
        for n in range(RACE_ROUNDS):
            name, start = f"same-{n}", threading.Barrier(2)
            register = partial(registry.register, name, "Hello there.", "en-US", audio, "test")
            clone = pool.submit(_attempt, start, 0.0, register)
            put = partial(presets.put, name, "jf_fake")
            preset = pool.submit(_attempt, start, (n % 40) * 0.0002, put)
            outcomes = sorted([clone.result(), preset.result()])
            assert outcomes in (["created", "created"], ["created", "name-taken"]), outcomes
            if outcomes == ["created", "created"]:
                shared.append(n)
    assert not shared, f"{len(shared)} of {RACE_ROUNDS} names went to a clone and a preset"
    clones = {clone.name for clone in registry.list()}
    assert not clones & {preset.name for preset in presets.list()}
    assert len(clones) + len(presets.list()) == RACE_ROUNDS


# -- several servers on one data dir ---------------------------------------------------------


@dataclass
class Front:
    """What one server keeps of a data dir, wired as `__main__` wires it."""

    presets: PresetStore
    registry: VoiceRegistry
    catalog: VoiceCatalog
    watcher: DataWatcher


def front(data_dir: Path) -> Front:
    presets = PresetStore(data_dir / "presets.json")
    registry = VoiceRegistry(
        data_dir / "voices",
        ("en-US",),
        is_reserved=lambda name: name in ("jf_fake", "zf_mute") or name in presets,
        removal_guard=presets.keeping_bases,
        claim_guard=presets.held,
    )
    registry.load()
    catalog = VoiceCatalog([JapaneseEngine(), ZipVoiceEngine(registry)], presets=presets)
    registry.on_change(catalog.refresh)
    lexicon = Lexicon(data_dir / "lexicon.json", ("en-US", "ja"))
    return Front(presets, registry, catalog, _share(registry, presets, lexicon, catalog))


def test_two_servers_on_one_file_see_each_others_presets_after_a_reread(tmp_path: Path) -> None:
    one, two = front(tmp_path), front(tmp_path)
    heard: List[List[str]] = []
    two.presets.on_change(lambda: heard.append([p.name for p in two.presets.list()]))

    one.presets.put("slow", "jf_fake", 0.8)
    assert two.presets.list() == []  # not polled yet
    assert two.presets.reread()  # the watcher's poll
    assert two.presets.get("slow").speed == 0.8 and heard == [["slow"]]
    assert two.catalog.resolve("slow").speed == 0.8  # the voice list followed (describe)
    assert not two.presets.reread()  # nothing moved since

    two.presets.put("slow", "jf_fake", 0.7)
    two.presets.put("fast", "jf_fake", 1.5)
    assert one.watcher.poll()
    assert [(p.name, p.speed) for p in one.presets.list()] == [("fast", 1.5), ("slow", 0.7)]
    one.presets.delete("fast")
    assert two.watcher.poll() and "fast" not in two.catalog.names()


def test_a_clone_or_preset_not_yet_polled_is_found_when_asked_for(tmp_path: Path) -> None:
    """Saved through one server and asked for through the other a moment later (a load
    balancer in front of both): an unknown name makes the stores be read at once."""
    one, two = front(tmp_path), front(tmp_path)
    one.presets.put("calm", "jf_fake", 0.9)
    assert two.catalog.resolve("calm").speed == 0.9
    one.registry.register("grandma", "Hello there.", "en-US", encode(voice_like(2.0)), "test")
    time.sleep(two.watcher.miss_seconds)  # unknown names reread at most this often
    voice = two.catalog.resolve("grandma")
    assert voice.engine.name == "zipvoice" and "grandma" in two.catalog.names()
    with pytest.raises(VoiceNotFoundError):
        two.catalog.resolve("nobody")


def _save_presets(path: Path, prefix: str, count: int, start: float) -> None:
    """One server saving `count` presets as fast as it can (in a process of its own)."""
    store = PresetStore(path)
    while time.time() < start:
        time.sleep(0.001)
    for index in range(count):
        store.put(f"{prefix}-{index}", "jf_fake", 1.0 + index / 100)


def test_two_servers_saving_presets_at_once_both_keep_every_one(tmp_path: Path) -> None:
    path = tmp_path / "presets.json"
    start = time.time() + 0.5
    in_processes(_save_presets, [(path, prefix, 25, start) for prefix in ("one", "two")])
    names = {preset.name for preset in PresetStore(path).list()}
    assert names == {f"{prefix}-{index}" for prefix in ("one", "two") for index in range(25)}

    # And two stores in one process (each its own lock file descriptor), from threads.
    one, two = PresetStore(path), PresetStore(path)
    with ThreadPoolExecutor(4) as pool:
        for index in range(20):
            pool.submit(one.put, f"three-{index}", "jf_fake")
            pool.submit(two.put, f"four-{index}", "jf_fake")
    assert len(PresetStore(path).list()) == 90


def test_a_broken_or_half_written_file_keeps_the_last_good_presets(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "presets.json"
    one, two = PresetStore(path), PresetStore(path)
    one.put("slow", "jf_fake", 0.8)
    assert two.reread()
    whole = path.read_bytes()
    for damaged in (whole[: len(whole) // 2], b"{ not json", b""):
        path.write_bytes(damaged)  # written in place, as no server writes it
        assert not two.reread() and not two.reread(force=True)
        assert [p.name for p in two.list()] == ["slow"]
    assert caplog.text.count("unreadable") == 3  # once per damaged version, not per poll

    # A change under the lock sets the damaged file aside and writes the last good presets
    # with the change, for every server.
    two.put("fast", "jf_fake", 1.5)
    assert [p.name for p in tmp_path.glob("presets.json.corrupt-*")]
    assert one.reread() and [p.name for p in one.list()] == ["fast", "slow"]


def test_a_clone_and_a_preset_never_take_one_name_across_servers(tmp_path: Path) -> None:
    """A clone registered through one server and a preset saved through another, of one name,
    at once: the presets' file lock, which a registration holds as it takes its name, makes
    exactly one of them get it."""
    one, two = front(tmp_path), front(tmp_path)
    audio = encode(voice_like(2.0))
    one.registry.prepare(audio)

    rounds = 40
    with ThreadPoolExecutor(2) as pool:
        for n in range(rounds):
            name, start = f"same-{n}", threading.Barrier(2)
            register = partial(one.registry.register, name, "Hello.", "en-US", audio, "test")
            clone = pool.submit(_attempt, start, 0.0, register)
            put = partial(two.presets.put, name, "jf_fake")
            preset = pool.submit(_attempt, start, (n % 20) * 0.0004, put)
            outcomes = sorted([clone.result(), preset.result()])
            assert outcomes == ["created", "name-taken"], (n, outcomes)
    clones = {clone.name for clone in one.registry.list()}
    presets = {preset.name for preset in PresetStore(tmp_path / "presets.json").list()}
    assert not clones & presets and len(clones) + len(presets) == rounds
