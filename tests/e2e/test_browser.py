"""The admin page in a real browser: sign in, register (file and microphone), list, delete.

Runs headless Debian Chromium (`/usr/bin/chromium`) through Playwright's Python client; no
browser is downloaded. Skipped when either is missing, unless POLYTTS_REQUIRE_BROWSER=1
(as in CI), where a missing browser is a failure.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List

import numpy as np
import pytest
from wyoming.tts import Synthesize, SynthesizeVoice

from wyoming_polytts import transcriber
from wyoming_polytts.intelligibility import word_error_rate

from ..helpers import (
    ADMIN_TOKEN,
    RunningServer,
    collect,
    describe,
    encode,
    samples,
    wait_until_ready,
)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _browser_or_skip() -> None:
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package")
    if not Path(CHROMIUM).exists():
        missing.append("Debian's chromium")
    if missing:
        message = f"needs {' and '.join(missing)} (script/setup --browser installs them)"
        if os.environ.get("POLYTTS_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)


def _voice_names(server: RunningServer) -> List[str]:
    async def names() -> List[str]:
        async with server.client() as client:
            return [voice.name for voice in (await describe(client)).tts[0].voices]

    # Playwright's sync API runs an event loop in this thread; ask from another one.
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, names()).result()


def _kokoro_recording(server: RunningServer, text: str) -> bytes:
    """A WAV of `text` spoken by the server itself, to stand in for a person's recording."""

    async def speak() -> bytes:
        async with server.client() as client:
            voice = SynthesizeVoice(name="af_heart")
            await client.write_event(Synthesize(text=text, voice=voice).event())
            return (await collect(client, "audio-stop")).pcm()

    with ThreadPoolExecutor(1) as thread:
        pcm = thread.submit(asyncio.run, speak()).result()
    return encode(samples(pcm), rate=24000)


def test_register_list_and_delete_in_a_browser(server: RunningServer, tmp_path: Path) -> None:
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    spoken = "Hello there, this is grandma speaking."
    if transcriber.available():  # Whisper loads in the background after start-up
        with ThreadPoolExecutor(1) as thread:
            ready = wait_until_ready(str(server.http_url), "transcriber")
            thread.submit(asyncio.run, ready).result()
    recording = tmp_path / "grandma.wav"
    recording.write_bytes(_kokoro_recording(server, spoken))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"],
        )
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
            page.on("dialog", lambda dialog: dialog.accept())
            page.goto(str(server.http_url))
            expect(page.locator("#login")).to_be_visible()
            expect(page.locator("#register")).to_be_hidden()

            page.fill("input[name=token]", "wrong token")
            page.click("#login-form button")
            expect(page.locator("#login-error")).to_contain_text("not the admin token")
            page.fill("input[name=token]", ADMIN_TOKEN)
            page.click("#login-form button")
            expect(page.locator("#register")).to_be_visible()
            expect(page.locator("#url-field")).to_be_hidden()  # no --allow-url-download

            page.set_input_files("#audio-file", str(recording))
            transcript = page.locator("textarea[name=transcript]")
            if transcriber.available():  # the server fills in what the recording says
                expect(transcript).to_have_value(re.compile("grandma", re.I), timeout=60_000)
                assert word_error_rate(spoken, transcript.input_value()) <= 0.2
                expect(page.locator("#language")).to_have_value("en-US")
            else:
                page.fill("textarea[name=transcript]", spoken)
            # A name already taken (by a Kokoro voice) is refused next to the form.
            page.fill("input[name=name]", "jf_alpha")
            page.click("#register-button")
            expect(page.locator("#register-error")).to_contain_text("already taken")

            page.fill("input[name=name]", "grandma")
            page.fill("textarea[name=transcript]", spoken)
            page.click("#register-button")
            expect(page.locator("#register-ok")).to_contain_text("Registered grandma")
            clone = page.locator("#voices li[data-voice=grandma]")
            expect(clone).to_contain_text("Hello there, this is grandma speaking.")
            prompt_player = clone.locator("audio[src]")
            expect(prompt_player).to_have_attribute("src", "api/voices/grandma/prompt")
            page.screenshot(path=str(tmp_path / "admin-page.png"), full_page=True)
            assert "grandma" in _voice_names(server)

            # Signed out, the clone is still listed, but its transcript and prompt are private.
            page.click("#logout")
            expect(page.locator("#login")).to_be_visible()
            expect(clone).to_be_visible()
            expect(clone).not_to_contain_text("this is grandma speaking")
            expect(clone.locator("audio[src]")).to_have_count(0)
            expect(page.locator("#list-error")).to_have_text("")
            page.fill("input[name=token]", ADMIN_TOKEN)
            page.click("#login-form button")
            expect(page.locator("#register")).to_be_visible()
            expect(prompt_player).to_have_attribute("src", "api/voices/grandma/prompt")

            # Recorded in the browser (Chromium's fake microphone plays a tone).
            page.click("#record")
            expect(page.locator("#record")).to_have_text("Stop")
            page.wait_for_timeout(2500)
            page.click("#record")
            expect(page.locator("#recorded")).to_be_visible()
            page.fill("input[name=name]", "from-the-mic")
            page.fill("textarea[name=transcript]", "A tone from the fake microphone.")
            page.click("#register-button")
            expect(page.locator("#register-ok")).to_contain_text("Registered from-the-mic")
            assert {"grandma", "from-the-mic"} <= set(_voice_names(server))

            for name in ("grandma", "from-the-mic"):
                page.click(f"#voices li[data-voice={name}] button.danger")
                expect(page.locator(f"#voices li[data-voice={name}]")).to_have_count(0)
            names = _voice_names(server)
            assert "grandma" not in names and "from-the-mic" not in names
        finally:
            browser.close()


def test_the_dialogue_builder_plays_and_saves_a_two_voice_dialogue(
    server: RunningServer, tmp_path: Path
) -> None:
    _browser_or_skip()
    import soundfile
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--autoplay-policy=no-user-gesture-required"]
        )
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
            spoken: List[str] = []
            page.on("request", lambda sent: spoken.append(sent.url) if "/v1/" in sent.url else None)
            page.goto(str(server.http_url))
            turns = page.locator("#dialogue .dialogue-turn")
            expect(turns).to_have_count(2)  # two turns to start from, once the voices load
            page.click("#dialogue-add")
            expect(turns).to_have_count(3)
            turns.nth(2).locator("button").click()  # Remove
            expect(turns).to_have_count(2)
            for turn, voice, side, text in (
                (turns.nth(0), "af_heart", "left", "The kitchen lights are now off."),
                (turns.nth(1), "am_michael", "right", "Thank you, good night."),
            ):
                turn.locator(".dialogue-voice").select_option(voice)
                turn.locator(".dialogue-place").select_option(side)
                turn.locator(".dialogue-text").fill(text)
            with page.expect_response("**/v1/audio/dialogue") as answer:
                page.click("#dialogue-listen")
            assert answer.value.status == 200
            expect(page.locator("#dialogue-audio")).to_be_visible()
            page.wait_for_function(
                "() => { const a = document.getElementById('dialogue-audio');"
                " return a.duration > 1 && a.currentTime > 0; }"
            )
            expect(page.locator("#dialogue-error")).to_have_text("")
            page.locator("#dialogue").screenshot(path=str(tmp_path / "dialogue.png"))
            with page.expect_download() as saved:
                page.click("#dialogue-download")  # the same dialogue: not spoken again
            assert saved.value.suggested_filename == "dialogue.wav"
            audio, rate = soundfile.read(saved.value.path(), dtype="float32")
            assert len(spoken) == 1, spoken
        finally:
            browser.close()
    assert rate == 24000 and audio.ndim == 2 and audio.shape[1] == 2
    left_only = np.flatnonzero((np.abs(audio[:, 0]) > 0.01) & (audio[:, 1] == 0))
    right_only = np.flatnonzero((np.abs(audio[:, 1]) > 0.01) & (audio[:, 0] == 0))
    assert left_only.size > rate // 2 and right_only.size > rate // 2  # each voice on its side
    assert left_only.max() < right_only.min()  # the left turn first
