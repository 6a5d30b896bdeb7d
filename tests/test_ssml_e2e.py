"""SSML over the socket with the real model: pauses measured, `sub` and `phoneme` heard."""

from __future__ import annotations

import pytest
from wyoming.tts import Synthesize, SynthesizeVoice

from wyoming_polytts import transcriber
from wyoming_polytts.transcriber import Transcriber

from .helpers import RunningServer, collect, samples, silences

RATE = 24000


async def say_ssml(server: RunningServer, document: str) -> bytes:
    async with server.client() as client:
        voice = SynthesizeVoice(name="af_heart")
        await client.write_event(Synthesize(text=document, voice=voice, text_format="ssml").event())
        answer = await collect(client, "audio-stop")
    assert "error" not in answer.types(), answer.events
    assert answer.types().count("audio-start") == 1
    return answer.pcm()


async def test_a_break_is_a_pause_of_its_length(server: RunningServer) -> None:
    pcm = await say_ssml(
        server, "<speak>The door is locked.<break time='900ms'/>Good night.</speak>"
    )
    _, *pauses = silences(pcm, RATE)
    assert pauses, "no pause between the two sentences"
    assert 0.8 <= max(pauses) <= 1.1, pauses


async def test_a_two_voice_dialogue_is_one_stream(server: RunningServer) -> None:
    pcm = await say_ssml(
        server,
        "<speak><voice name='af_heart'>Is the door locked?</voice>"
        "<voice name='am_michael(1)+bm_george(1)'>Yes, it is.</voice></speak>",
    )
    assert len(pcm) > RATE * 2  # two sentences' worth of 16-bit samples


@pytest.mark.intelligibility
@pytest.mark.skipif(not transcriber.available(), reason="needs the [asr] extra")
async def test_sub_and_phoneme_are_heard(server: RunningServer, whisper: Transcriber) -> None:
    document = (
        "<speak>Good night, <sub alias='Robert'>Bob</sub>. "
        "Good morning, <phoneme alphabet='ipa' ph='ɹˈɑbəɹt'>Qwxz</phoneme>.</speak>"
    )
    heard = whisper.transcribe(samples(await say_ssml(server, document)), RATE, language="en")
    assert heard.text.lower().count("robert") == 2, heard.text
