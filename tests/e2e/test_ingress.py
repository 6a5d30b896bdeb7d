"""The admin page behind a real reverse proxy, as Home Assistant's ingress serves it.

Debian's nginx, started by the test on 127.0.0.1, serves the page under
`/api/hassio_ingress/<token>/` only (anything else is a 404), adds `X-Ingress-Path` and
connects to the server from 127.0.0.2, the address the server trusts as its ingress proxy.
In a phone-sized Chromium the page must work without signing in: list the voices, listen to
one, build a blend, listen to it and save it as a preset that Wyoming `describe` lists.
Skipped without Chromium, Playwright or nginx unless POLYTTS_REQUIRE_BROWSER=1 (as in CI).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, List

import aiohttp
import pytest

from ..helpers import ADMIN_TOKEN, RunningServer, describe, free_port, serve_for_tests
from .test_browser import CHROMIUM, _browser_or_skip

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PROXY_ADDRESS = "127.0.0.2"  # where nginx connects from: the trusted "ingress proxy"
PREFIX = "/api/hassio_ingress/Xy7_test-token"


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    yield from serve_for_tests(
        data_dir,
        tmp_path_factory,
        [
            "--no-download",
            "--no-zipvoice",
            "--no-transcriber",
            "--admin-token",
            ADMIN_TOKEN,
            "--ingress-proxy",
            PROXY_ADDRESS,
        ],
    )


def _nginx_config(folder: Path, port: int, upstream: str) -> Path:
    config = folder / "nginx.conf"
    temp = {name: folder / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir()
    config.write_text(
        f"""
daemon off;
master_process off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {folder}/access.log;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    client_max_body_size 30m;
    server {{
        listen 127.0.0.1:{port};
        location {PREFIX}/ {{
            proxy_pass {upstream}/;
            proxy_bind {PROXY_ADDRESS};
            proxy_set_header Host $http_host;
            proxy_set_header X-Ingress-Path {PREFIX};
        }}
        location / {{ return 404; }}
    }}
}}
""",
        encoding="utf-8",
    )
    return config


@pytest.fixture
def proxy(server: RunningServer, tmp_path: Path) -> Iterator[str]:
    """nginx in front of the admin page; yields the page's URL through it."""
    if not Path(NGINX).exists():
        message = "needs Debian's nginx (script/setup --browser installs it)"
        if os.environ.get("POLYTTS_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    config = _nginx_config(tmp_path, port, str(server.http_url))
    process = subprocess.Popen(
        [NGINX, "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, (tmp_path / "error.log").read_text()
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}{PREFIX}/"
    finally:
        process.terminate()
        process.wait(timeout=20)


def _in_another_loop(coroutine):  # type: ignore[no-untyped-def]
    """Run `coroutine` while Playwright's sync API holds this thread's event loop."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


async def _server_view(server: RunningServer) -> dict:
    """The presets, a Wyoming `describe` and an unsigned change, asked of the server directly."""
    async with aiohttp.ClientSession(str(server.http_url)) as http:
        async with http.get("/api/presets") as response:
            presets = {p["name"]: p for p in (await response.json())["presets"]}
        body = {"name": "not-signed-in", "voice": "jm_kumo"}
        async with http.post("/api/presets", json=body) as response:
            unsigned = response.status
    async with server.client() as client:
        voices = {voice.name: voice for voice in (await describe(client)).tts[0].voices}
    return {"presets": presets, "voices": voices, "unsigned": unsigned}


def test_the_page_behind_an_ingress_proxy_lists_listens_and_saves_a_preset(
    server: RunningServer, proxy: str, tmp_path: Path
) -> None:
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    requested: List[str] = []
    failed: List[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
            page.on("dialog", lambda dialog: dialog.accept())
            page.on("request", lambda request: requested.append(request.url))
            page.on(
                "response",
                lambda response: (
                    failed.append(f"{response.status} {response.url}")
                    if response.status >= 400
                    else None
                ),
            )
            page.goto(proxy)
            # Home Assistant has signed the person in: no sign-in form, no sign-out.
            expect(page.locator("#builder")).to_be_visible()
            expect(page.locator("#login")).to_be_hidden()
            expect(page.locator("#logout")).to_be_hidden()

            kumo = page.locator("#voices li[data-voice=jm_kumo]")
            expect(kumo).to_contain_text("ja, en-US")
            page.fill("#sample-text", "The garage door is closed.")
            kumo.locator("button.listen").click()
            _expect_audio(page, "#voices li[data-voice=jm_kumo] audio.preview")

            # A blend of two voices at 1.5 times the speed, heard, then saved as a preset.
            page.select_option(".blend-row:nth-child(1) .blend-voice", "jm_kumo")
            page.click("#blend-add")
            page.select_option(".blend-row:nth-child(2) .blend-voice", "jf_alpha")
            page.fill(".blend-row:nth-child(2) .blend-weight", "0.5")
            page.locator("#blend-speed").evaluate(
                "(range) => { range.value = '1.5';"
                " range.dispatchEvent(new Event('input', { bubbles: true })); }"
            )
            expect(page.locator("#blend-expression")).to_have_text("jm_kumo(1)+jf_alpha(0.5)")
            expect(page.locator("#blend-speed-value")).to_have_text("1.50")
            page.click("#blend-listen")
            _expect_audio(page, "#blend-audio")
            page.fill("#preset-name", "quick-mix")
            page.fill("#preset-description", "A quick mix")
            page.click("#preset-save")
            expect(page.locator("#builder-ok")).to_contain_text("Saved the preset quick-mix")
            card = page.locator("#voices li[data-voice=quick-mix][data-kind=preset]")
            expect(card).to_contain_text("jm_kumo(1)+jf_alpha(0.5) at 1.5×")
            card.locator("button.listen").click()
            _expect_audio(page, "#voices li[data-voice=quick-mix] audio.preview")
            page.screenshot(path=str(tmp_path / "ingress-page.png"), full_page=True)

            view = _in_another_loop(_server_view(server))
            assert view["presets"]["quick-mix"]["preset"] == {
                "name": "quick-mix",
                "voice": "jm_kumo(1)+jf_alpha(0.5)",
                "speed": 1.5,
                "description": "A quick mix",
            }
            listed = view["voices"]["quick-mix"]
            assert listed.description == "A quick mix" and listed.installed
            assert listed.languages == view["voices"]["jm_kumo"].languages
            assert view["unsigned"] == 401  # only the proxy is trusted, not everyone

            card.locator("button.danger").click()
            expect(card).to_have_count(0)
            assert "quick-mix" not in _in_another_loop(_server_view(server))["presets"]
        finally:
            browser.close()
    outside = [url for url in requested if not url.startswith((proxy, "blob:", "data:"))]
    assert outside == [], "the page asked for URLs outside the proxy's path"
    assert failed == []


def _expect_audio(page, selector: str) -> None:  # type: ignore[no-untyped-def]
    """The audio element got speech to play: a WAV of a second or more."""
    page.wait_for_function(
        "(selector) => { const audio = document.querySelector(selector);"
        " return audio && !audio.hidden && audio.duration > 1; }",
        arg=selector,
        timeout=60_000,
    )
