"""The server over a real socket, with the real embedded Kokoro model."""

from __future__ import annotations

import asyncio
import re

from wyoming.audio import AudioStart
from wyoming.event import Event
from wyoming.info import Describe
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeVoice,
)

from .helpers import RunningServer, assert_speech, collect, describe, read_event, silences

RATE = 24000
# The tag Home Assistant expects for each Kokoro voice prefix (the 54 packs from npm).
LANGUAGES = {
    "a": ["en-US"],
    "b": ["en-GB"],
    "e": ["es"],
    "f": ["fr"],
    "h": ["hi"],
    "i": ["it"],
    "j": ["ja", "en-US"],
    "p": ["pt-BR"],
    "z": ["zh", "en-US"],
}
WEATHER = (
    "Today will be sunny with a high of twenty degrees. "
    "In the evening, clouds move in from the west. "
    "Tomorrow brings light rain, so take an umbrella."
)
LONG_TEXT = " ".join(f"This is sentence number {n} of a long answer." for n in range(1, 21))


async def test_describe_lists_voices_with_languages(server: RunningServer) -> None:
    async with server.client() as client:
        info = await describe(client)
    assert len(info.tts) == 1
    program = info.tts[0]
    assert program.supports_synthesize_streaming
    assert program.installed and program.version and program.attribution.name
    voices = {voice.name: voice for voice in program.voices}
    assert len(voices) == 54 and {"af_heart", "bf_emma", "jm_kumo", "zf_xiaobei"} <= set(voices)
    for name, voice in voices.items():
        assert voice.installed, name
        assert voice.languages == LANGUAGES[name[0]], name
        assert "Kokoro" in (voice.description or "")
        assert voice.attribution.name.startswith("hexgrad")
    assert "(default voice af_heart)" in server.log()


async def test_synthesize_returns_speech(server: RunningServer) -> None:
    async with server.client() as client:
        await client.write_event(
            Synthesize(text=WEATHER, voice=SynthesizeVoice(name="jf_alpha")).event()
        )
        answer = await collect(client, "audio-stop")
    types = answer.types()
    assert types[0] == "audio-start" and types[-1] == "audio-stop"
    assert types.count("audio-start") == 1 and types.count("audio-stop") == 1
    start = AudioStart.from_event(answer.events[0])
    assert (start.rate, start.width, start.channels) == (RATE, 2, 1)
    chunk_sizes = [len(e.payload or b"") for e in answer.events if e.type == "audio-chunk"]
    assert max(chunk_sizes) == 1024 * 2  # --samples-per-chunk default
    assert_speech(answer.pcm(), RATE, min_seconds=5.0, max_seconds=16.0)
    leading, *pauses = silences(answer.pcm(), RATE)
    assert leading <= 0.1  # the model's padding before the first word is cut
    assert len(pauses) >= 2 and max(pauses) <= 0.35  # natural gaps between the sentences


async def test_japanese_text_is_spoken(server: RunningServer) -> None:
    async with server.client() as client:
        await client.write_event(
            Synthesize(
                text="こんにちは。今日はいい天気ですね。", voice=SynthesizeVoice(name="jm_kumo")
            ).event()
        )
        answer = await collect(client, "audio-stop")
    assert_speech(answer.pcm(), RATE, min_seconds=1.5, max_seconds=8.0)


async def test_voice_chosen_by_language(server: RunningServer) -> None:
    async with server.client() as client:
        await client.write_event(
            Synthesize(text="Hello there.", voice=SynthesizeVoice(language="en_US")).event()
        )
        answer = await collect(client, "audio-stop")
        assert "error" not in answer.types()
        await client.write_event(
            Synthesize(text="Hola.", voice=SynthesizeVoice(language="sw")).event()
        )
        refused = await collect(client, "audio-stop")
    assert refused.types() == ["error", "audio-stop"]
    assert "sw" in refused.events[0].data["text"]


async def test_streamed_text_gives_one_stream_per_piece(server: RunningServer) -> None:
    pieces = re.findall(r".{1,7}", WEATHER, flags=re.S)  # arbitrary cuts, as from an LLM
    async with server.client() as client:
        await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name="jf_nezumi")).event())
        for piece in pieces:
            await client.write_event(SynthesizeChunk(text=piece).event())
        # Home Assistant repeats the whole text for servers without streaming.
        await client.write_event(
            Synthesize(text=WEATHER, voice=SynthesizeVoice(name="jf_nezumi")).event()
        )
        await client.write_event(SynthesizeStop().event())
        answer = await collect(client, "synthesize-stopped")
        # Nothing more follows: the repeated text was not spoken a second time.
        await client.write_event(Describe().event())
        assert (await read_event(client)).type == "info"
    types = answer.types()
    assert "error" not in types
    streams = answer.streams()
    # One stream per sentence, each spoken whole (the default).
    assert len(streams) == 3
    assert types.count("audio-start") == types.count("audio-stop") == 3
    for pcm in streams:
        assert_speech(pcm, RATE, min_seconds=1.0, max_seconds=7.0)
    formats = {
        (e.data["rate"], e.data["width"], e.data["channels"])
        for e in answer.events
        if e.type == "audio-start"
    }
    assert formats == {(RATE, 2, 1)}


async def test_first_sentence_audio_arrives_before_the_stream_ends(server: RunningServer) -> None:
    async with server.client() as client:
        await client.write_event(SynthesizeStart().event())
        await client.write_event(
            SynthesizeChunk(text="The first sentence is complete. The sec").event()
        )
        first = await collect(client, "audio-stop")  # arrives while the text is still open
        assert_speech(first.pcm(), RATE, min_seconds=0.8, max_seconds=5.0)
        await client.write_event(SynthesizeChunk(text="ond one ends here.").event())
        await client.write_event(SynthesizeStop().event())
        rest = await collect(client, "synthesize-stopped")
    assert len(rest.streams()) == 1


async def test_stream_without_chunks_speaks_the_synthesize_text(server: RunningServer) -> None:
    async with server.client() as client:
        await client.write_event(SynthesizeStart().event())
        await client.write_event(Synthesize(text="Only the whole text came.").event())
        await client.write_event(SynthesizeStop().event())
        answer = await collect(client, "synthesize-stopped")
    assert len(answer.streams()) == 1


async def test_errors_keep_the_connection_working(server: RunningServer) -> None:
    async with server.client() as client:
        await client.write_event(
            Synthesize(text="Hi.", voice=SynthesizeVoice(name="nobody")).event()
        )
        unknown = await collect(client, "audio-stop")
        assert unknown.types() == ["error", "audio-stop"]
        assert "nobody" in unknown.events[0].data["text"]
        assert "jf_alpha" in unknown.events[0].data["text"]  # says what to pick instead

        await client.write_event(Synthesize(text="   ").event())
        empty = await collect(client, "audio-stop")  # nothing to say: a moment of silence
        assert empty.types()[0] == "audio-start" and "error" not in empty.types()
        assert empty.pcm() and not any(empty.pcm())

        await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name="nobody")).event())
        await client.write_event(SynthesizeChunk(text="Hello there. How are you?").event())
        await client.write_event(SynthesizeStop().event())
        stream = await collect(client, "synthesize-stopped")
        assert stream.types() == ["error", "synthesize-stopped"]

        await client.write_event(SynthesizeChunk(text="Out of order.").event())
        assert (await read_event(client)).type == "error"

        await client.write_event(Synthesize(text="Still working.").event())
        answer = await collect(client, "audio-stop")
    assert_speech(answer.pcm(), RATE, min_seconds=0.5, max_seconds=5.0)


async def test_two_clients_at_once(server: RunningServer) -> None:
    async def speak(voice: str) -> bytes:
        async with server.client() as client:
            await client.write_event(
                Synthesize(text=WEATHER, voice=SynthesizeVoice(name=voice)).event()
            )
            return (await collect(client, "audio-stop")).pcm()

    first, second = await asyncio.gather(speak("af_heart"), speak("am_michael"))
    assert_speech(first, RATE, min_seconds=5.0, max_seconds=16.0)
    assert_speech(second, RATE, min_seconds=5.0, max_seconds=16.0)


async def test_describe_is_answered_while_another_client_synthesizes(server: RunningServer) -> None:
    order: list = []
    busy_started = asyncio.Event()

    async def busy() -> None:
        try:
            async with server.client() as client:
                await client.write_event(Synthesize(text=LONG_TEXT).event())
                while True:
                    event = await read_event(client)
                    assert event.type != "error", event.data
                    if event.type == "audio-chunk" and not busy_started.is_set():
                        busy_started.set()
                    if event.type == "audio-stop":
                        order.append("long answer finished")
                        return
        finally:
            busy_started.set()  # never leave the other task waiting

    async def ask() -> None:
        await busy_started.wait()
        async with server.client() as client:
            await describe(client)
        order.append("describe answered")

    await asyncio.gather(busy(), ask())
    assert order == ["describe answered", "long answer finished"]


async def test_client_dropped_mid_answer_stops_synthesis(server: RunningServer) -> None:
    before = server.log().count("Speaking with")
    async with server.client() as client:
        await client.write_event(Synthesize(text=LONG_TEXT).event())
        while (await read_event(client)).type != "audio-chunk":
            pass
    # The client is gone. The server still answers, and spoke only a few of the 20 sentences.
    async with server.client() as client:
        await client.write_event(Synthesize(text="Are you still there?").event())
        answer = await collect(client, "audio-stop")
    assert_speech(answer.pcm(), RATE, min_seconds=0.5, max_seconds=5.0)
    spoken = server.log().count("Speaking with") - before - 1
    assert 1 <= spoken < 10, f"{spoken} sentences synthesized for a client that left"
    assert server.process.poll() is None


async def test_blended_voice_by_name(server: RunningServer) -> None:
    async with server.client() as client:
        await client.write_event(
            Synthesize(
                text="A blended voice.", voice=SynthesizeVoice(name="af_heart(2)+am_michael(1)")
            ).event()
        )
        answer = await collect(client, "audio-stop")
        assert_speech(answer.pcm(), RATE, min_seconds=0.5, max_seconds=5.0)
        await client.write_event(
            Synthesize(text="Hi.", voice=SynthesizeVoice(name="jf_alpha+nobody")).event()
        )
        refused = await collect(client, "audio-stop")
    assert refused.types() == ["error", "audio-stop"]
    assert "nobody" in refused.events[0].data["text"]


async def test_malformed_synthesize_is_refused_and_ended(server: RunningServer) -> None:
    async with server.client() as client:
        await client.write_event(Event(type="synthesize", data={"voice": {"name": "jf_alpha"}}))
        refused = await collect(client, "audio-stop")
        assert refused.types() == ["error", "audio-stop"]
        await client.write_event(Event(type="synthesize", data={"text": 42}))
        refused = await collect(client, "audio-stop")
        assert refused.types() == ["error", "audio-stop"]
        assert "string" in refused.events[0].data["text"]
        await client.write_event(Event(type="no-such-event", data={}))  # ignored
        info = await describe(client)
    assert info.tts[0].voices
