"""A voice registered over HTTP shows up in the running server's Wyoming `describe`."""

from __future__ import annotations

import aiohttp
from wyoming.tts import Synthesize, SynthesizeVoice

from .helpers import ADMIN_TOKEN, RunningServer, collect, describe, encode, voice_like


async def test_registered_voices_appear_in_describe_and_refuse_to_speak_clearly(
    server: RunningServer,
) -> None:
    assert server.http_url is not None
    form = aiohttp.FormData()
    form.add_field("name", "e2e-clone")
    form.add_field("language", "en-US")
    form.add_field("transcript", "Hello there, this is a test recording.")
    form.add_field("audio", encode(voice_like(3.0)), filename="clone.wav")
    async with aiohttp.ClientSession(
        server.http_url, headers={"X-Admin-Token": ADMIN_TOKEN}
    ) as http:
        async with http.post("/api/voices", data=form) as response:
            assert response.status == 201, await response.text()

        async with server.client() as client:
            info = await describe(client)
            clones = [v for v in info.tts[0].voices if v.name == "e2e-clone"]
            assert len(clones) == 1
            assert clones[0].languages == ["en-US"] and clones[0].installed is False
            assert "ZipVoice" in clones[0].attribution.name

            await client.write_event(
                Synthesize(text="Hello.", voice=SynthesizeVoice(name="e2e-clone")).event()
            )
            answer = await collect(client, "audio-stop")
            assert answer.types() == ["error", "audio-stop"]
            assert "not installed" in answer.events[0].data["text"]

        async with http.delete("/api/voices/e2e-clone") as response:
            assert response.status == 200

        async with server.client() as client:
            info = await describe(client)
            assert "e2e-clone" not in {v.name for v in info.tts[0].voices}
