"""The data watcher: what another server sharing the data dir changed shows up by itself."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import List

import pytest

from wyoming_polytts.lexicon import Lexicon
from wyoming_polytts.presets import PresetStore
from wyoming_polytts.watcher import DataWatcher


def wait_for(condition: threading.Event, seconds: float) -> float:
    """How long `condition` took to be set; fails after `seconds`."""
    began = time.monotonic()
    assert condition.wait(seconds), f"not within {seconds} s"
    return time.monotonic() - began


def test_another_servers_changes_show_up_within_the_interval(tmp_path: Path) -> None:
    mine = PresetStore(tmp_path / "presets.json"), Lexicon(tmp_path / "lexicon.json", ("en-US",))
    theirs = PresetStore(tmp_path / "presets.json"), Lexicon(tmp_path / "lexicon.json", ("en",))
    saw_preset, saw_word = threading.Event(), threading.Event()
    mine[0].on_change(saw_preset.set)
    mine[1].on_change(saw_word.set)
    watcher = DataWatcher(mine, interval=0.1)
    watcher.start()
    try:
        theirs[0].put("slow", "af_heart", 0.8)
        assert wait_for(saw_preset, 2.0) < 1.0
        theirs[1].put("en", "Zigbee", say="zig bee")
        assert wait_for(saw_word, 2.0) < 1.0
    finally:
        watcher.stop()
    assert [p.name for p in mine[0].list()] == ["slow"]
    assert mine[1].apply("Zigbee", "en-US") == "zig bee"


class Flaky:
    """A store whose first reread fails."""

    def __init__(self) -> None:
        self.calls: List[bool] = []

    def reread(self, force: bool = False) -> bool:
        self.calls.append(force)
        if len(self.calls) == 1:
            raise OSError("stale file handle")
        return False


def test_a_failed_reread_is_logged_and_the_watcher_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = Flaky()
    watcher = DataWatcher([store], interval=0.02, verify_seconds=0.1)
    watcher.start()
    time.sleep(0.5)
    watcher.stop()
    assert len(store.calls) > 5 and "Could not reread Flaky" in caplog.text
    assert True in store.calls  # every `verify_seconds` the files are read whatever
    count = len(store.calls)
    time.sleep(0.1)
    assert len(store.calls) == count  # stopped


def test_an_unknown_name_rereads_at_most_every_miss_interval() -> None:
    store = Flaky()
    store.calls.append(False)  # no failure
    watcher = DataWatcher([store], miss_seconds=0.2)
    for _ in range(10):
        watcher.reread_now()
    assert len(store.calls) == 2
    time.sleep(0.25)
    watcher.reread_now()
    assert len(store.calls) == 3
