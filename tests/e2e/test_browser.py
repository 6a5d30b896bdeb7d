"""The admin page in a real browser: sign in, register (file and microphone), list, delete;
waveforms drawn as Listen and a clone's prompt play.

Runs headless Debian Chromium (`/usr/bin/chromium`) through Playwright's Python client; no
browser is downloaded. Skipped when either is missing, unless POLYTTS_REQUIRE_BROWSER=1
(as in CI), where a missing browser is a failure.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, List

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

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Playwright

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


def _drawn_pixels(canvas: Locator) -> int:
    """How many pixels of a canvas are not blank."""
    return int(
        canvas.evaluate(
            """canvas => {
                const g = canvas.getContext("2d");
                const { data } = g.getImageData(0, 0, canvas.width, canvas.height);
                let drawn = 0;
                for (let i = 3; i < data.length; i += 4) if (data[i] > 0) drawn += 1;
                return drawn;
            }"""
        )
    )


def _launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            "--autoplay-policy=no-user-gesture-required",
        ],
    )


def test_a_waveform_is_drawn_while_listen_plays(server: RunningServer) -> None:
    """Listen speaks the sample sentence: while it plays, the canvas under it shows its
    waveform and the playing position moves along it, with its words under it, the one
    being said highlighted."""
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    with ThreadPoolExecutor(1) as thread:  # words are timed once the decoder is prepared
        thread.submit(asyncio.run, wait_until_ready(str(server.http_url), "kokoro", 600)).result()
    with sync_playwright() as playwright:
        browser = _launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            page.goto(str(server.http_url))
            page.fill("input[name=token]", ADMIN_TOKEN)
            page.click("#login-form button")
            expect(page.locator("#register")).to_be_visible()
            card = page.locator("#voices li[data-voice=af_heart]")
            card.locator("button.listen").click()
            wave = card.locator("audio.preview + canvas.waveform")
            expect(wave).to_be_visible(timeout=60_000)  # spoken, decoded and drawn
            assert int(wave.get_attribute("data-samples") or 0) > 24_000  # over 0.5 s
            assert float(wave.get_attribute("data-duration") or 0) > 1.0
            assert _drawn_pixels(wave) > 500
            player = card.locator("audio.preview")
            player.evaluate("player => { player.currentTime = 0; return player.play(); }")
            first = float(wave.get_attribute("data-position") or 0)
            page.wait_for_function(
                "([canvas, first]) => Number(canvas.dataset.position) > first + 0.3",
                arg=[wave.element_handle(), first],
                timeout=10_000,
            )
            assert not player.evaluate("player => player.paused")  # moved while it played
            assert int(wave.get_attribute("data-words") or 0) >= 5
            said = set()
            for _ in range(100):  # while it plays: the word being said, highlighted
                said.add(wave.get_attribute("data-word") or "")
                if len(said - {""}) >= 2 or player.evaluate("player => player.ended"):
                    break
                page.wait_for_timeout(50)
            assert len(said - {""}) >= 2, said
        finally:
            browser.close()


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
        browser = _launch(playwright)
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
            # The recording's waveform stays, with the part kept after trimming shaded.
            expect(page.locator("#register-ok")).to_contain_text("shaded part of the recording")
            recorded = page.locator("#recorded + canvas.waveform")
            expect(recorded).to_be_visible()
            assert int(recorded.get_attribute("data-samples") or 0) > 0
            assert _drawn_pixels(recorded) > 0
            clone = page.locator("#voices li[data-voice=grandma]")
            expect(clone).to_contain_text("Hello there, this is grandma speaking.")
            prompt_player = clone.locator("audio[src]")
            expect(prompt_player).to_have_attribute("src", "api/voices/grandma/prompt")
            expect(clone).to_contain_text("of the recording")  # kept 0.xx-y.yy s
            prompt_player.evaluate("player => player.play()")
            prompt_wave = clone.locator("audio.prompt + canvas.waveform")
            expect(prompt_wave).to_be_visible(timeout=10_000)
            assert _drawn_pixels(prompt_wave) > 0
            prompt_player.evaluate("player => player.pause()")
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


# Whether the status chart's canvas holds pixels of the first-audio median's colour
# (status.js: #2f6db5), i.e. uPlot drew that series, not only its axes.
_PLOTTED = """() => {
  const canvas = document.querySelector("#status-chart canvas");
  if (!canvas || !canvas.width) return false;
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let found = 0;
  for (let i = 0; i < pixels.length; i += 4) {
    const near = Math.abs(pixels[i] - 47) < 16 && Math.abs(pixels[i + 1] - 109) < 16
      && Math.abs(pixels[i + 2] - 181) < 16 && pixels[i + 3] > 200;
    if (near) found += 1;
  }
  return found >= 5;
}"""


def _answers_and_an_error(server: RunningServer) -> None:
    """Two spoken answers and one refused (an unknown voice), over the Wyoming port."""

    async def ask() -> None:
        for text in ("Status check one.", "Status check two."):
            async with server.client() as client:
                voice = SynthesizeVoice(name="af_heart")
                await client.write_event(Synthesize(text=text, voice=voice).event())
                assert (await collect(client, "audio-stop")).pcm()
        async with server.client() as client:
            voice = SynthesizeVoice(name="nobody-at-all")
            await client.write_event(Synthesize(text="Hello.", voice=voice).event())
            assert "error" in (await collect(client, "audio-stop")).types()

    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, ask()).result()


def test_the_status_panel_plots_first_audio_after_a_few_requests(server: RunningServer) -> None:
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright
    from prometheus_client.parser import text_string_to_metric_families

    _answers_and_an_error(server)
    with urllib.request.urlopen(f"{server.http_url}/metrics", timeout=30) as answer:
        families = {f.name: f for f in text_string_to_metric_families(answer.read().decode())}
    first_audio = families["polytts_first_audio_seconds"].samples
    counts = [s.value for s in first_audio if s.name.endswith("_count")]
    assert sum(counts) >= 2
    assert any(s.labels == {"job": "kokoro"} for s in families["polytts_ready"].samples)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page(viewport={"width": 900, "height": 900})
            failures: List[str] = []
            page.on("pageerror", lambda error: failures.append(str(error)))
            page.goto(str(server.http_url))
            page.click("#status-details summary")
            expect(page.locator("#status-chart canvas")).to_have_count(1)
            summary = page.locator("#status-summary")
            expect(summary).to_have_attribute("data-answers", re.compile(r"^[1-9]"))
            page.wait_for_function(_PLOTTED, timeout=30_000)
            expect(page.locator("#status-ready li[data-job=kokoro]")).to_contain_text(
                re.compile("kokoro: (starting|ready)")
            )
            errors = page.locator("#status-errors")
            expect(errors).to_contain_text("wyoming unknown-voice")
            expect(errors).not_to_contain_text("nobody-at-all")  # messages need sign-in
            page.screenshot(path=str(server.log_path.parent / "status-panel.png"), full_page=True)
            assert not failures, failures
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
