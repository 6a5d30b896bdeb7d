"""The voice registry: validation, durable storage, recovery after a crash, concurrency."""

from __future__ import annotations

import io
import json
import os
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List

import numpy as np
import pytest
import soundfile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wyoming_polytts.audio import rms_dbfs
from wyoming_polytts.registry import (
    NAME_PATTERN,
    PROMPT_RATE,
    PromptLimits,
    RegistryError,
    VoiceNotFound,
    VoiceRegistry,
)
from wyoming_polytts.settings import DECODE_BLOCK_FRAMES, MAX_AUDIO_RATE, STAGING_STALE_SECONDS

from .helpers import encode, voice_like

LANGUAGES = ("en-US", "zh")
TRANSCRIPT = "The quick brown fox jumps over the lazy dog."


@pytest.fixture
def registry(tmp_path: Path) -> VoiceRegistry:
    registry = VoiceRegistry(
        tmp_path / "voices", LANGUAGES, is_reserved={"af_heart", "jf_alpha"}.__contains__
    )
    registry.load()
    return registry


def refused(registry: VoiceRegistry, code: str, **overrides: object) -> str:
    arguments = {
        "name": "grandma",
        "transcript": TRANSCRIPT,
        "language": "en-US",
        "audio": encode(voice_like(3.0)),
        "source": "test",
    }
    arguments.update(overrides)
    with pytest.raises(RegistryError) as caught:
        registry.register(**arguments)  # type: ignore[arg-type]
    assert caught.value.code == code, str(caught.value)
    assert registry.list() == []
    assert [p for p in registry.root.iterdir()] == []  # nothing written, nothing left over
    return str(caught.value)


def test_a_registered_voice_is_stored_as_mono_24k_trimmed_and_normalized(
    registry: VoiceRegistry,
) -> None:
    voice = registry.register(
        "grandma", f"  {TRANSCRIPT}\n", "en-US", encode(voice_like(3.0)), "upload"
    )
    assert voice.transcript == TRANSCRIPT
    assert voice.sample_rate == PROMPT_RATE
    assert 3.0 <= voice.duration <= 3.0 + 0.1 + 0.2 + 0.02  # kept lead and trail only
    samples, rate = soundfile.read(registry.prompt_path("grandma"), dtype="float32")
    assert rate == PROMPT_RATE and samples.ndim == 1
    assert abs(rms_dbfs(samples) - (-20.0)) < 1.0
    assert registry.list() == [voice]
    assert registry.get("grandma") == voice


def test_a_voice_says_which_part_of_the_recording_was_kept(registry: VoiceRegistry) -> None:
    """voice_like pads 3 s of sound with 0.5 s of silence: trimming keeps 0.1 s before it and
    0.2 s after, so the prompt is the recording from 0.4 s to 3.7 s (to a 10 ms frame)."""
    voice = registry.register("grandma", TRANSCRIPT, "en-US", encode(voice_like(3.0)), "a")
    assert voice.kept is not None
    start, end = voice.kept
    assert abs(start - 0.4) <= 0.011 and abs(end - 3.7) <= 0.011
    assert abs((end - start) - voice.duration) < 0.002
    stored = json.loads((registry.root / "grandma" / "voice.json").read_text())
    assert stored["kept"] == [start, end] and voice.to_dict()["kept"] == [start, end]
    again = VoiceRegistry(registry.root, LANGUAGES)
    again.load()
    assert again.get("grandma").kept == (start, end)


def test_a_voice_stored_before_kept_was_recorded_still_loads(registry: VoiceRegistry) -> None:
    registry.register("old", TRANSCRIPT, "en-US", encode(voice_like(2.0)), "a")
    meta = registry.root / "old" / "voice.json"
    data = json.loads(meta.read_text())
    del data["kept"]
    meta.write_text(json.dumps(data))
    again = VoiceRegistry(registry.root, LANGUAGES)
    again.load()
    assert again.get("old").kept is None and again.get("old").to_dict()["kept"] is None


@pytest.mark.parametrize(
    ("format", "subtype"), [("FLAC", None), ("OGG", "VORBIS"), ("MP3", "MPEG_LAYER_III")]
)
def test_flac_ogg_and_mp3_are_accepted(
    registry: VoiceRegistry, format: str, subtype: str | None
) -> None:
    audio = encode(voice_like(2.0, rate=44100, channels=1), 44100, format, subtype)
    voice = registry.register("clip", TRANSCRIPT, "zh", audio, format)
    assert 1.9 <= voice.duration <= 2.4


def test_voices_survive_a_restart(registry: VoiceRegistry) -> None:
    first = registry.register("one", TRANSCRIPT, "en-US", encode(voice_like(2.0)), "a")
    second = registry.register("two", "你好，世界。", "zh", encode(voice_like(4.0)), "b")
    again = VoiceRegistry(registry.root, LANGUAGES)
    again.load()
    assert again.list() == [first, second]


@pytest.mark.parametrize(
    "name", ["", "Grandma", "-dash", "_under", "a" * 65, "../escape", "a/b", "ünïcode", "a b", 7]
)
def test_bad_names_are_refused(registry: VoiceRegistry, name: object) -> None:
    assert "lowercase" in refused(registry, "invalid-name", name=name)


def test_a_name_is_used_once_and_never_by_a_builtin_voice(registry: VoiceRegistry) -> None:
    assert "taken" in refused(registry, "name-taken", name="af_heart")
    registry.register("grandma", TRANSCRIPT, "en-US", encode(voice_like(2.0)), "a")
    with pytest.raises(RegistryError) as caught:
        registry.register("grandma", TRANSCRIPT, "en-US", encode(voice_like(3.0)), "b")
    assert caught.value.code == "name-taken"
    assert registry.get("grandma").source == "a"


@pytest.mark.parametrize(
    ("audio", "code", "words"),
    [
        (b"this is not audio at all", "not-audio", "not audio"),
        (b"", "not-audio", "not audio"),
        (encode(voice_like(0.5)), "too-short", "at least"),
        (encode(voice_like(12.0)), "too-long", "at most"),
        (encode(np.zeros((48000 * 3, 2), np.float32)), "silent", "silent"),
        (encode(np.sign(voice_like(3.0)) * 1.0), "clipped", "clipped"),
    ],
)
def test_bad_recordings_are_refused(
    registry: VoiceRegistry, audio: bytes, code: str, words: str
) -> None:
    assert words in refused(registry, code, audio=audio)


def test_a_long_file_is_refused_before_it_is_decoded(tmp_path: Path) -> None:
    registry = VoiceRegistry(tmp_path / "voices", LANGUAGES, PromptLimits(max_decoded_seconds=20))
    registry.load()
    # 10 minutes of silence compress to a few kB in FLAC; its header says how long it is.
    audio = encode(np.zeros(8000 * 600, np.float32), 8000, "FLAC")
    assert len(audio) < 200_000
    assert "600 s" in refused(registry, "too-long", audio=audio)


def flac(samples: np.ndarray, rate: int, declared_frames: int | None = None) -> bytes:
    """`samples` as FLAC; `declared_frames` rewrites the length its header announces (the
    36-bit total in STREAMINFO; 0 means unknown), leaving the audio as it is."""
    data = bytearray(encode(samples, rate, "FLAC"))
    if declared_frames is not None:
        assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # STREAMINFO comes first
        field = slice(18, 26)  # sample rate, channels, bits per sample, total samples
        bits = int.from_bytes(data[field], "big") & ~((1 << 36) - 1)
        data[field] = (bits | declared_frames).to_bytes(8, "big")
        assert soundfile.info(io.BytesIO(bytes(data))).frames in (declared_frames, 2**63 - 1)
    return bytes(data)


def quiet_tone(seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    """A soft, steady tone: neither silent nor clipped, and small once compressed."""
    t = np.arange(int(seconds * rate), dtype=np.float32) / rate
    mono = (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    return np.stack([mono] * channels, axis=1) if channels > 1 else mono


@pytest.mark.parametrize(
    ("rate", "channels", "declared_seconds", "code", "words"),
    [
        # The 330 KB file that cost 1.6 GB: FLAC's highest rate and 8 channels, 59 s long.
        (655_350, 8, 59, "unsupported-audio", "655350 Hz"),
        (4_000, 1, None, "unsupported-audio", "4000 Hz"),
        (16_000, 16, None, "unsupported-audio", "16 channels"),  # a WAV: FLAC stops at 8
        (MAX_AUDIO_RATE, 8, 59, "too-long", "90.6 million samples"),
    ],
)
def test_a_header_out_of_bounds_is_refused_before_decoding(
    registry: VoiceRegistry,
    rate: int,
    channels: int,
    declared_seconds: int | None,
    code: str,
    words: str,
) -> None:
    samples = quiet_tone(0.2, rate, channels)  # the header announces the rest
    if channels > 8:
        audio = encode(samples, rate)
    else:
        declared = None if declared_seconds is None else declared_seconds * rate
        audio = flac(samples, rate, declared)
    assert words in refused(registry, code, audio=audio)


def decode_peak(registry: VoiceRegistry, audio: bytes) -> tuple[str, int]:
    """What `prepare` says of `audio` (a refusal's code, or "ok") and the most memory it held."""
    tracemalloc.start()
    try:
        registry.prepare(audio)
        outcome = "ok"
    except RegistryError as err:
        outcome = f"{err.code}: {err}"
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return outcome, peak


def test_a_header_that_announces_more_than_the_file_holds_costs_no_memory(
    registry: VoiceRegistry,
) -> None:
    # 48 kHz stereo announcing 59 s (22.7 MB as float32) while holding 2.5 s: cut short.
    audio = flac(voice_like(1.5, 48_000, 2), 48_000, declared_frames=59 * 48_000)
    outcome, peak = decode_peak(registry, audio)
    # Blocks of the file, the resampled prompt (2.5 s at 24 kHz), never the announced 59 s.
    assert peak < 16 * DECODE_BLOCK_FRAMES * 2 * 4, peak
    assert outcome.startswith("not-audio") and "whole" in outcome, outcome


def test_a_file_of_unknown_length_is_decoded_only_up_to_the_limit(tmp_path: Path) -> None:
    registry = VoiceRegistry(tmp_path / "voices", LANGUAGES, PromptLimits(max_decoded_seconds=5))
    registry.load()
    # 70 s whose header does not say how long it is: decoding must stop after 5 s by itself.
    audio = flac(quiet_tone(70, 48_000), 48_000, declared_frames=0)
    outcome, peak = decode_peak(registry, audio)
    assert outcome.startswith("too-long") and "more than 5 s" in outcome, outcome
    held = 70 * PROMPT_RATE * 4  # the whole, resampled: what decoding to the end would keep
    assert peak < held / 4, peak


def test_a_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    registry = VoiceRegistry(tmp_path / "voices", LANGUAGES, PromptLimits(max_bytes=100_000))
    registry.load()
    assert "limit" in refused(registry, "too-large", audio=encode(voice_like(3.0)))


@pytest.mark.parametrize("transcript", ["", "   \n ", None, 42, "x" * 501])
def test_bad_transcripts_are_refused(registry: VoiceRegistry, transcript: object) -> None:
    refused(registry, "bad-transcript", transcript=transcript)


def test_a_language_clones_cannot_speak_is_refused(registry: VoiceRegistry) -> None:
    assert "en-US, zh" in refused(registry, "unsupported-language", language="ja")


@pytest.mark.parametrize("language", ["en-GB", "en-AU", "english", "", " ", "-", None, 7])
def test_unknown_language_tags_are_refused_with_the_accepted_ones(
    tmp_path: Path, language: object
) -> None:
    registry = VoiceRegistry(tmp_path / "voices", ("en-US", "zh"))
    registry.load()
    assert "en-US, zh" in refused(registry, "unsupported-language", language=language)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("en-US", "en-US"),
        ("en-us", "en-US"),
        ("EN-US", "en-US"),
        ("en_US", "en-US"),
        (" en-us ", "en-US"),
        ("en", "en-US"),  # the first clone language that is English
        ("EN", "en-US"),
        ("en-gb", "en-GB"),
        ("en_gb", "en-GB"),
        ("zh", "zh"),
        ("ZH", "zh"),
        ("zh-CN", "zh"),  # a region of a bare registry language is that language
        ("zh_Hans_CN", "zh"),
    ],
)
def test_language_tags_are_case_insensitive_and_stored_canonically(
    tmp_path: Path, given: str, stored: str
) -> None:
    registry = VoiceRegistry(tmp_path / "voices", ("en-US", "en-GB", "zh"))
    registry.load()
    voice = registry.register("grandma", TRANSCRIPT, given, encode(voice_like(2.0)), "a")
    assert voice.language == stored
    again = VoiceRegistry(registry.root, ("en-US", "en-GB", "zh"))
    again.load()
    assert again.get("grandma").language == stored


def test_delete_removes_the_voice_and_its_files(registry: VoiceRegistry) -> None:
    registry.register("grandma", TRANSCRIPT, "en-US", encode(voice_like(2.0)), "a")
    registry.delete("grandma")
    assert registry.list() == []
    assert list(registry.root.iterdir()) == []
    with pytest.raises(VoiceNotFound):
        registry.delete("grandma")
    with pytest.raises(VoiceNotFound):
        registry.prompt_path("grandma")


def test_listeners_hear_of_every_change(registry: VoiceRegistry) -> None:
    calls: List[int] = []
    registry.on_change(lambda: calls.append(len(registry.list())))
    registry.register("grandma", TRANSCRIPT, "en-US", encode(voice_like(2.0)), "a")
    registry.delete("grandma")
    assert calls == [1, 0]


def test_leftovers_of_a_crash_are_cleaned_and_whole_voices_kept(registry: VoiceRegistry) -> None:
    kept = registry.register("kept", TRANSCRIPT, "en-US", encode(voice_like(2.0)), "a")
    root = registry.root
    # A registration that died before its rename, an hour ago: a hidden folder with part of
    # its files.
    incoming = root / ".incoming-new-0123"
    incoming.mkdir()
    (incoming / "prompt.wav").write_bytes(b"RIFF half")
    stale = time.time() - STAGING_STALE_SECONDS - 60
    os.utime(incoming, (stale, stale))
    # A registration in progress in another server sharing the folder: left alone.
    (root / ".incoming-other-89ab").mkdir()
    # A deletion that died between its rename and the removal.
    (root / ".deleted-old-4567").mkdir()
    # A folder whose audio no longer matches its checksum (damaged on disk): not served.
    damaged = root / "damaged"
    damaged.mkdir()
    (damaged / "prompt.wav").write_bytes(b"not the original")
    (damaged / "voice.json").write_text(json.dumps({**kept.to_dict(), "name": "damaged"}))

    again = VoiceRegistry(root, LANGUAGES)
    again.load()
    assert again.list() == [kept]
    assert sorted(p.name for p in root.iterdir()) == [".incoming-other-89ab", "damaged", "kept"]


def test_a_crash_before_the_rename_leaves_no_voice(
    registry: VoiceRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(source: object, target: object) -> None:
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(KeyboardInterrupt):
        registry.register("grandma", TRANSCRIPT, "en-US", encode(voice_like(2.0)), "a")
    monkeypatch.undo()
    assert registry.list() == []
    again = VoiceRegistry(registry.root, LANGUAGES)
    again.load()
    assert again.list() == []
    assert list(registry.root.iterdir()) == []


def test_concurrent_registrations_of_one_name_store_exactly_one(registry: VoiceRegistry) -> None:
    audio = [encode(voice_like(2.0 + index * 0.1)) for index in range(6)]
    outcomes: List[str] = []

    def attempt(index: int) -> None:
        try:
            registry.register("shared", TRANSCRIPT, "en-US", audio[index], f"try {index}")
            outcomes.append("stored")
        except RegistryError as err:
            outcomes.append(err.code)

    threads = [threading.Thread(target=attempt, args=(index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["name-taken"] * 5 + ["stored"]
    assert [p.name for p in registry.root.iterdir()] == ["shared"]
    winner = registry.get("shared")
    again = VoiceRegistry(registry.root, LANGUAGES)
    again.load()
    assert again.list() == [winner]


AUDIO = encode(voice_like(2.0))


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    name=st.one_of(
        st.text(max_size=70), st.from_regex(r"[a-z0-9][a-z0-9_-]{0,63}", fullmatch=True)
    ),
    transcript=st.text(max_size=600),
)
def test_any_name_and_transcript_is_stored_inside_the_registry_or_refused(
    tmp_path_factory: pytest.TempPathFactory, name: str, transcript: str
) -> None:
    root = tmp_path_factory.mktemp("fuzz") / "voices"
    registry = VoiceRegistry(root, LANGUAGES)
    registry.load()
    try:
        voice = registry.register(name, transcript, "en-US", AUDIO, "fuzz")
    except RegistryError as err:
        assert err.code in {"invalid-name", "bad-transcript"}
        assert list(root.iterdir()) == []
    else:
        assert NAME_PATTERN.fullmatch(name) and voice.transcript.strip()
        assert [p.name for p in root.iterdir()] == [name]
    assert sorted(p.name for p in root.parent.iterdir()) == ["voices"]  # nothing outside


# -- several servers on one data dir ---------------------------------------------------------


def test_two_servers_on_one_folder_see_each_others_voices_after_a_reread(
    registry: VoiceRegistry,
) -> None:
    other = VoiceRegistry(registry.root, LANGUAGES)
    other.load()
    heard: List[List[str]] = []
    other.on_change(lambda: heard.append([voice.name for voice in other.list()]))

    voice = registry.register("grandma", TRANSCRIPT, "en-US", encode(voice_like(2.0)), "a")
    assert other.list() == []  # not polled yet
    assert other.reread() and other.get("grandma") == voice and heard == [["grandma"]]
    assert other.prompt_samples("grandma").size == round(voice.duration * PROMPT_RATE)
    assert not other.reread() and not other.reread(force=True)  # nothing moved since

    other.delete("grandma")
    other.register("grandpa", TRANSCRIPT, "en-US", encode(voice_like(2.5)), "b")
    assert registry.reread()
    assert [v.name for v in registry.list()] == ["grandpa"]
    with pytest.raises(VoiceNotFound):  # deleted through the other server a moment ago
        registry.delete("grandma")


def test_a_name_registered_through_two_servers_at_once_goes_to_one(
    registry: VoiceRegistry,
) -> None:
    """Neither server knows of the other's registration: renaming the folder into place
    decides, and the other server is told `name-taken`."""
    other = VoiceRegistry(registry.root, LANGUAGES)
    other.load()
    audio = encode(voice_like(2.0))
    registry.prepare(audio)
    other.prepare(audio)

    def attempt(store: VoiceRegistry, name: str, start: threading.Barrier) -> str:
        start.wait()
        try:
            store.register(name, TRANSCRIPT, "en-US", audio, "race")
        except RegistryError as err:
            return err.code
        return "stored"

    for round_ in range(30):
        name, start = f"shared-{round_}", threading.Barrier(2)
        with ThreadPoolExecutor(2) as pool:
            tries = [pool.submit(attempt, store, name, start) for store in (registry, other)]
            outcomes = sorted(future.result() for future in tries)
        assert outcomes == ["name-taken", "stored"], outcomes
    registry.reread()
    other.reread()
    assert registry.list() == other.list() and len(registry.list()) == 30
    assert not [p for p in registry.root.iterdir() if p.name.startswith(".")]  # no leftovers


def test_a_voice_folder_damaged_on_disk_keeps_its_last_good_voice(
    registry: VoiceRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    voice = registry.register("grandma", TRANSCRIPT, "en-US", encode(voice_like(2.0)), "a")
    other = VoiceRegistry(registry.root, LANGUAGES)
    other.load()
    (registry.root / "grandma" / "voice.json").write_text('{"name": "gran')  # half written
    broken = registry.root / "broken"  # a folder being copied in by hand, say
    broken.mkdir()
    assert not other.reread() and not other.reread(force=True)
    assert other.get("grandma") == voice
    assert caplog.text.count("Ignoring") == 2  # each damaged folder logged once, not per poll


def test_a_registration_in_progress_in_another_server_is_left_alone(
    registry: VoiceRegistry,
) -> None:
    staging = registry.root / ".incoming-grandma-0123"
    staging.mkdir()
    (staging / "prompt.wav").write_bytes(b"RIFF")
    other = VoiceRegistry(registry.root, LANGUAGES)
    other.load()  # a server starting meanwhile
    assert not other.reread() and other.list() == []
    assert staging.exists()
